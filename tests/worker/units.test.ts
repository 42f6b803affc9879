/** In-process tests: GGUF format, model generator, validator, sealing, signatures, text streaming, ledger recovery. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Address } from '@ton/core';
import { buildChargePayload, ed25519FromSeed, signCell, verifyCellSignature } from '../../wrappers/payloads';
import { sha256File } from '../../worker-reference/common/hash';
import { Ed25519Signer, Ed25519Verifier } from '../../worker-reference/crypto/ed25519';
import { generateX25519, identityFromSeed } from '../../worker-reference/crypto/keys';
import { Opener, Sealer } from '../../worker-reference/crypto/seal';
import { GgufValue, GgufValueType } from '../../worker-reference/gguf/format';
import { readGgufHeader } from '../../worker-reference/gguf/reader';
import { validateGgufHeader } from '../../worker-reference/gguf/validate';
import { floatToHalf, writeGguf, writeHalves } from '../../worker-reference/gguf/writer';
import { GgmlType } from '../../worker-reference/gguf/format';
import { generateModel, PROGRESS_MIN_BYTES, progressInTenths } from '../../worker-reference/model/generate';
import { FAULTS_KEPT, Ledger } from '../../worker-reference/proxy/ledger';
import { SequencePool } from '../../worker-reference/worker/sequence-pool';
import { LogprobTrack, logprobOf, MIN_LOGPROB, StopScanner, TokenTextDecoder } from '../../worker-reference/worker/text-stream';
import { tmpDir } from './helpers';
import * as http from 'node:http';
import * as net from 'node:net';
import { SseBatch } from '../../worker-reference/common/http';
import { SseParser } from '../../worker-reference/proxy/sse';
import { GroupCommit } from '../../worker-reference/common/checked-log';
import { RateBuckets } from '../../worker-reference/common/rate-buckets';
import { optionsInHelp, parseArgs } from '../../worker-reference/cli/args';

const dir = tmpDir('cocoon-units-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('GGUF model generator', () => {
    it('writes a valid llama GGUF deterministically from the seed', () => {
        const a = generateModel(path.join(dir, 'a.gguf'), 'tiny', 7);
        const b = generateModel(path.join(dir, 'b.gguf'), 'tiny', 7);
        const c = generateModel(path.join(dir, 'c.gguf'), 'tiny', 8);
        expect(sha256File(a.file)).toEqual(sha256File(b.file));
        expect(sha256File(a.file)).not.toEqual(sha256File(c.file));
        const h = readGgufHeader(a.file);
        expect(h.version).toBe(3);
        expect(h.metadata.get('general.architecture')).toBe('llama');
        expect(h.metadata.get('llama.block_count')).toBe(2);
        expect((h.metadata.get('tokenizer.ggml.tokens') as string[]).length).toBe(a.vocabSize);
        const { problems, facts } = validateGgufHeader(h);
        expect(problems).toEqual([]);
        expect(facts?.embeddingLength).toBe(64);
        expect(h.tensors.map((t) => t.name)).toEqual(expect.arrayContaining(['token_embd.weight', 'output_norm.weight', 'output.weight', 'blk.1.ffn_down.weight']));
        // Data section ends exactly at the end of the file.
        const last = h.tensors[h.tensors.length - 1];
        expect(h.dataOffset + last.offset + BigInt(last.dims[0] * last.dims[1] * 4)).toBe(h.fileSize);
    });

    it('reports every missing hyper-parameter and tensor that would abort llama.cpp', () => {
        const file = path.join(dir, 'good.gguf');
        generateModel(file, 'tiny', 1);
        const h = readGgufHeader(file);
        h.metadata.delete('llama.feed_forward_length');
        h.metadata.delete('llama.attention.head_count');
        h.tensors = h.tensors.filter((t) => t.name !== 'blk.1.attn_q.weight');
        const { problems } = validateGgufHeader(h);
        expect(problems).toEqual(expect.arrayContaining(['missing llama.feed_forward_length', 'missing llama.attention.head_count', 'missing tensor blk.1.attn_q.weight']));
    });

    it('rejects truncated and non-GGUF files with an error, not a crash', () => {
        const file = path.join(dir, 'good2.gguf');
        generateModel(file, 'tiny', 1);
        const data = fs.readFileSync(file);
        fs.writeFileSync(path.join(dir, 'trunc.gguf'), data.subarray(0, data.length - 1000));
        expect(validateGgufHeader(readGgufHeader(path.join(dir, 'trunc.gguf'))).problems.join()).toMatch(/extends past the end/);
        fs.writeFileSync(path.join(dir, 'head.gguf'), data.subarray(0, 100));
        expect(() => readGgufHeader(path.join(dir, 'head.gguf'))).toThrow(/truncated/);
        fs.writeFileSync(path.join(dir, 'junk.gguf'), Buffer.from('not a model at all'));
        expect(() => readGgufHeader(path.join(dir, 'junk.gguf'))).toThrow(/bad magic/);
    });

    it('round-trips metadata of every scalar type', () => {
        const file = path.join(dir, 'meta.gguf');
        const meta = new Map<string, GgufValue>([
            ['a.u8', { type: GgufValueType.Uint8, value: 200 }],
            ['a.i16', { type: GgufValueType.Int16, value: -300 }],
            ['a.u64', { type: GgufValueType.Uint64, value: 1n << 40n }],
            ['a.f64', { type: GgufValueType.Float64, value: 0.1 }],
            ['a.b', { type: GgufValueType.Bool, value: true }],
            ['a.arr', { type: GgufValueType.Array, elementType: GgufValueType.Int32, value: [1, -2, 3] }],
        ]);
        writeGguf(file, meta, []);
        const h = readGgufHeader(file);
        expect([...h.metadata.values()]).toEqual([200, -300, 1n << 40n, 0.1, true, [1, -2, 3]]);
    });

    it('converts floats to IEEE half precisely', () => {
        expect(floatToHalf(1)).toBe(0x3c00);
        expect(floatToHalf(-2)).toBe(0xc000);
        expect(floatToHalf(65504)).toBe(0x7bff);
        expect(floatToHalf(1e6)).toBe(0x7c00);
        expect(floatToHalf(5.960464477539063e-8)).toBe(0x0001);
        expect(floatToHalf(0.333251953125)).toBe(0x3555);
    });

    /** The value of an IEEE half, decoded independently of the encoder. */
    const halfValue = (h: number): number => {
        const sign = h & 0x8000 ? -1 : 1;
        const e = (h >>> 10) & 0x1f;
        const m = h & 0x3ff;
        if (e === 0x1f) return m ? NaN : sign * Infinity;
        return e === 0 ? sign * m * 2 ** -24 : sign * (1 + m / 1024) * 2 ** (e - 15);
    };

    it('rounds every float to the nearest half, ties to even, across the normal and subnormal range', () => {
        const f32 = new Float32Array(1);
        let seed = 12345;
        const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
        for (let i = 0; i < 20000; i++) {
            // Random float32 bit patterns with exponents around the half range (2^-26 .. 2^17).
            const bits = ((next() & 0x80000000) | ((101 + (next() % 44)) << 23) | (next() & 0x7fffff)) >>> 0;
            f32[0] = new Float32Array(new Uint32Array([bits]).buffer)[0];
            const f = f32[0];
            const h = floatToHalf(f);
            if (Math.abs(f) >= 65520) {
                expect(halfValue(h)).toBe(Math.sign(f) * Infinity);
                continue;
            }
            const v = halfValue(h);
            // Neighbours of h (same sign): none is nearer, and a tie goes to the even one.
            for (const n of [h - 1, h + 1]) {
                if ((n & 0x7fff) === 0x7fff || (n & 0x7fff) > 0x7c00 || (n & 0x8000) !== (h & 0x8000)) continue;
                const dn = Math.abs(halfValue(n) - f);
                const dh = Math.abs(v - f);
                expect(dh).toBeLessThanOrEqual(dn);
                if (dh === dn) expect(h & 1).toBe(0);
            }
        }
        expect(floatToHalf(NaN) & 0x7c00).toBe(0x7c00);
        expect(floatToHalf(NaN) & 0x3ff).not.toBe(0);
        expect(floatToHalf(-Infinity)).toBe(0xfc00);
        expect(floatToHalf(-0)).toBe(0x8000);
        expect(floatToHalf(2 ** -25)).toBe(0); // half the smallest subnormal: a tie, to even (zero)
        expect(floatToHalf(3 * 2 ** -25)).toBe(0x0002); // 1.5 × the smallest subnormal: a tie, to even (2)
        expect(floatToHalf(2 ** -25 * 1.0001)).toBe(0x0001);
    });

    it('reports progress in tenths for large files and stays quiet for small ones', () => {
        const lines: string[] = [];
        const big = progressInTenths((l) => lines.push(l));
        const total = 2 * PROGRESS_MIN_BYTES;
        for (let w = 0; w <= total; w += 2 ** 20) big(w, total);
        expect(lines.map((l) => l.split('%')[0])).toEqual(['10', '20', '30', '40', '50', '60', '70', '80', '90', '100']);
        expect(lines[9]).toMatch(/^100% \(128 of 128 MiB, \d+\.\d s\)$/);
        const small: string[] = [];
        const quiet = progressInTenths((l) => small.push(l));
        for (let w = 0; w <= PROGRESS_MIN_BYTES - 1; w += 2 ** 16) quiet(w, PROGRESS_MIN_BYTES - 1);
        expect(small).toEqual([]);
    });

    it('writes F16 tensors as little-endian halves of the values filled in', () => {
        const values = new Float32Array(70000); // more than one 65,536-element chunk
        for (let i = 0; i < values.length; i++) values[i] = Math.sin(i) * (i % 7 === 0 ? 70000 : i % 5 === 0 ? 1e-6 : 3);
        const halves = Buffer.alloc(values.length * 2);
        writeHalves(values, halves);
        for (let i = 0; i < values.length; i++) expect(halves.readUInt16LE(i * 2)).toBe(floatToHalf(values[i]));

        const file = path.join(dir, 'f16.gguf');
        const progress: Array<[number, number]> = [];
        const bytes = writeGguf(file, new Map(), [{ name: 't', dims: [values.length], type: GgmlType.F16, fill: (start, out) => out.set(values.subarray(start, start + out.length)) }], {
            onProgress: (written, total) => progress.push([written, total]),
        });
        const h = readGgufHeader(file);
        const data = fs.readFileSync(file).subarray(Number(h.dataOffset + BigInt(h.tensors[0].offset)));
        expect(data.subarray(0, halves.length).equals(halves)).toBe(true);
        // Progress: once per chunk, rising, ending at the file's size.
        expect(progress.length).toBe(2);
        expect(progress[0][0]).toBeLessThan(progress[1][0]);
        expect(progress[1]).toEqual([bytes, bytes]);
        expect(fs.statSync(file).size).toBe(bytes);
    });
});

