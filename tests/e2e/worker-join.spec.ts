/**
 * Workers that join a proxy themselves: `cocoon-worker --join URL` sends a WorkerJoin signed
 * by its enclave key; `cocoon-proxy --ton-v4 URL --admit-workers` admits it when the chain
 * says the key is an eligible Provider's at the Proxy's Root, with that X25519 key, serving
 * every model named, and pays that Provider's owner. Here the chain is the sandbox, read
 * through a v4 API served from it; the worker is the real reference worker on a tiny model.
 */
import '@ton/test-utils';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Address, toNano } from '@ton/core';
import { openEscrow, setProxyEndpoint } from '../../ops/payments';
import { startUnbond } from '../../ops/provider';
import { SandboxNetworkProvider } from '../../ops/sandbox-provider';
import { RecordingUI } from '../../ops/ui';
import { chatThroughProxy } from '../../worker-reference/client/chat';
import { identityFromSeed, NodeIdentity } from '../../worker-reference/crypto/keys';
import { PinnedKeyAgent } from '../../worker-reference/crypto/tls-link';
import { sha256File } from '../../worker-reference/common/hash';
import { generateModel } from '../../worker-reference/model/generate';
import { HttpStatusError, requestJson } from '../../worker-reference/proxy/registry';
import { buildWorkerJoin, signCell, WorkerJoin } from '../../wrappers/payloads';
import { AllowList } from '../../wrappers/Root';
import { workerAccountFor } from '../../wrappers/WorkerAccount';
import { deployNetwork, Network, registerProxy, registerWorkerProvider } from '../helpers/network';
import { startTonV4Api, TonV4Api } from '../helpers/ton-v4-api';
import { FAST_WORKER, getJson, metric, runCli, spawnCli, Spawned, startRecordingRelay, stop, tmpDir, workerHealthy, writeProxyConfig } from '../worker/helpers';

const dir = tmpDir('cocoon-worker-join-');
const proxyId = identityFromSeed(Buffer.alloc(32, 111));
const workerId = identityFromSeed(Buffer.alloc(32, 112));
/** Registered too, but only ever joined by hand here (crafted joins). */
const otherId = identityFromSeed(Buffer.alloc(32, 113));
const rogueId = identityFromSeed(Buffer.alloc(32, 114));
/** A second real worker, given only the Proxy's address (--join-proxy). */
const JOINER_SEED = Buffer.alloc(32, 115);
const joinerId = identityFromSeed(JOINER_SEED);
const modelFile = path.join(dir, 'tiny.gguf');

let net: Network;
let api: TonV4Api;
let proxy: Spawned;
let worker: Spawned;
let joiner: Spawned;
let proxyAddress: Address;
let provider: Address;
let otherProvider: Address;
let modelHash: Buffer;
let apiKey: string;

const sandboxAs = async (name: string) => new SandboxNetworkProvider(net.chain, await net.chain.treasury(name), new RecordingUI());
const nowS = () => Math.floor(Date.now() / 1000);

/** A join signed by `id` (fields overridable), as POST /v1/workers/join takes it. */
function signedJoin(id: NodeIdentity, over: Partial<WorkerJoin> = {}, signer = id): { announcement: string; signature: string } {
    const cell = buildWorkerJoin({ proxy: proxyAddress, ed25519Key: id.ed25519.publicKey, x25519Key: id.x25519.publicKey, issuedAt: nowS(), endpoint: 'https://127.0.0.1:9', models: [modelHash], ...over });
    return { announcement: cell.toBoc().toString('base64'), signature: signCell(cell, signer.ed25519.secretKey).toString('base64') };
}

