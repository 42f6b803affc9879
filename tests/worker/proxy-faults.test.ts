/**
 * The proxy router reports workers whose own signed receipts fail its check: a real proxy
 * process in front of fake workers that sign with their configured key and lie. The client
 * gets the 502 and is not charged; the signed report is on disk before that, served at
 * GET /v1/faults, and survives a SIGKILL with its id; forged receipts report nothing.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Address, Cell } from '@ton/core';
import { ed25519FromSeed, FaultReason, parseFaultReport, verifyCellSignature } from '../../wrappers/payloads';
import { identityFromSeed } from '../../worker-reference/crypto/keys';
import { readRouterFaults } from '../../ops/router-faults';
import { readSignedFault } from '../../ops/settlement-file';
import { SignedFaultJson } from '../../worker-reference/proxy/faults';
import { FakeWorker, Lie, startFakeWorker } from './fake-worker';
import { chargedTokens, getJson, metric, postJson, spawnCli, Spawned, stop, tmpDir, workerHealthy } from './helpers';
import { escrowSecretHash, formatEscrowApiKey, proxyAuthHeaders, secretHashBytes } from '../../worker-reference/client/api-key';

const dir = tmpDir('cocoon-faults-');
const addr = (n: number) => new Address(0, Buffer.alloc(32, n));
const PROXY = addr(100);
const CLIENT = addr(1);
const CLIENT_SECRET = Buffer.alloc(32, 0xa1);
const CLIENT_KEY = formatEscrowApiKey(CLIENT, CLIENT_SECRET);
const PROXY_SEED = Buffer.alloc(32, 60);
const proxyKey = identityFromSeed(PROXY_SEED).ed25519.publicKey;
const MODEL_HASH = Buffer.alloc(32, 0xab);
const TTL = 600;

interface Fake {
    name: string;
    lie: Lie;
    streamAtOnce?: boolean;
    tls?: boolean;
    /** Reached as http://0.0.0.0:port: the same machine, but not a loopback name, so a plain remote link. */
    remote?: boolean;
    provider?: { address: Address; seqno: number };
    worker?: FakeWorker;
}
const fakes: Fake[] = [
    { name: 'liar', lie: 'counts', provider: { address: addr(31), seqno: 3 } },
    { name: 'streamer', lie: 'result', provider: { address: addr(32), seqno: 4 } },
    { name: 'misnamer', lie: 'request', provider: { address: addr(33), seqno: 5 } },
    { name: 'forger', lie: 'forged', provider: { address: addr(34), seqno: 6 } },
    { name: 'anon', lie: 'counts' },
    { name: 'burst', lie: 'result', streamAtOnce: true },
    { name: 'secure', lie: 'counts', tls: true, provider: { address: addr(35), seqno: 7 } },
    { name: 'remote', lie: 'counts', remote: true, provider: { address: addr(36), seqno: 8 } },
    { name: 'endless', lie: 'endless' },
    { name: 'huge', lie: 'huge' },
    { name: 'flood', lie: 'flood' },
];
const fake = (name: string) => fakes.find((f) => f.name === name) as Required<Fake>;

let proxy: Spawned;
let config: string;

function startProxy(): Promise<Spawned> {
    return spawnCli('cocoon-proxy.js', ['--config', config, '--port', '0']);
}

