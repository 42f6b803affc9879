/**
 * The authenticated proxy ↔ worker link (crypto/tls-link.ts): mutual TLS 1.3 in which each
 * side shows its Ed25519 enclave key and pins the other's. A real worker (tiny model, CPU)
 * with --trust-proxy, a real proxy with an https:// endpoint through a recording relay (a
 * host in the middle), and clients that are not the trusted proxy.
 */
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import OpenAI from 'openai';
import type { NetworkProvider } from '@ton/blueprint';
import { run as submitFaultReports } from '../../scripts/submitFaultReports';
import { RecordingUI } from '../../ops/ui';
import { Address, Cell } from '@ton/core';
import { parseWorkReceipt } from '../../wrappers/payloads';
import { escrowSecretHash, formatEscrowApiKey, proxyAuthHeaders, secretHashBytes } from '../../worker-reference/client/api-key';
import { sha256File } from '../../worker-reference/common/hash';
import { identityFromSeed } from '../../worker-reference/crypto/keys';
import { PinnedKeyAgent, PinnedKeyMismatch, peerEd25519Key, tlsCredentials, tlsServerOptions } from '../../worker-reference/crypto/tls-link';
import { generateModel } from '../../worker-reference/model/generate';
import { FAST_WORKER, runCli, spawnCli, Spawned, stop, tmpDir, RecordingRelay, startRecordingRelay } from './helpers';

const dir = tmpDir('cocoon-tls-');
const model = path.join(dir, 'tiny.gguf');
const addr = (n: number) => new Address(0, Buffer.alloc(32, n));
const PROXY = addr(100);
const PROXY_SEED = Buffer.alloc(32, 50);
const proxyId = identityFromSeed(PROXY_SEED).ed25519;
const workerId = identityFromSeed(Buffer.alloc(32, 21)).ed25519;
const strangerId = identityFromSeed(Buffer.alloc(32, 22)).ed25519;
const CLIENT = addr(1);
const CLIENT_SECRET = Buffer.alloc(32, 0xa1);
const PROMPT = 'the password is pomegranate-7781';

let worker: Spawned;
let proxy: Spawned;
/** The same proxy identity serving its clients over HTTPS with its enclave key (--tls). */
let proxyTls: Spawned;
let modelHash: string;
const entry = (name: string, endpoint: string) => ({ name, endpoint, ed25519Key: workerId.publicKey.toString('hex'), modelHashes: [modelHash], workerAccount: addr(11).toString() });
let relay: RecordingRelay;
let impostor: https.Server;
let impostorRequests = 0;


/** One HTTPS request; `agent` false = a client without certificate that accepts any server key. */
function request(url: string, agent: https.Agent | false, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = https.request(
            url,
            {
                method: payload === undefined ? 'GET' : 'POST',
                ...(agent ? { agent } : { agent: false, rejectUnauthorized: false }),
                headers: { 'content-type': 'application/json', ...headers },
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on('data', (c: Buffer) => chunks.push(c));
                res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
            },
        );
        req.on('error', reject);
        req.end(payload);
    });
}

/** Writes a proxy config of this proxy identity with its own data directory. */
const config = (name: string, workers: unknown[]) => {
    const file = path.join(dir, `${name}.json`);
    fs.writeFileSync(
        file,
        JSON.stringify({
            proxyAddress: PROXY.toString(),
            keySeed: PROXY_SEED.toString('hex'),
            dataDir: path.join(dir, `${name}-data`),
            healthIntervalMs: 300,
            workers,
            escrows: { [CLIENT.toString()]: { balance: '1000000000000', secretHash: secretHashBytes(escrowSecretHash(CLIENT_SECRET)).toString('hex') } },
        }),
    );
    return file;
};

const chatBody = (extra: Record<string, unknown> = {}) => ({ model: 'tiny', messages: [{ role: 'user', content: PROMPT }], max_tokens: 4, ...extra });