describe('sealing', () => {
    it('opens only with the recipient key, in order, and detects tampering', () => {
        const recipient = generateX25519();
        const sealer = new Sealer(recipient.publicKey, 'response');
        const p0 = sealer.seal('secret one');
        const p1 = sealer.seal('secret two');
        const opener = new Opener(recipient.privateKey, recipient.publicKey, 'response');
        expect(opener.open(p0).toString()).toBe('secret one');
        expect(opener.open(p1).toString()).toBe('secret two');
        const other = generateX25519();
        expect(() => new Opener(other.privateKey, other.publicKey, 'response').open(p0)).toThrow();
        const tampered = { ...p0, ct: Buffer.from(Buffer.from(p0.ct, 'base64').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64') };
        expect(() => new Opener(recipient.privateKey, recipient.publicKey, 'response').open(tampered)).toThrow();
        expect(() => new Opener(recipient.privateKey, recipient.publicKey, 'response').open(p1)).toThrow(/out of order/);
        expect(() => new Opener(recipient.privateKey, recipient.publicKey, 'request').open(p0)).toThrow();
        expect(Buffer.from(p0.ct, 'base64').toString('latin1')).not.toContain('secret');
    });

    it('derives the same identity from the same seed', () => {
        const a = identityFromSeed(Buffer.alloc(32, 9));
        const b = identityFromSeed(Buffer.alloc(32, 9));
        expect(a.ed25519.publicKey).toEqual(b.ed25519.publicKey);
        expect(a.x25519.publicKey).toEqual(b.x25519.publicKey);
        expect(a.x25519.publicKey).not.toEqual(identityFromSeed(Buffer.alloc(32, 8)).x25519.publicKey);
    });
});

describe('node identity (Ed25519Signer / Ed25519Verifier)', () => {
    it('signs with the project signing function and refuses a foreign key', () => {
        const kp = ed25519FromSeed(Buffer.alloc(32, 3));
        const cell = buildChargePayload({ escrow: new Address(0, Buffer.alloc(32, 1)), tokens: { prompt: 1n, cached: 2n, completion: 3n, reasoning: 0n }, validUntil: 1000 });
        const native = new Ed25519Signer(kp).signCell(cell);
        expect(native).toEqual(signCell(cell, kp.secretKey));
        expect(verifyCellSignature(cell, native, kp.publicKey)).toBe(true);
        expect(new Ed25519Verifier(kp.publicKey).verifyCell(cell, native)).toBe(true);
        expect(new Ed25519Verifier(ed25519FromSeed(Buffer.alloc(32, 4)).publicKey).verifyCell(cell, native)).toBe(false);
    });
});

describe('stop strings', () => {
    it('cuts at the first stop string even when it spans pieces, holding back possible prefixes', () => {
        const s = new StopScanner(['END']);
        expect(s.push('hello E')).toBe('hello ');
        expect(s.push('N')).toBe('');
        expect(s.push('Xa')).toBe('ENXa');
        expect(s.push('bE')).toBe('b');
        expect(s.push('ND tail')).toBe('');
        expect(s.stopped).toBe(true);
        expect(s.answer).toBe('hello ENXab');
        const t = new StopScanner(['zz']);
        t.push('abc z');
        expect(t.finish()).toBe('z');
        expect(t.answer).toBe('abc z');
    });
});

describe('token text decoder', () => {
    // A SentencePiece-like tokenizer: "▁" is a word-start space, dropped at the start of a text;
    // "<0xNN>" tokens are raw bytes of multi-byte characters.
    const VOCAB = ['▁the', '▁network', '▁pays', 'per', '▁token', '<0xE2>', '<0x82>', '<0xBF>', '.', '▁TON'];
    let calls = 0;
    const detokenize = (tokens: number[]) => {
        calls++;
        const bytes: number[] = [];
        for (const t of tokens) {
            const m = /^<0x([0-9A-F]{2})>$/.exec(VOCAB[t]);
            if (m) bytes.push(parseInt(m[1], 16));
            else bytes.push(...Buffer.from(VOCAB[t].replace(/▁/g, ' '), 'utf8'));
        }
        return Buffer.from(bytes).toString('utf8').replace(/^ /, '');
    };

    it('gives each token its text after the one before (word-start spaces kept after the first)', () => {
        const tokens: number[] = [];
        for (let i = 0; i < 100; i++) tokens.push([0, 1, 2, 3, 4, 8, 9][(i * 5) % 7]);
        const d = new TokenTextDecoder<number>(detokenize);
        calls = 0;
        const pieces = tokens.map((t) => d.push(t));
        expect(pieces.join('') + d.flush()).toBe(detokenize(tokens));
        expect(pieces[0]).toBe(VOCAB[tokens[0]].replace('▁', ''));
        expect(pieces[1]).toBe(VOCAB[tokens[1]].replace('▁', ' '));
        // One tokenizer call per token (of it and the one before), plus one per distinct token
        // (its text alone, kept).
        expect(calls).toBeLessThanOrEqual(tokens.length + new Set(tokens).size + 1);
        // With the model's map of token texts shared, a later answer renders no token alone again:
        // exactly one call per token.
        const shared = new Map<number, string>();
        const first = new TokenTextDecoder<number>(detokenize, shared);
        for (const t of tokens) first.push(t);
        const expected = detokenize(tokens);
        calls = 0;
        const again = new TokenTextDecoder<number>(detokenize, shared);
        expect(tokens.map((t) => again.push(t)).join('') + again.flush()).toBe(expected);
        expect(calls).toBe(tokens.length);
    });

    it('holds back the bytes of a character until it completes', () => {
        const d = new TokenTextDecoder<number>(detokenize);
        expect(d.push(4)).toBe('token');
        expect(d.push(5)).toBe('');
        expect(d.push(6)).toBe('');
        expect(d.push(7)).toBe('₿');
        expect(d.push(9)).toBe(' TON');
        expect(d.push(5)).toBe('');
        expect(d.flush()).toBe('\uFFFD'); // an answer cut mid-character ends with a replacement character
    });

    it('renders a candidate as it would have followed the previous token', () => {
        const d = new TokenTextDecoder<number>(detokenize);
        expect(d.textNext(1)).toBe('network'); // first: no word-start space
        d.push(0);
        expect(d.textNext(1)).toBe(' network');
        expect(d.textNext(3)).toBe('per');
        expect(d.push(1)).toBe(' network'); // asking about candidates changes nothing
    });
});

describe('logprobs in step with the text sent (LogprobTrack)', () => {
    const entry = (logprob: number) => ({ logprob, top: [] });
    const texts = (xs: Array<{ text: string }>) => xs.map((x) => x.text);

    it('releases a token\'s entry with the text that completes it, an unfinished character\'s tokens with the character', () => {
        const t = new LogprobTrack();
        t.add('token', entry(-1));
        t.add('', entry(-2)); // first byte of ₿
        expect(texts(t.take(0))).toEqual([]);
        expect(texts(t.take(5))).toEqual(['token', '']);
        t.add('', entry(-3));
        t.add('₿', entry(-4));
        expect(texts(t.take(5))).toEqual(['']);
        expect(t.take(6).map((e) => e.logprob)).toEqual([-4]);
        // The decoder's last flush completes the last token's text.
        t.add('', entry(-5));
        t.extend('\uFFFD');
        expect(texts(t.finish(7))).toEqual(['\uFFFD']);
    });

    it('at a stop string: entries past the cut are dropped and the one across it keeps its text before the cut', () => {
        const t = new LogprobTrack();
        for (const [piece, lp] of [['The', -1], [' net', -2], ['work', -3], [' EN', -4], ['D', -5]] as const) t.add(piece, entry(lp));
        // Stop string "ND": the answer is "The network E" (13 characters), cut inside " EN".
        expect(texts(t.take(12))).toEqual(['The', ' net', 'work']);
        const last = t.finish(13);
        expect(last).toEqual([{ text: ' E', logprob: -4, top: [] }]);
        // A cut right at a token's start drops that token.
        const u = new LogprobTrack();
        u.add('ab', entry(-1));
        u.add('', entry(-2));
        u.add('cd', entry(-3));
        expect(texts(u.finish(2))).toEqual(['ab']);
    });

    it('reports probabilities as log-probabilities, never below -9999 (JSON has no -Infinity)', () => {
        expect(logprobOf(1)).toBe(0);
        expect(logprobOf(0.5)).toBeCloseTo(Math.log(0.5), 12);
        expect(logprobOf(0)).toBe(MIN_LOGPROB);
        expect(logprobOf(1e-300 * 1e-300)).toBe(MIN_LOGPROB);
        expect(MIN_LOGPROB).toBe(-9999);
    });
});

describe('sequence pool', () => {
    it('queues up to the limit, then refuses with 429, and hands released sequences to waiters', async () => {
        const seq = (prefix: number[]) => ({
            compareContextTokens: (t: number[]) => {
                let i = 0;
                while (i < t.length && i < prefix.length && t[i] === prefix[i]) i++;
                return { firstDifferentIndex: i };
            },
        });
        const a = seq([1, 2, 3]);
        const b = seq([9]);
        const pool = new SequencePool<number, ReturnType<typeof seq>>([b, a], 1);
        expect(await pool.acquire([1, 2, 4])).toBe(a); // longest shared prefix wins
        expect(await pool.acquire([5])).toBe(b);
        const waiting = pool.acquire([5]);
        await expect(pool.acquire([5])).rejects.toMatchObject({ status: 429 });
        pool.release(a);
        expect(await waiting).toBe(a);
    });
});

describe('ledger', () => {
    const escrow = new Address(0, Buffer.alloc(32, 1)).toRawString();
    const account = new Address(0, Buffer.alloc(32, 2)).toRawString();
    const use = (n: number) => ({ escrow, workerAccount: account, worker: 'w', requestId: BigInt(n), tokens: { prompt: 10n, cached: 1n, completion: 5n, reasoning: 0n }, resultHash: 'ab' });

    it('recovers from snapshot + log, drops a torn tail, and never reuses request ids', async () => {
        const d = path.join(dir, 'ledger');
        const l = Ledger.open(d, 3);
        const id1 = await l.allocateRequestId();
        await Promise.all([1, 2, 3, 4, 5].map((n) => l.record(use(n))));
        expect(l.chargeOf(escrow)).toEqual({ prompt: 50n, cached: 5n, completion: 25n, reasoning: 0n });
        // Simulate a crash mid-append: a torn record at the end of the log.
        fs.appendFileSync(path.join(d, 'wal.log'), '0123456789abcdef {"s":99,"t":"use"');
        const l2 = Ledger.open(d, 3);
        expect(l2.chargeOf(escrow)).toEqual({ prompt: 50n, cached: 5n, completion: 25n, reasoning: 0n });
        expect(l2.payoutOf(account).prompt).toBe(50n);
        expect(await l2.allocateRequestId()).toBeGreaterThan(id1);
        await l2.record(use(6));
        const l3 = Ledger.open(d, 3);
        expect(l3.chargeOf(escrow).prompt).toBe(60n);
        expect(l3.requestCount).toBe(6);
    });

    it('records fault reports: ids never reused (even with the clock set back), kept across snapshot and log', async () => {
        const d = path.join(dir, 'ledger-faults');
        const entry = (worker: string) => (reportId: bigint) => ({ worker, providerSeqno: 2n, payload: `p${reportId}`, signature: 's', filedAt: 1, validUntil: Number.MAX_SAFE_INTEGER, detail: 'why' });
        const l = Ledger.open(d, 2);
        const a = await l.recordFault(entry('a'));
        const [b, c] = await Promise.all([l.recordFault(entry('b')), l.recordFault(entry('c'))]);
        expect(b.reportId).toBeGreaterThan(a.reportId);
        expect(c.reportId).toBeGreaterThan(b.reportId);
        await l.record(use(1)); // a snapshot every 2 records: the faults are in it and in the log
        const clock = jest.spyOn(Date, 'now').mockReturnValue(Date.now() - 86_400_000);
        try {
            const l2 = Ledger.open(d, 2);
            expect(l2.faults.map((f) => f.worker)).toEqual(['a', 'b', 'c']);
            expect(l2.faults[2]).toEqual(c);
            const e = await l2.recordFault(entry('e'));
            expect(e.reportId).toBe(c.reportId + 1n);
            await l2.close();
            const l3 = Ledger.open(d, 2);
            expect(l3.faults.map((f) => f.reportId)).toEqual([a, b, c, e].map((f) => f.reportId));
            expect((await l3.recordFault(entry('f'))).reportId).toBe(e.reportId + 1n);
        } finally {
            clock.mockRestore();
        }
    });

    const faultAt = (validUntil: number, worker = 'w') => () => ({ worker, providerSeqno: 0n, payload: '', signature: '', filedAt: 0, validUntil, detail: '' });
    const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

    it('keeps a fault report while the chain could accept it: an expired one is not served and leaves at the next snapshot and at restart', async () => {
        const d = path.join(dir, 'ledger-fault-expiry');
        const l = Ledger.open(d, 1000);
        const now = Math.floor(Date.now() / 1000);
        const old = await l.recordFault(faultAt(now - 1, 'expired'));
        const live = await l.recordFault(faultAt(inAnHour(), 'live'));
        expect(l.faultsAfter(0n, 10)).toEqual({ faults: [live], more: false });
        expect(l.faults.map((f) => f.reportId)).toEqual([old.reportId, live.reportId]);
        const reopened = Ledger.open(d, 1000); // replays the log
        expect(reopened.faults).toEqual([live]);
        await l.close(); // snapshot
        const fromSnapshot = JSON.parse(fs.readFileSync(path.join(d, 'snapshot.json'), 'utf8')) as { faults: Array<{ id: string }> };
        expect(fromSnapshot.faults.map((f) => f.id)).toEqual([live.reportId.toString()]);
    });

    it('pages fault reports in id order after a given id', async () => {
        const l = Ledger.open(path.join(dir, 'ledger-fault-pages'), 1000);
        const all: bigint[] = [];
        for (let i = 0; i < 5; i++) all.push((await l.recordFault(faultAt(inAnHour()))).reportId);
        const first = l.faultsAfter(0n, 2);
        expect(first.faults.map((f) => f.reportId)).toEqual(all.slice(0, 2));
        expect(first.more).toBe(true);
        expect(l.faultsAfter(all[1], 2).faults.map((f) => f.reportId)).toEqual(all.slice(2, 4));
        expect(l.faultsAfter(all[3], 2)).toEqual({ faults: [l.faults[4]], more: false });
        expect(l.faultsAfter(all[0] - 1n, 1).faults[0].reportId).toBe(all[0]); // an id no report has
        expect(l.faultsAfter(all[4], 2)).toEqual({ faults: [], more: false });
        expect(l.faultsAfter(all[4] + 1000n, 2)).toEqual({ faults: [], more: false });
        await l.close();
    });

    it(`keeps at most ${FAULTS_KEPT} unexpired reports (or the bound given): past it the oldest leave first, and are counted`, async () => {
        const l = Ledger.open(path.join(dir, 'ledger-many-faults'), 1000, 10);
        const all = await Promise.all(Array.from({ length: 15 }, () => l.recordFault(faultAt(inAnHour()))));
        expect(l.faults).toHaveLength(10);
        expect(l.faults[0].reportId).toBe(all[5].reportId);
        expect(l.faultsDropped).toBe(5);
        await l.close();
    });

    it('refuses to start when intact records follow a damaged one', async () => {
        const d = path.join(dir, 'ledger2');
        const l = Ledger.open(d, 1000);
        await l.record(use(1));
        await l.record(use(2));
        const wal = path.join(d, 'wal.log');
        const text = fs.readFileSync(wal, 'utf8').split('\n');
        text[0] = text[0].replace('"prompt":"10"', '"prompt":"99"');
        expect(text[0]).toContain('"prompt":"99"');
        fs.writeFileSync(wal, text.join('\n'));
        expect(() => Ledger.open(d)).toThrow(/damaged/);
    });
});

describe('group commit (common/checked-log.ts)', () => {
    const commitLog = (fd: () => number, committed: string[][]) =>
        new GroupCommit<string>({ fd, encode: (b) => Buffer.from(b.join('')), committed: (b) => committed.push(b), failure: (cause) => new Error(`log failed: ${cause.message}`) });

    it('writes appends made while a flush is on its way together, with one fdatasync', async () => {
        const file = path.join(dir, 'group.log');
        const fd = fs.openSync(file, 'a');
        const committed: string[][] = [];
        const log = commitLog(() => fd, committed);
        try {
            // The first goes out at once; the three made while it is flushed go out together (one
            // write and one fdatasync each batch, which `committed` sees).
            await Promise.all(['a\n', 'b\n', 'c\n', 'd\n'].map((x) => log.append(x)));
            expect(committed).toEqual([['a\n'], ['b\n', 'c\n', 'd\n']]);
            expect(fs.readFileSync(file, 'utf8')).toBe('a\nb\nc\nd\n');
            expect(log.busy).toBe(false);
        } finally {
            fs.closeSync(fd);
        }
    });

    it('fails the batch and every later append once a write fails, saying why, and counts nothing', async () => {
        const file = path.join(dir, 'readonly.log');
        fs.writeFileSync(file, '');
        const fd = fs.openSync(file, 'r'); // writes fail with EBADF
        const committed: string[][] = [];
        const log = commitLog(() => fd, committed);
        try {
            await expect(log.append('x\n')).rejects.toThrow(/^log failed: EBADF/);
            expect(log.failed?.message).toMatch(/EBADF/);
            await expect(log.append('y\n')).rejects.toThrow(/^log failed: EBADF/);
            expect(committed).toEqual([]);
        } finally {
            fs.closeSync(fd);
        }
    });

    it('a ledger whose write-ahead log fails refuses every later record: nothing is counted that is not on disk', async () => {
        const d = path.join(dir, 'ledger-failing');
        const l = Ledger.open(d);
        const escrow = new Address(0, Buffer.alloc(32, 1)).toRawString();
        const use = { escrow, workerAccount: escrow, worker: 'w', requestId: 1n, tokens: { prompt: 1n, cached: 0n, completion: 1n, reasoning: 0n }, resultHash: 'ab' };
        await l.record(use);
        fs.closeSync((l as unknown as { fd: number }).fd); // the disk goes away under it
        await expect(l.record({ ...use, requestId: 2n })).rejects.toThrow(/write-ahead log failed/);
        await expect(l.record({ ...use, requestId: 3n })).rejects.toThrow(/write-ahead log failed/);
        expect(l.chargeOf(escrow).prompt).toBe(1n);
        expect(Ledger.open(d).chargeOf(escrow).prompt).toBe(1n);
    });
});

describe('server-sent events parsed (SseParser)', () => {
    const stream = 'data: {"a":1}\n\n: a comment\r\ndata: line one\r\ndata: line two\r\n\r\nevent: x\ndata: [DONE]\n\n';
    const expected = ['{"a":1}', 'line one\nline two', '[DONE]'];

    it('gives the same events however the stream is cut (separators across pieces, CRLF)', () => {
        let seed = 7;
        const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n) + 1;
        for (let trial = 0; trial < 300; trial++) {
            const p = new SseParser();
            const out: string[] = [];
            for (let i = 0; i < stream.length; ) {
                const n = trial === 0 ? 1 : rand(12);
                out.push(...p.push(stream.slice(i, i + n)));
                i += n;
            }
            expect(out).toEqual(expected);
        }
    });

    it('parses an event arriving in many pieces, and refuses one longer than its bound', () => {
        const p = new SseParser(100_000);
        const body = 'y'.repeat(90_000);
        const out: string[] = [];
        out.push(...p.push('data: '));
        for (let i = 0; i < body.length; i += 1000) out.push(...p.push(body.slice(i, i + 1000)));
        expect(out).toEqual([]);
        expect(p.push('\n\ndata: next\n\n')).toEqual([body, 'next']);
        const q = new SseParser(100_000);
        q.push('data: ');
        expect(() => {
            for (let i = 0; i < 200; i++) q.push('z'.repeat(1000));
        }).toThrow(/an event of more than 100000 characters/);
    });
});

describe('server-sent events in batches (SseBatch)', () => {
    /** A response that records each system-call-level write. */
    function recordingResponse() {
        const writes: string[] = [];
        const res = new http.ServerResponse(new http.IncomingMessage(new net.Socket()));
        const socket = new net.Socket();
        socket.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
            writes.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
            const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
            cb?.();
            return true;
        }) as typeof socket.write;
        res.assignSocket(socket);
        return { res, writes };
    }

    it('sends nothing until flushed, then the head and every added event in one write', () => {
        const { res, writes } = recordingResponse();
        const sse = new SseBatch(res);
        sse.add({ a: 1 });
        sse.add({ b: 2 });
        expect(sse.sent).toBe(false);
        expect(writes).toHaveLength(0);
        sse.flush();
        expect(sse.sent).toBe(true);
        expect(writes).toHaveLength(1);
        expect(writes[0]).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*content-type: text\/event-stream[\s\S]*\r\n\r\n/i);
        expect(writes[0]).toContain('data: {"a":1}\n\ndata: {"b":2}\n\n');
    });

    it('ends with what is left in one write and ignores flushes after the end', () => {
        const { res, writes } = recordingResponse();
        const sse = new SseBatch(res);
        sse.add({ a: 1 });
        sse.flush();
        sse.add({ done: true });
        sse.add('[DONE]');
        sse.end();
        const after = writes.length;
        sse.add({ late: true });
        sse.flush();
        sse.end();
        expect(writes.length).toBe(after);
        const body = writes.slice(1).join('');
        expect(body).toContain('data: {"done":true}\n\ndata: [DONE]\n\n');
        expect(body).not.toContain('late');
        expect(res.writableEnded).toBe(true);
    });
});