async function chat(model: string, stream = false) {
    const body = { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1, stream };
    const headers = { 'content-type': 'application/json', ...proxyAuthHeaders(CLIENT_KEY) };
    const r = await fetch(`${proxy.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: r.status, text: await r.text() };
}

async function faults(): Promise<SignedFaultJson[]> {
    return (await getJson(`${proxy.url}/v1/faults`)).faults as SignedFaultJson[];
}

const charged = () => chargedTokens(proxy.url, CLIENT);

/** A worker marked unhealthy by a bad receipt comes back at its next health check. */
const healthy = (name: string) => workerHealthy(proxy.url, name);

/** The report is signed by the proxy's enclave key and says what it should. */
function checkReport(f: SignedFaultJson, who: Required<Fake>, reason: FaultReason): void {
    const cell = Cell.fromBoc(Buffer.from(f.payload, 'base64'))[0];
    expect(verifyCellSignature(cell, Buffer.from(f.signature, 'base64'), proxyKey)).toBe(true);
    const r = parseFaultReport(cell);
    expect(r.provider.equals(who.provider.address)).toBe(true);
    expect(r.proxy.equals(PROXY)).toBe(true);
    expect(r.reason).toBe(reason);
    expect(r.requestId).toBe(who.worker.requestIds[who.worker.requestIds.length - 1]);
    expect(r.validUntil).toBeGreaterThan(Date.now() / 1000 + TTL - 60);
    expect(r.validUntil).toBeLessThanOrEqual(Date.now() / 1000 + TTL);
    expect(f).toMatchObject({
        report_id: r.reportId.toString(),
        provider: who.provider.address.toString(),
        provider_seqno: String(who.provider.seqno),
        proxy: PROXY.toString(),
        worker: who.name,
        reason,
        reason_name: FaultReason[reason],
        request_id: r.requestId.toString(),
        proxy_key: proxyKey.toString('hex'),
    });
}

beforeAll(async () => {
    const workerKey = ed25519FromSeed(Buffer.alloc(32, 70));
    const workers = [];
    for (const f of fakes) {
        f.worker = await startFakeWorker({ key: workerKey, signer: f.lie === 'forged' ? ed25519FromSeed(Buffer.alloc(32, 71)) : undefined, modelId: f.name, modelHash: MODEL_HASH, lie: f.lie, streamAtOnce: f.streamAtOnce, tls: f.tls });
        workers.push({
            name: f.name,
            endpoint: f.remote ? f.worker.url.replace('127.0.0.1', '0.0.0.0') : f.worker.url,
            ed25519Key: workerKey.publicKey.toString('hex'),
            modelHashes: [MODEL_HASH.toString('hex')],
            workerAccount: addr(200).toString(),
            ...(f.provider ? { provider: f.provider.address.toString(), providerSeqno: f.provider.seqno } : {}),
        });
    }
    config = path.join(dir, 'proxy.json');
    fs.writeFileSync(
        config,
        JSON.stringify({
            proxyAddress: PROXY.toString(),
            keySeed: PROXY_SEED.toString('hex'),
            dataDir: path.join(dir, 'data'),
            healthIntervalMs: 200,
            faultTtlSeconds: TTL,
            maxAnswerBytes: 65536,
            workers,
            escrows: { [CLIENT.toString()]: { balance: '1000000000000', secretHash: secretHashBytes(escrowSecretHash(CLIENT_SECRET)).toString('hex') } },
        }),
    );
    proxy = await startProxy();
});

afterAll(async () => {
    await stop(proxy);
    await Promise.all(fakes.map((f) => f.worker?.close()));
    fs.rmSync(dir, { recursive: true, force: true });
});

describe('proxy router: fault reports against workers', () => {
    it('a receipt signed by the worker that overstates its tokens: 502, not charged, a report signed by the proxy key at /v1/faults', async () => {
        const before = await charged();
        const r = await chat('liar');
        expect(r.status).toBe(502);
        expect(JSON.parse(r.text).error).toMatchObject({ code: 'invalid_receipt' });
        expect(await charged()).toBe(before);
        const list = await faults();
        expect(list).toHaveLength(1);
        checkReport(list[0], fake('liar'), FaultReason.WrongCounts);
        expect(list[0].detail).toMatch(/completion tokens 50 differ from usage 1/);
        expect(await getJson(`${proxy.url}/v1/faults/${list[0].report_id}`)).toEqual(list[0]);
        expect((await fetch(`${proxy.url}/v1/faults/12345`)).status).toBe(404);
        expect(proxy.stderr()).toMatch(/fault report filed worker=liar/);
    });

    it('a streamed answer whose signed result hash is not the answer, and a receipt for another request: reported with their reasons', async () => {
        const s = await chat('streamer', true);
        expect(s.status).toBe(200); // the stream had started; the refusal is its last event
        expect(s.text).toMatch(/"code":"invalid_receipt"/);
        expect(s.text).not.toMatch(/\[DONE\]/);
        const m = await chat('misnamer');
        expect(m.status).toBe(502);
        const list = await faults();
        expect(list.map((f) => f.worker)).toEqual(['liar', 'streamer', 'misnamer']);
        checkReport(list[1], fake('streamer'), FaultReason.ResultMismatch);
        checkReport(list[2], fake('misnamer'), FaultReason.WrongRequest);
        const ids = list.map((f) => BigInt(f.report_id));
        expect(ids[1]).toBeGreaterThan(ids[0]);
        expect(ids[2]).toBeGreaterThan(ids[1]);
        // Counted in the metrics by worker and reason, and as attempts whose receipt failed.
        expect(await metric(proxy.url, 'cocoon_proxy_fault_reports_total')).toBe(3);
        expect(await metric(proxy.url, 'cocoon_proxy_fault_reports_total', { worker: 'streamer', reason: 'ResultMismatch' })).toBe(1);
        expect(await metric(proxy.url, 'cocoon_proxy_worker_attempts_total', { worker: 'misnamer', outcome: 'invalid_receipt' })).toBe(1);
        expect(await metric(proxy.url, 'cocoon_proxy_fault_reports_kept')).toBe(3);
    });

    it('files nothing for a receipt that does not verify with the worker key (anyone could forge it)', async () => {
        const before = (await faults()).length;
        const r = await chat('forger');
        expect(r.status).toBe(502);
        expect(JSON.parse(r.text).error).toMatchObject({ code: 'invalid_receipt' });
        expect(await faults()).toHaveLength(before);
        expect(proxy.stderr()).toMatch(/receipt rejected, request not charged worker=forger/);
        expect(proxy.stderr()).not.toMatch(/fault report filed worker=forger/);
    });

    it('logs once per worker that a worker without a Provider in its entry cannot be reported', async () => {
        const before = (await faults()).length;
        expect((await chat('anon')).status).toBe(502);
        await healthy('anon');
        expect((await chat('anon')).status).toBe(502);
        expect(await faults()).toHaveLength(before);
        expect(proxy.stderr().match(/no fault report can be filed for this worker.*worker=anon/g)).toHaveLength(1);
    });

    it('refuses a streamed answer with a plain 502 when none of it had reached the client', async () => {
        const before = await charged();
        const r = await chat('burst', true);
        expect(r.status).toBe(502);
        expect(JSON.parse(r.text).error).toMatchObject({ code: 'invalid_receipt', type: 'server_error' });
        expect(r.text).not.toMatch(/a confident answer/);
        expect(await charged()).toBe(before);
    });

    it('cuts a stream whose event never ends at 4 MiB: the client gets an error event, nothing is charged, the proxy serves on', async () => {
        const before = await charged();
        const reports = (await faults()).length;
        const r = await chat('endless', true);
        expect(r.status).toBe(200); // the answer's first event had gone out
        const last = r.text.trim().split('\n\n').pop() as string;
        expect(JSON.parse(last.slice('data: '.length)).error).toMatchObject({ code: 'worker_failed', message: expect.stringMatching(/the worker sent an event of more than 4194304 characters/) });
        expect(r.text.length).toBeLessThan(4096);
        expect(await charged()).toBe(before);
        expect(await faults()).toHaveLength(reports);
        await healthy('liar');
        expect((await chat('liar')).status).toBe(502);
    });

    it('takes no non-streamed answer over maxAnswerBytes: that worker fails, the client gets a 503, nothing is charged', async () => {
        const before = await charged();
        const r = await chat('huge');
        expect(r.status).toBe(503);
        expect(JSON.parse(r.text).error).toMatchObject({ code: 'no_worker_available' });
        expect(proxy.stderr()).toMatch(/worker failed, retrying elsewhere worker=huge .*answer of more than 65536 bytes \(maxAnswerBytes\)/);
        expect(await charged()).toBe(before);
    });

    it('reads a worker no faster than its client: a streamed answer waits in the worker, not in the router', async () => {
        const before = await charged();
        const body = { model: 'flood', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1, stream: true };
        const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...proxyAuthHeaders(CLIENT_KEY) }, body: JSON.stringify(body) });
        expect(res.status).toBe(200);
        // The client reads nothing for a while: 128 MiB cannot all have left the worker (the
        // sockets' kernel buffers between worker, proxy and client hold a few MiB; autotuned
        // receive buffers may grow to tcp_rmem's maximum, 32 MiB on some hosts).
        await new Promise((r) => setTimeout(r, 1500));
        expect(fake('flood').worker.floodDone).toBe(false);
        // Then it reads: the whole answer arrives, and its receipt checks out.
        const text = await res.text();
        expect(fake('flood').worker.floodDone).toBe(true);
        expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
        expect(text).not.toMatch(/"error"/);
        expect(text.length).toBeGreaterThan(128 << 20);
        expect(await charged()).toBeGreaterThan(before);
    });

    it('reports a worker reached over mutual TLS pinned to its key (an authenticated link)', async () => {
        const before = (await faults()).length;
        expect((await chat('secure')).status).toBe(502);
        const list = await faults();
        expect(list).toHaveLength(before + 1);
        checkReport(list[list.length - 1], fake('secure'), FaultReason.WrongCounts);
    });

    it('reports nothing over plain HTTP to another host, where the answer may have been altered on the way (and warns of that link at start)', async () => {
        expect(proxy.stderr()).toMatch(/WARNING: plain HTTP to a remote worker.* worker=remote/);
        const links = ((await getJson(`${proxy.url}/v1/workers`)).workers as Array<{ name: string; link: string }>).map((w) => [w.name, w.link]);
        expect(links).toContainEqual(['remote', 'plain']);
        expect(links).toContainEqual(['secure', 'tls']);
        expect(links).toContainEqual(['liar', 'loopback']);
        const before = await faults();
        const r = await chat('remote');
        expect(r.status).toBe(502);
        expect(JSON.parse(r.text).error).toMatchObject({ code: 'invalid_receipt' });
        expect(await faults()).toEqual(before);
        expect(proxy.stderr()).toMatch(/fault not reported: the link to this worker is plain HTTP to another host.* worker=remote/);
    });

    it('keeps every report, and report ids rising, across a SIGKILL', async () => {
        const kept = await faults();
        await stop(proxy, 'SIGKILL');
        proxy = await startProxy();
        expect(await faults()).toEqual(kept);
        expect((await chat('liar')).status).toBe(502);
        const after = await faults();
        expect(after).toHaveLength(kept.length + 1);
        checkReport(after[after.length - 1], fake('liar'), FaultReason.WrongCounts);
        const last = BigInt(after[after.length - 1].report_id);
        for (const f of kept) expect(last).toBeGreaterThan(BigInt(f.report_id));
    });
});

describe('GET /v1/faults a page at a time', () => {
    it('serves the reports after a report id in id order, at most `limit`, saying whether more follow and where to go on', async () => {
        const all = await faults();
        expect(all.length).toBeGreaterThan(3);
        const ids = all.map((f) => BigInt(f.report_id));
        expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);
        const first = await getJson(`${proxy.url}/v1/faults?limit=2`);
        expect(first).toMatchObject({ faults: all.slice(0, 2), more: true, next_after: all[1].report_id });
        const second = await getJson(`${proxy.url}/v1/faults?after=${first.next_after as string}&limit=2`);
        expect(second.faults).toEqual(all.slice(2, 4));
        const last = await getJson(`${proxy.url}/v1/faults?after=${all[all.length - 2].report_id}`);
        expect(last).toMatchObject({ faults: [all[all.length - 1]], more: false, next_after: all[all.length - 1].report_id });
        expect(await getJson(`${proxy.url}/v1/faults?after=${all[all.length - 1].report_id}`)).toMatchObject({ faults: [], more: false, next_after: all[all.length - 1].report_id });
    });

    it('refuses a bad `after` or `limit` with a 400 naming it', async () => {
        for (const [query, param] of [
            ['after=-1', 'after'],
            ['after=abc', 'after'],
            ['limit=0', 'limit'],
            ['limit=1001', 'limit'],
            ['limit=2x', 'limit'],
        ]) {
            const r = await fetch(`${proxy.url}/v1/faults?${query}`);
            expect(r.status).toBe(400);
            expect(((await r.json()) as { error: { param: string } }).error.param).toBe(param);
        }
    });

    it("the scripts' reader (ops/router-faults.ts) follows every page to the end", async () => {
        const all = await faults();
        const paged = await readRouterFaults(proxy.url, { pageSize: 1 });
        expect(paged.map((f) => f.report.reportId.toString())).toEqual(all.map((f) => f.report_id));
        expect(paged.map((f) => f.providerSeqno?.toString())).toEqual(all.map((f) => f.provider_seqno));
        await expect(readRouterFaults(`${proxy.url}/nowhere`)).rejects.toThrow(/GET .*\/nowhere\/v1\/faults\?after=0&limit=500: HTTP 404/);
    });

    it('the reader stops with an error when a router says more follow but does not move on', async () => {
        const stuck = http.createServer((_req, res) => res.end(JSON.stringify({ faults: [], more: true, next_after: '0' })));
        await new Promise<void>((r) => stuck.listen(0, '127.0.0.1', r));
        try {
            await expect(readRouterFaults(`http://127.0.0.1:${(stuck.address() as AddressInfo).port}`)).rejects.toThrow(/says more reports follow but next_after \(0\) is not past 0/);
        } finally {
            stuck.close();
        }
    });
});

