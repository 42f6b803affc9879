/**
 * End to end: the proxy operator's settlement pass (`scripts/settle`). A real proxy process
 * (`--ton-v4`, escrows read from the sandbox chain through a v4 API) serves two clients through
 * an honest worker registered as a Provider; one pass submits both escrows' charges and the
 * worker account's first payout (deploying it, paying the Provider's owner), and that of a
 * worker the router lists without its Provider (as a joined worker that left), found in Root's
 * registry; a second pass finds nothing new; after more work only what changed is settled.
 * TON is conserved over every pass.
 */
import '@ton/test-utils';
import * as fs from 'node:fs';
import { Address, fromNano, toNano } from '@ton/core';
import { SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import { run as settleScript } from '../../scripts/settle';
import { EscrowAccess, openEscrow } from '../../ops/payments';
import { SandboxNetworkProvider } from '../../ops/sandbox-provider';
import { RecordingUI } from '../../ops/ui';
import { proxyAuthHeaders } from '../../worker-reference/client/api-key';
import { identityFromSeed } from '../../worker-reference/crypto/keys';
import { Proxy } from '../../wrappers/Proxy';
import { WorkerAccount, workerAccountFor } from '../../wrappers/WorkerAccount';
import { audited, deployNetwork, Network, registerProxy, registerWorkerProvider } from '../helpers/network';
import { startTonV4Api, TonV4Api } from '../helpers/ton-v4-api';
import { FakeWorker, startFakeWorker } from '../worker/fake-worker';
import { getJson, postJson, spawnCli, Spawned, stop, tmpDir, writeProxyConfig } from '../worker/helpers';

const PROXY_SEED = Buffer.alloc(32, 91);
const WORKER_SEED = Buffer.alloc(32, 92);
const OTHER_MODEL = Buffer.alloc(32, 0xcd);
const GONE_SEED = Buffer.alloc(32, 93);
const GONE_MODEL = Buffer.alloc(32, 0xce);
const dir = tmpDir('cocoon-settle-');

let net: Network;
let api: TonV4Api;
let honest: FakeWorker;
let anon: FakeWorker;
let gone: FakeWorker;
let proxyProcess: Spawned;
let operator: SandboxContract<TreasuryContract>;
let gpuOwner: SandboxContract<TreasuryContract>;
let proxy: SandboxContract<Proxy>;
let account: Address;
let anonAccount: Address;
let goneAccount: Address;
let goneOwner: SandboxContract<TreasuryContract>;
const clients: EscrowAccess[] = [];
const ui = new RecordingUI();

const ask = (key: string, model = 'tiny') => postJson(`${proxyProcess.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }, proxyAuthHeaders(key));

/** One settle pass as the operator, audited for conservation over every account it may touch. */
async function pass(): Promise<{ lines: string[]; delta: (a: Address) => bigint; sent: number }> {
    ui.lines.length = 0;
    const sent: SendMessageResult[] = [];
    const asOperator = new SandboxNetworkProvider(net.chain, operator, ui, (r) => sent.push(r));
    const b = await audited(net.chain, [operator.address, proxy.address, account, goneAccount, gpuOwner.address, goneOwner.address, ...clients.map((c) => c.address)], async () => {
        await settleScript(asOperator, ['--router', proxyProcess.url]);
        return { transactions: sent.flatMap((r) => r.transactions), events: [] } as unknown as SendMessageResult;
    });
    const lines = [...ui.lines];
    // The pass's own lines start at its summary (submitCharge / submitPayout confirm before it).
    return { lines: lines.slice(lines.findIndex((l) => / charged \(/.test(l))), delta: b.delta, sent: sent.length };
}

beforeAll(async () => {
    net = await deployNetwork();
    const wall = Math.floor(Date.now() / 1000);
    if (wall > net.chain.now!) net.chain.now = wall;
    operator = await net.chain.treasury('operator');
    gpuOwner = await net.chain.treasury('gpu owner');
    const proxyId = identityFromSeed(PROXY_SEED);
    const workerId = identityFromSeed(WORKER_SEED);
    await registerProxy(net, operator, { keys: { ed25519: proxyId.ed25519, x25519: proxyId.x25519.publicKey } });
    proxy = net.chain.openContract(Proxy.fromAddress(await net.root.getProxyAddress(0n)));
    const reg = await registerWorkerProvider(net, gpuOwner, { ed25519: workerId.ed25519, x25519: workerId.x25519.publicKey });
    account = (await workerAccountFor(proxy.address, reg.address, gpuOwner.address)).address;
    anonAccount = new Address(0, Buffer.alloc(32, 77));
    goneOwner = await net.chain.treasury('gpu owner 2');
    const goneId = identityFromSeed(GONE_SEED);
    const goneReg = await registerWorkerProvider(net, goneOwner, { ed25519: goneId.ed25519, x25519: goneId.x25519.publicKey });
    goneAccount = (await workerAccountFor(proxy.address, goneReg.address, goneOwner.address)).address;
    gone = await startFakeWorker({ key: goneId.ed25519, modelId: 'gone', modelHash: GONE_MODEL });
    honest = await startFakeWorker({ key: workerId.ed25519, modelId: 'tiny', modelHash: net.model });
    anon = await startFakeWorker({ key: workerId.ed25519, modelId: 'other', modelHash: OTHER_MODEL });
    api = await startTonV4Api(net.chain);
    const entry = { ed25519Key: workerId.ed25519.publicKey.toString('hex') };
    // Prices come from the Proxy contract (--ton-v4).
    const config = writeProxyConfig(dir, proxy.address, PROXY_SEED, {
            // The router signs valid-until = its wall clock + TTL; the sandbox's clock runs ahead.
            signatureTtlSeconds: net.chain.now! - wall + 86400,
            workers: [
                { name: 'gpu-1', endpoint: honest.url, ...entry, modelHashes: [net.model.toString('hex')], workerAccount: account.toString(), provider: reg.address.toString(), providerSeqno: Number(reg.seqno) },
                { name: 'anon', endpoint: anon.url, ...entry, modelHashes: [OTHER_MODEL.toString('hex')], workerAccount: anonAccount.toString() },
                // A registered Provider's worker whose entry names no Provider: its account is found in Root's registry.
                { name: 'gone', endpoint: gone.url, ed25519Key: goneId.ed25519.publicKey.toString('hex'), modelHashes: [GONE_MODEL.toString('hex')], workerAccount: goneAccount.toString() },
            ],
    });
    proxyProcess = await spawnCli('cocoon-proxy.js', ['--config', config, '--port', '0', '--ton-v4', api.url]);
    for (const name of ['client a', 'client b']) {
        const asClient = new SandboxNetworkProvider(net.chain, await net.chain.treasury(name), new RecordingUI());
        clients.push(await openEscrow(asClient, { proxy: proxy.address, deposit: toNano('5'), stake: toNano('1') }));
    }
});

afterAll(async () => {
    await stop(proxyProcess);
    await Promise.all([honest?.close(), anon?.close(), gone?.close(), api?.close()]);
    fs.rmSync(dir, { recursive: true, force: true });
});

describe('settlement pass (scripts/settle): everything the router signed that the chain lacks', () => {
    it("charges both escrows, then pays the worker account's first payout to the Provider's owner; TON conserved", async () => {
        for (const key of [clients[0].apiKey, clients[0].apiKey, clients[1].apiKey]) expect((await ask(key)).status).toBe(200);
        expect((await ask(clients[1].apiKey, 'other')).status).toBe(200); // served by a worker whose entry names no Provider
        expect((await ask(clients[1].apiKey, 'gone')).status).toBe(200); // the same, but a registered Provider's worker
        const costs = await Promise.all(clients.map(async (c) => BigInt(((await getJson(`${proxyProcess.url}/v1/settlement/charge/${c.address.toString()}`)) as { cost_nanoton: string }).cost_nanoton)));
        const feeOf = async (a: Address) => BigInt(((await getJson(`${proxyProcess.url}/v1/settlement/payout/${a.toString()}`)) as { fee_nanoton: string }).fee_nanoton);
        const fee = await feeOf(account);
        const goneFee = await feeOf(goneAccount);
        expect(fee).toBeGreaterThan(0n);

        const { lines, delta } = await pass();
        const total = costs[0] + costs[1];
        expect(lines[0]).toBe(`2 charged (${fromNano(total)} TON into the Proxy), 2 paid out (${fromNano(fee + goneFee)} TON to workers), 0 up to date, 1 skipped`);
        expect(lines.join('\n')).toMatch(new RegExp(`skipped ${anonAccount.toString()}: a first payout needs the worker's Provider: neither the router nor Root's registry has one`));
        const goneWorker = net.chain.openContract(WorkerAccount.fromAddress(goneAccount));
        expect(await goneWorker.getPayee()).toEqualAddress(goneOwner.address);
        expect(delta(goneOwner.address)).toBeGreaterThan(0n);
        expect(-delta(clients[0].address)).toBeGreaterThanOrEqual(costs[0]); // the charge, plus the escrow's share of gas
        const worker = net.chain.openContract(WorkerAccount.fromAddress(account));
        expect(await worker.getPayee()).toEqualAddress(gpuOwner.address);
        expect((await worker.getPaidTokens()) * (await proxy.getPrices()).workerFeePerToken).toBe(fee);
        expect(delta(gpuOwner.address)).toBeGreaterThan(0n);
    });

    it('finds nothing new on a second pass and sends nothing', async () => {
        const { lines, sent } = await pass();
        expect(lines[0]).toBe('0 charged (0 TON into the Proxy), 0 paid out (0 TON to workers), 4 up to date, 1 skipped');
        expect(sent).toBe(0);
    });

    it('after more work settles only what changed (the account now read from its own getters)', async () => {
        expect((await ask(clients[1].apiKey)).status).toBe(200);
        const { lines } = await pass();
        expect(lines[0]).toMatch(/^1 charged \(\S+ TON into the Proxy\), 1 paid out \(\S+ TON to workers\), 2 up to date, 1 skipped$/);
        expect(lines.join('\n')).toContain(`charged ${clients[1].address.toString()}`);
    });

    it('fails with the URL and the reason when the router cannot be read, and refuses --passes without --every', async () => {
        const asOperator = new SandboxNetworkProvider(net.chain, operator, ui);
        await expect(settleScript(asOperator, ['--router', 'http://127.0.0.1:1'])).rejects.toThrow(/GET http:\/\/127.0.0.1:1\/v1\/settlement: /);
        ui.lines.length = 0;
        await settleScript(asOperator, ['--router', proxyProcess.url, '--passes', '2']);
        expect(ui.lines.join('\n')).toMatch(/--passes needs --every and at least 1/);
    });
});
