/**
 * The proxy router as a real process in front of real workers (tiny model, CPU): API keys
 * (escrow address + secret), routing, retries, receipt checks, escrow checks, sealed prompts through a recording relay, signed
 * cumulative charges / payouts, and crash safety under SIGKILL.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import OpenAI from 'openai';
import { Address, Cell } from '@ton/core';
import { buildWorkReceipt, ed25519FromSeed, parseChargePayload, parsePayoutPayload, signCell, verifyCellSignature } from '../../wrappers/payloads';
import { sealChatRequest, SealedAnswerReader, SealedLogprobsReader } from '../../worker-reference/client/sealed-client';
import { escrowSecretHash, formatEscrowApiKey, proxyAuthHeaders, secretHashBytes } from '../../worker-reference/client/api-key';
import { sha256File } from '../../worker-reference/common/hash';
import { identityFromSeed, generateX25519 } from '../../worker-reference/crypto/keys';
import { Opener, SealedPiece } from '../../worker-reference/crypto/seal';
import { generateModel } from '../../worker-reference/model/generate';
import { FAST_WORKER, getJson, postJson, spawnCli, Spawned, stop, tmpDir, RecordingRelay, startRecordingRelay } from './helpers';

const dir = tmpDir('cocoon-proxy-');
const model = path.join(dir, 'tiny.gguf');
const seedHex = (n: number) => Buffer.alloc(32, n).toString('hex');
const addr = (n: number) => new Address(0, Buffer.alloc(32, n));
const PROXY = addr(100);
const RICH = addr(1);
const POOR = addr(2);
const CLOSED = addr(3);
const NO_SECRET = addr(4);
/** Each client's API secret; the proxy's config holds only its SHA-256, as the escrow on chain does. */
const secretOf = (n: number) => Buffer.alloc(32, 0xa0 + n);
const hashHex = (n: number) => secretHashBytes(escrowSecretHash(secretOf(n))).toString('hex');
const RICH_KEY = formatEscrowApiKey(RICH, secretOf(1));
const POOR_KEY = formatEscrowApiKey(POOR, secretOf(2));
const CLOSED_KEY = formatEscrowApiKey(CLOSED, secretOf(3));
const bearer = (key: string) => proxyAuthHeaders(key);
const ACCOUNT1 = addr(11);
const ACCOUNT2 = addr(12);
const FAKE_ACCOUNT = addr(13);
const PROXY_SEED = seedHex(50);
const proxyKey = identityFromSeed(Buffer.alloc(32, 50)).ed25519.publicKey;

let w1: Spawned;
let w2: Spawned;
let proxy: Spawned;
let modelHash: string;
let relay: RecordingRelay;
let fake: http.Server;

function workerEntry(name: string, endpoint: string, seed: number, account: Address) {
    const id = identityFromSeed(Buffer.alloc(32, seed));
    return { name, endpoint, ed25519Key: id.ed25519.publicKey.toString('hex'), x25519Key: id.x25519.publicKey.toString('hex'), modelHashes: [modelHash], workerAccount: account.toString() };
}

function writeConfig(file: string, dataDir: string, workers: unknown[]): string {
    fs.writeFileSync(
        file,
        JSON.stringify({
            proxyAddress: PROXY.toString(),
            keySeed: PROXY_SEED,
            dataDir,
            healthIntervalMs: 300,
            prices: { pricePerToken: '1000', workerFeePerToken: '800', cachedMultiplier: 5000, completionMultiplier: 20000 },
            workers,
            escrows: {
                [RICH.toString()]: { balance: '1000000000000', secretHash: hashHex(1) },
                [POOR.toString()]: { balance: '50000', secretHash: hashHex(2) },
                [CLOSED.toString()]: { balance: '1000000000000', open: false, secretHash: hashHex(3) },
                [NO_SECRET.toString()]: { balance: '1000000000000' },
            },
        }),
    );
    return file;
}