async function refused(body: unknown): Promise<HttpStatusError> {
    const e = await requestJson(`${proxy.url}/v1/workers/join`, { body, timeoutMs: 10_000 }).then(
        () => undefined,
        (err: unknown) => err,
    );
    if (!(e instanceof HttpStatusError)) throw new Error(`the join was not refused with an HTTP status: ${String(e)}`);
    return e;
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const t0 = Date.now();
    while (!(await cond())) {
        if (Date.now() - t0 > timeoutMs) throw new Error(what);
        await new Promise((r) => setTimeout(r, 200));
    }
}

const listed = async () => (await getJson(`${proxy.url}/v1/workers`)).workers as Array<{ name: string; healthy: boolean; joined: boolean; provider: string | null; worker_account: string; ed25519_public_key: string }>;

beforeAll(async () => {
    generateModel(modelFile, 'tiny', 5);
    modelHash = sha256File(modelFile);
    net = await deployNetwork();
    // Governance allows the generated model; the Providers list it.
    const allowed = await net.root.send(net.owner.getSender(), { value: toNano('0.05') }, { $$type: 'AllowListEdit', queryId: 0n, list: BigInt(AllowList.model), hash: BigInt('0x' + modelHash.toString('hex')), allowed: true, expiresAt: 0n });
    expect(allowed.transactions).toHaveTransaction({ to: net.root.address, success: true });
    net = { ...net, model: modelHash };
    await registerProxy(net, await net.chain.treasury('operator'), { keys: { ed25519: proxyId.ed25519, x25519: proxyId.x25519.publicKey } });
    proxyAddress = await net.root.getProxyAddress(0n);
    provider = (await registerWorkerProvider(net, await net.chain.treasury('gpu owner'), { ed25519: workerId.ed25519, x25519: workerId.x25519.publicKey })).address;
    otherProvider = (await registerWorkerProvider(net, await net.chain.treasury('gpu owner 2'), { ed25519: otherId.ed25519, x25519: otherId.x25519.publicKey })).address;
    await registerWorkerProvider(net, await net.chain.treasury('gpu owner 3'), { ed25519: joinerId.ed25519, x25519: joinerId.x25519.publicKey });
    apiKey = (await openEscrow(await sandboxAs('client'), { proxy: proxyAddress, deposit: toNano('5') })).apiKey;
    api = await startTonV4Api(net.chain);
    const config = writeProxyConfig(dir, proxyAddress, Buffer.alloc(32, 111), { workers: [], healthIntervalMs: 500 });
    // Every join here comes from 127.0.0.1, two workers a second and the test's own: far above the default 30 a minute.
    proxy = await spawnCli('cocoon-proxy.js', ['--config', config, '--port', '0', '--ton-v4', api.url, '--admit-workers', '--join-ttl', '3', '--join-rate', '10000']);
    // The operator moves the registered endpoint to where the proxy listens (workers and clients find it there).
    await setProxyEndpoint(await sandboxAs('operator'), { proxy: proxyAddress, endpoint: proxy.url });
    worker = await spawnCli('cocoon-worker.js', [
        '--model', `tiny=${modelFile}`, '--port', '0', ...FAST_WORKER, '--key-seed', Buffer.alloc(32, 112).toString('hex'), '--data-dir', path.join(dir, 'worker-data'),
        '--trust-proxy', `${proxyAddress.toString()}=${proxyId.ed25519.publicKey.toString('hex')}`, '--join', proxy.url, '--join-every', '1',
        '--ton-v4', api.url, '--root', net.root.address.toString(), // the trusted proxy is checked on chain too
    ]);
}, 120_000);

afterAll(async () => {
    await stop(joiner);
    await stop(worker);
    await stop(proxy);
    await api?.close();
    fs.rmSync(dir, { recursive: true, force: true });
});

