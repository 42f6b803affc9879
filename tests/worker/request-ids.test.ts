/**
 * The worker claims each (proxy, request id) once, ever: a reservation covering the id is on
 * disk before the receipt is signed, so neither a restart nor a crash lets a proxy replay an
 * id and get two receipts for it (slashable equivocation); after a restart every reserved id
 * is refused and the proxy skips past them. In process (the claim log) and with real worker
 * and proxy processes (restart, SIGKILL under load, a damaged file, the proxy's skip).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Address } from '@ton/core';
import { generateModel } from '../../worker-reference/model/generate';
import { checkedLine } from '../../worker-reference/common/checked-log';
import { ClaimedRequestIds, ProxyLimitError } from '../../worker-reference/worker/request-ids';
import { FAST_WORKER, metric, postJson, runCli, spawnCli, Spawned, stop, tmpDir, workerHealthy, writeProxyConfig } from './helpers';
import { proxyAuthHeaders } from '../../worker-reference/client/api-key';
import { sha256File } from '../../worker-reference/common/hash';
import { identityFromSeed } from '../../worker-reference/crypto/keys';
import { escrowSecretHash, formatEscrowApiKey, secretHashBytes } from '../../wrappers/escrowSecret';

const dir = tmpDir('cocoon-ids-');
const addr = (n: number) => new Address(0, Buffer.alloc(32, n));
const P1 = addr(1);
const P2 = addr(2);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const LOG = 'request-ids.log';
const lines = (d: string) => fs.readFileSync(path.join(d, LOG), 'utf8').split('\n').filter(Boolean);

describe('claimed request ids (in process)', () => {
    it('claims a pair once; a reopen (after a crash: no close) refuses every id it had reserved; proxies are separate', async () => {
        const d = path.join(dir, 'basic');
        const ids = ClaimedRequestIds.open(d, { reserveBlock: 100n });
        await ids.claim(P1, 5n);
        expect(ids.claim(P1, 5n)).toBeNull();
        await ids.claim(P1, 6n); // within the reservation (up to 105): no write
        await ids.claim(P2, 5n);
        expect(lines(d)).toHaveLength(2); // one reservation per proxy, not one line per claim
        const again = ClaimedRequestIds.open(d, { reserveBlock: 100n });
        expect(again.floorOf(P1)).toBe(106n);
        for (const id of [5n, 6n, 7n, 105n]) expect(again.claim(P1, id)).toBeNull(); // claimed or reserved before
        expect(again.claim(P2, 5n)).toBeNull();
        await again.claim(P1, 106n);
        expect(again.fresh(P1)).toBeGreaterThan(106n);
        expect(again.floorOf(addr(9))).toBe(0n);
        await again.close();
    });

    it('keeps at most maxProxies proxies, those of earlier runs included: claims naming another are refused, known ones go on', async () => {
        const d = path.join(dir, 'max-proxies');
        const ids = ClaimedRequestIds.open(d, { maxProxies: 2 });
        await ids.claim(P1, 1n);
        await ids.claim(P2, 1n);
        expect(ids.admits(addr(3))).toBe(false);
        expect(() => ids.claim(addr(3), 1n)).toThrow(ProxyLimitError);
        expect(ids.admits(P1)).toBe(true);
        await ids.claim(P1, 2n);
        expect(lines(d)).toHaveLength(2); // nothing written for the refused proxy
        const again = ClaimedRequestIds.open(d, { maxProxies: 2 });
        expect(again.stats.proxies).toBe(2);
        expect(again.admits(addr(3))).toBe(false);
        expect(again.admits(P2)).toBe(true);
        // A lower limit after a restart forgets no proxy: all are still refused under their floors.
        const lower = ClaimedRequestIds.open(d, { maxProxies: 1 });
        expect(lower.claim(P2, 1n)).toBeNull();
        expect(lower.admits(addr(3))).toBe(false);
        expect(ClaimedRequestIds.inMemory({ maxProxies: 1 }).admits(P1)).toBe(true);
        await lower.close();
    });

    it('writes one reservation per block of ids: claims within it wait for that write only; concurrent ones share it (group commit)', async () => {
        const ids = ClaimedRequestIds.open(path.join(dir, 'group'), { reserveBlock: 1000n });
        await Promise.all(Array.from({ length: 500 }, (_, i) => ids.claim(P1, BigInt(i))));
        expect(ids.syncs).toBe(1);
        for (let i = 500n; i < 1100n; i++) await ids.claim(P1, i); // 1001 is past the first block
        expect(ids.syncs).toBe(2);
        expect(lines(ids.dir as string)).toHaveLength(2);
        await ids.close();
    });

    it('bounds memory (the highest ids per proxy, a floor under the rest; a quiet proxy keeps its floor only) and the file (compaction to one reservation per proxy)', async () => {
        const d = path.join(dir, 'compact');
        const opts = { keepPerProxy: 3, compactEvery: 4, reserveBlock: 5n };
        const ids = ClaimedRequestIds.open(d, opts);
        await ids.claim(P2, 100n);
        for (let i = 1n; i <= 30n; i++) await ids.claim(P1, i); // a reservation every 6 ids: compacted on the way
        // P2 claimed nothing since the first pruning: only its floor (101) is left in memory.
        expect(ids.stats.ids).toBeLessThanOrEqual(opts.keepPerProxy + opts.compactEvery);
        expect(ids.claim(P2, 99n)).toBeNull(); // under the floor
        expect(lines(d).length).toBeLessThanOrEqual(2 + opts.compactEvery);
        for (const reopened of [ids, ClaimedRequestIds.open(d, opts)]) {
            for (let i = 1n; i <= 30n; i++) expect(reopened.claim(P1, i)).toBeNull();
            expect(reopened.claim(P2, 100n)).toBeNull();
            expect(reopened.fresh(P1)).toBeGreaterThan(30n);
        }
        const last = ClaimedRequestIds.open(d, opts);
        await last.claim(P1, last.floorOf(P1));
        await last.claim(P2, last.floorOf(P2));
        await last.close();
    });

    it('reads the claimed-id lines of files written before reservations: every id up to the highest is refused', async () => {
        const d = path.join(dir, 'legacy');
        fs.mkdirSync(d);
        fs.writeFileSync(path.join(d, LOG), [`{"p":"${P1.toRawString()}","id":"7"}`, `{"p":"${P1.toRawString()}","id":"9"}`, `{"p":"${P2.toRawString()}","floor":"50"}`].map(checkedLine).join(''));
        const ids = ClaimedRequestIds.open(d);
        expect(ids.floorOf(P1)).toBe(10n);
        expect(ids.floorOf(P2)).toBe(50n);
        expect(ids.claim(P1, 8n)).toBeNull();
        await ids.claim(P1, 10n);
        await ids.close();
    });

    it('drops a torn last line; refuses to start on other damage, saying why', async () => {
        const d = path.join(dir, 'damage');
        const opts = { reserveBlock: 0n }; // a reservation per claim: three lines
        const ids = ClaimedRequestIds.open(d, opts);
        for (const i of [1n, 2n, 3n]) await ids.claim(P1, i);
        await ids.close();
        const file = path.join(d, LOG);
        const intact = fs.readFileSync(file, 'utf8');
        expect(intact.split('\n').filter(Boolean)).toHaveLength(3);
        fs.appendFileSync(file, '0123456789abcdef {"p":"0:01'); // crash mid-append
        const torn = ClaimedRequestIds.open(d, opts);
        expect(fs.readFileSync(file, 'utf8')).toBe(intact);
        for (const i of [1n, 2n, 3n]) expect(torn.claim(P1, i)).toBeNull();
        await torn.close();
        fs.writeFileSync(file, intact.replace('"upTo":"1"', '"upTo":"7"'));
        expect(() => ClaimedRequestIds.open(d)).toThrow(/request-id log .*request-ids\.log is damaged at line 1 .*refusing to start/);
    });

    it('one process per data directory; a lock left by a dead process is taken over', async () => {
        const d = path.join(dir, 'lock');
        fs.mkdirSync(d);
        fs.writeFileSync(path.join(d, 'lock'), `${process.ppid}\n`);
        expect(() => ClaimedRequestIds.open(d)).toThrow(/in use by process \d+; give each worker its own --data-dir/);
        const gone = spawn(process.execPath, ['-e', '']);
        await new Promise((r) => gone.once('exit', r));
        fs.writeFileSync(path.join(d, 'lock'), `${gone.pid}\n`);
        const ids = ClaimedRequestIds.open(d);
        expect(fs.readFileSync(path.join(d, 'lock'), 'utf8').trim()).toBe(String(process.pid));
        await ids.close();
        expect(fs.existsSync(path.join(d, 'lock'))).toBe(false);
    });
});

describe('worker: request ids across restarts', () => {
    const model = path.join(dir, 'tiny.gguf');
    const seed = Buffer.alloc(32, 42).toString('hex');
    const start = (dataDir: string, port = 0) => spawnCli('cocoon-worker.js', ['--model', model, '--port', String(port), ...FAST_WORKER, '--parallel', '2', '--key-seed', seed, '--data-dir', dataDir]);
    /** The floor a 409 request_id_below_floor names (its header, also in its message). */
    const floorOf = (r: { status: number; json: Record<string, unknown>; headers: Headers }) => {
        expect(r.status).toBe(409);
        expect(r.json.error).toMatchObject({ code: 'request_id_below_floor' });
        return BigInt(r.headers.get('x-cocoon-request-id-floor') as string);
    };
    const ask = (w: Spawned, proxy: Address, id: bigint) =>
        postJson(`${w.url}/v1/chat/completions`, { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }, { 'x-cocoon-proxy': proxy.toString(), 'x-cocoon-request-id': id.toString() });

    beforeAll(() => {
        generateModel(model, 'tiny', 1);
    });

    const d = path.join(dir, 'worker-data');
    let w: Spawned | undefined;
    afterAll(() => stop(w));

    it('refuses, after a restart with the same data directory, a (proxy, request id) it answered before, and every id it had reserved, naming the floor', async () => {
        w = await start(d);
        expect((await ask(w, P1, 777n)).status).toBe(200);
        const dup = await ask(w, P1, 777n);
        expect(dup.status).toBe(409);
        expect(dup.json.error).toMatchObject({ code: 'duplicate_request_id' });
        await stop(w);
        w = await start(d);
        expect(w.stderr()).toMatch(/request ids recovered .*proxies=1 ids=0/);
        const floor = floorOf(await ask(w, P1, 777n));
        expect(floor).toBe(777n + 1_000_000n + 1n);
        expect(floorOf(await ask(w, P1, floor - 1n))).toBe(floor);
        expect((await ask(w, P1, floor)).status).toBe(200);
        expect((await ask(w, P2, 777n)).status).toBe(200);
    });

    it('answers 403 proxy_limit to a request naming one proxy more than --max-proxies, and keeps serving the known ones', async () => {
        const limited = await spawnCli('cocoon-worker.js', ['--model', model, '--port', '0', ...FAST_WORKER, '--key-seed', seed, '--data-dir', path.join(dir, 'limited'), '--max-proxies', '2']);
        try {
            expect((await ask(limited, P1, 1n)).status).toBe(200);
            expect((await ask(limited, P2, 1n)).status).toBe(200);
            const third = await ask(limited, addr(3), 1n);
            expect(third.status).toBe(403);
            expect(third.json.error).toMatchObject({ code: 'proxy_limit', type: 'invalid_request_error' });
            expect(String((third.json.error as { message: string }).message)).toMatch(/answered 2 proxy addresses, its limit \(--max-proxies\)/);
            expect((await ask(limited, P1, 2n)).status).toBe(200);
            expect(fs.readFileSync(path.join(dir, 'limited', LOG), 'utf8')).not.toContain(addr(3).toRawString());
        } finally {
            await stop(limited);
        }
        const bad = await runCli('cocoon-worker.js', ['--model', model, '--port', '0', ...FAST_WORKER, '--max-proxies', '0']);
        expect(bad.code).toBe(2);
        expect(bad.stderr).toMatch(/--max-proxies/);
    });

    it('loses no claimed id when SIGKILLed under load', async () => {
        const answered: bigint[] = [777n];
        let next = 10_000_000n; // above the floor of the test before
        let running = true;
        const loop = async (worker: Spawned) => {
            while (running) {
                const id = next++;
                try {
                    const r = await ask(worker, P1, id);
                    if (r.status === 200 && r.json.receipt) answered.push(id);
                } catch {
                    return; // the worker died under us
                }
            }
        };
        const load = Promise.all([1, 2, 3, 4].map(() => loop(w as Spawned)));
        await new Promise((r) => setTimeout(r, 1000));
        await stop(w, 'SIGKILL');
        running = false;
        await load;
        expect(answered.length).toBeGreaterThan(20);
        w = await start(d);
        for (let i = 0; i < answered.length; i += 25) {
            const statuses = await Promise.all(answered.slice(i, i + 25).map(async (id) => (await ask(w as Spawned, P1, id)).status));
            expect(statuses.every((s) => s === 409)).toBe(true);
        }
        const floor = floorOf(await ask(w, P1, next + 1n)); // reserved before the kill
        expect(floor).toBeGreaterThan(next);
        expect((await ask(w, P1, floor)).status).toBe(200);
        await stop(w);
    });

    it('a proxy skips past the ids a restarted worker had reserved: its client sees no error', async () => {
        const pd = tmpDir('cocoon-ids-proxy-');
        const client = addr(20);
        const secret = Buffer.alloc(32, 0x55);
        w = await start(d);
        const port = w.port;
        const config = writeProxyConfig(pd, addr(30), Buffer.alloc(32, 31), {
            healthIntervalMs: 300,
            workers: [{ name: 'w', endpoint: w.url, ed25519Key: identityFromSeed(Buffer.from(seed, 'hex')).ed25519.publicKey.toString('hex'), modelHashes: [sha256File(model).toString('hex')], workerAccount: addr(32).toString() }],
            escrows: { [client.toString()]: { balance: '1000000000000', secretHash: secretHashBytes(escrowSecretHash(secret)).toString('hex') } },
        });
        const proxy = await spawnCli('cocoon-proxy.js', ['--config', config, '--port', '0']);
        try {
            const chat = () => postJson(`${proxy.url}/v1/chat/completions`, { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }, proxyAuthHeaders(formatEscrowApiKey(client, secret)));
            expect((await chat()).status).toBe(200);
            await stop(w);
            w = await start(d, port); // where the proxy's config says it is
            await workerHealthy(proxy.url, 'w', { timeoutMs: 10_000 });
            const r = await chat();
            expect(r.status).toBe(200);
            expect(await metric(proxy.url, 'cocoon_proxy_worker_attempts_total', { worker: 'w', outcome: 'id_floor' })).toBe(1);
            expect(proxy.stderr()).toMatch(/worker refuses request ids below its floor \(it restarted\); skipping past it worker=w/);
            expect((await chat()).status).toBe(200); // ids above the floor from now on: no second skip
            expect(await metric(proxy.url, 'cocoon_proxy_worker_attempts_total', { worker: 'w', outcome: 'id_floor' })).toBe(1);
        } finally {
            await stop(proxy);
            await stop(w);
            fs.rmSync(pd, { recursive: true, force: true });
        }
    });

    it('refuses to start on a damaged request-id file, saying why', async () => {
        const file = path.join(d, LOG);
        const text = fs.readFileSync(file, 'utf8').split('\n');
        text[0] = text[0].replace('"upTo":"1000777"', '"upTo":"1000666"');
        fs.writeFileSync(file, text.join('\n'));
        const r = await runCli('cocoon-worker.js', ['--model', model, '--port', '0', ...FAST_WORKER, '--key-seed', seed, '--data-dir', d]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/error: request-id log .* is damaged at line 1 .*refusing to start/);
    });
});