/** A worker that reports the configured key but signs receipts with another one. */
function startFakeWorker(): Promise<number> {
    const configured = identityFromSeed(Buffer.alloc(32, 9));
    const wrong = ed25519FromSeed(Buffer.alloc(32, 10));
    fake = http.createServer((req, res) => {
        if (req.url === '/v1/worker') {
            res.end(JSON.stringify({ ed25519_public_key: configured.ed25519.publicKey.toString('hex'), models: [{ id: 'fake', model_hash: modelHash }], load: [] }));
            return;
        }
        const text = 'forged';
        const cell = buildWorkReceipt({
            proxy: PROXY,
            requestId: BigInt(req.headers['x-cocoon-request-id'] as string),
            modelHash: Buffer.from(modelHash, 'hex'),
            tokens: { prompt: 5n, cached: 0n, completion: 1n, reasoning: 0n },
            resultHash: crypto.createHash('sha256').update(text).digest(),
        });
        req.resume();
        req.on('end', () =>
            res.end(
                JSON.stringify({
                    id: 'x',
                    object: 'chat.completion',
                    created: 0,
                    model: 'fake',
                    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
                    usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
                    receipt: { boc: cell.toBoc().toString('base64'), signature: signCell(cell, wrong.secretKey).toString('base64') },
                }),
            ),
        );
    });
    return new Promise((r) => fake.listen(0, '127.0.0.1', () => r((fake.address() as net.AddressInfo).port)));
}

interface SignedCharge {
    tokens: Record<string, string>;
    payload: string;
    signature: string;
}

async function signedCharge(url: string, escrow: Address) {
    const c = (await getJson(`${url}/v1/settlement/charge/${escrow.toString()}`)) as unknown as SignedCharge;
    const cell = Cell.fromBoc(Buffer.from(c.payload, 'base64'))[0];
    expect(verifyCellSignature(cell, Buffer.from(c.signature, 'base64'), proxyKey)).toBe(true);
    const p = parseChargePayload(cell);
    expect(p.escrow.equals(escrow)).toBe(true);
    return p.tokens;
}

beforeAll(async () => {
    generateModel(model, 'tiny', 1);
    modelHash = sha256File(model).toString('hex');
    const args = ['--model', model, '--port', '0', ...FAST_WORKER, '--parallel', '2'];
    const worker = (seed: number) => spawnCli('cocoon-worker.js', [...args, '--key-seed', seedHex(seed), '--data-dir', path.join(dir, `worker-${seed}`)]);
    [w1, w2] = await Promise.all([worker(7), worker(8)]);
    relay = await startRecordingRelay(w2.port);
    const relayPort = relay.port;
    const fakePort = await startFakeWorker();
    const config = writeConfig(path.join(dir, 'proxy.json'), path.join(dir, 'proxy-data'), [
        workerEntry('w1', w1.url, 7, ACCOUNT1),
        workerEntry('w2', `http://127.0.0.1:${relayPort}`, 8, ACCOUNT2),
        workerEntry('fake', `http://127.0.0.1:${fakePort}`, 9, FAKE_ACCOUNT),
    ]);
    proxy = await spawnCli('cocoon-proxy.js', ['--config', config, '--port', '0']);
});

afterAll(async () => {
    await Promise.all([stop(proxy), stop(w1), stop(w2)]);
    relay?.close();
    fake?.close();
    fs.rmSync(dir, { recursive: true, force: true });
});

