/**
 * End to end: the proxy router's API keys against escrows on the sandbox chain. A client opens
 * its escrow with the ops function (which makes its API secret), the router (in process) reads
 * escrows from the chain through ChainEscrowReader and its short cache, and a real worker
 * (tiny model, CPU) answers. The escrow's address alone, a wrong secret, a rotated-away or
 * revoked secret get 401 and cost the client nothing.
 */
import '@ton/test-utils';
import * as fs from 'node:fs';
import * as path from 'node:path';
import OpenAI from 'openai';
import { toNano } from '@ton/core';
import { SandboxContract, TreasuryContract } from '@ton/sandbox';
import { ChainEscrowReader } from '../../ops/escrow-reader';
import { openEscrow, setEscrowSecret, topUpEscrow } from '../../ops/payments';
import { SandboxNetworkProvider } from '../../ops/sandbox-provider';
import { RecordingUI } from '../../ops/ui';
import { formatEscrowApiKey, generateEscrowSecret, proxyAuthHeaders } from '../../worker-reference/client/api-key';
import { sha256File } from '../../worker-reference/common/hash';
import { Ed25519Signer } from '../../worker-reference/crypto/ed25519';
import { identityFromSeed } from '../../worker-reference/crypto/keys';
import { generateModel } from '../../worker-reference/model/generate';
import { parseProxyConfig } from '../../worker-reference/proxy/config';
import { Ledger } from '../../worker-reference/proxy/ledger';
import { ProxyServer } from '../../worker-reference/proxy/server';
import { defaultParams } from '../../wrappers/Root';
import { EscrowState, escrowFor, escrowOpen, ESCROW_OPEN_VALUE } from '../../wrappers/JobEscrow';
import { deployPayments, PaymentsNet } from '../helpers/payments';
import { FAST_WORKER, postJson, spawnCli, Spawned, stop, tmpDir } from '../worker/helpers';

const dir = tmpDir('cocoon-proxy-auth-');
let p: PaymentsNet;
let worker: Spawned;
let server: ProxyServer;
let url: string;
let clientWallet: SandboxContract<TreasuryContract>;
let client: SandboxNetworkProvider;
let access: { address: import('@ton/core').Address; secret: Buffer; apiKey: string };
/** The router's cache clock: moved forward to expire cached escrow state. */
let clock = Date.now();
const CACHE_MS = 60_000;

const ask = (apiKey: string, maxTokens = 3) =>
    postJson(`${url}/v1/chat/completions`, { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: maxTokens }, proxyAuthHeaders(apiKey));

/** Requests the router counted for the escrow (its signed cumulative charge). */
async function counted(escrow: import('@ton/core').Address): Promise<string> {
    const r = await fetch(`${url}/v1/settlement/charge/${escrow.toString()}`);
    return JSON.stringify(((await r.json()) as { tokens: unknown }).tokens);
}

beforeAll(async () => {
    // 0.01 TON per token (x2 for completion), so a few hundred tokens make a balance short.
    const params = defaultParams();
    params.prices = { ...params.prices, pricePerToken: 10_000_000n, workerFeePerToken: 8_000_000n };
    p = await deployPayments({ params });
    clientWallet = await p.chain.treasury('client');
    client = new SandboxNetworkProvider(p.chain, clientWallet, new RecordingUI());
    const model = path.join(dir, 'tiny.gguf');
    generateModel(model, 'tiny', 3);
    const workerSeed = Buffer.alloc(32, 21);
    worker = await spawnCli('cocoon-worker.js', ['--model', model, '--port', '0', ...FAST_WORKER, '--key-seed', workerSeed.toString('hex')]);
    const wid = identityFromSeed(workerSeed);
    const prices = p.prices;
    const config = parseProxyConfig(
        {
            proxyAddress: p.proxy.address.toString(),
            dataDir: path.join(dir, 'proxy-data'),
            prices: Object.fromEntries(Object.entries(prices).filter(([k]) => k !== '$$type').map(([k, v]) => [k, String(v)])),
            workers: [{ name: 'w', endpoint: worker.url, ed25519Key: wid.ed25519.publicKey.toString('hex'), modelHashes: [sha256File(model).toString('hex')], workerAccount: p.operator.address.toString() }],
            // A long cache: only the refresh-before-refusing path can make a rotation visible at once.
            escrowCacheMs: CACHE_MS,
            escrowRefreshMinMs: 0,
        },
        dir,
    );
    const watcher = client.as(await p.chain.treasury('watcher'));
    server = new ProxyServer({ config, signer: new Ed25519Signer(p.proxyKeys.ed25519), escrows: new ChainEscrowReader(watcher, p.proxy.address), ledger: Ledger.open(config.dataDir), now: () => clock });
    url = `http://127.0.0.1:${await server.start(0)}`;
    access = await openEscrow(client, { proxy: p.proxy.address, deposit: toNano('20'), stake: toNano('1') });
});

