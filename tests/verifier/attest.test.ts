/** attest(): verify, then a certificate in the layout Root checks, signed by one or more attestors. */
import { Address } from '@ton/core';
import { createHash } from 'crypto';
import {
    ed25519FromSeed,
    parseAttestationCert,
    parseSignatureList,
    Role,
    TcbStatusCode,
    verifyCellSignature,
    packCertificateBundle,
    unpackCertificateBundle,
} from '../../wrappers/payloads';
import { attest, AttestationRejected, combineAttestations } from '../../verifier/attest';
import { imageHash } from '../../verifier/report';
import { reportDataForKeys } from '../../verifier/key-binding';
import { TestCa } from '../../verifier/testca';

const ca = new TestCa();
const collateral = ca.collateral();
const root = Address.parse('EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2N');
const ed = ed25519FromSeed(Buffer.alloc(32, 0x11)).publicKey;
const x = Buffer.alloc(32, 0x22);
const a1 = ed25519FromSeed(Buffer.alloc(32, 0xa1));
const a2 = ed25519FromSeed(Buffer.alloc(32, 0xa2));
const mrTd = Buffer.alloc(48, 0x42);
const quote = ca.mintQuote({ mrTd, reportData: reportDataForKeys(ed, x) });
const base = { quote, collateral, now: ca.now, rootCa: ca.rootDer, root, role: Role.Proxy, ed25519Key: ed, x25519Key: x };

describe('attest', () => {
    it('builds the certificate from the verified quote and signs it', () => {
        const { certificate, validUntil } = attest({ ...base, attestors: [a1], validForSeconds: 3600 });
        const cert = parseAttestationCert(certificate.cert);
        expect(cert.root.equals(root)).toBe(true);
        expect(cert.role).toBe(Role.Proxy);
        expect(cert.ed25519Key.equals(ed)).toBe(true);
        expect(cert.x25519Key.equals(x)).toBe(true);
        expect(cert.quoteHash.equals(createHash('sha256').update(quote).digest())).toBe(true);
        expect(cert.tcbStatus).toBe(TcbStatusCode.UpToDate);
        expect(cert.validUntil).toBe(ca.now + 3600);
        expect(validUntil).toBe(ca.now + 3600);
        const z = Buffer.alloc(48);
        expect(cert.imageHash.equals(imageHash({ mrTd, mrConfigId: z, mrOwner: z, mrOwnerConfig: z, rtmr0: z, rtmr1: z, rtmr2: z, rtmr3: z }))).toBe(true);
        const sigs = parseSignatureList(certificate.signatures);
        expect(sigs).toHaveLength(1);
        expect(sigs[0].attestorKey.equals(a1.publicKey)).toBe(true);
        expect(verifyCellSignature(certificate.cert, sigs[0].signature, a1.publicKey)).toBe(true);
        // Round trip through the bundle BOC the CLI prints.
        const back = unpackCertificateBundle(packCertificateBundle(certificate));
        expect(back.cert.equals(certificate.cert)).toBe(true);
    });

    it('never outlives the collateral it was checked against', () => {
        const { validUntil } = attest({ ...base, attestors: [a1], validForSeconds: 365 * 86400 });
        expect(validUntil).toBeLessThanOrEqual(ca.now + 29 * 86400);
        expect(validUntil).toBeGreaterThan(ca.now);
    });

    it('several attestors: signed together, or separately and combined', () => {
        const both = attest({ ...base, attestors: [a1, a2], role: Role.Worker }).certificate;
        expect(parseSignatureList(both.signatures).map((s) => s.attestorKey.toString('hex')).sort()).toEqual([a1.publicKey, a2.publicKey].map((k) => k.toString('hex')).sort());
        const one = attest({ ...base, attestors: [a1], role: Role.Worker }).certificate;
        const two = attest({ ...base, attestors: [a2], role: Role.Worker }).certificate;
        const combined = combineAttestations([one, two]);
        expect(combined.cert.equals(both.cert)).toBe(true);
        for (const s of parseSignatureList(combined.signatures)) expect(verifyCellSignature(combined.cert, s.signature, s.attestorKey)).toBe(true);
        expect(parseSignatureList(combined.signatures)).toHaveLength(2);
        // Different certificates (other role) do not combine.
        const proxy = attest({ ...base, attestors: [a2] }).certificate;
        expect(() => combineAttestations([one, proxy])).toThrow(/different certificates/);
    });

    it('refuses keys that REPORTDATA does not bind, and bad quotes', () => {
        expect(() => attest({ ...base, x25519Key: Buffer.alloc(32, 0x23), attestors: [a1] })).toThrow(AttestationRejected);
        try {
            attest({ ...base, quote: ca.mintQuote({ reportData: reportDataForKeys(ed, x), debug: true }), attestors: [a1] });
            throw new Error('accepted');
        } catch (e) {
            expect(e).toBeInstanceOf(AttestationRejected);
            expect((e as AttestationRejected).result.error).toMatch(/debug TD/);
        }
        expect(() => attest({ ...base, attestors: [] })).toThrow(/at least one attestor/);
    });

    it('carries the TCB status code of an allowed non-UpToDate platform', () => {
        const q = ca.mintQuote({ reportData: reportDataForKeys(ed, x), tcb: 'SWHardeningNeeded' });
        const { certificate } = attest({ ...base, quote: q, attestors: [a1], policy: { acceptedTcbStatuses: ['UpToDate', 'SWHardeningNeeded'] } });
        expect(parseAttestationCert(certificate.cert).tcbStatus).toBe(TcbStatusCode.SWHardeningNeeded);
    });
});
