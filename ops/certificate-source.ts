/**
 * Where a registration's certificate comes from: a file printed by `cocoon-verify attest`,
 * or a quote + collateral verified and signed right here with the attestor's key (a network
 * with one attestor run by the operator itself, or the demo).
 */
import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { readFileSync } from 'fs';
import { attest } from '../verifier/attest';
import { decodeQuoteFile } from '../verifier/cli';
import { ed25519FromSeed, Role, SignedCertificate } from '../wrappers/payloads';
import { OptionSpec, ParsedArgs, UsageError } from './args';
import { readCertificate } from './certificate-file';
import { chainNow } from './chain-time';

export const certificateOptions: Record<string, OptionSpec> = {
    certificate: { kind: 'file', help: 'certificate file or base64 BOC from cocoon-verify attest' },
    quote: { kind: 'file', help: 'TDX quote (raw or hex) to verify and attest here, instead of --certificate' },
    collateral: { kind: 'file', help: 'collateral JSON for --quote' },
    'attestor-key': { kind: 'file', help: 'file with the attestor Ed25519 seed (64 hex characters), for --quote' },
    ed25519: { kind: 'hex32', help: "node's Ed25519 public key (bound in the quote's REPORTDATA), for --quote" },
    x25519: { kind: 'hex32', help: "node's X25519 public key, for --quote" },
    'root-ca': { kind: 'file', help: 'trusted root CA (PEM/DER) for --quote; default Intel SGX Root CA' },
};

function readFile(path: string, what: string): Buffer {
    try {
        return readFileSync(path);
    } catch (e) {
        throw new UsageError(`cannot read ${what} "${path}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
}

export function certificateFromArgs(provider: NetworkProvider, a: ParsedArgs, root: Address, role: Role): SignedCertificate {
    const file = a.maybe<string>('certificate');
    const quoteFile = a.maybe<string>('quote');
    if ((file === undefined) === (quoteFile === undefined)) throw new UsageError('give either --certificate or --quote (with --collateral, --attestor-key, --ed25519, --x25519)');
    if (file !== undefined) return readCertificate(file);
    const need = <T extends Buffer | string>(name: string): T => {
        const v = a.maybe<T>(name);
        if (v === undefined) throw new UsageError(`--quote needs --${name}`);
        return v;
    };
    const seedText = readFile(need<string>('attestor-key'), 'attestor key').toString('latin1').trim().replace(/^0x/i, '');
    if (!/^[0-9a-fA-F]{64}$/.test(seedText)) throw new UsageError('--attestor-key must hold a 32-byte Ed25519 seed as 64 hex characters');
    let collateral: unknown;
    try {
        collateral = JSON.parse(readFile(need<string>('collateral'), 'collateral').toString('utf8'));
    } catch (e) {
        if (e instanceof UsageError) throw e;
        throw new UsageError('--collateral is not JSON');
    }
    const rootCa = a.maybe<string>('root-ca');
    const { certificate, result } = attest({
        quote: decodeQuoteFile(readFile(quoteFile!, 'quote')),
        collateral,
        now: chainNow(provider),
        rootCa: rootCa === undefined ? undefined : readFile(rootCa, 'root CA'),
        root,
        role,
        ed25519Key: need<Buffer>('ed25519'),
        x25519Key: need<Buffer>('x25519'),
        attestors: [ed25519FromSeed(Buffer.from(seedText, 'hex'))],
    });
    provider.ui().write(`quote verified: TCB ${result.tcbStatus}, image ${result.imageHash?.toString('hex')}, decided by ${result.decidedBy.join('+')}`);
    return certificate;
}
