/**
 * `cocoon-proxy --ton-v4 URL`: the proxy process reads its clients' JobEscrows from the chain
 * through TON's HTTP API v4 (@ton/ton's TonClient4), as it does against testnet or mainnet.
 * Here the API is served from the sandbox chain (tests/helpers/ton-v4-api.ts); the client
 * opens its escrow with the ops function, a fake honest worker answers.
 */
import { randomBytes } from 'node:crypto';
import '@ton/test-utils';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Address, toNano } from '@ton/core';
import { openEscrow } from '../../ops/payments';
import { SandboxNetworkProvider } from '../../ops/sandbox-provider';
import { RecordingUI } from '../../ops/ui';
import { ChainEscrowReader, tonV4Reader } from '../../ops/escrow-reader';
import { formatEscrowApiKey, generateEscrowSecret, proxyAuthHeaders } from '../../worker-reference/client/api-key';
import { ed25519FromSeed } from '../../wrappers/payloads';
import { identityFromSeed } from '../../worker-reference/crypto/keys';
import { deployPayments, PaymentsNet } from '../helpers/payments';
import { startTonV4Api, TonV4Api } from '../helpers/ton-v4-api';
import { FakeWorker, startFakeWorker } from '../worker/fake-worker';
import { getJson, metric, postJson, runCli, spawnCli, Spawned, stop, tmpDir } from '../worker/helpers';
import { parseProxyConfig } from '../../worker-reference/proxy/config';
import { tokensFromJson } from '../../worker-reference/proxy/tokens';
import { chargeAmount } from '../../wrappers/chargeAmount';

const dir = tmpDir('cocoon-proxy-chain-');
const MODEL_HASH = Buffer.alloc(32, 0xab);
/** The seed of the key the Proxy contract was registered with. */
const PROXY_SEED = Buffer.alloc(32, 32);
let p: PaymentsNet;
let api: TonV4Api;
let worker: FakeWorker;
let proxy: Spawned;
let client: SandboxNetworkProvider;
let access: { address: Address; apiKey: string };

function writeConfig(name: string, extra: Record<string, unknown> = {}): string {
    const key = ed25519FromSeed(Buffer.alloc(32, 31));
    const file = path.join(dir, name);
    fs.writeFileSync(
        file,
        JSON.stringify({
            proxyAddress: p.proxy.address.toString(),
            keySeed: PROXY_SEED.toString('hex'),
            dataDir: path.join(dir, `${name}-data`),
            workers: [{ name: 'w', endpoint: worker.url, ed25519Key: key.publicKey.toString('hex'), modelHashes: [MODEL_HASH.toString('hex')], workerAccount: p.operator.address.toString() }],
            ...extra,
        }),
    );
    return file;
}

