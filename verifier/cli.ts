/**
 * cocoon-verify: the verifier's command line.
 *   verify      verify a quote against collateral (exit 0 accepted, 1 rejected, 2 usage error)
 *   image-hash  print a TDX quote's image hash (decoding only, no verification)
 *   attest      verify, then print a signed attestation certificate (base64 BOC)
 */
import { readFileSync } from 'fs';
import type { VerificationResult } from './verify';

class UsageError extends Error {}

interface Io {
    out(s: string): void;
    err(s: string): void;
}

const HELP: Record<string, string> = {
    main: `cocoon-verify — offline Intel DCAP (TDX/SGX) quote verification for Cocoon on TON

Usage: cocoon-verify <command> [options]

Commands:
  verify      verify a quote against its collateral
  image-hash  print the image hash of a TDX quote
  attest      verify a quote and sign an attestation certificate

Run "cocoon-verify <command> --help" for the options of a command.
Exit status: 0 accepted, 1 rejected, 2 usage error (bad options, unreadable file).`,
    verify: `Usage: cocoon-verify verify --quote FILE --collateral FILE [options]

  --quote FILE        quote, raw bytes or hex text
  --collateral FILE   collateral JSON (dcap-qvl QuoteCollateralV3 shape)
  --now UNIX          verification time in unix seconds (default: the current time)
  --policy FILE       policy JSON: {"acceptedTcbStatuses": [...], "refusedAdvisoryIds": [...],
                      "maxCollateralAgeSeconds": N|null}
  --root-ca FILE      trusted root certificate, PEM or DER (default: Intel SGX Root CA)
  --ed25519 HEX       with --x25519: also require REPORTDATA = SHA-512(ed25519 ‖ x25519)
  --x25519 HEX
  --json              print one JSON object instead of text
  --help              this text

Exit status: 0 accepted, 1 rejected, 2 usage error.`,
    'image-hash': `Usage: cocoon-verify image-hash --quote FILE [--json]

Prints SHA-256(MRTD ‖ MRCONFIGID ‖ MROWNER ‖ MROWNERCONFIG ‖ RTMR0..3 ‖ 64 zero bytes) of a
TDX quote, in hex. Decodes only: it does not verify the quote (use "verify" for that).

  --quote FILE   quote, raw bytes or hex text
  --json         print {"imageHash": ..., "mrTd": ..., "reportData": ...}
  --help         this text`,
    attest: `Usage: cocoon-verify attest --quote FILE --collateral FILE --ed25519 HEX --x25519 HEX
                           --role proxy|worker --key FILE --root ADDRESS [options]

Verifies the quote (REPORTDATA must equal SHA-512(ed25519 ‖ x25519)), then prints the attestation
certificate signed with the attestor key, as one base64 BOC (certificate bundle) for the
registration scripts.

  --quote FILE        quote, raw bytes or hex text
  --collateral FILE   collateral JSON
  --ed25519 HEX       the node's Ed25519 public key (32 bytes)
  --x25519 HEX        the node's X25519 public key (32 bytes)
  --role ROLE         proxy or worker
  --key FILE          attestor key: 32-byte Ed25519 seed as 64 hex characters (or raw 32 bytes)
  --root ADDRESS      the Root contract that must accept the certificate
                      (default: $COCOON_ROOT_ADDRESS)
  --valid-for SECONDS certificate lifetime (default 604800; never past the collateral's window)
  --now UNIX          verification time (default: the current time)
  --policy FILE       policy JSON (see "verify --help")
  --root-ca FILE      trusted root certificate, PEM or DER (default: Intel SGX Root CA)
  --json              print {"ok", "certificate", "validUntil", ...} instead of the bare BOC
  --help              this text

Exit status: 0 certificate printed, 1 quote rejected, 2 usage error.`,
};

const FLAGS: Record<string, string[]> = {
    verify: ['quote', 'collateral', 'now', 'policy', 'root-ca', 'ed25519', 'x25519'],
    'image-hash': ['quote'],
    attest: ['quote', 'collateral', 'ed25519', 'x25519', 'role', 'key', 'root', 'valid-for', 'now', 'policy', 'root-ca'],
};