beforeAll(async () => {
    generateModel(model, 'tiny', 1);
    modelHash = sha256File(model).toString('hex');
    worker = await spawnCli('cocoon-worker.js', [
        ...FAST_WORKER,
        '--model',
        `tiny=${model}`,
        '--port',
        '0',
        '--key-seed',
        Buffer.alloc(32, 21).toString('hex'),
        '--data-dir',
        path.join(dir, 'worker-data'),
        '--trust-proxy',
        `${PROXY.toString()}=${proxyId.publicKey.toString('hex')}`,
    ]);
    relay = await startRecordingRelay(worker.port);
    const relayPort = relay.port;
    // Shows the worker's model but holds another key: the proxy must never send it a request.
    impostor = https.createServer(tlsServerOptions(tlsCredentials(strangerId, 'cocoon-worker')), (_req, res) => {
        impostorRequests++;
        res.end(JSON.stringify({ ed25519_public_key: workerId.publicKey.toString('hex'), models: [{ id: 'tiny', model_hash: modelHash }], load: [] }));
    });
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', () => r()));
    proxy = await spawnCli('cocoon-proxy.js', ['--config', config('proxy', [entry('real', `https://127.0.0.1:${relayPort}`), entry('impostor', `https://127.0.0.1:${(impostor.address() as net.AddressInfo).port}`)]), '--port', '0']);
    proxyTls = await spawnCli('cocoon-proxy.js', ['--config', config('proxy-tls', [entry('real', worker.url)]), '--port', '0', '--tls']);
});

afterAll(async () => {
    await stop(proxy);
    await stop(proxyTls);
    await stop(worker);
    relay?.close();
    impostor?.closeAllConnections();
    impostor?.close();
    fs.rmSync(dir, { recursive: true, force: true });
});

