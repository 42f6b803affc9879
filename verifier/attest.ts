/**
 * Attest: verify a node's quote, then build the attestation certificate exactly as the Root
 * contract checks it (wrappers/payloads.ts) and sign it with the attestor's key. Several
 * attestors sign the same certificate (same inputs, same `now`) and their signatures combine.
 */
import { Address } from '@ton/core';
import {
    buildAttestationCert,
    buildSignatureList,
    combineCertificateSignatures,
    Ed25519KeyPair,
    Role,
    signAttestationCert,
    SignedCertificate,
    tcbStatusCode,
} from '../wrappers/payloads';
import { Collateral } from './collateral';
import { VerificationResult, verifyQuote, VerifyOptions } from './verify';

/** Default certificate lifetime: 7 days (capped by the collateral window, see below). */
export const DEFAULT_VALID_FOR_SECONDS = 7 * 24 * 3600;

export interface AttestInput extends Omit<VerifyOptions, 'expectedKeys'> {
    quote: Uint8Array;
    collateral: Collateral | unknown;
    /** The Root contract that must accept the certificate. */
    root: Address;
    role: Role;
    ed25519Key: Buffer;
    x25519Key: Buffer;
    /** Attestor keys signing the certificate (one or more). */
    attestors: Ed25519KeyPair[];
    /** Lifetime from `now`; the certificate never outlives the collateral it was checked with. */
    validForSeconds?: number;
}

export class AttestationRejected extends Error {
    constructor(readonly result: VerificationResult) {
        super(`quote rejected: ${result.error}`);
    }
}

export interface Attestation {
    certificate: SignedCertificate;
    result: VerificationResult;
    validUntil: number;
}

export function attest(input: AttestInput): Attestation {
    if (input.attestors.length === 0) throw new Error('at least one attestor key is needed');
    const validFor = input.validForSeconds ?? DEFAULT_VALID_FOR_SECONDS;
    if (!Number.isInteger(validFor) || validFor <= 0) throw new Error('validForSeconds must be a positive integer');
    const result = verifyQuote(input.quote, input.collateral, { ...input, expectedKeys: { ed25519: input.ed25519Key, x25519: input.x25519Key } });
    if (!result.ok) throw new AttestationRejected(result);
    if (result.teeType !== 'TDX' || !result.imageHash) throw new AttestationRejected({ ...result, ok: false, error: 'only TDX quotes can be attested for the network' });
    // A certificate must not outlive the TCB info / CRLs it was checked against.
    const validUntil = Math.min(input.now + validFor, result.collateralValidUntil ?? input.now + validFor);
    if (validUntil > 0xffffffff) throw new Error('validUntil does not fit in 32 bits');
    const cert = buildAttestationCert({
        root: input.root,
        role: input.role,
        imageHash: result.imageHash,
        ed25519Key: input.ed25519Key,
        x25519Key: input.x25519Key,
        quoteHash: result.quoteHash,
        tcbStatus: tcbStatusCode(result.tcbStatus as string),
        validUntil,
    });
    const signatures = buildSignatureList(input.attestors.map((a) => signAttestationCert(cert, a)));
    return { certificate: { cert, signatures }, result, validUntil };
}

/** Merges the signatures of several attestors over the same certificate. */
export function combineAttestations(certs: SignedCertificate[]): SignedCertificate {
    return combineCertificateSignatures(certs);
}