const ask = (apiKey: string) => postJson(`${proxy.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }, proxyAuthHeaders(apiKey));

beforeAll(async () => {
    const id = identityFromSeed(PROXY_SEED);
    p = await deployPayments({ proxyKeys: { ed25519: id.ed25519, x25519: id.x25519.publicKey } });
    client = new SandboxNetworkProvider(p.chain, await p.chain.treasury('client'), new RecordingUI());
    access = await openEscrow(client, { proxy: p.proxy.address, deposit: toNano('20'), stake: toNano('1') });
    api = await startTonV4Api(p.chain);
    worker = await startFakeWorker({ key: ed25519FromSeed(Buffer.alloc(32, 31)), modelId: 'm', modelHash: MODEL_HASH });
    proxy = await spawnCli('cocoon-proxy.js', ['--config', writeConfig('proxy.json', { escrowCacheMs: 60_000 }), '--port', '0', '--ton-v4', api.url, '--escrow-rate', '6']);
});

afterAll(async () => {
    await stop(proxy);
    await worker.close();
    await api.close();
    fs.rmSync(dir, { recursive: true, force: true });
});

describe('cocoon-proxy --ton-v4: escrows read from the chain', () => {
    it('reads through TonClient4 what the sandbox holds (the same as through the sandbox provider), at one block', async () => {
        const before = { ...api.served };
        const overApi = await new ChainEscrowReader(tonV4Reader(api.url), p.proxy.address).getEscrow(access.address);
        // One latest-block request, then the account and its three getters at that block.
        expect(api.served).toEqual({ latest: before.latest + 1, account: before.account + 1, run: before.run + 3 });
        const direct = await new ChainEscrowReader(client, p.proxy.address).getEscrow(access.address);
        expect(overApi).toEqual(direct);
        expect(overApi?.open).toBe(true);
        expect(overApi?.secretHash).not.toBe(0n);
        expect(await new ChainEscrowReader(tonV4Reader(api.url), p.proxy.address).getEscrow(p.operator.address)).toBeNull(); // a wallet, not a JobEscrow
    });

    it("serves the key of a JobEscrow on chain and logs where escrows come from", async () => {
        const runs = api.served.run;
        const r = await ask(access.apiKey);
        expect(r.status).toBe(200);
        expect(api.served.run).toBeGreaterThan(runs);
        expect(proxy.stderr()).toMatch(new RegExp(`listening .*escrows="?chain via ${api.url.replace(/[./:]/g, '\\$&')}`));
    });

    it("prices at the Proxy contract's prices (not the config defaults), and refuses a config that gives others", async () => {
        expect((await ask(access.apiKey)).status).toBe(200);
        const c = (await getJson(`${proxy.url}/v1/settlement/charge/${access.address.toString()}`)) as { tokens: Record<string, string>; cost_nanoton: string };
        const tokens = tokensFromJson(c.tokens);
        expect(tokens.completion).toBeGreaterThan(0n);
        const onChain = await p.proxy.getPrices();
        expect(BigInt(c.cost_nanoton)).toBe(chargeAmount(tokens, onChain));
        // The config's defaults price completion tokens at half the chain's (x1 instead of x2): they would not do.
        const defaults = parseProxyConfig({ proxyAddress: p.proxy.address.toString(), workers: [] }, dir).prices;
        expect(chargeAmount(tokens, defaults)).not.toBe(chargeAmount(tokens, onChain));
        expect(proxy.stderr()).toMatch(/listening .*prices="?the Proxy contract/);
        const other = await runCli('cocoon-proxy.js', ['--config', writeConfig('prices.json', { prices: { pricePerToken: '1' } }), '--port', '0', '--ton-v4', api.url]);
        expect(other.code).toBe(2);
        expect(other.stderr).toMatch(/the config's prices differ from the Proxy contract's \(pricePerToken 1 ≠ \d+.*remove "prices" from the config/);
    });

    it("serves its Proxy contract's certificate valid-until and active state as metrics", async () => {
        expect(await metric(proxy.url, 'cocoon_proxy_certificate_valid_until_seconds')).toBe(Number(await p.proxy.getValidUntil()));
        expect(await metric(proxy.url, 'cocoon_proxy_contract_active')).toBe(1);
    });

    it('admits no worker that joins unless started with --admit-workers (404 with the reason)', async () => {
        const r = await postJson(`${proxy.url}/v1/workers/join`, { announcement: '', signature: '' });
        expect(r.status).toBe(404);
        expect(JSON.stringify(r.json)).toMatch(/admits no workers that join.*--admit-workers/);
    });

    it('refuses a wrong secret (401) and an address with no escrow (402), charging nothing', async () => {
        const wrong = await ask(formatEscrowApiKey(access.address, generateEscrowSecret()));
        expect(wrong.status).toBe(401);
        expect(wrong.json.error).toMatchObject({ code: 'invalid_api_key' });
        const none = await ask(formatEscrowApiKey(p.operator.address, generateEscrowSecret()));
        expect(none.status).toBe(402);
        expect(none.json.error).toMatchObject({ code: 'escrow_not_open' });
    });

    it("answers 503 while the API is down: the proxy's outage, not a verdict on the client's escrow", async () => {
        const other = new SandboxNetworkProvider(p.chain, await p.chain.treasury('another client'), new RecordingUI());
        const second = await openEscrow(other, { proxy: p.proxy.address, deposit: toNano('5'), stake: toNano('1') });
        // Down altogether, or only its get-methods (the account reads as deployed, its getters fail).
        for (const failOnly of [undefined, 'run'] as const) {
            api.failWith = 502;
            api.failOnly = failOnly;
            try {
                const r = await ask(second.apiKey);
                expect(r.status).toBe(503);
                expect(r.json.error).toMatchObject({ code: 'escrow_unavailable' });
            } finally {
                api.failWith = undefined;
                api.failOnly = undefined;
            }
        }
        expect((await ask(second.apiKey)).status).toBe(200);
    });
});

