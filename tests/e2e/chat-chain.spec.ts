/**
 * The client checks on chain what the proxy tells it (client/chain-check.ts): the proxy key
 * it pins is an active registered Proxy, the worker it seals a prompt to and the worker that
 * signed the receipt are eligible registered Providers holding those keys and serving the
 * model. A proxy that lists an X25519 key of its own for a worker, or answers through an
 * unregistered worker, is caught: the sealed prompt never leaves the client. A client that
 * names no proxy finds its escrow's on chain: registered endpoint, TLS pinned to its key.
 */
import '@ton/test-utils';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Address, toNano } from '@ton/core';
import { openEscrow } from '../../ops/payments';
import { startUnbond } from '../../ops/provider';
import { SandboxNetworkProvider } from '../../ops/sandbox-provider';
import { RecordingUI } from '../../ops/ui';
import { ChainCheck } from '../../worker-reference/client/chain-check';
import { chatThroughProxy } from '../../worker-reference/client/chat';
import { escrowSecretHash, formatEscrowApiKey, secretHashBytes } from '../../worker-reference/client/api-key';
import { identityFromSeed } from '../../worker-reference/crypto/keys';
import { escrowFor } from '../../wrappers/JobEscrow';
import { Role } from '../../wrappers/payloads';
import { deployNetwork, makeCertificate, Network, registerProxy, registerWorkerProvider } from '../helpers/network';
import { startTonV4Api, TonV4Api } from '../helpers/ton-v4-api';
import { FakeWorker, startFakeWorker } from '../worker/fake-worker';
import { runCli, spawnCli, Spawned, stop, tmpDir } from '../worker/helpers';

const PROXY_SEED = Buffer.alloc(32, 101);
const WORKER_SEED = Buffer.alloc(32, 102);
const ROGUE_SEED = Buffer.alloc(32, 103);
const IMPOSTOR_SEED = Buffer.alloc(32, 104);
const SECRET = Buffer.alloc(32, 0xb6);
const dir = tmpDir('cocoon-chat-chain-');
const proxyId = identityFromSeed(PROXY_SEED);
const workerId = identityFromSeed(WORKER_SEED);
const rogueId = identityFromSeed(ROGUE_SEED);
const impostorId = identityFromSeed(IMPOSTOR_SEED);

let net: Network;
let api: TonV4Api;
let proxyProcess: Spawned;
let chain: ChainCheck;
let provider: Address;
let proxyContract: Address;
/** The client's JobEscrow with the proxy, and its API key. */
let escrow: Address;
let API_KEY: string;
const workers: FakeWorker[] = [];
const sandboxAs = async (name: string) => new SandboxNetworkProvider(net.chain, await net.chain.treasury(name), new RecordingUI());

const ask = (model: string, o: { seal?: boolean; proxyKey?: Buffer } = {}) =>
    chatThroughProxy({ proxy: proxyProcess.url, apiKey: API_KEY, proxyKey: o.proxyKey ?? proxyId.ed25519.publicKey, model, seal: o.seal, messages: [{ role: 'user', content: 'hi' }], maxTokens: 1, chain });