describe('command-line options (cli/args.ts)', () => {
    const HELP = `Usage: tool --in FILE [options]

  --in FILE      the input
  --a N, --b M   two options on one line
  --long-synopsis-option N
                 its description on the next line, naming --not-an-option
  --quiet        a switch
  --help         this text
`;

    it('knows exactly the options --help documents (not those named in descriptions)', () => {
        expect([...optionsInHelp(HELP)].sort()).toEqual(['a', 'b', 'help', 'in', 'long-synopsis-option', 'quiet']);
    });

    it('parses values (repeatable, --x=v) and switches', () => {
        const args = parseArgs(['--in', 'f', '--a=1', '--a', '2', '--quiet'], ['quiet', 'help'], HELP);
        expect(args.values.get('in')).toEqual(['f']);
        expect(args.values.get('a')).toEqual(['1', '2']);
        expect(args.switches.has('quiet')).toBe(true);
    });

    it('refuses an option --help does not document, a switch given a value, a value option without one', () => {
        expect(() => parseArgs(['--inn', 'f'], ['quiet'], HELP)).toThrow('unknown option --inn (see --help)');
        expect(() => parseArgs(['--not-an-option', '1'], ['quiet'], HELP)).toThrow('unknown option --not-an-option');
        expect(() => parseArgs(['--quiet=yes'], ['quiet'], HELP)).toThrow('--quiet takes no value');
        expect(() => parseArgs(['--in'], ['quiet'], HELP)).toThrow('--in needs a value');
        expect(() => parseArgs(['in'], ['quiet'], HELP)).toThrow('unexpected argument "in"');
        expect(() => parseArgs([], ['verbose'], HELP)).toThrow('internal: switch --verbose is not in --help');
    });
});

describe('rate buckets (common/rate-buckets.ts)', () => {
    it('takes a burst of perMinute, then one each 60/perMinute seconds, and says how long to wait', () => {
        let now = 0;
        const b = new RateBuckets(6, () => now); // one every 10 s
        for (let i = 0; i < 6; i++) expect(b.take('x')).toBe(0);
        expect(b.take('x')).toBe(10);
        expect(b.take('y')).toBe(0); // buckets are per key
        now += 4_000;
        expect(b.take('x')).toBe(6);
        now += 6_000;
        expect(b.take('x')).toBe(0);
        expect(b.take('x')).toBe(10);
    });

    it('forgets buckets once they are full again', () => {
        let now = 0;
        const b = new RateBuckets(60, () => now);
        b.take('x');
        b.take('y');
        now += 500;
        b.take('y');
        now += 600; // x full again (1 s refills one), y still one short
        b.prune();
        expect(b.size).toBe(1);
        now += 1_000;
        b.prune();
        expect(b.size).toBe(0);
        expect(() => new RateBuckets(0)).toThrow('a rate must be above 0 a minute');
    });
});