describe('cocoon-proxy --ton-v4: refused at start, with the reason', () => {
    it('limits requests naming escrows it has not read to --escrow-rate a minute per source (429 with Retry-After); the known client goes on', async () => {
        let limited: Awaited<ReturnType<typeof ask>> | undefined;
        for (let i = 0; i < 8 && !limited; i++) {
            const r = await ask(formatEscrowApiKey(new Address(0, randomBytes(32)), generateEscrowSecret()));
            if (r.status === 429) limited = r;
            else expect(r.status).toBe(402);
        }
        expect(limited?.json.error).toMatchObject({ type: 'rate_limit_exceeded', code: 'escrow_rate_limited', message: expect.stringMatching(/at most 6 a minute/) });
        expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect((await ask(access.apiKey)).status).toBe(200);
    });

    it('a Proxy contract that is not on the chain, escrows in the config too, an API that cannot be read', async () => {
        const elsewhere = writeConfig('elsewhere.json', { proxyAddress: new Address(0, Buffer.alloc(32, 7)).toString() });
        const notDeployed = await runCli('cocoon-proxy.js', ['--config', elsewhere, '--port', '0', '--ton-v4', api.url]);
        expect(notDeployed.code).toBe(2);
        expect(notDeployed.stderr).toMatch(/the Proxy contract .* \(proxyAddress\) is not deployed on the chain/);
        const otherKey = await runCli('cocoon-proxy.js', ['--config', writeConfig('otherkey.json', { keySeed: Buffer.alloc(32, 33).toString('hex') }), '--port', '0', '--ton-v4', api.url]);
        expect(otherKey.code).toBe(2);
        expect(otherKey.stderr).toMatch(/this router's enclave key [0-9a-f]{64} is not the Proxy contract's \([0-9a-f]{64}\): escrows would refuse every charge it signs/);
        const noReads = await runCli('cocoon-proxy.js', ['--config', writeConfig('noreads.json'), '--port', '0', '--ton-v4', api.url, '--escrow-reads', '0']);
        expect(noReads.code).toBe(2);
        expect(noReads.stderr).toMatch(/--escrow-reads must be an integer in \[1, 10000\], got "0"/);
        const noChain = await runCli('cocoon-proxy.js', ['--config', writeConfig('nochain.json'), '--port', '0', '--admit-workers']);
        expect(noChain.code).toBe(2);
        expect(noChain.stderr).toMatch(/--admit-workers checks joining workers on chain: it needs --ton-v4/);
        const both = await runCli('cocoon-proxy.js', ['--config', writeConfig('both.json', { escrows: {} }), '--port', '0', '--ton-v4', api.url]);
        expect(both.code).toBe(2);
        expect(both.stderr).toMatch(/remove "escrows" from the config/);
        api.failWith = 500;
        try {
            const down = await runCli('cocoon-proxy.js', ['--config', writeConfig('down.json'), '--port', '0', '--ton-v4', api.url]);
            expect(down.code).toBe(2);
            expect(down.stderr).toMatch(/--ton-v4 .* could not be read/);
        } finally {
            api.failWith = undefined;
        }
    });
});