describe('the fault file reader of the scripts (ops/settlement-file.ts)', () => {
    it('reads one report, or picks one out of the whole list by id, and refuses a JSON that contradicts its payload', async () => {
        const list = await getJson(`${proxy.url}/v1/faults`);
        const all = list.faults as SignedFaultJson[];
        expect(all.length).toBeGreaterThan(1);
        const one = readSignedFault(JSON.stringify(all[1]));
        expect(one.report.reportId.toString()).toBe(all[1].report_id);
        expect(one.providerSeqno).toBe(BigInt(all[1].provider_seqno));
        expect(verifyCellSignature(one.payload, one.signature, proxyKey)).toBe(true);
        const file = path.join(dir, 'faults.json');
        fs.writeFileSync(file, JSON.stringify(list));
        expect(readSignedFault(file, BigInt(all[2].report_id)).report.reportId.toString()).toBe(all[2].report_id);
        expect(() => readSignedFault(file)).toThrow(/the list holds \d+ reports .*name one by its report id/);
        expect(() => readSignedFault(file, 1n)).toThrow(/no report 1 in the list/);
        expect(() => readSignedFault(JSON.stringify({ ...all[1], provider: addr(99).toString() }))).toThrow(/"provider" does not match the signed payload/);
        expect(() => readSignedFault(JSON.stringify({ ...all[1], report_id: '1' }))).toThrow(/"report_id" does not match/);
        const { provider_seqno: _, ...withoutSeqno } = all[1];
        expect(readSignedFault(JSON.stringify(withoutSeqno)).providerSeqno).toBeUndefined();
    });
});

