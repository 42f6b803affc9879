/**
 * How the proxy router picks and leaves workers: by model, by requests in flight, around a
 * worker that is full (429) or down (health checks), and what a client that hangs up costs
 * the worker. A real proxy process in front of honest fake workers the test controls.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Address } from '@ton/core';
import { ed25519FromSeed } from '../../wrappers/payloads';
import { escrowSecretHash, formatEscrowApiKey, proxyAuthHeaders, secretHashBytes } from '../../worker-reference/client/api-key';
import { FakeWorker, startFakeWorker } from './fake-worker';
import { chargedTokens, getJson, metric, spawnCli, Spawned, stop, tmpDir, workerHealthy } from './helpers';

const dir = tmpDir('cocoon-routing-');
const addr = (n: number) => new Address(0, Buffer.alloc(32, n));
const PROXY = addr(100);
const CLIENT = addr(1);
const CLIENT_SECRET = Buffer.alloc(32, 0xa1);
const headers = { 'content-type': 'application/json', ...proxyAuthHeaders(formatEscrowApiKey(CLIENT, CLIENT_SECRET)) };
const ALPHA = Buffer.alloc(32, 0xaa);
const BETA = Buffer.alloc(32, 0xbb);
const workerKey = ed25519FromSeed(Buffer.alloc(32, 80));

let proxy: Spawned;
type Name = 'a1' | 'a2' | 'a3' | 'b1';
const fakes: Partial<Record<Name, FakeWorker>> & Record<'a1' | 'a2' | 'b1', FakeWorker> = {} as Record<'a1' | 'a2' | 'b1', FakeWorker>;
const configFile = path.join(dir, 'proxy.json');
const entry = (name: Name, hash: Buffer) => ({ name, endpoint: (fakes[name] as FakeWorker).url, ed25519Key: workerKey.publicKey.toString('hex'), modelHashes: [hash.toString('hex')], workerAccount: addr(200).toString() });

function writeConfig(workers: unknown[], extra: Record<string, unknown> = {}): void {
    fs.writeFileSync(
        configFile,
        JSON.stringify({
            proxyAddress: PROXY.toString(),
            keySeed: Buffer.alloc(32, 61).toString('hex'),
            dataDir: path.join(dir, 'data'),
            healthIntervalMs: 100,
            workers,
            escrows: { [CLIENT.toString()]: { balance: '1000000000000', secretHash: secretHashBytes(escrowSecretHash(CLIENT_SECRET)).toString('hex') } },
            ...extra,
        }),
    );
}

const listed = async () => ((await getJson(`${proxy.url}/v1/workers`)).workers as Array<{ name: string; healthy: boolean }>).map((w) => w.name);

function chat(model: string, o: { stream?: boolean; signal?: AbortSignal } = {}): Promise<Response> {
    const body = { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1, stream: o.stream ?? false };
    return fetch(`${proxy.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(body), signal: o.signal });
}

const requestsOf = () => Object.fromEntries(Object.entries(fakes).map(([k, f]) => [k, f?.requestIds.length ?? 0]));

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
    const t0 = Date.now();
    while (!cond()) {
        if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
    }
}

async function waitForAsync(what: string, cond: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
    const t0 = Date.now();
    while (!(await cond())) {
        if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
    }
}

beforeAll(async () => {
    fakes.a1 = await startFakeWorker({ key: workerKey, modelId: 'alpha', modelHash: ALPHA, delayMs: 300 });
    fakes.a2 = await startFakeWorker({ key: workerKey, modelId: 'alpha', modelHash: ALPHA, delayMs: 300 });
    fakes.b1 = await startFakeWorker({ key: workerKey, modelId: 'beta', modelHash: BETA, streamGapMs: 30_000 });
    writeConfig([entry('a1', ALPHA), entry('a2', ALPHA), entry('b1', BETA)]);
    proxy = await spawnCli('cocoon-proxy.js', ['--config', configFile, '--port', '0']);
    for (const name of Object.keys(fakes)) await workerHealthy(proxy.url, name);
});

afterAll(async () => {
    await stop(proxy);
    await Promise.all(Object.values(fakes).map((f) => f?.close()));
    fs.rmSync(dir, { recursive: true, force: true });
});

describe('proxy router: picking a worker', () => {
    it('sends a request only to workers serving its model (by id or model hash); a model nobody serves is a 404', async () => {
        const before = requestsOf();
        expect((await chat('beta')).status).toBe(200);
        expect((await chat(`sha256:${BETA.toString('hex')}`)).status).toBe(200);
        expect(requestsOf()).toEqual({ ...before, b1: before.b1 + 2 });
        const r = await chat('gamma');
        expect(r.status).toBe(404);
        expect(((await r.json()) as { error: { code: string } }).error.code).toBe('model_not_found');
        const models = ((await getJson(`${proxy.url}/v1/models`)).data as Array<{ id: string }>).map((m) => m.id).sort();
        expect(models).toEqual(['alpha', 'beta']);
    });

    it('spreads concurrent requests over the workers by requests in flight', async () => {
        const before = requestsOf();
        const rs = await Promise.all([1, 2, 3, 4].map(() => chat('alpha')));
        expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
        expect(requestsOf()).toEqual({ ...before, a1: before.a1 + 2, a2: before.a2 + 2 });
    });

    it('passes a full worker (429) for another one, and answers 429 when every one is full, charging nothing', async () => {
        fakes.a1.busy = true;
        try {
            const before = requestsOf();
            expect((await Promise.all([chat('alpha'), chat('alpha')])).map((r) => r.status)).toEqual([200, 200]);
            expect(requestsOf()).toEqual({ ...before, a2: before.a2 + 2 });
            fakes.a2.busy = true;
            const charged = await chargedTokens(proxy.url, CLIENT);
            const r = await chat('alpha');
            expect(r.status).toBe(429);
            expect(r.headers.get('retry-after')).toBe('1');
            const err = ((await r.json()) as { error: { code: string; message: string } }).error;
            expect(err.code).toBe('workers_busy');
            expect(err.message).toMatch(/every worker serving `alpha` that was tried \(2\) is at capacity; retry shortly/);
            expect(await chargedTokens(proxy.url, CLIENT)).toBe(charged);
            // a1 refused the last request and one or both of the first two (whichever tried it first)
            expect(await metric(proxy.url, 'cocoon_proxy_worker_attempts_total', { worker: 'a1', outcome: 'busy' })).toBeGreaterThanOrEqual(2);
            expect(await metric(proxy.url, 'cocoon_proxy_worker_attempts_total', { worker: 'a2', outcome: 'busy' })).toBe(1);
            expect(await metric(proxy.url, 'cocoon_proxy_http_responses_total', { route: '/v1/chat/completions', status: '429' })).toBe(1);
        } finally {
            fakes.a1.busy = false;
            fakes.a2.busy = false;
        }
        // A full worker is not a sick one: both still serve.
        await workerHealthy(proxy.url, 'a1');
        await workerHealthy(proxy.url, 'a2');
    });

    it('skips its request ids past the floor a restarted worker names (409 request_id_below_floor) and asks again; a floor implausibly far ahead is not skipped to', async () => {
        const highest = () => [fakes.a1, fakes.a2].flatMap((f) => f.requestIds).reduce((a, b) => (b > a ? b : a), 0n);
        const floor = highest() + 5_000n;
        fakes.a1.idFloor = floor;
        fakes.a2.idFloor = floor;
        try {
            const r = await chat('alpha');
            expect(r.status).toBe(200);
            expect(highest()).toBeGreaterThanOrEqual(floor); // answered above the floor
            const skips = async () => (await metric(proxy.url, 'cocoon_proxy_worker_attempts_total', { worker: 'a1', outcome: 'id_floor' })) + (await metric(proxy.url, 'cocoon_proxy_worker_attempts_total', { worker: 'a2', outcome: 'id_floor' }));
            expect(await skips()).toBe(1);
            expect((await chat('alpha')).status).toBe(200); // ids stay above it
            expect(await skips()).toBe(1);
            // A worker cannot push the proxy's ids toward the end of their range: such a 409 goes to the client as it is.
            const far = highest() + 2_000_000_000n;
            fakes.a1.idFloor = far;
            fakes.a2.idFloor = far;
            const refused = await chat('alpha');
            expect(refused.status).toBe(409);
            expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('request_id_below_floor');
            fakes.a1.idFloor = undefined;
            fakes.a2.idFloor = undefined;
            expect((await chat('alpha')).status).toBe(200);
            expect(highest()).toBeLessThan(far);
        } finally {
            fakes.a1.idFloor = undefined;
            fakes.a2.idFloor = undefined;
        }
    });

    it('stops sending to a worker whose health check fails, and sends again once it answers', async () => {
        fakes.a2.down = true;
        try {
            await workerHealthy(proxy.url, 'a2', { healthy: false });
            expect(await metric(proxy.url, 'cocoon_proxy_worker_healthy', { worker: 'a2' })).toBe(0);
            expect(await metric(proxy.url, 'cocoon_proxy_worker_healthy', { worker: 'a1' })).toBe(1);
            const before = requestsOf();
            expect((await Promise.all([chat('alpha'), chat('alpha')])).map((r) => r.status)).toEqual([200, 200]);
            expect(requestsOf()).toEqual({ ...before, a1: before.a1 + 2 });
        } finally {
            fakes.a2.down = false;
        }
        await workerHealthy(proxy.url, 'a2');
        const before = requestsOf();
        await Promise.all([chat('alpha'), chat('alpha')]);
        expect(requestsOf()).toEqual({ ...before, a1: before.a1 + 1, a2: before.a2 + 1 });
    });

    it('503 with a reason when no worker of a known model is healthy', async () => {
        fakes.b1.down = true;
        try {
            await workerHealthy(proxy.url, 'b1', { healthy: false });
            const r = await chat('beta');
            expect(r.status).toBe(503);
            expect(((await r.json()) as { error: { code: string } }).error.code).toBe('no_worker_available');
        } finally {
            fakes.b1.down = false;
        }
        await workerHealthy(proxy.url, 'b1');
    });
});

describe('proxy router: metrics', () => {
    it('counts the tokens it charged (all of them, this proxy having started empty) and every answered attempt', async () => {
        expect(await metric(proxy.url, 'cocoon_proxy_charged_tokens_total')).toBe(Number(await chargedTokens(proxy.url, CLIENT)));
        const answered = await metric(proxy.url, 'cocoon_proxy_worker_attempts_total', { outcome: 'answered' });
        expect(answered).toBe(Object.values(fakes).reduce((n, f) => n + f.requestIds.length, 0));
        expect(await metric(proxy.url, 'cocoon_proxy_ledger_records')).toBeGreaterThanOrEqual(answered);
    });
});

describe('proxy router: a client that hangs up', () => {
    it("closes the worker's request at once (the worker stops generating) and charges nothing", async () => {
        const charged = await chargedTokens(proxy.url, CLIENT);
        const abort = new AbortController();
        const r = await chat('beta', { stream: true, signal: abort.signal });
        expect(r.status).toBe(200);
        const reader = (r.body as ReadableStream<Uint8Array>).getReader();
        let text = '';
        while (!text.includes('a confident answer')) text += Buffer.from((await reader.read()).value ?? []).toString('utf8');
        // The answer's text is out; the receipt would follow 30 s later.
        expect(fakes.b1.inflight).toBe(1);
        abort.abort();
        await waitFor('the worker to see its request closed', () => fakes.b1.cancelled === 1 && fakes.b1.inflight === 0, 2000);
        expect(await chargedTokens(proxy.url, CLIENT)).toBe(charged);
    });

    it('closes the request of a worker that has not answered yet too (a request waiting or generating, not streamed)', async () => {
        const charged = await chargedTokens(proxy.url, CLIENT);
        const cancelled = fakes.a1.cancelled + fakes.a2.cancelled;
        const abort = new AbortController();
        const r = chat('alpha', { signal: abort.signal });
        await waitFor('the request to reach a worker', () => fakes.a1.inflight + fakes.a2.inflight === 1);
        abort.abort();
        await expect(r).rejects.toThrow(/abort/i);
        await waitFor('the worker to see its request closed', () => fakes.a1.cancelled + fakes.a2.cancelled === cancelled + 1 && fakes.a1.inflight + fakes.a2.inflight === 0, 2000);
        expect(await chargedTokens(proxy.url, CLIENT)).toBe(charged);
    });
});

describe('proxy router: SIGHUP reloads the workers list', () => {
    it('adds, keeps and removes workers without a restart; the removed one gets no new request', async () => {
        fakes.a3 = await startFakeWorker({ key: workerKey, modelId: 'alpha', modelHash: ALPHA, delayMs: 300 });
        writeConfig([entry('a1', ALPHA), entry('b1', BETA), entry('a3', ALPHA)]);
        proxy.proc.kill('SIGHUP');
        await waitForAsync('the reload in the log', async () => /SIGHUP: workers reloaded added=a3 changed=- removed=a2 kept=2/.test(proxy.stderr()));
        expect(await listed()).toEqual(['a1', 'b1', 'a3']);
        await workerHealthy(proxy.url, 'a3');
        const before = requestsOf();
        expect((await Promise.all([1, 2, 3, 4].map(() => chat('alpha')))).map((r) => r.status)).toEqual([200, 200, 200, 200]);
        expect(requestsOf()).toEqual({ ...before, a1: before.a1 + 2, a3: before.a3 + 2 });
        expect(await metric(proxy.url, 'cocoon_proxy_worker_healthy', { worker: 'a2' })).toBe(0); // gone from the metrics too
        expect(await metric(proxy.url, 'cocoon_proxy_worker_healthy', { worker: 'a3' })).toBe(1);
    });

    it('keeps the running list when the new config does not parse, and names fields that need a restart', async () => {
        fs.writeFileSync(configFile, '{"workers": [');
        proxy.proc.kill('SIGHUP');
        await waitForAsync('the refusal in the log', async () => /SIGHUP: config not reloaded, the running one stays/.test(proxy.stderr()));
        expect(await listed()).toEqual(['a1', 'b1', 'a3']);
        writeConfig([entry('a1', ALPHA), entry('b1', BETA), entry('a3', ALPHA), entry('a3', ALPHA)]);
        proxy.proc.kill('SIGHUP');
        await waitForAsync('the refusal of a name used twice', async () => /config not reloaded.*"a3" is used twice/.test(proxy.stderr()));
        writeConfig([entry('a1', ALPHA), entry('b1', BETA), entry('a3', ALPHA)], { healthIntervalMs: 5000, faultTtlSeconds: 60 });
        proxy.proc.kill('SIGHUP');
        await waitForAsync('the note on restart-only fields', async () => /apply only after a restart fields=healthIntervalMs,faultTtlSeconds/.test(proxy.stderr()));
        expect(await listed()).toEqual(['a1', 'b1', 'a3']);
    });

    it('replaces a worker whose entry changed (another account here), checking its health at once', async () => {
        writeConfig([{ ...entry('a1', ALPHA), workerAccount: addr(201).toString() }, entry('b1', BETA), entry('a3', ALPHA)]);
        proxy.proc.kill('SIGHUP');
        await waitForAsync('the reload in the log', async () => /SIGHUP: workers reloaded added=- changed=a1 removed=- kept=2/.test(proxy.stderr()));
        await workerHealthy(proxy.url, 'a1', { timeoutMs: 1000 });
        expect((await chat('beta')).status).toBe(200);
    });
});