interface Args {
    values: Map<string, string>;
    json: boolean;
    help: boolean;
}

function parseArgs(cmd: string, argv: string[]): Args {
    const allowed = FLAGS[cmd];
    const values = new Map<string, string>();
    let json = false;
    let help = false;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--help' || a === '-h') help = true;
        else if (a === '--json') json = true;
        else if (a.startsWith('--')) {
            let key = a.slice(2);
            let val: string | undefined;
            const eq = key.indexOf('=');
            if (eq >= 0) {
                val = key.slice(eq + 1);
                key = key.slice(0, eq);
            }
            if (!allowed.includes(key)) throw new UsageError(`unknown option --${key} for "${cmd}"`);
            if (val === undefined) {
                val = argv[++i];
                if (val === undefined || val.startsWith('--')) throw new UsageError(`--${key} needs a value`);
            }
            if (values.has(key)) throw new UsageError(`--${key} given twice`);
            values.set(key, val);
        } else throw new UsageError(`unexpected argument "${a}"`);
    }
    return { values, json, help };
}

function need(a: Args, key: string): string {
    const v = a.values.get(key);
    if (v === undefined) throw new UsageError(`--${key} is required`);
    return v;
}

function readInput(path: string, what: string): Buffer {
    try {
        return readFileSync(path);
    } catch (e) {
        throw new UsageError(`cannot read ${what} file "${path}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
}

/** A quote file holds raw bytes, or hex text (whitespace and a 0x prefix allowed). */
export function decodeQuoteFile(buf: Buffer): Buffer {
    const text = buf.toString('latin1').trim();
    const hex = text.replace(/^0x/i, '').replace(/\s+/g, '');
    if (hex.length > 0 && hex.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(hex)) return Buffer.from(hex, 'hex');
    return buf;
}

function hexArg(a: Args, key: string, bytes: number): Buffer {
    const v = need(a, key).replace(/^0x/i, '');
    if (!new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(v)) throw new UsageError(`--${key} must be ${bytes} bytes of hex`);
    return Buffer.from(v, 'hex');
}

function nowArg(a: Args): number {
    const v = a.values.get('now');
    if (v === undefined) return Math.floor(Date.now() / 1000);
    if (!/^\d+$/.test(v)) throw new UsageError('--now must be a unix time in seconds');
    return Number(v);
}

function policyArg(a: Args): Record<string, unknown> | undefined {
    const p = a.values.get('policy');
    if (p === undefined) return undefined;
    let parsed: unknown;
    try {
        parsed = JSON.parse(readInput(p, 'policy').toString('utf8'));
    } catch (e) {
        if (e instanceof UsageError) throw e;
        throw new UsageError(`policy file "${p}" is not JSON: ${(e as Error).message}`);
    }
    // Validate here so that a bad policy is a usage error, not a rejection.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { makePolicy } = require('./policy') as typeof import('./policy');
    try {
        makePolicy(parsed);
    } catch (e) {
        throw new UsageError(`policy file "${p}": ${(e as Error).message}`);
    }
    return parsed as Record<string, unknown>;
}

function collateralArg(a: Args): unknown {
    const text = readInput(need(a, 'collateral'), 'collateral').toString('utf8');
    try {
        return JSON.parse(text);
    } catch {
        return text; // not JSON: verifyQuote rejects it with a clear reason
    }
}

function rootCaArg(a: Args): Buffer | undefined {
    const p = a.values.get('root-ca');
    return p === undefined ? undefined : readInput(p, 'root CA');
}

const hx = (b: Buffer | undefined): string | null => (b ? b.toString('hex') : null);

function resultJson(r: VerificationResult): Record<string, unknown> {
    const td = r.td;
    return {
        ok: r.ok,
        ...(r.ok ? {} : { error: r.error }),
        tcbStatus: r.tcbStatus ?? null,
        advisoryIds: r.advisoryIds,
        decidedBy: r.decidedBy,
        builds: r.builds.map((b) => (b.decided ? (b.ok ? { build: b.build, status: b.status, advisoryIds: b.advisoryIds } : { build: b.build, error: b.error }) : { build: b.build, undecided: b.reason })),
        quoteVersion: r.quoteVersion ?? null,
        teeType: r.teeType ?? null,
        imageHash: hx(r.imageHash),
        mrTd: hx(td?.mrTd),
        mrConfigId: hx(td?.mrConfigId),
        mrOwner: hx(td?.mrOwner),
        mrOwnerConfig: hx(td?.mrOwnerConfig),
        rtmr0: hx(td?.rtmr0),
        rtmr1: hx(td?.rtmr1),
        rtmr2: hx(td?.rtmr2),
        rtmr3: hx(td?.rtmr3),
        tdAttributes: hx(td?.tdAttributes),
        mrEnclave: hx(r.sgx?.mrEnclave),
        mrSigner: hx(r.sgx?.mrSigner),
        reportData: hx(r.reportData),
        quoteHash: r.quoteHash.toString('hex'),
    };
}

function resultText(r: VerificationResult): string {
    const j = resultJson(r);
    const lines = [`status: ${r.ok ? 'ACCEPTED' : 'REJECTED'}`];
    if (!r.ok) lines.push(`error: ${r.error}`);
    lines.push(`tcb status: ${r.tcbStatus ?? '-'}`, `advisory ids: ${r.advisoryIds.length ? r.advisoryIds.join(', ') : '-'}`, `decided by: ${r.decidedBy.join(', ') || '-'}`);
    for (const b of r.builds) lines.push(`  ${b.build}: ${b.decided ? (b.ok ? `${b.status}` : `error: ${b.error}`) : `undecided: ${b.reason}`}`);
    for (const k of ['teeType', 'quoteVersion', 'imageHash', 'mrTd', 'mrConfigId', 'mrOwner', 'mrOwnerConfig', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'tdAttributes', 'mrEnclave', 'mrSigner', 'reportData', 'quoteHash']) {
        if (j[k] !== null && j[k] !== undefined) lines.push(`${k}: ${String(j[k])}`);
    }
    return lines.join('\n');
}

function cmdVerify(a: Args, io: Io): number {
    const quote = decodeQuoteFile(readInput(need(a, 'quote'), 'quote'));
    const collateral = collateralArg(a);
    const now = nowArg(a);
    const policy = policyArg(a);
    const rootCa = rootCaArg(a);
    const hasEd = a.values.has('ed25519');
    if (hasEd !== a.values.has('x25519')) throw new UsageError('--ed25519 and --x25519 go together');
    const expectedKeys = hasEd ? { ed25519: hexArg(a, 'ed25519', 32), x25519: hexArg(a, 'x25519', 32) } : undefined;
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { verifyQuote } = require('./verify') as typeof import('./verify');
    let r: VerificationResult;
    try {
        r = verifyQuote(quote, collateral, { now, policy, rootCa, expectedKeys });
    } catch (e) {
        throw new UsageError((e as Error).message); // only a bad --root-ca gets here
    }
    io.out(a.json ? JSON.stringify(resultJson(r)) : resultText(r));
    return r.ok ? 0 : 1;
}

function cmdImageHash(a: Args, io: Io): number {
    const quote = decodeQuoteFile(readInput(need(a, 'quote'), 'quote'));
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { parseQuote } = require('./quote') as typeof import('./quote');
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { decodeTdReport, imageHash } = require('./report') as typeof import('./report');
    let q;
    try {
        q = parseQuote(quote);
    } catch (e) {
        io.err(`malformed quote: ${(e as Error).message}`);
        if (a.json) io.out(JSON.stringify({ ok: false, error: `malformed quote: ${(e as Error).message}` }));
        return 1;
    }
    if (q.bodyKind === 'sgx') {
        io.err('not a TDX quote: the image hash is defined for TD reports only');
        if (a.json) io.out(JSON.stringify({ ok: false, error: 'not a TDX quote' }));
        return 1;
    }
    const td = decodeTdReport(q.body);
    const h = imageHash(td).toString('hex');
    io.out(a.json ? JSON.stringify({ ok: true, imageHash: h, mrTd: td.mrTd.toString('hex'), reportData: td.reportData.toString('hex') }) : h);
    return 0;
}

function readAttestorKey(path: string): Buffer {
    const buf = readInput(path, 'attestor key');
    const text = buf.toString('latin1').trim().replace(/^0x/i, '');
    if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
    if (buf.length === 32) return buf;
    throw new UsageError(`attestor key file "${path}" must hold a 32-byte Ed25519 seed (64 hex characters or 32 raw bytes)`);
}

function cmdAttest(a: Args, io: Io): number {
    const quote = decodeQuoteFile(readInput(need(a, 'quote'), 'quote'));
    const collateral = collateralArg(a);
    const ed25519Key = hexArg(a, 'ed25519', 32);
    const x25519Key = hexArg(a, 'x25519', 32);
    const roleName = need(a, 'role');
    if (roleName !== 'proxy' && roleName !== 'worker') throw new UsageError('--role must be proxy or worker');
    const seed = readAttestorKey(need(a, 'key'));
    const rootText = a.values.get('root') ?? process.env.COCOON_ROOT_ADDRESS;
    if (!rootText) throw new UsageError('--root is required (or set COCOON_ROOT_ADDRESS)');
    const vf = a.values.get('valid-for');
    if (vf !== undefined && !/^[1-9]\d*$/.test(vf)) throw new UsageError('--valid-for must be a positive number of seconds');
    const now = nowArg(a);
    const policy = policyArg(a);
    const rootCa = rootCaArg(a);
    /* eslint-disable @typescript-eslint/no-var-requires */
    const { Address } = require('@ton/core') as typeof import('@ton/core');
    const payloads = require('../wrappers/payloads') as typeof import('../wrappers/payloads');
    const { attest, AttestationRejected } = require('./attest') as typeof import('./attest');
    /* eslint-enable @typescript-eslint/no-var-requires */
    let root;
    try {
        root = Address.parse(rootText);
    } catch {
        throw new UsageError(`--root "${rootText}" is not a TON address`);
    }
    try {
        const att = attest({
            quote,
            collateral,
            now,
            policy,
            rootCa,
            root,
            role: roleName === 'proxy' ? payloads.Role.Proxy : payloads.Role.Worker,
            ed25519Key,
            x25519Key,
            attestors: [payloads.ed25519FromSeed(seed)],
            validForSeconds: vf === undefined ? undefined : Number(vf),
        });
        const boc = payloads.packCertificateBundle(att.certificate).toBoc().toString('base64');
        io.out(a.json ? JSON.stringify({ ...resultJson(att.result), certificate: boc, validUntil: att.validUntil }) : boc);
        return 0;
    } catch (e) {
        if (e instanceof AttestationRejected) {
            if (a.json) io.out(JSON.stringify(resultJson(e.result)));
            io.err(`rejected: ${e.result.error}`);
            return 1;
        }
        throw new UsageError((e as Error).message);
    }
}

/** Runs the CLI; returns the exit status. */
export function main(argv: string[], io: Io = { out: (s) => process.stdout.write(s + '\n'), err: (s) => process.stderr.write(s + '\n') }): number {
    const [cmd, ...rest] = argv;
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
        (cmd === undefined ? io.err : io.out)(HELP.main);
        return cmd === undefined ? 2 : 0;
    }
    if (!(cmd in FLAGS)) {
        io.err(`unknown command "${cmd}"\n\n${HELP.main}`);
        return 2;
    }
    try {
        const args = parseArgs(cmd, rest);
        if (args.help) {
            io.out(HELP[cmd]);
            return 0;
        }
        if (cmd === 'verify') return cmdVerify(args, io);
        if (cmd === 'image-hash') return cmdImageHash(args, io);
        return cmdAttest(args, io);
    } catch (e) {
        if (e instanceof UsageError) {
            io.err(`cocoon-verify ${cmd}: ${e.message}\nRun "cocoon-verify ${cmd} --help" for usage.`);
            return 2;
        }
        io.err(`cocoon-verify ${cmd}: internal error: ${(e as Error).stack ?? String(e)}`);
        return 2;
    }
}
