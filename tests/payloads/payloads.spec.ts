import { beginCell } from '@ton/core';
import { keyPairFromSeed, sign, signVerify } from '@ton/crypto';
import { randomBytes } from 'crypto';
import {
    buildAttestationCert,
    buildChargePayload,
    buildFaultReport,
    buildPayoutPayload,
    buildSignatureList,
    buildWorkReceipt,
    cachedKeyObjects,
    combineCertificateSignatures,
    ed25519FromSeed,
    KEY_CACHE_SIZE,
    loadBytes,
    loadStdAddress,
    packCertificateBundle,
    parseAttestationCert,
    parseChargePayload,
    parseFaultReport,
    parsePayoutPayload,
    parseSignatureList,
    parseWorkReceipt,
    Role,
    signAttestationCert,
    signCell,
    unpackCertificateBundle,
    verifyCellSignature,
} from '../../wrappers/payloads';
import { randomAddress } from '@ton/test-utils';

const b32 = () => randomBytes(32);

describe('signed payloads (wrappers/payloads.ts)', () => {
    it('derives the key pair of a seed exactly as @ton/crypto does', () => {
        for (let i = 0; i < 20; i++) {
            const seed = b32();
            const ours = ed25519FromSeed(seed);
            const theirs = keyPairFromSeed(seed);
            expect(ours.publicKey.equals(theirs.publicKey)).toBe(true);
            expect(ours.secretKey.equals(theirs.secretKey)).toBe(true);
        }
        expect(() => ed25519FromSeed(randomBytes(31))).toThrow(/32 bytes, got 31/);
    });

    it('signs exactly as @ton/crypto does (Ed25519 over the cell hash) and verifies both ways', () => {
        for (let i = 0; i < 20; i++) {
            const kp = ed25519FromSeed(b32());
            const cell = beginCell().storeBuffer(randomBytes(40)).endCell();
            const ours = signCell(cell, kp.secretKey);
            expect(ours.equals(sign(cell.hash(), kp.secretKey))).toBe(true);
            expect(signVerify(cell.hash(), ours, kp.publicKey)).toBe(true);
            expect(verifyCellSignature(cell, ours, kp.publicKey)).toBe(true);
            const flipped = Buffer.from(ours);
            flipped[i % 64] ^= 1;
            expect(verifyCellSignature(cell, flipped, kp.publicKey)).toBe(false);
            expect(verifyCellSignature(cell, ours, ed25519FromSeed(b32()).publicKey)).toBe(false);
        }
    });

    it('keeps at most KEY_CACHE_SIZE key objects however many strangers\u2019 keys it verifies with, and still verifies a key it let go', () => {
        const kp = ed25519FromSeed(b32());
        const cell = beginCell().storeUint(7, 32).endCell();
        const sig = signCell(cell, kp.secretKey);
        expect(verifyCellSignature(cell, sig, kp.publicKey)).toBe(true);
        // A join flood: each made-up key is verified once (and fails).
        for (let i = 0; i < KEY_CACHE_SIZE + 500; i++) expect(verifyCellSignature(cell, sig, b32())).toBe(false);
        expect(cachedKeyObjects().public).toBe(KEY_CACHE_SIZE);
        expect(verifyCellSignature(cell, sig, kp.publicKey)).toBe(true);
        // Only the secret key's first 32 bytes (the seed) are used to sign.
        for (let i = 0; i < KEY_CACHE_SIZE + 10; i++) signCell(cell, randomBytes(64));
        expect(cachedKeyObjects().private).toBe(KEY_CACHE_SIZE);
        expect(signCell(cell, kp.secretKey).equals(sig)).toBe(true);
    });

    it('reads bytes and addresses at any bit offset exactly as @ton/core\u2019s Slice does', () => {
        for (let offset = 0; offset < 16; offset++)
            for (const n of [1, 8, 32, 64]) {
                const data = randomBytes(n);
                const address = randomAddress(offset % 2 === 0 ? 0 : -1);
                const cell = beginCell().storeUint(0, offset).storeBuffer(data).storeAddress(address).endCell();
                const ours = cell.beginParse().skip(offset);
                const theirs = cell.beginParse().skip(offset);
                expect(loadBytes(ours, n).equals(theirs.loadBuffer(n))).toBe(true);
                expect(loadStdAddress(ours).equals(theirs.loadAddress())).toBe(true);
                expect(ours.remainingBits).toBe(0);
            }
        // Anything but addr_std without anycast is left to @ton/core (which refuses a missing address here).
        expect(() => loadStdAddress(beginCell().storeUint(0, 2).endCell().beginParse())).toThrow();
        expect(() => loadBytes(beginCell().storeUint(1, 8).endCell().beginParse(), 2)).toThrow();
    });

    it('round-trips every payload layout', () => {
        const root = randomAddress();
        const cert = { root, role: Role.Worker, imageHash: b32(), ed25519Key: b32(), x25519Key: b32(), quoteHash: b32(), tcbStatus: 3, validUntil: 1_900_000_000 };
        const parsed = parseAttestationCert(buildAttestationCert(cert));
        expect(parsed.root.equals(root)).toBe(true);
        expect({ ...parsed, root: null }).toEqual({ ...cert, root: null });

        const tokens = { prompt: 1n, cached: 2n, completion: 3n, reasoning: 4n };
        const receipt = { proxy: root, requestId: 77n, modelHash: b32(), tokens, resultHash: b32() };
        expect({ ...parseWorkReceipt(buildWorkReceipt(receipt)), proxy: null }).toEqual({ ...receipt, proxy: null });

        const charge = { escrow: root, tokens: { prompt: 2n ** 63n, cached: 0n, completion: 5n, reasoning: 6n }, validUntil: 123 };
        expect({ ...parseChargePayload(buildChargePayload(charge)), escrow: null }).toEqual({ ...charge, escrow: null });

        const payout = { workerAccount: root, tokens: 10_000n, validUntil: 9 };
        expect(parsePayoutPayload(buildPayoutPayload(payout)).tokens).toBe(10_000n);

        const fault = { provider: root, proxy: randomAddress(), reportId: 5n, reason: 2, requestId: 8n, validUntil: 10 };
        expect(parseFaultReport(buildFaultReport(fault)).reportId).toBe(5n);
        expect(() => parseChargePayload(buildPayoutPayload(payout))).toThrow(/not a charge/);
    });

    it('combines several attestors\u2019 signatures into one list, without duplicates', () => {
        const cert = buildAttestationCert({ root: randomAddress(), role: Role.Proxy, imageHash: b32(), ed25519Key: b32(), x25519Key: b32(), quoteHash: b32(), tcbStatus: 0, validUntil: 1 });
        const [a, b] = [ed25519FromSeed(b32()), ed25519FromSeed(b32())];
        const one = { cert, signatures: buildSignatureList([signAttestationCert(cert, a)]) };
        const two = { cert, signatures: buildSignatureList([signAttestationCert(cert, b), signAttestationCert(cert, a)]) };
        const both = unpackCertificateBundle(packCertificateBundle(combineCertificateSignatures([one, two])));
        const sigs = parseSignatureList(both.signatures);
        expect(sigs.map((s) => s.attestorKey.toString('hex')).sort()).toEqual([a.publicKey, b.publicKey].map((k) => k.toString('hex')).sort());
        for (const s of sigs) expect(verifyCellSignature(cert, s.signature, s.attestorKey)).toBe(true);
        const other = buildAttestationCert({ ...parseAttestationCert(cert), validUntil: 2 });
        expect(() => combineCertificateSignatures([one, { cert: other, signatures: one.signatures }])).toThrow(/different certificates/);
    });
});