beforeAll(async () => {
    net = await deployNetwork();
    const operator = await net.chain.treasury('operator');
    const gpuOwner = await net.chain.treasury('gpu owner');
    // The proxy starts first (at the address its registration will deploy), so that it registers the URL it listens at.
    proxyContract = await net.root.getProxyAddress(0n);
    escrow = (await escrowFor(proxyContract, (await net.chain.treasury('client')).address)).address;
    API_KEY = formatEscrowApiKey(escrow, SECRET);
    const reg = await registerWorkerProvider(net, gpuOwner, { ed25519: workerId.ed25519, x25519: workerId.x25519.publicKey });
    provider = reg.address;
    chain = new ChainCheck(new SandboxNetworkProvider(net.chain, operator, new RecordingUI()), net.root.address);
    // The registered worker; the same worker listed under a second model with an X25519 key that is not its own; an unregistered one.
    workers.push(await startFakeWorker({ key: workerId.ed25519, modelId: 'tiny', modelHash: net.model }));
    workers.push(await startFakeWorker({ key: workerId.ed25519, modelId: 'twin', modelHash: net.model }));
    workers.push(await startFakeWorker({ key: rogueId.ed25519, modelId: 'rogue', modelHash: net.model }));
    const entry = (name: string, w: FakeWorker, ed: Buffer, x: Buffer) => ({ name, endpoint: w.url, ed25519Key: ed.toString('hex'), x25519Key: x.toString('hex'), modelHashes: [net.model.toString('hex')], workerAccount: gpuOwner.address.toString() });
    const config = path.join(dir, 'proxy.json');
    fs.writeFileSync(
        config,
        JSON.stringify({
            proxyAddress: proxyContract.toString(),
            keySeed: PROXY_SEED.toString('hex'),
            dataDir: path.join(dir, 'data'),
            workers: [
                entry('gpu-1', workers[0], workerId.ed25519.publicKey, workerId.x25519.publicKey),
                entry('twin', workers[1], workerId.ed25519.publicKey, proxyId.x25519.publicKey),
                entry('rogue', workers[2], rogueId.ed25519.publicKey, rogueId.x25519.publicKey),
            ],
            escrows: { [escrow.toString()]: { balance: '1000000000000', secretHash: secretHashBytes(escrowSecretHash(SECRET)).toString('hex') } },
        }),
    );
    proxyProcess = await spawnCli('cocoon-proxy.js', ['--config', config, '--port', '0', '--tls']);
    await registerProxy(net, operator, { keys: { ed25519: proxyId.ed25519, x25519: proxyId.x25519.publicKey }, endpoint: proxyProcess.url });
    expect(await net.root.getProxyAddress(0n)).toEqualAddress(proxyContract);
    await openEscrow(await sandboxAs('client'), { proxy: proxyContract, deposit: toNano('5'), secret: SECRET });
    api = await startTonV4Api(net.chain);
});

afterAll(async () => {
    await stop(proxyProcess);
    await Promise.all([...workers.map((w) => w.close()), api?.close()]);
    fs.rmSync(dir, { recursive: true, force: true });
});

