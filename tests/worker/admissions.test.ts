/**
 * proxy/admissions.ts with a chain check of the test's own: what the proxy does with joins
 * apart from the chain (tests/e2e/worker-join.spec.ts runs the real chain check): the config
 * wins over a join, a reloaded config keeps joined workers, a worker expires after its TTL,
 * a chain that cannot be read is 503 (the worker tries again), a refusal 403.
 */
import { Address } from '@ton/core';
import { ApiError } from '../../worker-reference/common/http';
import { identityFromSeed, NodeIdentity } from '../../worker-reference/crypto/keys';
import { tlsCredentials } from '../../worker-reference/crypto/tls-link';
import { JoinCheck, JoinLimits, JoinRefused, WorkerAdmissions } from '../../worker-reference/proxy/admissions';
import { ChainReadLimits, sourceOf } from '../../worker-reference/proxy/chain-read-limits';
import { WorkerConfig } from '../../worker-reference/proxy/config';
import { FAILED_READ_PAUSE_MS, RegisteredKeys } from '../../worker-reference/proxy/registered-keys';
import { WorkerRegistry } from '../../worker-reference/proxy/registry';
import { randomBytes } from 'node:crypto';
import { buildWorkerJoin, signCell } from '../../wrappers/payloads';

const PROXY = new Address(0, Buffer.alloc(32, 1));
const MODEL = Buffer.alloc(32, 2);
const ids = [identityFromSeed(Buffer.alloc(32, 61)), identityFromSeed(Buffer.alloc(32, 62))];
let clock = 1_800_000_000_000;

function join(i: number | NodeIdentity, issuedAt = Math.floor(clock / 1000)): Record<string, unknown> {
    const id = typeof i === 'number' ? ids[i] : i;
    const cell = buildWorkerJoin({ proxy: PROXY, ed25519Key: id.ed25519.publicKey, x25519Key: id.x25519.publicKey, issuedAt, endpoint: `https://127.0.0.1:${typeof i === 'number' ? 9 + i : 8}`, models: [MODEL] });
    return { announcement: cell.toBoc().toString('base64'), signature: signCell(cell, id.ed25519.secretKey).toString('base64') };
}

const configured = (i: number): WorkerConfig => ({ name: `config-${i}`, endpoint: `https://127.0.0.1:${19 + i}`, ed25519Key: ids[i].ed25519.publicKey, modelHashes: new Set([MODEL.toString('hex')]), workerAccount: PROXY });

/** Provider #i for worker i; `fail` makes the next check throw it. */
function fakeChain(): { check: JoinCheck; fail?: Error; checks: number } {
    const c: { check: JoinCheck; fail?: Error; checks: number } = {
        checks: 0,
        check: async (j) => {
            c.checks += 1;
            if (c.fail) throw c.fail;
            const i = ids.findIndex((id) => id.ed25519.publicKey.equals(j.ed25519Key));
            return { provider: { address: new Address(0, Buffer.alloc(32, 10 + i)), seqno: BigInt(i) }, workerAccount: new Address(0, Buffer.alloc(32, 20 + i)) };
        },
    };
    return c;
}

function setup(configWorkers: WorkerConfig[] = [], limits?: JoinLimits, registered?: RegisteredKeys) {
    const registry = new WorkerRegistry(configWorkers, tlsCredentials(identityFromSeed(Buffer.alloc(32, 60)).ed25519, 'cocoon-proxy'));
    const chain = fakeChain();
    const admissions = new WorkerAdmissions({ proxy: PROXY, registry, check: (j) => chain.check(j), registered, ttlMs: 10_000, configWorkers, limits, now: () => clock });
    const names = () => registry.workers.map((w) => w.config.name).sort();
    return { registry, chain, admissions, names };
}

