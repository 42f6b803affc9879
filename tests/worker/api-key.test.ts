/** In-process tests of the API key (escrow address + secret) and the router's escrow cache. */
import * as crypto from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { Address } from '@ton/core';
import {
    ApiKeyFormatError,
    escrowSecretHash,
    formatEscrowApiKey,
    generateEscrowSecret,
    parseEscrowApiKey,
    secretHashBytes,
    secretMatches,
} from '../../wrappers/escrowSecret';
import { apiKeyMatches, proxyAuthHeaders } from '../../worker-reference/client/api-key';
import { EscrowReader, EscrowState, InMemoryEscrowReader } from '../../worker-reference/proxy/escrow';
import { EscrowCache } from '../../worker-reference/proxy/escrow-cache';
import { zeroTokens } from '../../worker-reference/proxy/tokens';

const escrow = new Address(0, Buffer.alloc(32, 7));

describe('API secret and key', () => {
    it('hashes a secret with SHA-256 into the uint256 the escrow stores (fixed vector)', () => {
        // SHA-256 of 32 zero bytes.
        expect(escrowSecretHash(Buffer.alloc(32))).toBe(0x66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925n);
        const s = generateEscrowSecret();
        expect(s.length).toBe(32);
        expect(secretHashBytes(escrowSecretHash(s))).toEqual(crypto.createHash('sha256').update(s).digest());
        // Leading zero bytes survive the round trip through the integer.
        expect(secretHashBytes(1n).toString('hex')).toBe('00'.repeat(31) + '01');
        expect(() => escrowSecretHash(Buffer.alloc(31))).toThrow(/32 bytes/);
    });

    it('matches only the secret of the hash, and nothing against "no secret set" (0)', () => {
        const s = generateEscrowSecret();
        const h = escrowSecretHash(s);
        expect(secretMatches(s, h)).toBe(true);
        expect(secretMatches(generateEscrowSecret(), h)).toBe(false);
        expect(secretMatches(Buffer.alloc(16), h)).toBe(false);
        expect(secretMatches(s, 0n)).toBe(false);
    });

    it('formats and reads "<escrow address>:<secret hex>", the address friendly or raw', () => {
        const s = generateEscrowSecret();
        const key = formatEscrowApiKey(escrow, s);
        expect(key).toBe(`${escrow.toString()}:${s.toString('hex')}`);
        for (const k of [key, `${escrow.toRawString()}:${s.toString('hex')}`, `${escrow.toString()}:${s.toString('hex').toUpperCase()}`]) {
            const parsed = parseEscrowApiKey(k);
            expect(parsed.escrow.equals(escrow)).toBe(true);
            expect(parsed.secret).toEqual(s);
        }
        expect(apiKeyMatches(key, escrowSecretHash(s))).toBe(true);
        expect(apiKeyMatches(key, escrowSecretHash(generateEscrowSecret()))).toBe(false);
        expect(proxyAuthHeaders(key)).toEqual({ authorization: `Bearer ${key}` });
    });

    it('refuses the bare escrow address and malformed keys with ApiKeyFormatError', () => {
        const hex = generateEscrowSecret().toString('hex');
        for (const [k, why] of [
            [escrow.toString(), /address alone/],
            [escrow.toRawString(), /address alone/],
            [`${escrow.toString()}:`, /64 hex/],
            [`${escrow.toString()}:${hex.slice(2)}`, /64 hex/],
            [`${escrow.toString()}:${hex}00`, /64 hex/],
            [`${escrow.toString()}:${'g'.repeat(64)}`, /64 hex/],
            [`EQnotanaddress:${hex}`, /address of your JobEscrow/],
            [`:${hex}`, /address of your JobEscrow/],
            ['', /address alone is not a key|"<escrow address>:<secret hex>"/],
        ] as const) {
            expect(() => parseEscrowApiKey(k)).toThrow(ApiKeyFormatError);
            expect(() => parseEscrowApiKey(k)).toThrow(why);
        }
    });
});

/** A reader that counts its reads and whose answers the test changes. */
class CountingReader implements EscrowReader {
    readonly inner = new InMemoryEscrowReader();
    reads = 0;
    gate: Promise<void> | null = null;
    async getEscrow(a: Address): Promise<EscrowState | null> {
        this.reads += 1;
        if (this.gate) await this.gate;
        return this.inner.getEscrow(a);
    }
}

const stateWith = (secretHash: bigint, balance = 1000n): EscrowState => ({ open: true, balance, charged: zeroTokens(), secretHash });