describe('TLS identity of an enclave key', () => {
    it('is a self-signed X.509 certificate carrying the Ed25519 key, the same for the same key', () => {
        const c = tlsCredentials(workerId, 'cocoon-worker');
        const x = new X509Certificate(c.cert);
        expect(x.publicKey.asymmetricKeyType).toBe('ed25519');
        expect(Buffer.from(x.publicKey.export({ format: 'der', type: 'spki' })).subarray(-32)).toEqual(workerId.publicKey);
        expect(x.verify(x.publicKey)).toBe(true);
        expect(x.subject).toBe(`CN=cocoon-worker ${workerId.publicKey.toString('hex')}`);
        expect(x.checkIssued(x)).toBe(true);
        expect(tlsCredentials(workerId, 'cocoon-worker').cert).toBe(c.cert);
        expect(tlsCredentials(strangerId, 'cocoon-worker').cert).not.toBe(c.cert);
    });

    it('a pinned agent connects to the holder of the key (showing its own), and never hands a request a connection to another key', async () => {
        let seen = 0;
        const server = https.createServer(tlsServerOptions(tlsCredentials(workerId, 'cocoon-worker')), (req, res) => {
            seen++;
            res.end(JSON.stringify({ client: peerEd25519Key(req.socket as import('node:tls').TLSSocket)?.toString('hex') ?? null }));
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
        const url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
        try {
            const good = new PinnedKeyAgent(workerId.publicKey, tlsCredentials(proxyId, 'cocoon-proxy'));
            expect((await request(url, good)).json).toEqual({ client: proxyId.publicKey.toString('hex') });
            expect((await request(url, good)).json).toEqual({ client: proxyId.publicKey.toString('hex') });
            expect(seen).toBe(2);
            good.destroy();
        } finally {
            server.closeAllConnections();
            server.close();
        }
        // Another key at the same address: the request is never handed a connection.
        const wrong = new PinnedKeyAgent(strangerId.publicKey, tlsCredentials(proxyId, 'cocoon-proxy'));
        const server2 = https.createServer(tlsServerOptions(tlsCredentials(workerId, 'cocoon-worker')), (_req, res) => {
            seen++;
            res.end('{}');
        });
        await new Promise<void>((r) => server2.listen(0, '127.0.0.1', () => r()));
        try {
            const err = await request(`https://127.0.0.1:${(server2.address() as net.AddressInfo).port}/`, wrong, { secret: 'never sent' }).catch((e: unknown) => e);
            expect(err).toBeInstanceOf(PinnedKeyMismatch);
            expect((err as Error).message).toBe(`TLS peer key ${workerId.publicKey.toString('hex')} is not the expected ${strangerId.publicKey.toString('hex')}`);
            expect(seen).toBe(2);
        } finally {
            wrong.destroy();
            server2.closeAllConnections();
            server2.close();
        }
    });

    it('gives up on a peer that accepts the connection but never answers the handshake, within the request timeout', async () => {
        const silent = net.createServer(() => undefined);
        await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
        const agent = new PinnedKeyAgent(workerId.publicKey, tlsCredentials(proxyId, 'cocoon-proxy'));
        const t0 = Date.now();
        try {
            const { getJson } = await import('../../worker-reference/proxy/registry');
            await expect(getJson(`https://127.0.0.1:${(silent.address() as net.AddressInfo).port}/v1/worker`, 300, agent)).rejects.toThrow(/TLS handshake with 127\.0\.0\.1:\d+ timed out after 300 ms/);
            expect(Date.now() - t0).toBeLessThan(3000);
        } finally {
            agent.destroy();
            silent.close();
        }
    });
});

describe('worker --trust-proxy: completions only for the proxies it trusts', () => {
    it('serves HTTPS with its enclave key; identity and models stay readable to anyone', async () => {
        expect(worker.url).toMatch(/^https:/);
        const info = await request(`${worker.url}/v1/worker`, false);
        expect(info.status).toBe(200);
        expect(info.json).toMatchObject({ ed25519_public_key: workerId.publicKey.toString('hex'), tls: true });
        expect(worker.stderr()).toMatch(/listening url=https:\/\/127\.0\.0\.1:\d+ tls="?mutual, 1 trusted proxy/);
    });

    it('refuses a client without certificate (403 untrusted_proxy) and generates nothing', async () => {
        const r = await request(`${worker.url}/v1/chat/completions`, false, chatBody());
        expect(r.status).toBe(403);
        expect(r.json.error).toMatchObject({ code: 'untrusted_proxy', message: expect.stringMatching(/connect with TLS presenting your proxy enclave key/) });
        expect(worker.stderr()).not.toMatch(/answered/);
    });

    it('refuses a client certificate of a key it does not trust (403, naming the key)', async () => {
        const agent = new PinnedKeyAgent(workerId.publicKey, tlsCredentials(strangerId, 'cocoon-proxy'));
        const r = await request(`${worker.url}/v1/chat/completions`, agent, chatBody());
        agent.destroy();
        expect(r.status).toBe(403);
        expect(r.json.error).toMatchObject({ code: 'untrusted_proxy', message: expect.stringContaining(strangerId.publicKey.toString('hex')) });
    });

    it('refuses the trusted proxy key naming another proxy (403 proxy_mismatch); naming itself or none, its receipts name it', async () => {
        const agent = new PinnedKeyAgent(workerId.publicKey, tlsCredentials(proxyId, 'cocoon-proxy'));
        try {
            const other = await request(`${worker.url}/v1/chat/completions`, agent, chatBody(), { 'x-cocoon-proxy': addr(101).toString(), 'x-cocoon-request-id': '900' });
            expect(other.status).toBe(403);
            expect(other.json.error).toMatchObject({ code: 'proxy_mismatch' });
            const both: Array<Record<string, string>> = [{ 'x-cocoon-proxy': PROXY.toString(), 'x-cocoon-request-id': '900' }, {}];
            for (const headers of both) {
                const ok = await request(`${worker.url}/v1/chat/completions`, agent, chatBody(), headers);
                expect(ok.status).toBe(200);
                const receipt = parseWorkReceipt(Cell.fromBoc(Buffer.from((ok.json.receipt as { boc: string }).boc, 'base64'))[0]);
                expect(receipt.proxy.equals(PROXY)).toBe(true);
            }
        } finally {
            agent.destroy();
        }
    });

    it('with --tls alone, serves any client over HTTPS (its key still pinned by whoever calls it)', async () => {
        const open = await spawnCli('cocoon-worker.js', [...FAST_WORKER, '--model', `tiny=${model}`, '--port', '0', '--key-seed', Buffer.alloc(32, 23).toString('hex'), '--data-dir', path.join(dir, 'open-data'), '--tls']);
        try {
            expect(open.url).toMatch(/^https:/);
            expect(open.stderr()).toMatch(/tls="?server key only, any client/);
            const r = await request(`${open.url}/v1/chat/completions`, false, chatBody(), { 'x-cocoon-proxy': addr(102).toString() });
            expect(r.status).toBe(200);
            expect(parseWorkReceipt(Cell.fromBoc(Buffer.from((r.json.receipt as { boc: string }).boc, 'base64'))[0]).proxy.equals(addr(102))).toBe(true);
            const pinned = new PinnedKeyAgent(identityFromSeed(Buffer.alloc(32, 23)).ed25519.publicKey);
            expect((await request(`${open.url}/v1/worker`, pinned)).status).toBe(200);
            pinned.destroy();
        } finally {
            await stop(open);
        }
    });

    it('refuses a malformed --trust-proxy at start with the expected form', async () => {
        const r = await runCli('cocoon-worker.js', [...FAST_WORKER, '--model', model, '--port', '0', '--trust-proxy', 'nope']);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toMatch(/--trust-proxy nope: expected <Proxy contract address>=<64 hex chars of its Ed25519 enclave key>/);
        const bad = await runCli('cocoon-worker.js', [...FAST_WORKER, '--model', model, '--port', '0', '--trust-proxy', `notanaddress=${'ab'.repeat(32)}`]);
        expect(bad.stderr).toMatch(/notanaddress is not a TON address/);
    });

    it('refuses --join without --trust-proxy, a --join that is not a base URL, an http --public-url, --join-proxy without the chain', async () => {
        const trust = ['--trust-proxy', `${new Address(0, Buffer.alloc(32, 1)).toString()}=${'ab'.repeat(32)}`];
        const untrusted = await runCli('cocoon-worker.js', [...FAST_WORKER, '--model', model, '--port', '0', '--join', 'https://proxy.example:8443']);
        expect(untrusted.code).toBe(2);
        expect(untrusted.stderr).toMatch(/--join needs --trust-proxy ADDR=KEY for each proxy it joins/);
        const path = await runCli('cocoon-worker.js', [...FAST_WORKER, '--model', model, '--port', '0', ...trust, '--join', 'https://proxy.example:8443/v1']);
        expect(path.stderr).toMatch(/--join https:\/\/proxy.example:8443\/v1: expected the proxy's base URL/);
        const plain = await runCli('cocoon-worker.js', [...FAST_WORKER, '--model', model, '--port', '0', ...trust, '--join', 'https://proxy.example:8443', '--public-url', 'http://me:1']);
        expect(plain.stderr).toMatch(/--public-url http:\/\/me:1: expected https:\/\/host:port/);
        const noChain = await runCli('cocoon-worker.js', [...FAST_WORKER, '--model', model, '--port', '0', '--join-proxy', new Address(0, Buffer.alloc(32, 1)).toString()]);
        expect(noChain.code).toBe(2);
        expect(noChain.stderr).toMatch(/--join-proxy finds the proxy on chain: give --ton-v4 URL and --root ADDRESS/);
        const typo = await runCli('cocoon-worker.js', [...FAST_WORKER, '--model', model, '--port', '0', ...trust, '--join-evry', '5']);
        expect(typo.code).toBe(2);
        expect(typo.stderr).toMatch(/unknown option --join-evry \(see --help\)/);
    });
});

describe('proxy → worker over an https:// endpoint', () => {
    it('answers a plain (unsealed) request while a host in the middle reads neither prompt, answer nor HTTP', async () => {
        relay.bytes.length = 0;
        const r = await fetch(`${proxy.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...proxyAuthHeaders(formatEscrowApiKey(CLIENT, CLIENT_SECRET)) }, body: JSON.stringify(chatBody()) });
        expect(r.status).toBe(200);
        const json = (await r.json()) as { choices: Array<{ message: { content: string } }>; receipt: { boc: string } };
        expect(parseWorkReceipt(Cell.fromBoc(Buffer.from(json.receipt.boc, 'base64'))[0]).proxy.equals(PROXY)).toBe(true);
        const wire = Buffer.concat(relay.bytes);
        expect(wire.length).toBeGreaterThan(0);
        for (const clear of ['pomegranate', 'POST /v1/chat/completions', 'receipt', 'chat.completion', 'x-cocoon-request-id']) expect(wire.includes(clear)).toBe(false);
    });

    it('streams over the link', async () => {
        const r = await fetch(`${proxy.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...proxyAuthHeaders(formatEscrowApiKey(CLIENT, CLIENT_SECRET)) },
            body: JSON.stringify(chatBody({ stream: true })),
        });
        expect(r.status).toBe(200);
        const text = await r.text();
        expect(text).toMatch(/"receipt":/);
        expect(text.trim().endsWith('data: [DONE]')).toBe(true);
    });

    it('never sends a request to an endpoint whose TLS key is not the configured worker key: unhealthy, with the reason', async () => {
        const ws = ((await (await fetch(`${proxy.url}/v1/workers`)).json()) as { workers: Array<{ name: string; healthy: boolean; link: string }> }).workers;
        expect(ws.map((w) => w.link)).toEqual(['tls', 'tls']);
        expect(ws.find((w) => w.name === 'impostor')?.healthy).toBe(false);
        expect(ws.find((w) => w.name === 'real')?.healthy).toBe(true);
        expect(impostorRequests).toBe(0);
        expect(proxy.stderr()).toMatch(new RegExp(`worker unhealthy worker=impostor reason="?TLS peer key ${strangerId.publicKey.toString('hex')} is not the expected ${workerId.publicKey.toString('hex')}`));
    });
});

describe('proxy --tls: clients reach the proxy over HTTPS and pin its enclave key', () => {
    const apiKey = formatEscrowApiKey(CLIENT, CLIENT_SECRET);

    it('serves the official openai client that pins the key of the Proxy contract (PinnedKeyAgent as httpAgent)', async () => {
        expect(proxyTls.url).toMatch(/^https:/);
        expect(proxyTls.stderr()).toMatch(/listening url=https:\/\/127\.0\.0\.1:\d+ tls="?enclave key \(clients pin it\)/);
        const openai = new OpenAI({ baseURL: `${proxyTls.url}/v1`, apiKey, httpAgent: new PinnedKeyAgent(proxyId.publicKey), maxRetries: 0 });
        const r = await openai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: PROMPT }], max_tokens: 4 });
        expect(r.usage?.completion_tokens).toBeGreaterThan(0);
        const stream = await openai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: true });
        let text = '';
        for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
        expect(text.length).toBeGreaterThan(0);
    });

    it('a client pinning another key gets a connection error, its request unsent (the API key never leaves it)', async () => {
        const openai = new OpenAI({ baseURL: `${proxyTls.url}/v1`, apiKey, httpAgent: new PinnedKeyAgent(strangerId.publicKey), maxRetries: 0 });
        await expect(openai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 })).rejects.toThrow(/Connection error/);
        expect(proxyTls.stderr()).not.toMatch(/request failed/);
    });

    it("the operator's fault submitter reads GET /v1/faults through the pinned key, and refuses another key", async () => {
        const ui = new RecordingUI();
        // No reports yet: the pass reads the router only, nothing on chain.
        const offChain = { ui: () => ui, network: () => 'custom' } as unknown as NetworkProvider;
        await submitFaultReports(offChain, ['--router', proxyTls.url, '--router-key', proxyId.publicKey.toString('hex')]);
        expect(ui.lines).toEqual(['0 submitted (0 TON slashed), 0 already on chain, 0 deferred, 0 refused']);
        await expect(submitFaultReports(offChain, ['--router', proxyTls.url, '--router-key', strangerId.publicKey.toString('hex')])).rejects.toThrow(
            new RegExp(`GET ${proxyTls.url}/v1/faults\\?after=0&limit=500: TLS peer key ${proxyId.publicKey.toString('hex')} is not the expected`),
        );
    });

    it('serves a certificate from --tls-cert / --tls-key instead', async () => {
        const own = tlsCredentials(strangerId, 'proxy.example');
        const certFile = path.join(dir, 'proxy-cert.pem');
        const keyFile = path.join(dir, 'proxy-key.pem');
        fs.writeFileSync(certFile, own.cert);
        fs.writeFileSync(keyFile, own.key, { mode: 0o600 });
        const p = await spawnCli('cocoon-proxy.js', ['--config', config('proxy-cert', [entry('real', worker.url)]), '--port', '0', '--tls-cert', certFile, '--tls-key', keyFile]);
        try {
            const served = await new Promise<Buffer>((resolve, reject) => {
                const s = tls.connect({ host: '127.0.0.1', port: p.port, rejectUnauthorized: false }, () => {
                    resolve(s.getPeerX509Certificate()?.raw ?? Buffer.alloc(0));
                    s.end();
                });
                s.on('error', reject);
            });
            expect(served).toEqual(new X509Certificate(own.cert).raw);
            expect(p.stderr()).toMatch(/tls="?certificate .*proxy-cert\.pem/);
        } finally {
            await stop(p);
        }
    });

    it('refuses TLS options that do not fit, with the reason', async () => {
        const cert = path.join(dir, 'proxy-cert.pem');
        const cases: Array<[string[], RegExp]> = [
            [['--tls', '--tls-cert', cert, '--tls-key', cert], /--tls \(the enclave key certificate\) and --tls-cert\/--tls-key exclude each other/],
            [['--tls-cert', cert], /--tls-cert and --tls-key go together/],
            [['--tls-cert', path.join(dir, 'missing.pem'), '--tls-key', cert], /--tls-cert .*missing\.pem cannot be read/],
            [['--tls-cert', cert, '--tls-key', cert], /--tls-cert\/--tls-key: not a PEM certificate and its key/],
            [['--tls-certs', cert], /unknown option --tls-certs \(see --help\)/],
        ];
        for (const [flags, reason] of cases) {
            const r = await runCli('cocoon-proxy.js', ['--config', config('proxy-bad', []), '--port', '0', ...flags]);
            expect(r.code).not.toBe(0);
            expect(r.stderr).toMatch(reason);
        }
    });
});
