/**
 * The worker as a real process with real llama.cpp inference on the tiny random model (CPU),
 * driven by the official `openai` client and by raw HTTP for the error paths.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import OpenAI from 'openai';
import { Cell } from '@ton/core';
import { parseWorkReceipt, verifyCellSignature } from '../../wrappers/payloads';
import { sealChatRequest, SealedAnswerReader } from '../../worker-reference/client/sealed-client';
import { sha256File } from '../../worker-reference/common/hash';
import { SealedPiece } from '../../worker-reference/crypto/seal';
import { readGgufHeader } from '../../worker-reference/gguf/reader';
import { GgufValue, GgufValueType } from '../../worker-reference/gguf/format';
import { writeGguf } from '../../worker-reference/gguf/writer';
import { generateModel } from '../../worker-reference/model/generate';
import { FAST_WORKER, getJson, metric, postJson, runCli, spawnCli, Spawned, stop, tmpDir } from './helpers';

const dir = tmpDir('cocoon-worker-');
const model = path.join(dir, 'tiny.gguf');
let worker: Spawned;
let client: OpenAI;
let modelHash: string;
let workerKey: Buffer;

interface ReceiptJson {
    boc: string;
    signature: string;
    worker_key: string;
    request_id: string;
    result_hash: string;
}

function checkReceipt(r: ReceiptJson, answerBytes: Buffer, usage: OpenAI.CompletionUsage) {
    const cell = Cell.fromBoc(Buffer.from(r.boc, 'base64'))[0];
    expect(verifyCellSignature(cell, Buffer.from(r.signature, 'base64'), workerKey)).toBe(true);
    const rec = parseWorkReceipt(cell);
    expect(rec.modelHash.toString('hex')).toBe(modelHash);
    expect(rec.resultHash).toEqual(crypto.createHash('sha256').update(answerBytes).digest());
    expect(rec.tokens.prompt).toBe(BigInt(usage.prompt_tokens));
    expect(rec.tokens.completion).toBe(BigInt(usage.completion_tokens));
    expect(rec.tokens.cached).toBe(BigInt(usage.prompt_tokens_details?.cached_tokens ?? -1));
    expect(rec.tokens.reasoning).toBe(BigInt(usage.completion_tokens_details?.reasoning_tokens ?? -1));
    expect(rec.requestId.toString()).toBe(r.request_id);
    return rec;
}

beforeAll(async () => {
    generateModel(model, 'tiny', 1);
    modelHash = sha256File(model).toString('hex');
    worker = await spawnCli('cocoon-worker.js', ['--model', model, '--port', '0', ...FAST_WORKER, '--parallel', '2', '--max-queue', '1', '--context', '512', '--max-body', '65536']);
    workerKey = Buffer.from(worker.info.ed25519 as string, 'hex');
    client = new OpenAI({ baseURL: `${worker.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
    await stop(worker);
    fs.rmSync(dir, { recursive: true, force: true });
});

describe('worker: OpenAI-compatible API', () => {
    it('lists its model with the GGUF hash', async () => {
        const list = await client.models.list();
        expect(list.data.map((m) => m.id)).toEqual(['tiny']);
        expect((list.data[0] as unknown as { model_hash: string }).model_hash).toBe(modelHash);
    });

    it('answers a chat completion with exact usage and a signed work receipt', async () => {
        const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'What is the price of a token?' }], max_tokens: 24, temperature: 0 });
        const text = r.choices[0].message.content ?? '';
        expect(text.length).toBeGreaterThan(0);
        expect(r.choices[0].finish_reason).toBe('length');
        expect(r.usage?.completion_tokens).toBe(24);
        expect(r.usage?.prompt_tokens).toBeGreaterThan(5);
        checkReceipt((r as unknown as { receipt: ReceiptJson }).receipt, Buffer.from(text, 'utf8'), r.usage as OpenAI.CompletionUsage);
        // Same prompt again: deterministic at temperature 0, and the prompt prefix comes from the KV cache.
        const again = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'What is the price of a token?' }], max_tokens: 24, temperature: 0 });
        expect(again.choices[0].message.content).toBe(text);
        expect(again.usage?.prompt_tokens_details?.cached_tokens).toBe((again.usage?.prompt_tokens ?? 0) - 1);
        // Stop string taken from the known answer: the answer ends right before it.
        const stopAt = text.slice(6, 9);
        const cut = text.indexOf(stopAt);
        const stopped = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'What is the price of a token?' }], max_tokens: 24, temperature: 0, stop: [stopAt] });
        expect(stopped.choices[0].message.content).toBe(text.slice(0, cut));
        expect(stopped.choices[0].finish_reason).toBe('stop');
    });

    it('streams SSE chunks that the openai client assembles, with usage and receipt at the end', async () => {
        const s = await client.chat.completions.create({
            model: 'tiny',
            messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello' }],
            max_tokens: 40,
            temperature: 0.7,
            stream: true,
            stream_options: { include_usage: true },
        });
        let text = '';
        let contentChunks = 0;
        let usage: OpenAI.CompletionUsage | undefined;
        let receipt: ReceiptJson | undefined;
        let finish: string | null = null;
        for await (const c of s) {
            const piece = c.choices[0]?.delta?.content ?? '';
            if (piece.length > 0) contentChunks++;
            text += piece;
            if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
            if (c.usage) usage = c.usage;
            const rc = (c as unknown as { receipt?: ReceiptJson }).receipt;
            if (rc) receipt = rc;
        }
        // The first text goes out at once, the rest in events of up to 20 ms of tokens: a fast
        // model's 40 tokens arrive in a few events, not one each.
        expect(contentChunks).toBeGreaterThanOrEqual(2);
        expect(contentChunks).toBeLessThan(40);
        expect(finish).toBe('length');
        expect(usage?.completion_tokens).toBe(40);
        expect(receipt).toBeDefined();
        checkReceipt(receipt as ReceiptJson, Buffer.from(text, 'utf8'), usage as OpenAI.CompletionUsage);
    });

    it('takes the official client\'s json_schema response format, penalties, logit_bias and logprobs, and refuses tools through it', async () => {
        const r = await client.chat.completions.create({
            model: 'tiny',
            messages: [{ role: 'user', content: 'Is the network up?' }],
            max_tokens: 48,
            presence_penalty: 0.5,
            frequency_penalty: 0.5,
            logit_bias: { '5': -100 },
            response_format: { type: 'json_schema', json_schema: { name: 'status', strict: true, schema: { type: 'object', properties: { up: { type: 'boolean' } }, required: ['up'], additionalProperties: false } } },
            logprobs: true,
            top_logprobs: 2,
        });
        expect(r.choices[0].finish_reason).toBe('stop');
        // The client's types: one entry per token of the JSON, each with up to two alternatives
        // (one where the grammar allows only one token, as for the opening brace).
        const entries = r.choices[0].logprobs?.content ?? [];
        expect(entries.map((e) => e.token).join('')).toBe(r.choices[0].message.content);
        expect(entries[0]).toMatchObject({ token: '{', logprob: 0, top_logprobs: [{ token: '{', logprob: 0 }] });
        expect(Math.max(...entries.map((e) => e.top_logprobs.length))).toBe(2);
        expect(typeof (JSON.parse(r.choices[0].message.content ?? '') as { up: unknown }).up).toBe('boolean');
        checkReceipt((r as unknown as { receipt: ReceiptJson }).receipt, Buffer.from(r.choices[0].message.content ?? '', 'utf8'), r.usage as OpenAI.CompletionUsage);
        await expect(
            client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }] }),
        ).rejects.toMatchObject({ status: 400, code: 'unsupported_parameter', param: 'tools' });
    });

    it('answers sealed prompts encrypted to the client key, and the receipt hashes the ciphertext', async () => {
        const info = await getJson(`${worker.url}/v1/worker`);
        const sealed = sealChatRequest(Buffer.from(info.x25519_public_key as string, 'hex'), { messages: [{ role: 'user', content: 'my secret question' }] });
        const r = await postJson(`${worker.url}/v1/chat/completions`, { model: 'tiny', max_tokens: 12, ...sealed.body });
        expect(r.status).toBe(200);
        const msg = (r.json.choices as Array<{ message: { content: string | null; sealed: SealedPiece } }>)[0].message;
        expect(msg.content).toBeNull();
        const reader = new SealedAnswerReader(sealed.replyKeys);
        const answer = reader.push(msg.sealed);
        expect(answer.length).toBeGreaterThan(0);
        checkReceipt(r.json.receipt as ReceiptJson, Buffer.from(msg.sealed.ct, 'base64'), r.json.usage as OpenAI.CompletionUsage);
        // Streaming: one sealed piece per delta, opened in order.
        const res = await fetch(`${worker.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'tiny', max_tokens: 12, stream: true, ...sealChatRequest(Buffer.from(info.x25519_public_key as string, 'hex'), { messages: [{ role: 'user', content: 'x' }] }, sealed.replyKeys).body }),
        });
        const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {'));
        const streamReader = new SealedAnswerReader(sealed.replyKeys);
        let pieces = 0;
        for (const e of events) {
            const piece = (JSON.parse(e.slice(6)) as { choices: Array<{ delta: { sealed?: SealedPiece; content?: string } }> }).choices[0]?.delta;
            expect(piece?.content ?? '').toBe('');
            if (piece?.sealed) {
                streamReader.push(piece.sealed);
                pieces++;
            }
        }
        expect(pieces).toBeGreaterThan(1);
        expect(streamReader.answer.length).toBeGreaterThan(0);
        expect(worker.stderr()).not.toContain('secret');
    });

    it('answers bad input with 4xx errors in OpenAI shape and keeps serving', async () => {
        const url = `${worker.url}/v1/chat/completions`;
        const malformed = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": "tiny", "messages": [' });
        expect(malformed.status).toBe(400);
        expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
        const unknown = await postJson(url, { model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] });
        expect(unknown.status).toBe(404);
        expect(unknown.json.error).toMatchObject({ code: 'model_not_found', type: 'invalid_request_error' });
        const long = await postJson(url, { model: 'tiny', messages: [{ role: 'user', content: 'word '.repeat(2000) }] });
        expect(long.status).toBe(400);
        expect(long.json.error).toMatchObject({ code: 'context_length_exceeded' });
        const huge = await postJson(url, { model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(70000) }] });
        expect(huge.status).toBe(413);
        const badSeal = await postJson(url, { model: 'tiny', sealed: { epk: crypto.randomBytes(32).toString('base64'), seq: 0, ct: crypto.randomBytes(40).toString('base64') }, reply_key: crypto.randomBytes(32).toString('base64') });
        expect(badSeal.status).toBe(400);
        expect(badSeal.json.error).toMatchObject({ code: 'bad_ciphertext' });
        const badRole = await postJson(url, { model: 'tiny', messages: [{ role: 'wizard', content: 'hi' }] });
        expect(badRole.status).toBe(400);
        expect((badRole.json.error as { message: string }).message).toMatch(/role/);
        await expect(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404 });
        const ok = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'still there?' }], max_tokens: 3 });
        expect(ok.usage?.completion_tokens).toBe(3);
    });

    it('refuses a second receipt for the same proxy and request id (equivocation guard)', async () => {
        const headers = { 'x-cocoon-request-id': '424242' };
        const first = await postJson(`${worker.url}/v1/chat/completions`, { model: 'tiny', messages: [{ role: 'user', content: 'a' }], max_tokens: 2 }, headers);
        expect(first.status).toBe(200);
        const second = await postJson(`${worker.url}/v1/chat/completions`, { model: 'tiny', messages: [{ role: 'user', content: 'a' }], max_tokens: 2 }, headers);
        expect(second.status).toBe(409);
    });

    it('runs requests in parallel, queues one, answers 429 beyond, and cancels on client disconnect', async () => {
        const body = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'long answer please' }], max_tokens: 400, stream: true });
        const post = (signal: AbortSignal) => fetch(`${worker.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal });
        const load = async () => ((await getJson(`${worker.url}/health`)) as { load: Array<{ active: number; queued: number }> }).load[0];
        const waitFor = async (ok: (l: { active: number; queued: number }) => boolean, what: string) => {
            const t = Date.now();
            while (!ok(await load())) {
                if (Date.now() - t > 5000) throw new Error(`timed out waiting for ${what}`);
                await new Promise((r) => setTimeout(r, 5));
            }
        };
        // Step by step, so no stream can end or be dropped before the next request arrives.
        const c = [0, 1, 2, 3].map(() => new AbortController());
        const first = await post(c[0].signal);
        const second = await post(c[1].signal);
        expect([first.status, second.status]).toEqual([200, 200]); // both sequences busy
        const third = post(c[2].signal); // admitted only when a sequence frees: queued
        await waitFor((l) => l.queued === 1, 'the third request to queue');
        const fourth = await post(c[3].signal);
        expect(fourth.status).toBe(429); // the queue is full
        expect(fourth.headers.get('retry-after')).toBe('1'); // the openai client waits this long and retries
        const refusal = ((await fourth.json()) as { error: { code: string; message: string } }).error;
        expect(refusal).toMatchObject({ code: 'worker_busy', message: expect.stringMatching(/capacity/) });
        // Each client drops its stream after the first chunk; the queued one then runs and is dropped too.
        for (const [r, ctl] of [[first, c[0]], [second, c[1]]] as const) {
            await r.body?.getReader().read();
            ctl.abort();
        }
        const queued = await third;
        expect(queued.status).toBe(200);
        await queued.body?.getReader().read();
        c[2].abort();
        const t0 = Date.now();
        for (;;) {
            const h = (await getJson(`${worker.url}/health`)) as { load: Array<{ active: number; queued: number }> };
            if (h.load[0].active === 0 && h.load[0].queued === 0) break;
            if (Date.now() - t0 > 5000) throw new Error('generation was not cancelled');
            await new Promise((r) => setTimeout(r, 20));
        }
        await new Promise((r) => setTimeout(r, 100));
        const cancelled = [...worker.stderr().matchAll(/request cancelled by client .*completion_tokens=(\d+)/g)].map((m) => Number(m[1]));
        expect(cancelled.length).toBeGreaterThanOrEqual(2);
        for (const n of cancelled) expect(n).toBeLessThan(400);
        expect(await metric(worker.url, 'cocoon_worker_completions_total', { finish: 'cancelled' })).toBe(cancelled.length);
    });

    it('serves Prometheus metrics: completions by how they ended, tokens by kind as the receipt counts them, load, answers by status', async () => {
        const m = (name: string, labels: Record<string, string> = {}) => metric(worker.url, name, labels);
        const before = {
            done: await m('cocoon_worker_completions_total', { model: 'tiny', stream: 'false' }),
            prompt: await m('cocoon_worker_tokens_total', { model: 'tiny', kind: 'prompt' }),
            completion: await m('cocoon_worker_tokens_total', { model: 'tiny', kind: 'completion' }),
            ok: await m('cocoon_worker_http_responses_total', { route: '/v1/chat/completions', status: '200' }),
            bad: await m('cocoon_worker_http_responses_total', { route: '/v1/chat/completions', status: '400' }),
            ttft: await m('cocoon_worker_time_to_first_token_seconds_count', { model: 'tiny' }),
        };
        const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'count me' }], max_tokens: 7 });
        expect((await postJson(`${worker.url}/v1/chat/completions`, { model: 'tiny' })).status).toBe(400);
        expect(await m('cocoon_worker_completions_total', { model: 'tiny', stream: 'false' })).toBe(before.done + 1);
        expect(await m('cocoon_worker_tokens_total', { model: 'tiny', kind: 'prompt' })).toBe(before.prompt + (r.usage?.prompt_tokens ?? NaN));
        expect(await m('cocoon_worker_tokens_total', { model: 'tiny', kind: 'completion' })).toBe(before.completion + (r.usage?.completion_tokens ?? NaN));
        expect(await m('cocoon_worker_http_responses_total', { route: '/v1/chat/completions', status: '200' })).toBe(before.ok + 1);
        expect(await m('cocoon_worker_http_responses_total', { route: '/v1/chat/completions', status: '400' })).toBe(before.bad + 1);
        expect(await m('cocoon_worker_time_to_first_token_seconds_count', { model: 'tiny' })).toBe(before.ttft + 1);
        expect(await m('cocoon_worker_requests', { model: 'tiny', state: 'capacity' })).toBe(2);
        expect(await m('cocoon_worker_requests', { model: 'tiny', state: 'active' })).toBe(0);
        expect(await m('cocoon_worker_info', { backend: 'cpu', model: 'tiny', model_hash: modelHash })).toBe(1);
        expect(await m('cocoon_worker_process_resident_memory_bytes')).toBeGreaterThan(10e6);
    });
});

describe('worker: model files', () => {
    it('prints --help', async () => {
        for (const bin of ['cocoon-worker.js', 'cocoon-proxy.js', 'cocoon-make-model.js']) {
            const r = await runCli(bin, ['--help']);
            expect(r.code).toBe(0);
            expect(r.stdout).toMatch(/^Usage: cocoon-/);
            if (bin === 'cocoon-worker.js') expect(r.stdout).toMatch(/--data-dir DIR +where the \(proxy, request id\) pairs/);
        }
    });

    it('refuses a GGUF that would abort llama.cpp, serves the good one, and exits cleanly when none is usable', async () => {
        // Same model without feed_forward_length: llama.cpp would hit a GGML assert (process abort).
        const h = readGgufHeader(model);
        expect(h.metadata.has('llama.feed_forward_length')).toBe(true);
        const bad = path.join(dir, 'bad.gguf');
        const src = fs.readFileSync(model);
        // Rewrite the key name in place (same length) so the file stays well-formed otherwise.
        const at = src.indexOf(Buffer.from('llama.feed_forward_length'));
        const copy = Buffer.from(src);
        copy.write('llama.feed_forward_lengtX', at);
        fs.writeFileSync(bad, copy);
        const w = await spawnCli('cocoon-worker.js', ['--model', `bad=${bad}`, '--model', `good=${model}`, '--port', '0', ...FAST_WORKER]);
        try {
            expect(w.stderr()).toMatch(/model refused id=bad .*missing llama.feed_forward_length/);
            const list = await getJson(`${w.url}/v1/models`);
            expect((list.data as Array<{ id: string }>).map((m) => m.id)).toEqual(['good']);
        } finally {
            await stop(w);
        }
        const only = await runCli('cocoon-worker.js', ['--model', bad, '--port', '0', ...FAST_WORKER]);
        expect(only.signal).toBeNull();
        expect(only.code).toBe(2);
        expect(only.stderr).toMatch(/no usable model/);
    });

    it('refuses a model that passes the header checks but fails a trial load in a child process', async () => {
        // Wrong attn_q shape: header checks pass, llama.cpp refuses the tensor.
        const file = path.join(dir, 'shape.gguf');
        const h = readGgufHeader(model);
        const meta = new Map<string, GgufValue>();
        for (const [k, v] of h.metadata) {
            if (Array.isArray(v)) {
                const et = typeof v[0] === 'string' ? GgufValueType.String : k.endsWith('scores') ? GgufValueType.Float32 : GgufValueType.Int32;
                meta.set(k, { type: GgufValueType.Array, elementType: et, value: v });
            } else if (typeof v === 'string') meta.set(k, { type: GgufValueType.String, value: v });
            else if (typeof v === 'boolean') meta.set(k, { type: GgufValueType.Bool, value: v });
            else if (typeof v === 'number') meta.set(k, { type: k.endsWith('epsilon') || k.endsWith('freq_base') ? GgufValueType.Float32 : GgufValueType.Uint32, value: v });
        }
        writeGguf(
            file,
            meta,
            h.tensors.map((t) => ({ name: t.name, type: 0, dims: t.name === 'blk.0.attn_q.weight' ? [t.dims[0], t.dims[1] / 2] : t.dims, fill: (_s: number, out: Float32Array) => out.fill(0.01) })),
        );
        const r = await runCli('cocoon-worker.js', ['--model', file, '--port', '0', '--gpu', 'off', '--threads', '1']);
        expect(r.signal).toBeNull();
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/model refused .*trial load failed/);
    });
});