describe('proxy router', () => {
    it('serves the openai client (plain and streaming, logprobs through) and signs the cumulative charge and payouts', async () => {
        const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: RICH_KEY, maxRetries: 0 });
        expect((await client.models.list()).data.map((m) => m.id)).toEqual(expect.arrayContaining(['tiny', 'fake']));
        const sum = { prompt: 0n, cached: 0n, completion: 0n };
        const add = (u: OpenAI.CompletionUsage | undefined) => {
            sum.prompt += BigInt(u?.prompt_tokens ?? 0);
            sum.cached += BigInt(u?.prompt_tokens_details?.cached_tokens ?? 0);
            sum.completion += BigInt(u?.completion_tokens ?? 0);
        };
        const rs = await Promise.all([0, 1, 2, 3].map((i) => client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: `question ${i}` }], max_tokens: 10 + i })));
        rs.forEach((r) => add(r.usage));
        expect(rs.map((r) => r.usage?.completion_tokens)).toEqual([10, 11, 12, 13]);
        const s = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'stream it' }], max_tokens: 16, stream: true, stream_options: { include_usage: true }, logprobs: true });
        let text = '';
        let usage: OpenAI.CompletionUsage | undefined;
        const pieces: string[] = [];
        for await (const c of s) {
            text += c.choices[0]?.delta?.content ?? '';
            for (const e of c.choices[0]?.logprobs?.content ?? []) pieces.push(e.token);
            if (c.usage) usage = c.usage;
        }
        expect(text.length).toBeGreaterThan(0);
        // The worker's logprobs come through the proxy with the text.
        expect(pieces.join('')).toBe(text);
        expect(pieces).toHaveLength(16);
        expect(usage?.completion_tokens).toBe(16);
        add(usage);
        // Without include_usage the client gets no usage chunk (as with OpenAI), but is still charged.
        const s2 = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'again' }], max_tokens: 4, stream: true });
        let usageSeen = false;
        for await (const c of s2) if (c.usage) usageSeen = true;
        expect(usageSeen).toBe(false);
        const tokens = await signedCharge(proxy.url, RICH);
        expect(tokens.completion).toBe(sum.completion + 4n);
        expect(tokens.prompt).toBeGreaterThan(sum.prompt);
        expect(tokens.cached).toBeGreaterThanOrEqual(sum.cached);
        // Payouts: both workers served some of it; their weighted tokens add up to the charge's.
        let weighted = 0n;
        for (const a of [ACCOUNT1, ACCOUNT2]) {
            const p = (await getJson(`${proxy.url}/v1/settlement/payout/${a.toString()}`)) as { payload: string; signature: string; tokens: string };
            const cell = Cell.fromBoc(Buffer.from(p.payload, 'base64'))[0];
            expect(verifyCellSignature(cell, Buffer.from(p.signature, 'base64'), proxyKey)).toBe(true);
            expect(parsePayoutPayload(cell).tokens.toString()).toBe(p.tokens);
            weighted += BigInt(p.tokens);
        }
        const expected = (tokens.prompt * 10000n + tokens.cached * 5000n + tokens.completion * 20000n) / 10000n;
        expect(weighted).toBeGreaterThanOrEqual(expected - 1n);
        expect(weighted).toBeLessThanOrEqual(expected);
    });

    it('takes "<escrow address>:<secret>" as the API key; refuses a missing, malformed or wrong key with an OpenAI-shaped 401, charging nothing', async () => {
        const body = { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 };
        const url = `${proxy.url}/v1/chat/completions`;
        const before = await signedCharge(proxy.url, RICH);
        const requestsBefore = ((await getJson(`${proxy.url}/v1/settlement`)) as { requests: number }).requests;
        const refused = async (headers: Record<string, string>, code: string, message: RegExp) => {
            const r = await postJson(url, body, headers);
            expect(r.status).toBe(401);
            expect(r.json).toEqual({ error: { message: expect.stringMatching(message), type: 'invalid_request_error', param: null, code } });
        };
        await refused({}, 'missing_api_key', /missing API key/);
        // The escrow address is public on chain: alone (friendly or raw) it is no key.
        await refused(bearer(RICH.toString()), 'invalid_api_key', /escrow address alone is not a key/);
        await refused(bearer(RICH.toRawString()), 'invalid_api_key', /escrow address alone is not a key/);
        await refused(bearer(`${RICH.toString()}:abcd`), 'invalid_api_key', /64 hex characters/);
        await refused(bearer(`not-an-address:${secretOf(1).toString('hex')}`), 'invalid_api_key', /address of your JobEscrow/);
        await refused({ authorization: `Basic ${RICH_KEY}` }, 'invalid_api_key', /Bearer <escrow address>:<secret hex>/);
        await refused(bearer(formatEscrowApiKey(RICH, secretOf(2))), 'invalid_api_key', /incorrect API key/);
        await refused(bearer(formatEscrowApiKey(NO_SECRET, secretOf(4))), 'escrow_secret_not_set', /no API secret set/);
        // The openai client with a wrong key gets the same 401 (AuthenticationError).
        const thief = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: formatEscrowApiKey(RICH, secretOf(9)), maxRetries: 0 });
        await expect(thief.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 })).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
        // Nothing reached a worker, nothing was counted.
        expect(await signedCharge(proxy.url, RICH)).toEqual(before);
        expect(((await getJson(`${proxy.url}/v1/settlement`)) as { requests: number }).requests).toBe(requestsBefore);
        // The right secret, with the escrow address in either form, is served.
        for (const key of [RICH_KEY, `${RICH.toRawString()}:${secretOf(1).toString('hex')}`]) {
            const ok = await postJson(url, body, bearer(key));
            expect(ok.status).toBe(200);
        }
        expect((await signedCharge(proxy.url, RICH)).completion).toBe(before.completion + 6n);
    });

    it('rejects clients without an open escrow that covers the request', async () => {
        const body = { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 };
        const url = `${proxy.url}/v1/chat/completions`;
        expect((await postJson(url, body)).status).toBe(401);
        const poor = await postJson(url, { ...body, max_tokens: 100 }, bearer(POOR_KEY));
        expect(poor.status).toBe(402);
        expect(poor.json.error).toMatchObject({ code: 'insufficient_balance' });
        expect((await postJson(url, body, bearer(CLOSED_KEY))).json.error).toMatchObject({ code: 'escrow_not_open' });
        expect((await postJson(url, body, bearer(formatEscrowApiKey(addr(77), secretOf(77))))).status).toBe(402);
        const unknownModel = await postJson(url, { ...body, model: 'nope' }, bearer(RICH_KEY));
        expect(unknownModel.status).toBe(404);
    });

    it('refuses an answer whose receipt does not verify, without charging', async () => {
        const before = await signedCharge(proxy.url, RICH);
        const r = await postJson(`${proxy.url}/v1/chat/completions`, { model: 'fake', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }, bearer(RICH_KEY));
        expect(r.status).toBe(502);
        expect(r.json.error).toMatchObject({ code: 'invalid_receipt' });
        expect(await signedCharge(proxy.url, RICH)).toEqual(before);
        const payout = (await getJson(`${proxy.url}/v1/settlement/payout/${FAKE_ACCOUNT.toString()}`)) as { tokens: string };
        expect(payout.tokens).toBe('0');
    });

    it('forwards sealed prompts that neither the proxy nor a host in the middle can read', async () => {
        const workers = (await getJson(`${proxy.url}/v1/workers`)).workers as Array<{ name: string; x25519_public_key: string }>;
        const w2key = workers.find((w) => w.name === 'w2')?.x25519_public_key as string;
        relay.bytes.length = 0;
        const secret = 'PINEAPPLE-7731 is my password';
        const sealed = sealChatRequest(Buffer.from(w2key, 'hex'), { messages: [{ role: 'user', content: secret }] });
        const r = await postJson(
            `${proxy.url}/v1/chat/completions`,
            { model: 'tiny', max_tokens: 12, temperature: 0, sealed_for: w2key, logprobs: true, top_logprobs: 3, ...sealed.body },
            bearer(RICH_KEY),
        );
        expect(r.status).toBe(200);
        const choice = (r.json.choices as Array<{ message: { sealed: SealedPiece; content: string | null }; logprobs: { sealed: SealedPiece } }>)[0];
        const piece = choice.message.sealed;
        const answer = new SealedAnswerReader(sealed.replyKeys).push(piece);
        expect(answer.length).toBeGreaterThan(3);
        // The answer's logprobs (each token, three alternatives) are sealed too.
        const entries = new SealedLogprobsReader(sealed.replyKeys).push(choice.logprobs.sealed);
        expect(entries.map((e) => e.token).join('')).toBe(answer);
        const wire = Buffer.concat(relay.bytes).toString('latin1');
        expect(wire).toContain(piece.ct); // the relay did see this exchange
        expect(wire).not.toContain('PINEAPPLE');
        expect(wire).not.toContain(answer);
        expect(wire).not.toMatch(/"top_logprobs":\[|"token":/);
        // Keys the middle has (its own, the proxy's) do not open the answer.
        const mallory = generateX25519();
        expect(() => new Opener(mallory.privateKey, mallory.publicKey, 'response').open(piece)).toThrow();
        const proxyX = identityFromSeed(Buffer.alloc(32, 50)).x25519;
        expect(() => new Opener(proxyX.privateKey, proxyX.publicKey, 'response').open(piece)).toThrow();
        expect(proxy.stderr()).not.toContain('PINEAPPLE');
        expect(w2.stderr()).not.toContain('PINEAPPLE');
        expect(w2.stderr()).not.toContain(answer);
    });

    it('retries on another worker when one dies', async () => {
        await stop(w1, 'SIGKILL');
        const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: RICH_KEY, maxRetries: 0 });
        const rs = await Promise.all([0, 1, 2].map(() => client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'still?' }], max_tokens: 3 })));
        expect(rs.every((r) => r.usage?.completion_tokens === 3)).toBe(true);
        expect(proxy.stderr()).toMatch(/worker failed, retrying elsewhere|worker unhealthy worker=w1/);
    });
});

