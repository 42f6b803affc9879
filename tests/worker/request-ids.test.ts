/**
 * The worker claims each (proxy, request id) once, ever: the claim is on disk before the
 * receipt is signed, so neither a restart nor a crash lets a proxy replay an id and get two
 * receipts for it (slashable equivocation). In process (the claim log) and with real worker
 * processes (restart, SIGKILL under load, a damaged file).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Address } from '@ton/core';
import { generateModel } from '../../worker-reference/model/generate';
import { ClaimedRequestIds } from '../../worker-reference/worker/request-ids';
import { FAST_WORKER, postJson, runCli, spawnCli, Spawned, stop, tmpDir } from './helpers';

const dir = tmpDir('cocoon-ids-');
const addr = (n: number) => new Address(0, Buffer.alloc(32, n));
const P1 = addr(1);
const P2 = addr(2);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const LOG = 'request-ids.log';
const lines = (d: string) => fs.readFileSync(path.join(d, LOG), 'utf8').split('\n').filter(Boolean);

describe('claimed request ids (in process)', () => {
    it('claims a pair once; a reopen (after a crash: no close) still refuses it; proxies are separate', async () => {
        const d = path.join(dir, 'basic');
        const ids = ClaimedRequestIds.open(d);
        await ids.claim(P1, 5n);
        expect(ids.claim(P1, 5n)).toBeNull();
        await ids.claim(P2, 5n);
        const again = ClaimedRequestIds.open(d);
        expect(again.claim(P1, 5n)).toBeNull();
        expect(again.claim(P2, 5n)).toBeNull();
        await again.claim(P1, 6n);
        expect(again.fresh(P1)).toBeGreaterThan(6n);
        await again.close();
    });

    it('concurrent claims share fdatasyncs (group commit)', async () => {
        const ids = ClaimedRequestIds.open(path.join(dir, 'group'));
        await Promise.all(Array.from({ length: 500 }, (_, i) => ids.claim(P1, BigInt(i))));
        expect(ids.syncs).toBeLessThanOrEqual(3);
        expect(lines(ids.dir as string)).toHaveLength(500);
        await ids.close();
    });

    it('compaction bounds the file: the highest ids per proxy and a floor under which ids are refused; a quiet proxy keeps its floor only', async () => {
        const d = path.join(dir, 'compact');
        const opts = { keepPerProxy: 3, compactEvery: 8 };
        const ids = ClaimedRequestIds.open(d, opts);
        await ids.claim(P2, 100n);
        for (let i = 1n; i <= 30n; i++) await ids.claim(P1, i);
        // P2 claimed nothing since the first compaction: only its floor (101) is left.
        expect(ids.stats).toEqual({ proxies: 2, ids: expect.any(Number) });
        expect(ids.stats.ids).toBeLessThanOrEqual(opts.keepPerProxy + opts.compactEvery);
        expect(lines(d).length).toBeLessThanOrEqual(2 + opts.keepPerProxy + opts.compactEvery);
        for (const reopened of [ids, ClaimedRequestIds.open(d, opts)]) {
            for (let i = 1n; i <= 30n; i++) expect(reopened.claim(P1, i)).toBeNull();
            expect(reopened.claim(P2, 100n)).toBeNull();
            expect(reopened.claim(P2, 99n)).toBeNull(); // under the floor
            expect(reopened.fresh(P1)).toBeGreaterThan(30n);
        }
        const last = ClaimedRequestIds.open(d, opts);
        await last.claim(P1, 31n);
        await last.claim(P2, 101n);
        await last.close();
    });

    it('drops a torn last line; refuses to start on other damage, saying why', async () => {
        const d = path.join(dir, 'damage');
        const ids = ClaimedRequestIds.open(d);
        for (const i of [1n, 2n, 3n]) await ids.claim(P1, i);
        await ids.close();
        const file = path.join(d, LOG);
        const intact = fs.readFileSync(file, 'utf8');
        fs.appendFileSync(file, '0123456789abcdef {"p":"0:01'); // crash mid-append
        const torn = ClaimedRequestIds.open(d);
        expect(fs.readFileSync(file, 'utf8')).toBe(intact);
        for (const i of [1n, 2n, 3n]) expect(torn.claim(P1, i)).toBeNull();
        await torn.close();
        fs.writeFileSync(file, intact.replace('"id":"1"', '"id":"7"'));
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
    const start = (dataDir: string) => spawnCli('cocoon-worker.js', ['--model', model, '--port', '0', ...FAST_WORKER, '--parallel', '2', '--key-seed', seed, '--data-dir', dataDir]);
    const ask = (w: Spawned, proxy: Address, id: bigint) =>
        postJson(`${w.url}/v1/chat/completions`, { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }, { 'x-cocoon-proxy': proxy.toString(), 'x-cocoon-request-id': id.toString() });

    beforeAll(() => {
        generateModel(model, 'tiny', 1);
    });

    const d = path.join(dir, 'worker-data');
    let w: Spawned | undefined;
    afterAll(() => stop(w));

    it('refuses, after a restart with the same data directory, a (proxy, request id) it answered before', async () => {
        w = await start(d);
        expect((await ask(w, P1, 777n)).status).toBe(200);
        await stop(w);
        w = await start(d);
        expect(w.stderr()).toMatch(/request ids recovered .*proxies=1 ids=1/);
        const again = await ask(w, P1, 777n);
        expect(again.status).toBe(409);
        expect(again.json.error).toMatchObject({ code: 'duplicate_request_id' });
        expect((await ask(w, P2, 777n)).status).toBe(200);
    });

    it('loses no claimed id when SIGKILLed under load', async () => {
        const answered: bigint[] = [777n];
        let next = 1000n;
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
        expect((await ask(w, P1, next + 1n)).status).toBe(200);
        await stop(w);
    });

    it('refuses to start on a damaged request-id file, saying why', async () => {
        const file = path.join(d, LOG);
        const text = fs.readFileSync(file, 'utf8').split('\n');
        text[0] = text[0].replace('"id":"777"', '"id":"666"');
        fs.writeFileSync(file, text.join('\n'));
        const r = await runCli('cocoon-worker.js', ['--model', model, '--port', '0', ...FAST_WORKER, '--key-seed', seed, '--data-dir', d]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/error: request-id log .* is damaged at line 1 .*refusing to start/);
    });
});