describe('proxy config: worker endpoints and links', () => {
    it('takes http:// and https:// URLs only', async () => {
        const { parseProxyConfig } = await import('../../worker-reference/proxy/config');
        const parse = (endpoint: string) => parseProxyConfig({ proxyAddress: PROXY.toString(), workers: [{ endpoint, ed25519Key: '00'.repeat(32), modelHashes: ['11'.repeat(32)], workerAccount: addr(1).toString() }] }, dir).workers[0];
        expect(parse('https://worker.example:8443/').endpoint).toBe('https://worker.example:8443');
        expect(() => parse('worker.example:8443')).toThrow(/must be https:\/\//);
        expect(() => parse('no url')).toThrow(/is not a URL/);
        expect(() => parse('ftp://worker.example')).toThrow(/must be https:\/\/… \(or http:\/\/…\), not ftp:/);
    });

    it('calls an https:// link tls, plain HTTP to this host loopback, and plain HTTP elsewhere plain', async () => {
        const { linkKind } = await import('../../worker-reference/proxy/registry');
        expect(linkKind('https://10.0.0.5:8443')).toBe('tls');
        expect(linkKind('https://127.0.0.1:8443')).toBe('tls');
        for (const e of ['http://127.0.0.1:8080', 'http://127.3.4.5:1', 'http://localhost:8080', 'http://[::1]:8080']) expect(linkKind(e)).toBe('loopback');
        for (const e of ['http://10.0.0.5:8080', 'http://0.0.0.0:8080', 'http://worker.example', 'http://[::ffff:7f00:1]:80', 'http://128.0.0.1']) expect(linkKind(e)).toBe('plain');
    });
});

describe('proxy config: provider of a worker', () => {
    it('takes provider and providerSeqno together, or neither', async () => {
        const { parseProxyConfig } = await import('../../worker-reference/proxy/config');
        const base = { endpoint: 'http://127.0.0.1:1', ed25519Key: '00'.repeat(32), modelHashes: ['11'.repeat(32)], workerAccount: addr(1).toString() };
        const parse = (w: Record<string, unknown>) => parseProxyConfig({ proxyAddress: PROXY.toString(), workers: [{ ...base, ...w }] }, dir).workers[0];
        expect(parse({}).provider).toBeUndefined();
        const p = parse({ provider: addr(5).toString(), providerSeqno: '7' }).provider;
        expect(p?.address.equals(addr(5))).toBe(true);
        expect(p?.seqno).toBe(7n);
        expect(() => parse({ provider: addr(5).toString() })).toThrow(/providerSeqno .* is required with provider/);
        expect(() => parse({ providerSeqno: 1 })).toThrow(/provider .* is required with providerSeqno/);
        expect(() => parse({ provider: 'nope', providerSeqno: 1 })).toThrow(/not a TON address/);
        expect(() => parse({ provider: addr(5).toString(), providerSeqno: -1 })).toThrow(/non-negative integer/);
    });
});