describe('proxy crash safety', () => {
    it('loses no accounted token and never signs a lower cumulative value across SIGKILL', async () => {
        const config = writeConfig(path.join(dir, 'crash.json'), path.join(dir, 'crash-data'), [workerEntry('w2', w2.url, 8, ACCOUNT2)]);
        let p = await spawnCli('cocoon-proxy.js', ['--config', config, '--port', '0']);
        const answered = { prompt: 0n, completion: 0n, n: 0 };
        const maxSigned = { prompt: 0n, completion: 0n };
        let running = true;
        const url = p.url;
        const loop = async (stream: boolean) => {
            const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: RICH_KEY, maxRetries: 0 });
            while (running) {
                try {
                    if (stream) {
                        const s = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'go' }], max_tokens: 6, stream: true, stream_options: { include_usage: true } });
                        let u: OpenAI.CompletionUsage | undefined;
                        for await (const c of s) if (c.usage) u = c.usage;
                        // [DONE] arrived, so the proxy had counted it: the client holds a complete answer.
                        answered.prompt += BigInt(u?.prompt_tokens ?? 0);
                        answered.completion += BigInt(u?.completion_tokens ?? 0);
                    } else {
                        const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'go' }], max_tokens: 5 });
                        answered.prompt += BigInt(r.usage?.prompt_tokens ?? 0);
                        answered.completion += BigInt(r.usage?.completion_tokens ?? 0);
                    }
                    answered.n++;
                } catch {
                    return; // the proxy died under us
                }
            }
        };
        const poll = async () => {
            while (running) {
                try {
                    const t = await signedCharge(url, RICH);
                    expect(t.completion).toBeGreaterThanOrEqual(maxSigned.completion);
                    maxSigned.prompt = t.prompt;
                    maxSigned.completion = t.completion;
                } catch (e) {
                    if (e instanceof Error && e.message.startsWith('expect')) throw e;
                    return;
                }
            }
        };
        const work = Promise.all([loop(false), loop(false), loop(true), poll()]);
        await new Promise((r) => setTimeout(r, 1500));
        await stop(p, 'SIGKILL');
        await work;
        running = false;
        expect(answered.n).toBeGreaterThan(5);
        p = await spawnCli('cocoon-proxy.js', ['--config', config, '--port', '0']);
        try {
            expect(p.stderr()).toMatch(/ledger recovered/);
            const after = await signedCharge(p.url, RICH);
            expect(after.prompt).toBeGreaterThanOrEqual(answered.prompt);
            expect(after.completion).toBeGreaterThanOrEqual(answered.completion);
            expect(after.prompt).toBeGreaterThanOrEqual(maxSigned.prompt);
            expect(after.completion).toBeGreaterThanOrEqual(maxSigned.completion);
            // It keeps serving after the restart, with fresh request ids the worker accepts.
            const client = new OpenAI({ baseURL: `${p.url}/v1`, apiKey: RICH_KEY, maxRetries: 0 });
            const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'after' }], max_tokens: 2 });
            expect(r.usage?.completion_tokens).toBe(2);
            expect((await signedCharge(p.url, RICH)).completion).toBe(after.completion + 2n);
        } finally {
            await stop(p);
        }
    });
});