async function refusal(p: Promise<unknown>): Promise<ApiError> {
    const e = await p.then(
        () => undefined,
        (err: unknown) => err,
    );
    if (!(e instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(e)}`);
    return e;
}

async function status(p: Promise<unknown>): Promise<number> {
    return (await refusal(p)).status;
}

afterEach(() => {
    clock += 60_000;
});

describe('proxy/admissions.ts: joined workers beside the config', () => {
    it('lists a joined worker as provider-<seqno> with its Provider and WorkerAccount', async () => {
        const { admissions, registry, names } = setup();
        const a = await admissions.join(join(1));
        expect(a).toMatchObject({ name: 'provider-1', provider_seqno: '1', healthy: false });
        expect(names()).toEqual(['provider-1']);
        const w = registry.workers[0].config;
        expect(w.endpoint).toBe('https://127.0.0.1:10');
        expect(w.provider?.address.equals(new Address(0, Buffer.alloc(32, 11)))).toBe(true);
        expect(w.workerAccount.equals(new Address(0, Buffer.alloc(32, 21)))).toBe(true);
        registry.destroy();
    });

    it('does not admit a worker the config lists (409): the config wins', async () => {
        const { admissions, names, registry } = setup([configured(0)]);
        expect(await status(admissions.join(join(0)))).toBe(409);
        expect(names()).toEqual(['config-0']);
        registry.destroy();
    });

    it('names a joined worker provider-<seqno>-joined when the config uses provider-<seqno> for another worker', async () => {
        const { admissions, names, registry } = setup([{ ...configured(0), name: 'provider-1' }]);
        expect((await admissions.join(join(1))).name).toBe('provider-1-joined');
        expect(names()).toEqual(['provider-1', 'provider-1-joined']);
        registry.destroy();
    });

    it('a reloaded config keeps joined workers; one the config now lists is dropped from the joined', async () => {
        const { admissions, names, registry } = setup([configured(0)]);
        await admissions.join(join(1));
        await admissions.setConfigWorkers([]);
        expect(names()).toEqual(['provider-1']);
        await admissions.setConfigWorkers([configured(1)]);
        expect(names()).toEqual(['config-1']);
        expect(admissions.workers).toEqual([]);
        registry.destroy();
    });

    it('drops a worker whose last join is older than the TTL; a newer join keeps it', async () => {
        const { admissions, names, registry } = setup();
        await admissions.join(join(0));
        await admissions.join(join(1));
        clock += 6_000;
        await admissions.join(join(1)); // worker 1 joins again, worker 0 does not
        clock += 6_000;
        expect(await admissions.sweep()).toEqual(['provider-0']);
        expect(names()).toEqual(['provider-1']);
        registry.destroy();
    });

    it('answers 403 with the chain\'s reason, 503 when the chain cannot be read, and takes the worker\'s next join after either', async () => {
        const { admissions, chain, names, registry } = setup();
        chain.fail = new JoinRefused('Provider #0 is not eligible');
        await expect(admissions.join(join(0))).rejects.toThrow('not admitted: Provider #0 is not eligible');
        chain.fail = new Error('socket hang up');
        expect(await status(admissions.join(join(0, Math.floor(clock / 1000) + 1)))).toBe(503);
        chain.fail = undefined;
        await admissions.join(join(0, Math.floor(clock / 1000) + 2));
        expect(names()).toEqual(['provider-0']);
        registry.destroy();
    });
});

describe('proxy/admissions.ts: join limits (anyone can sign a join with a fresh key, and each costs chain reads)', () => {
    it('takes --join-rate joins a minute from one source address, then 429 with Retry-After before the signature is read', async () => {
        const { admissions, chain, registry } = setup([], { perSourcePerMinute: 2, chainChecks: 8 });
        const checks = jest.fn(chain.check);
        chain.check = checks;
        const t = Math.floor(clock / 1000);
        await admissions.join(join(0, t), '10.0.0.1');
        await admissions.join(join(0, t + 1), '10.0.0.1');
        const limited = await refusal(admissions.join({ announcement: 'not even a join' }, '10.0.0.1'));
        expect(limited).toMatchObject({ status: 429, code: 'join_rate_limited', retryAfterS: 30 });
        expect(limited.message).toMatch(/too many joins from 10\.0\.0\.1: at most 2 a minute; retry in 30 s/);
        expect(checks).toHaveBeenCalledTimes(2);
        await admissions.join(join(1, t), '10.0.0.2'); // another address has its own budget
        clock += 30_000;
        await admissions.join(join(0, t + 2), '10.0.0.1'); // refilled
        registry.destroy();
    });

    it('with --join-rate 0 takes any number of joins from one address', async () => {
        const { admissions, registry } = setup([], { perSourcePerMinute: 0, chainChecks: 8 });
        const t = Math.floor(clock / 1000);
        for (let i = 0; i < 50; i++) await admissions.join(join(0, t - 50 + i), '10.0.0.1');
        registry.destroy();
    });

    it('checks at most --join-checks joins from new keys on chain at once (429 beyond); a worker admitted now is never held', async () => {
        const { admissions, chain, names, registry } = setup([], { perSourcePerMinute: 0, chainChecks: 1 });
        const t = Math.floor(clock / 1000);
        await admissions.join(join(1, t)); // worker 1 is admitted now
        const fast = chain.check;
        const held: Array<() => void> = [];
        chain.check = async (j) => {
            await new Promise<void>((r) => held.push(r));
            return fast(j);
        };
        const slow = admissions.join(join(0, t)); // a new key: its chain check is held
        const busy = await refusal(admissions.join(join(0, t + 1)));
        expect(busy).toMatchObject({ status: 429, code: 'joins_busy', retryAfterS: 5 });
        const again = admissions.join(join(1, t + 1)); // admitted already: checked beside the one in flight
        while (held.length < 2) await new Promise((r) => setImmediate(r));
        for (const release of held) release();
        await Promise.all([slow, again]);
        chain.check = fast;
        await admissions.join(join(0, t + 2)); // the slot is free again
        expect(names()).toEqual(['provider-0', 'provider-1']);
        registry.destroy();
    });

    it('refuses a new key Root\u2019s registry does not list without a chain check or a check slot (403, Retry-After: the next read); one registered since is admitted after that read', async () => {
        const listed = [ids[1].ed25519.publicKey];
        let reads = 0;
        const registered = new RegisteredKeys(
            async () => {
                reads += 1;
                return [...listed];
            },
            { refreshMinMs: 30_000, now: () => clock },
        );
        const { admissions, chain, names, registry } = setup([], { perSourcePerMinute: 0, chainChecks: 1 }, registered);
        const t = Math.floor(clock / 1000);
        // A flood of joins from made-up keys while a listed newcomer holds the only check slot.
        const fast = chain.check;
        let release!: () => void;
        chain.check = async (j) => {
            await new Promise<void>((r) => (release = r));
            return fast(j);
        };
        const legit = admissions.join(join(1, t));
        while (!release) await new Promise((r) => setImmediate(r));
        const checksBefore = chain.checks;
        for (let i = 0; i < 50; i++) {
            const e = await refusal(admissions.join(join(identityFromSeed(randomBytes(32)), t)));
            expect(e).toMatchObject({ status: 403, code: 'not_eligible', retryAfterS: 30 });
            expect(e.message).toMatch(/is not a Provider registered at Root \(registry read 0 s ago; .* in 30 s\)/);
        }
        expect(chain.checks).toBe(checksBefore); // no chain check, no slot taken
        expect(reads).toBe(1); // one registry read for all of them
        release();
        await legit;
        chain.check = fast;
        // Worker 0's Provider registers now: refused until the list may be read again, then admitted.
        listed.push(ids[0].ed25519.publicKey);
        clock += 10_000;
        expect(await refusal(admissions.join(join(0, t + 10)))).toMatchObject({ status: 403, retryAfterS: 20 });
        clock += 20_000;
        await admissions.join(join(0, t + 30));
        expect(reads).toBe(2);
        expect(names()).toEqual(['provider-0', 'provider-1']);
        // Admitted workers join again without the registry being consulted.
        clock += 60_000;
        await admissions.join(join(0, t + 90));
        expect(reads).toBe(2);
        registry.destroy();
    });

    it('answers 503 with Retry-After when Root\u2019s registry cannot be read, and reads it again at a join after the pause', async () => {
        let fail = true;
        const registered = new RegisteredKeys(
            async () => {
                if (fail) throw new Error('socket hang up');
                return [ids[0].ed25519.publicKey];
            },
            { refreshMinMs: 30_000, now: () => clock },
        );
        const { admissions, names, registry } = setup([], undefined, registered);
        const t = Math.floor(clock / 1000);
        expect(await refusal(admissions.join(join(0, t)))).toMatchObject({ status: 503, code: 'chain_unavailable', retryAfterS: 5 });
        fail = false;
        expect(await refusal(admissions.join(join(0, t + 1)))).toMatchObject({ status: 503 }); // within the pause: no read
        clock += FAILED_READ_PAUSE_MS;
        await admissions.join(join(0, t + 6));
        expect(names()).toEqual(['provider-0']);
        registry.destroy();
    });

    it('counts an IPv6 source by its /64 (rotating addresses within it rotates nothing), IPv4 and IPv4-mapped by the address', () => {
        expect(sourceOf('2001:db8::1')).toBe('2001:db8:0:0::/64');
        expect(sourceOf('2001:0db8:0000:0000:ffff:1:2:3')).toBe('2001:db8:0:0::/64');
        expect(sourceOf('2001:db8:0:42::7')).toBe('2001:db8:0:42::/64');
        expect(sourceOf('::1')).toBe('0:0:0:0::/64');
        expect(sourceOf('::ffff:10.1.2.3')).toBe('10.1.2.3');
        expect(sourceOf('10.1.2.3')).toBe('10.1.2.3');
        expect(sourceOf(undefined)).toBe('unknown');
    });
});

describe('proxy/registered-keys.ts: the keys of the Providers Root lists', () => {
    const key = (n: number) => Buffer.alloc(32, n);

    it('reads the registry once for joins that ask at once, and not again for a missing key before refreshMinMs', async () => {
        let reads = 0;
        let release!: () => void;
        const keys = new RegisteredKeys(
            async () => {
                reads += 1;
                await new Promise<void>((r) => (release = r));
                return [key(1)];
            },
            { refreshMinMs: 30_000, now: () => clock },
        );
        const answers = Promise.all([keys.has(key(1)), keys.has(key(2)), keys.has(key(1))]);
        while (!release) await new Promise((r) => setImmediate(r));
        release();
        expect(await answers).toEqual([true, false, true]);
        expect(reads).toBe(1);
        clock += 29_000;
        expect(await keys.has(key(2))).toBe(false);
        expect(keys.nextReadInS).toBe(1);
        expect(reads).toBe(1);
    });

    it('throws when the registry cannot be read, keeps the keys it read before, answers that failure for FAILED_READ_PAUSE_MS, then reads again', async () => {
        let fail = false;
        let reads = 0;
        const keys = new RegisteredKeys(
            async () => {
                reads += 1;
                if (fail) throw new Error('timeout');
                return [key(1)];
            },
            { refreshMinMs: 1_000, now: () => clock },
        );
        expect(await keys.has(key(1))).toBe(true);
        clock += 5_000;
        fail = true;
        await expect(keys.has(key(2))).rejects.toThrow('timeout');
        expect(await keys.has(key(1))).toBe(true); // listed before: no read needed
        fail = false;
        // A flood of misses during the outage makes no more reads until the pause is over.
        for (let i = 0; i < 20; i++) await expect(keys.has(key(2))).rejects.toThrow('timeout');
        expect(reads).toBe(2);
        clock += FAILED_READ_PAUSE_MS;
        expect(await keys.has(key(2))).toBe(false);
        expect(reads).toBe(3);
    });
});

describe('proxy/chain-read-limits.ts: what strangers can make a proxy read', () => {
    it('takes perSourcePerMinute from each source, forgets sources whose bucket is full again after a minute, and gives atOnce places, each released once', () => {
        let now = 0;
        const limits = new ChainReadLimits({ perSourcePerMinute: 2, atOnce: 2 }, () => now);
        for (let i = 0; i < 100; i++) expect(limits.waitFor(`10.0.0.${i}`)).toBe(0);
        expect(limits.waitFor('10.0.0.1')).toBe(0);
        expect(limits.waitFor('10.0.0.1')).toBe(30); // 2 a minute: the next token in 30 s
        expect(limits.sources).toBe(100);
        now += 61_000;
        expect(limits.waitFor('10.0.0.1')).toBe(0); // prunes the full buckets first
        expect(limits.sources).toBe(1);
        const a = limits.enter();
        const b = limits.enter();
        expect(limits.enter()).toBeUndefined();
        a?.();
        a?.(); // a second release frees nothing more
        expect(limits.running).toBe(1);
        expect(limits.enter()).toBeDefined();
        expect(limits.enter()).toBeUndefined();
        b?.();
        expect(new ChainReadLimits({ perSourcePerMinute: 0, atOnce: 1 }).waitFor('x')).toBe(0);
    });
});