describe('client finds its proxy on chain from its escrow (ChainCheck.proxyForEscrow)', () => {
    // A second Proxy, registered with the first one's URL but a key of its own, its certificate valid one day.
    let impostor: { escrow: Address; apiKey: string };
    beforeAll(async () => {
        const keys = { ed25519: impostorId.ed25519, x25519: impostorId.x25519.publicKey };
        await registerProxy(net, await net.chain.treasury('operator 2'), { keys, bundle: makeCertificate(net, Role.Proxy, keys, { validUntil: net.chain.now! + 86400 }), endpoint: proxyProcess.url });
        const opened = await openEscrow(await sandboxAs('client 2'), { proxy: await net.root.getProxyAddress(1n), deposit: toNano('5'), secret: SECRET });
        impostor = { escrow: opened.address, apiKey: opened.apiKey };
    });

    it("names the escrow's Proxy, its registered endpoint and the key the escrow takes charges from", async () => {
        const found = await chain.proxyForEscrow(escrow);
        expect(found.address).toEqualAddress(proxyContract);
        expect(found.seqno).toBe(0n);
        expect(found.endpoint).toBe(proxyProcess.url);
        expect(found.key.equals(proxyId.ed25519.publicKey)).toBe(true);
    });

    it('cocoon-chat with no --proxy: connects to the endpoint found, pinned to the registered key, and answers', async () => {
        const r = await runCli('cocoon-chat.js', ['--prompt', 'hi', '--max-tokens', '1', '--model', 'tiny', '--ton-v4', api.url, '--root', net.root.address.toString()], 60_000, { env: { COCOON_API_KEY: API_KEY } });
        expect(r.stderr).toContain(`[proxy from chain: Proxy #0 ${proxyContract.toString()} at ${proxyProcess.url}, TLS pinned to its registered key]`);
        expect(r.stderr).toMatch(/receipt #\d+ checked/);
        expect(r.code).toBe(0);
    });

    it("refuses a registered endpoint whose server does not hold that Proxy's key: the TLS pin fails, nothing is sent", async () => {
        const sent = workers.reduce((n, w) => n + w.requestIds.length, 0);
        const r = await runCli('cocoon-chat.js', ['--prompt', 'hi', '--max-tokens', '1', '--model', 'tiny', '--ton-v4', api.url, '--root', net.root.address.toString()], 60_000, { env: { COCOON_API_KEY: impostor.apiKey } });
        expect(r.stderr).toMatch(/\[proxy from chain: Proxy #1 /);
        expect(r.stderr).toMatch(new RegExp(`error: .*${impostorId.ed25519.publicKey.toString('hex')}`));
        expect(r.code).toBe(1);
        expect(workers.reduce((n, w) => n + w.requestIds.length, 0)).toBe(sent);
    });

    it('refuses an API key whose escrow is not deployed', async () => {
        const nowhere = new Address(0, Buffer.alloc(32, 7));
        await expect(chain.proxyForEscrow(nowhere)).rejects.toThrow(`the escrow ${nowhere.toString()} of this API key is not deployed on this chain`);
    });

    it('refuses an address that is not an escrow (a Proxy contract)', async () => {
        await expect(chain.proxyForEscrow(proxyContract)).rejects.toThrow(`${proxyContract.toString()} is not a JobEscrow`);
    });

    it('refuses a Proxy that is no longer active (its certificate expired)', async () => {
        const now = net.chain.now!;
        net.chain.now = now + 2 * 86400;
        try {
            await expect(chain.proxyForEscrow(impostor.escrow)).rejects.toThrow(/the Proxy #1 with key [0-9a-f]{64} is not active/);
            expect((await chain.proxyForEscrow(escrow)).seqno).toBe(0n);
        } finally {
            net.chain.now = now;
        }
    });
});

describe('client checks on chain (client/chain-check.ts)', () => {
    it('accepts an answer signed by a registered, eligible Provider through a registered Proxy, and names both', async () => {
        const a = await ask('tiny');
        expect(a.onChain?.provider).toEqualAddress(provider);
        expect(a.onChain?.proxy).toEqualAddress(proxyContract);
    });

    it('refuses an answer signed by a worker no Provider at Root holds', async () => {
        await expect(ask('rogue')).rejects.toThrow(new RegExp(`the worker key ${rogueId.ed25519.publicKey.toString('hex')} is not a Provider registered at Root`));
    });

    it('does not seal a prompt to an X25519 key the worker\'s Provider does not hold: the prompt never leaves', async () => {
        const sent = workers[1].requestIds.length;
        await expect(ask('twin', { seal: true })).rejects.toThrow(/is not the one its Provider #0 holds: a prompt sealed to it could be read by whoever listed it/);
        expect(workers[1].requestIds.length).toBe(sent);
    });

    it('refuses a proxy key that is not a registered Proxy before sending anything', async () => {
        await expect(chain.proxy(rogueId.ed25519.publicKey)).rejects.toThrow(/is not a Proxy registered at Root/);
        const sent = workers[0].requestIds.length;
        await expect(ask('tiny', { proxyKey: rogueId.ed25519.publicKey })).rejects.toThrow(/is not a Proxy registered at Root/);
        expect(workers[0].requestIds.length).toBe(sent);
    });

    it('cocoon-chat --ton-v4 --root: the same checks through TON\'s HTTP API v4, named on stderr', async () => {
        const args = ['--proxy', proxyProcess.url, '--proxy-key', proxyId.ed25519.publicKey.toString('hex'), '--api-key', API_KEY, '--prompt', 'hi', '--max-tokens', '1', '--ton-v4', api.url, '--root', net.root.address.toString()];
        const ok = await runCli('cocoon-chat.js', [...args, '--model', 'tiny']);
        expect(ok.stderr).toMatch(new RegExp(`\\[on chain: worker = Provider ${provider.toString()}, proxy = Proxy ${proxyContract.toString()}, registered at Root`));
        expect(ok.code).toBe(0);
        const rogue = await runCli('cocoon-chat.js', [...args, '--model', 'rogue']);
        expect(rogue.code).toBe(1);
        expect(rogue.stderr).toMatch(/is not a Provider registered at Root/);
        const half = await runCli('cocoon-chat.js', ['--proxy', proxyProcess.url, '--api-key', API_KEY, '--prompt', 'hi', '--root', net.root.address.toString()]);
        expect(half.code).toBe(2);
        expect(half.stderr).toMatch(/--ton-v4 and --root go together/);
    });

    it('refuses a worker whose Provider is no longer eligible (unbonding)', async () => {
        await startUnbond(await sandboxAs('gpu owner'), { provider });
        await expect(ask('tiny')).rejects.toThrow(/Provider #0 \(worker key [0-9a-f]{64}\) is not eligible for work/);
    });
});