describe('cocoon-worker --join → cocoon-proxy --admit-workers', () => {
    it('the worker joins, is listed with its Provider and the WorkerAccount of its owner, and answers a checked chat', async () => {
        await workerHealthy(proxy.url, 'provider-0', { timeoutMs: 15_000 });
        const w = (await listed()).find((x) => x.name === 'provider-0')!;
        expect(w.joined).toBe(true);
        expect(w.ed25519_public_key).toBe(workerId.ed25519.publicKey.toString('hex'));
        expect(Address.parse(w.provider!)).toEqualAddress(provider);
        const owner = (await net.chain.treasury('gpu owner')).address;
        expect(Address.parse(w.worker_account)).toEqualAddress((await workerAccountFor(proxyAddress, provider, owner)).address);
        await until(() => /joined as provider-0/.test(worker.stderr()), 5_000, 'the worker never logged its join');
        expect(worker.stderr()).toMatch(new RegExp(`trusted proxy checked on chain proxy=${proxyAddress.toString()} seqno=0`));
        const a = await chatThroughProxy({ proxy: proxy.url, apiKey, model: 'tiny', seal: true, messages: [{ role: 'user', content: 'hi' }], maxTokens: 4 });
        expect(a.worker.name).toBe('provider-0');
        expect(a.tokens.completion).toBeGreaterThan(0);
    });

    it('a worker given only the Proxy contract (--join-proxy) finds its key and endpoint on chain, trusts it and joins; --trust-proxy with the chain must give the key the Proxy holds', async () => {
        joiner = await spawnCli('cocoon-worker.js', [
            '--model', `tiny=${modelFile}`, '--port', '0', ...FAST_WORKER, '--key-seed', JOINER_SEED.toString('hex'), '--data-dir', path.join(dir, 'joiner-data'),
            '--ton-v4', api.url, '--root', net.root.address.toString(), '--join-proxy', proxyAddress.toString(), '--join-every', '1', '--chain-check-every', '1',
        ]);
        await workerHealthy(proxy.url, 'provider-2', { timeoutMs: 15_000 });
        expect(joiner.stderr()).toMatch(new RegExp(`proxy found on chain proxy=${proxyAddress.toString()} seqno=0 endpoint=${proxy.url.replace(/[./:]/g, '\\$&')} key=${proxyId.ed25519.publicKey.toString('hex')}`));
        // The proxy lists the worker before the worker has read the answer to its join.
        await until(() => /joined as provider-2/.test(joiner.stderr()), 5_000, 'the worker never logged its join');
        expect(await metric(joiner.url, 'cocoon_worker_proxy_joined', { proxy: proxy.url }, new PinnedKeyAgent(joinerId.ed25519.publicKey))).toBe(1);
        const bad = await runCli('cocoon-worker.js', ['--model', modelFile, '--port', '0', ...FAST_WORKER, '--ton-v4', api.url, '--root', net.root.address.toString(), '--join-proxy', provider.toString()]);
        expect(bad.code).toBe(2);
        expect(bad.stderr).toMatch(/--join-proxy .*: .* is not a Proxy contract/);
        // --trust-proxy with the chain: the key given must be the one the Proxy contract holds.
        const chain = ['--ton-v4', api.url, '--root', net.root.address.toString()];
        const wrongKey = await runCli('cocoon-worker.js', ['--model', modelFile, '--port', '0', ...FAST_WORKER, ...chain, '--trust-proxy', `${proxyAddress.toString()}=${otherId.ed25519.publicKey.toString('hex')}`]);
        expect(wrongKey.code).toBe(2);
        expect(wrongKey.stderr).toMatch(new RegExp(`--trust-proxy .*: the chain says Proxy .* holds key ${proxyId.ed25519.publicKey.toString('hex')}, not ${otherId.ed25519.publicKey.toString('hex')}`));
        const nothingToCheck = await runCli('cocoon-worker.js', ['--model', modelFile, '--port', '0', ...FAST_WORKER, ...chain]);
        expect(nothingToCheck.stderr).toMatch(/--ton-v4 and --root are read for --join-proxy and --trust-proxy/);
    });

    it('refuses a join signed by another key than the one it names (401)', async () => {
        const e = await refused(signedJoin(otherId, {}, rogueId));
        expect(e.status).toBe(401);
        expect(e.message).toMatch(/the signature is not worker key/);
    });

    it('refuses a worker key no Provider at Root holds, an X25519 key not its Provider\'s, a model it does not serve (403)', async () => {
        const rogue = await refused(signedJoin(rogueId));
        expect(rogue.status).toBe(403);
        expect(rogue.message).toMatch(/not admitted: the worker key [0-9a-f]{64} is not a Provider registered at Root \(registry read \d+ s ago/);
        // Refused from Root's registry as last read (no chain check of its own): told when it is read again.
        expect(rogue.retryAfterS).toBeGreaterThanOrEqual(1);
        expect(rogue.retryAfterS).toBeLessThanOrEqual(30);
        const x = await refused(signedJoin(otherId, { x25519Key: rogueId.x25519.publicKey }));
        expect(x.status).toBe(403);
        expect(x.message).toMatch(/is not the one its Provider #1 holds/);
        const model = await refused(signedJoin(otherId, { models: [Buffer.alloc(32, 9)] }));
        expect(model.status).toBe(403);
        expect(model.message).toMatch(/Provider #1 does not list model 0909/);
    });

    it('refuses a join for another proxy (403), a stale or future one, an http or non-base endpoint, a malformed body (400)', async () => {
        expect((await refused(signedJoin(otherId, { proxy: otherProvider }))).message).toMatch(/this join is for Proxy .*; this proxy is/);
        const stale = await refused(signedJoin(otherId, { issuedAt: nowS() - 600 }));
        expect(stale.status).toBe(400);
        expect(stale.message).toMatch(/sign a fresh one/);
        expect((await refused(signedJoin(otherId, { issuedAt: nowS() + 600 }))).status).toBe(400);
        const plain = await refused(signedJoin(otherId, { endpoint: 'http://127.0.0.1:9' }));
        expect(plain.status).toBe(400);
        expect(plain.message).toMatch(/must be https:\/\//);
        expect((await refused(signedJoin(otherId, { endpoint: 'https://127.0.0.1:9/v1' }))).message).toMatch(/must be a base URL/);
        expect((await refused({ announcement: 'AAAA', signature: '' })).message).toMatch(/announcement is not a WorkerJoin/);
        expect((await refused({})).status).toBe(400);
    });

    it('admits a join once: the same join again, or an older one, is refused as a replay (409)', async () => {
        const join = signedJoin(otherId, { issuedAt: nowS() });
        const ok = (await requestJson(`${proxy.url}/v1/workers/join`, { body: join, timeoutMs: 10_000 })) as { name: string; provider: string };
        expect(ok.name).toBe('provider-1');
        expect(Address.parse(ok.provider)).toEqualAddress(otherProvider);
        const again = await refused(join);
        expect(again.status).toBe(409);
        expect(again.message).toMatch(/was taken already: each join must be newer/);
        expect((await refused(signedJoin(otherId, { issuedAt: nowS() - 5 }))).status).toBe(409);
    });

    it('counts joins by outcome in /metrics', async () => {
        expect(await metric(proxy.url, 'cocoon_proxy_worker_joins_total', { outcome: 'admitted' })).toBeGreaterThanOrEqual(2);
        expect(await metric(proxy.url, 'cocoon_proxy_worker_joins_total', { outcome: 'not_eligible' })).toBe(3);
        expect(await metric(proxy.url, 'cocoon_proxy_worker_joins_total', { outcome: 'bad_signature' })).toBe(1);
        expect(await metric(proxy.url, 'cocoon_proxy_worker_joins_total', { outcome: 'replayed_join' })).toBe(2);
    });

    it('takes --join-rate joins a minute from one address: beyond, 429 with Retry-After before any chain read', async () => {
        const d = tmpDir('cocoon-join-rate-');
        const limited = await spawnCli('cocoon-proxy.js', ['--config', writeProxyConfig(d, proxyAddress, Buffer.alloc(32, 111), { workers: [] }), '--port', '0', '--ton-v4', api.url, '--admit-workers', '--join-rate', '2']);
        try {
            expect(limited.stderr()).toMatch(/joins=admitted, TTL 180 s, 2 a minute per source, 8 chain checks at once/);
            const post = (body: unknown) => requestJson(`${limited.url}/v1/workers/join`, { body, timeoutMs: 10_000 });
            await post(signedJoin(otherId));
            await expect(post(signedJoin(rogueId))).rejects.toMatchObject({ status: 403 }); // read on chain: not a Provider
            const e = await post(signedJoin(otherId, { issuedAt: nowS() + 1 })).then(
                () => undefined,
                (err: unknown) => err,
            );
            expect(e).toBeInstanceOf(HttpStatusError);
            // A token comes back every 30 s: less the time the two joins before took.
            expect(e).toMatchObject({ status: 429, retryAfterS: expect.any(Number) });
            expect((e as HttpStatusError).retryAfterS).toBeGreaterThan(20);
            expect((e as HttpStatusError).retryAfterS).toBeLessThanOrEqual(30);
            expect((e as Error).message).toMatch(/too many joins from .*127\.0\.0\.1: at most 2 a minute; retry in \d+ s/);
            expect(await metric(limited.url, 'cocoon_proxy_worker_joins_total', { outcome: 'join_rate_limited' })).toBe(1);
        } finally {
            await stop(limited);
            fs.rmSync(d, { recursive: true, force: true });
        }
    });

    it('drops a worker that stops joining once its TTL has passed, and one whose Provider is no longer eligible', async () => {
        // provider-1 joined once by hand above: gone within the 3 s TTL.
        await until(async () => !(await listed()).some((w) => w.name === 'provider-1'), 10_000, 'provider-1 was never dropped');
        expect((await listed()).some((w) => w.name === 'provider-0')).toBe(true);
        // The worker's Provider starts unbonding: its next join is refused, so it drops out too.
        await startUnbond(await sandboxAs('gpu owner'), { provider });
        await until(async () => !(await listed()).some((w) => w.name === 'provider-0'), 15_000, 'provider-0 was never dropped');
        expect(worker.stderr()).toMatch(/join failed: HTTP 403: not admitted: Provider #0 .* is not eligible for work/);
    });

    it('a --join-proxy worker follows its Proxy on chain: a moved endpoint is joined where it is now', async () => {
        const relay = await startRecordingRelay(Number(new URL(proxy.url).port));
        try {
            await setProxyEndpoint(await sandboxAs('operator'), { proxy: proxyAddress, endpoint: `http://127.0.0.1:${relay.port}` });
            await until(() => /proxy endpoint moved on chain/.test(joiner.stderr()) && Buffer.concat(relay.bytes).includes('POST /v1/workers/join'), 10_000, 'the worker never joined at the moved endpoint');
            expect((await listed()).some((w) => w.name === 'provider-2')).toBe(true);
        } finally {
            relay.close();
        }
    });

    it('a --join-proxy worker stops serving and joining a Proxy governance deactivates, and drops out of it', async () => {
        const d = await net.root.send(net.owner.getSender(), { value: toNano('0.1') }, { $$type: 'DeactivateProxy', queryId: 0n, seqno: 0n });
        expect(d.transactions).toHaveTransaction({ from: net.owner.address, to: net.root.address, success: true });
        await until(() => /proxy no longer active on chain: not served or joined/.test(joiner.stderr()), 10_000, 'the worker never noticed the deactivation');
        await until(async () => !(await listed()).some((w) => w.name === 'provider-2'), 10_000, 'provider-2 was never dropped');
        // It joins no proxy now: nothing left to report as joined.
        expect(await metric(joiner.url, 'cocoon_worker_proxy_joined', {}, new PinnedKeyAgent(joinerId.ed25519.publicKey))).toBe(0);
    });
});