describe('EscrowCache (the router reads escrows briefly cached)', () => {
    it('serves reads from the cache for ttlMs, then reads again', async () => {
        let now = 1_000;
        const r = new CountingReader();
        r.inner.set(escrow, stateWith(1n));
        const cache = new EscrowCache(r, { ttlMs: 3000, refreshMinMs: 1000, now: () => now });
        for (let i = 0; i < 5; i++) expect((await cache.get(escrow))?.secretHash).toBe(1n);
        expect(r.reads).toBe(1);
        r.inner.set(escrow, stateWith(2n));
        now += 2999;
        expect((await cache.get(escrow))?.secretHash).toBe(1n);
        now += 1;
        expect((await cache.get(escrow))?.secretHash).toBe(2n);
        expect(r.reads).toBe(2);
        expect(cache.reads).toBe(2);
    });

    it('refreshes an entry older than refreshMinMs before a refusal, at most once per refreshMinMs', async () => {
        let now = 0;
        const r = new CountingReader();
        r.inner.set(escrow, stateWith(1n));
        const cache = new EscrowCache(r, { ttlMs: 60_000, refreshMinMs: 1000, now: () => now });
        await cache.get(escrow);
        r.inner.set(escrow, stateWith(2n)); // the client rotated
        now = 999;
        expect((await cache.refresh(escrow))?.secretHash).toBe(1n); // too young to read again
        expect(r.reads).toBe(1);
        now = 1000;
        expect((await cache.refresh(escrow))?.secretHash).toBe(2n);
        expect(r.reads).toBe(2);
        // A stream of refusals right after does not read again.
        for (let i = 0; i < 10; i++) await cache.refresh(escrow);
        expect(r.reads).toBe(2);
        expect((await cache.get(escrow))?.secretHash).toBe(2n);
    });

    it('caches "no such escrow" too, and shares one read among concurrent requests', async () => {
        const r = new CountingReader();
        const cache = new EscrowCache(r, { ttlMs: 3000, refreshMinMs: 0 });
        let open!: () => void;
        r.gate = new Promise((resolve) => (open = resolve));
        const all = Promise.all([cache.get(escrow), cache.get(escrow), cache.refresh(escrow), cache.get(escrow)]);
        open();
        expect(await all).toEqual([null, null, null, null]);
        expect(r.reads).toBe(1);
        r.gate = null;
        expect(await cache.get(escrow)).toBeNull();
        expect(r.reads).toBe(1);
    });

    it('keeps at most maxEntries escrows, dropping the oldest', async () => {
        const r = new CountingReader();
        const cache = new EscrowCache(r, { ttlMs: 60_000, refreshMinMs: 0, maxEntries: 2 });
        const a = (n: number) => new Address(0, Buffer.alloc(32, n));
        for (const n of [1, 2, 3]) r.inner.set(a(n), stateWith(5n));
        await cache.get(a(1));
        await cache.get(a(2));
        await cache.get(a(3)); // drops a(1)
        expect(r.reads).toBe(3);
        await cache.get(a(2));
        await cache.get(a(3));
        expect(r.reads).toBe(3);
        await cache.get(a(1));
        expect(r.reads).toBe(4);
    });

    it('keeps addresses with no escrow apart: made-up ones never push out escrows it read, nor count as known', async () => {
        const r = new CountingReader();
        const cache = new EscrowCache(r, { ttlMs: 60_000, refreshMinMs: 0, maxEntries: 2 });
        const a = (n: number) => new Address(0, Buffer.alloc(32, n));
        for (const n of [1, 2]) r.inner.set(a(n), stateWith(5n));
        await cache.get(a(1));
        await cache.get(a(2));
        for (let i = 0; i < 50; i++) expect(await cache.get(new Address(0, randomBytes(32)))).toBeNull();
        expect(cache.known(a(1)) && cache.known(a(2))).toBe(true);
        const reads = r.reads;
        await cache.get(a(1));
        await cache.get(a(2));
        expect(r.reads).toBe(reads);
        const absent = new Address(0, Buffer.alloc(32, 9));
        expect(await cache.get(absent)).toBeNull();
        expect(cache.known(absent)).toBe(false);
        expect(await cache.get(absent)).toBeNull(); // served from the cache of absent addresses
        expect(r.reads).toBe(reads + 1);
    });

    it('lets a failed read through to the caller and does not cache it', async () => {
        let fail = true;
        const reader: EscrowReader = {
            getEscrow: async () => {
                if (fail) throw new Error('liteserver timeout');
                return stateWith(5n);
            },
        };
        const cache = new EscrowCache(reader, { ttlMs: 3000, refreshMinMs: 1000 });
        await expect(cache.get(escrow)).rejects.toThrow(/liteserver timeout/);
        fail = false;
        expect((await cache.get(escrow))?.secretHash).toBe(5n);
    });
});

describe('proxy config escrows', () => {
    it('reads each escrow\u2019s secretHash (64 hex), absent = none set', async () => {
        const h = escrowSecretHash(Buffer.alloc(32, 3));
        const r = InMemoryEscrowReader.fromJson({
            [escrow.toString()]: { balance: '5', secretHash: secretHashBytes(h).toString('hex') },
            [new Address(0, Buffer.alloc(32, 8)).toString()]: { balance: '5' },
        });
        expect((await r.getEscrow(escrow))?.secretHash).toBe(h);
        expect((await r.getEscrow(new Address(0, Buffer.alloc(32, 8))))?.secretHash).toBe(0n);
        expect(() => InMemoryEscrowReader.fromJson({ [escrow.toString()]: { balance: '5', secretHash: 'abc' } })).toThrow(/secretHash must be 64 hex/);
    });
});