afterAll(async () => {
    await server?.close();
    await stop(worker);
    fs.rmSync(dir, { recursive: true, force: true });
});

describe('proxy API keys against escrows on chain', () => {
    it('serves the key openEscrow made, through the openai client, reading the chain once for many requests', async () => {
        const reads = server.escrows.reads;
        const ai = new OpenAI({ baseURL: `${url}/v1`, apiKey: access.apiKey, maxRetries: 0 });
        const rs = await Promise.all([1, 2, 3].map((n) => ai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: `q${n}` }], max_tokens: n })));
        expect(rs.map((r) => r.usage?.completion_tokens)).toEqual([1, 2, 3]);
        const s = await ai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'stream' }], max_tokens: 4, stream: true });
        let text = '';
        for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
        expect(text.length).toBeGreaterThan(0);
        expect(server.escrows.reads - reads).toBe(1);
    });

    it('refuses the bare escrow address and a wrong secret with 401, counting nothing', async () => {
        const before = await counted(access.address);
        const bare = await ask(access.address.toString());
        expect(bare.status).toBe(401);
        expect(bare.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
        const wrong = await ask(formatEscrowApiKey(access.address, generateEscrowSecret()));
        expect(wrong.status).toBe(401);
        expect(wrong.json.error).toMatchObject({ code: 'invalid_api_key', message: expect.stringMatching(/incorrect API key/) });
        expect(await counted(access.address)).toBe(before);
        expect((await ask(access.apiKey)).status).toBe(200);
        expect(await counted(access.address)).not.toBe(before);
    });

    it('after a rotation on chain the new key works at once (cache refreshed) and the old one is refused; a revocation holds once the cache expires', async () => {
        expect((await ask(access.apiKey)).status).toBe(200); // the cache holds the old hash now
        const rotated = await setEscrowSecret(client, { escrow: access.address });
        expect(rotated).not.toBeNull();
        const reads = server.escrows.reads;
        expect((await ask(rotated!.apiKey)).status).toBe(200);
        expect(server.escrows.reads - reads).toBe(1);
        const old = await ask(access.apiKey);
        expect(old.status).toBe(401);
        expect(old.json.error).toMatchObject({ code: 'invalid_api_key' });
        // Revoked: no key works until a new secret is set, once the router's cached state has
        // expired (escrowCacheMs: a few seconds by default) or been refreshed.
        const before = await counted(access.address);
        expect(await setEscrowSecret(client, { escrow: access.address, revoke: true })).toBeNull();
        expect((await ask(rotated!.apiKey)).status).toBe(200);
        clock += CACHE_MS;
        const revoked = await ask(rotated!.apiKey);
        expect(revoked.status).toBe(401);
        expect(revoked.json.error).toMatchObject({ code: 'escrow_secret_not_set' });
        expect(await counted(access.address)).not.toBe(before); // the one request served inside the window
        const after = await counted(access.address);
        expect((await ask(rotated!.apiKey)).status).toBe(401);
        expect(await counted(access.address)).toBe(after);
        access = { ...access, ...(await setEscrowSecret(client, { escrow: access.address }))! };
        expect((await ask(access.apiKey)).status).toBe(200);
    });

    it('refuses an escrow opened without a secret until the client sets one', async () => {
        const other = await p.chain.treasury('no-secret client');
        const e = p.chain.openContract(await escrowFor(p.proxy.address, other.address));
        await e.send(other.getSender(), { value: toNano('5') + ESCROW_OPEN_VALUE }, escrowOpen({ deposit: toNano('5'), stake: toNano('1'), secret: null }));
        expect(await e.getState()).toBe(EscrowState.open);
        const secret = generateEscrowSecret();
        const key = formatEscrowApiKey(e.address, secret);
        const r = await ask(key);
        expect(r.status).toBe(401);
        expect(r.json.error).toMatchObject({ code: 'escrow_secret_not_set', message: expect.stringMatching(/no API secret set/) });
        await setEscrowSecret(client.as(other), { escrow: e.address, secret });
        expect((await ask(key)).status).toBe(200);
    });

    it('still reserves against the balance: a request it cannot cover is 402 until a top-up, seen without waiting for the cache', async () => {
        const c = await p.chain.treasury('small client');
        const small = await openEscrow(client.as(c), { proxy: p.proxy.address, deposit: toNano('2'), stake: toNano('1') });
        // Up to 100 completion tokens at 0.02 TON, plus the prompt: more than 2 TON.
        const short = await ask(small.apiKey, 100);
        expect(short.status).toBe(402);
        expect(short.json.error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_balance' });
        expect((await ask(small.apiKey, 10)).status).toBe(200);
        await topUpEscrow(client.as(c), { escrow: small.address, amount: toNano('3') });
        expect((await ask(small.apiKey, 100)).status).toBe(200);
    });
});
