/**
 * OpenAI's sampling parameters beyond temperature / top_p / seed: presence_penalty,
 * frequency_penalty and logit_bias change what a real worker (tiny model, llama.cpp on CPU)
 * generates, with OpenAI's semantics; response_format json_object / json_schema make its
 * answer JSON (a grammar while sampling), and a schema keyword the grammar cannot enforce is
 * refused; logprobs / top_logprobs report each token's log-probability and the likeliest
 * alternatives, in step with the text sent; parameters asking for what the worker does not do (tools, n > 1, audio…) are
 * refused with a 400 naming them, while their neutral values, which some clients always
 * send, are accepted.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readGgufHeader } from '../../worker-reference/gguf/reader';
import { generateModel } from '../../worker-reference/model/generate';
import { MAX_LOGIT_BIAS } from '../../worker-reference/worker/chat-request';
import { GRAMMAR_CACHE_BYTES, GRAMMARS_KEPT } from '../../worker-reference/worker/engine';
import { grammarSchema, MAX_SCHEMA_BYTES, MAX_SCHEMA_NODES } from '../../worker-reference/worker/response-format';
import { sealChatRequest, SealedAnswerReader, SealedLogprobsReader } from '../../worker-reference/client/sealed-client';
import { SealedPiece } from '../../worker-reference/crypto/seal';
import { FAST_WORKER, metric, postJson, spawnCli, Spawned, stop, tmpDir } from './helpers';

const dir = tmpDir('cocoon-sampling-');
const model = path.join(dir, 'tiny.gguf');
let w: Spawned;
/** A token id of the tiny model's vocabulary and its text: "G" (a printable ASCII token). */
let G: number;

beforeAll(async () => {
    generateModel(model, 'tiny', 1);
    G = (readGgufHeader(model).metadata.get('tokenizer.ggml.tokens') as string[]).indexOf('G');
    w = await spawnCli('cocoon-worker.js', ['--model', model, '--port', '0', ...FAST_WORKER]);
});
afterAll(async () => {
    await stop(w);
    fs.rmSync(dir, { recursive: true, force: true });
});

const MAX = 64;
/** A greedy (temperature 0) answer of MAX tokens at most, with `extra` parameters. */
async function ask(extra: Record<string, unknown>): Promise<{ status: number; text: string; tokens: number; finish?: string; error?: { code?: string; param?: string; message?: string } }> {
    const r = await postJson(`${w.url}/v1/chat/completions`, { model: 'tiny', messages: [{ role: 'user', content: 'Tell me about the network.' }], max_tokens: MAX, temperature: 0, ...extra });
    const choices = r.json.choices as Array<{ message: { content: string }; finish_reason: string }> | undefined;
    return {
        status: r.status,
        text: choices?.[0].message.content ?? '',
        finish: choices?.[0].finish_reason,
        tokens: (r.json.usage as { completion_tokens?: number } | undefined)?.completion_tokens ?? 0,
        error: r.json.error as never,
    };
}
const count = (text: string, piece: string) => text.split(piece).length - 1;
const jsonSchema = (s: unknown, name = 'answer') => ({ response_format: { type: 'json_schema', json_schema: { name, schema: s, strict: true } } });

describe('logit_bias', () => {
    it('adds the bias to the token logit: +100 makes the answer that token only, -100 bans it', async () => {
        expect(G).toBeGreaterThan(0);
        const only = await ask({ logit_bias: { [G]: 100 } });
        expect(only.status).toBe(200);
        expect(only.tokens).toBe(MAX);
        expect(only.text).toBe('G'.repeat(MAX));
        const banned = await ask({ logit_bias: { [G]: -100 }, presence_penalty: -2 });
        expect(banned.status).toBe(200);
        expect(banned.tokens).toBeGreaterThan(0);
        expect(count(banned.text, 'G')).toBe(0);
    });

    it('refuses token ids outside the vocabulary, biases outside [-100, 100], keys that are not ids and too many entries', async () => {
        const outside = await ask({ logit_bias: { '720': 1 } });
        expect(outside.status).toBe(400);
        expect(outside.error).toMatchObject({ param: 'logit_bias' });
        expect(outside.error?.message).toMatch(/token 720 is not in this model's vocabulary of 720 tokens/);
        for (const bad of [{ [G]: 101 }, { [G]: 'x' }, { abc: 1 }, { '-1': 1 }, [1], Object.fromEntries(Array.from({ length: MAX_LOGIT_BIAS + 1 }, (_, i) => [String(i), 1]))]) {
            const r = await ask({ logit_bias: bad });
            expect(r.status).toBe(400);
            expect(r.error).toMatchObject({ param: 'logit_bias' });
        }
    });
});

describe('presence_penalty and frequency_penalty', () => {
    // Token G pushed up by +100: without a penalty every token is G (above). The penalties count
    // only tokens generated, as OpenAI's do.
    it('frequency_penalty lowers a token per time it was generated: G stops winning after some dozens', async () => {
        const r = await ask({ logit_bias: { [G]: 100 }, frequency_penalty: 2 });
        expect(r.status).toBe(200);
        expect(r.tokens).toBe(MAX);
        const g = count(r.text, 'G');
        expect(g).toBeGreaterThan(10);
        expect(g).toBeLessThan(MAX);
    });

    it('presence_penalty lowers a generated token once: 2 does not undo +100, and a negative one is accepted', async () => {
        const once = await ask({ logit_bias: { [G]: 100 }, presence_penalty: 2 });
        expect(once.text).toBe('G'.repeat(MAX));
        expect((await ask({ presence_penalty: -2, frequency_penalty: -1.5 })).status).toBe(200);
    });

    it('accepts 0 (no penalty) and refuses values outside [-2, 2]', async () => {
        const plain = await ask({});
        const zero = await ask({ presence_penalty: 0, frequency_penalty: 0 });
        expect(zero.text).toBe(plain.text);
        for (const p of ['presence_penalty', 'frequency_penalty']) {
            const r = await ask({ [p]: 2.5 });
            expect(r.status).toBe(400);
            expect(r.error).toMatchObject({ param: p });
        }
    });
});

describe('response_format', () => {
    const schema = {
        type: 'object',
        properties: { ok: { type: 'boolean' }, color: { type: 'string', enum: ['red', 'green', 'blue'] }, n: { type: 'integer' }, maybe: { anyOf: [{ type: 'boolean' }, { type: 'null' }] } },
        required: ['ok', 'color', 'n', 'maybe'],
        additionalProperties: false,
    };

    it('json_schema: the answer is JSON of that schema (enum, integer, anyOf), ending on its own', async () => {
        for (const temperature of [0, 1]) {
            const r = await ask({ ...jsonSchema(schema), temperature, seed: 7 });
            expect(r.status).toBe(200);
            expect(r.finish).toBe('stop');
            expect(r.text).not.toMatch(/\n\n\n\n/); // the grammar's stop trigger ends the answer and is not part of it
            const v = JSON.parse(r.text) as Record<string, unknown>;
            expect(Object.keys(v).sort()).toEqual(['color', 'maybe', 'n', 'ok']);
            expect(typeof v.ok).toBe('boolean');
            expect(['red', 'green', 'blue']).toContain(v.color);
            expect(Number.isInteger(v.n)).toBe(true);
            expect([true, false, null]).toContain(v.maybe);
        }
    });

    it('json_schema holds while streaming too, and the receipt covers the JSON sent', async () => {
        const res = await fetch(`${w.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: MAX, stream: true, ...jsonSchema(schema) }),
        });
        const events = (await res.text())
            .split('\n\n')
            .filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]')
            .map((e) => JSON.parse(e.slice(6)) as { choices: Array<{ delta: { content?: string } }>; receipt?: { result_hash: string } });
        const text = events.map((e) => e.choices[0]?.delta.content ?? '').join('');
        expect(Object.keys(JSON.parse(text) as object).sort()).toEqual(['color', 'maybe', 'n', 'ok']);
        expect(events.find((e) => e.receipt)?.receipt?.result_hash).toBe(crypto.createHash('sha256').update(text, 'utf8').digest('hex'));
    });

    it('json_object: the answer opens a JSON object where plain text would not', async () => {
        const plain = await ask({});
        expect(plain.text.startsWith('{')).toBe(false);
        const r = await ask({ response_format: { type: 'json_object' }, max_tokens: 200 });
        expect(r.status).toBe(200);
        expect(r.text.startsWith('{')).toBe(true);
        // Complete JSON when the model ended it; cut at max_tokens otherwise, as OpenAI's.
        if (r.finish === 'stop') expect(typeof JSON.parse(r.text)).toBe('object');
        else expect(r.finish).toBe('length');
    });

    it('refuses schema keywords the grammar cannot enforce, naming them and where, and malformed formats', async () => {
        const refused: Array<[unknown, RegExp]> = [
            [{ type: 'object', properties: { code: { type: 'string', pattern: '^[A-Z]+$' } } }, /keyword "pattern" at \/properties\/code/],
            [{ type: 'object', properties: { age: { type: 'integer', minimum: 0 } } }, /keyword "minimum" at \/properties\/age/],
            [{ type: 'object', allOf: [] }, /keyword "allOf" at the schema/],
            [{ type: 'string', format: 'email' }, /format "email"/],
            [{ $ref: '#/$defs/missing' }, /\$ref at the schema/],
            [{ type: 'object', properties: {}, required: ['x'] }, /"x" at the schema is required but not among its properties/],
            [{ properties: {} }, /needs a type/],
        ];
        for (const [s, message] of refused) {
            const r = await ask(jsonSchema(s));
            expect(r.status).toBe(400);
            expect(r.error).toMatchObject({ code: 'unsupported_parameter', param: 'response_format' });
            expect(r.error?.message).toMatch(message);
        }
        for (const rf of [{ type: 'xml' }, { type: 'json_schema' }, { type: 'json_schema', json_schema: { name: 'bad name!', schema } }, 'json']) {
            const r = await ask({ response_format: rf });
            expect(r.status).toBe(400);
            expect(r.error).toMatchObject({ param: 'response_format' });
        }
    });

    it('sealed requests carry the schema and the biases inside the sealed content, never in the clear', async () => {
        const info = (await (await fetch(`${w.url}/v1/worker`)).json()) as { x25519_public_key: string };
        const key = Buffer.from(info.x25519_public_key, 'hex');
        const sealed = sealChatRequest(key, { messages: [{ role: 'user', content: 'private question' }], logit_bias: { [G]: -100 }, response_format: { type: 'json_schema', json_schema: { name: 'answer', schema } } });
        const r = await postJson(`${w.url}/v1/chat/completions`, { model: 'tiny', max_tokens: MAX, ...sealed.body });
        expect(r.status).toBe(200);
        const msg = (r.json.choices as Array<{ message: { sealed: SealedPiece }; finish_reason: string }>)[0];
        expect(msg.finish_reason).toBe('stop');
        const v = JSON.parse(new SealedAnswerReader(sealed.replyKeys).push(msg.message.sealed)) as Record<string, unknown>;
        expect(Object.keys(v).sort()).toEqual(['color', 'maybe', 'n', 'ok']);
        // In the clear beside sealed content they are refused: the proxy would read them.
        for (const [field, value] of [['response_format', { type: 'json_object' }], ['logit_bias', { [G]: 1 }], ['presence_penalty', 1], ['frequency_penalty', 1]] as const) {
            const clear = await postJson(`${w.url}/v1/chat/completions`, { model: 'tiny', max_tokens: 4, [field]: value, ...sealChatRequest(key, { messages: [{ role: 'user', content: 'x' }] }).body });
            expect(clear.status).toBe(400);
            expect(clear.json.error).toMatchObject({ param: field });
            expect((clear.json.error as { message: string }).message).toMatch(/inside the sealed content/);
        }
    });

    it('refuses a schema over 256 KiB as JSON or holding more than 5,000 schemas (building its grammar would stall the worker)', async () => {
        const props = (n: number, value: unknown = { type: 'boolean' }) => ({ type: 'object', properties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, value])) });
        const nodes = await ask(jsonSchema(props(MAX_SCHEMA_NODES)));
        expect(nodes.status).toBe(400);
        expect(nodes.error).toMatchObject({ code: 'unsupported_parameter', param: 'response_format' });
        expect(nodes.error?.message).toMatch(/more than 5000 schemas/);
        const long = 'x'.repeat(1000);
        const bytes = await ask(jsonSchema(props(300, { type: 'string', description: long })));
        expect(bytes.status).toBe(400);
        expect(bytes.error?.message).toMatch(/bytes as JSON; at most 262144/);
        // Just within both bounds: accepted.
        expect(MAX_SCHEMA_BYTES).toBe(262144);
        const within = await ask({ ...jsonSchema(props(MAX_SCHEMA_NODES - 1)), max_tokens: 2 });
        expect(within.status).toBe(200);
    });

    it('accepts $defs with $ref and annotations (title, description)', async () => {
        const r = await ask(
            jsonSchema({ title: 'T', $defs: { flag: { type: 'boolean', description: 'a flag' } }, type: 'object', properties: { a: { $ref: '#/$defs/flag' }, b: { $ref: '#/$defs/flag' } } }),
        );
        expect(r.status).toBe(200);
        const v = JSON.parse(r.text) as { a: unknown; b: unknown };
        expect([typeof v.a, typeof v.b]).toEqual(['boolean', 'boolean']);
    });
});

interface LogprobEntry {
    token: string;
    logprob: number;
    bytes: number[];
    top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}
/** A non-streamed answer with its logprobs entries. */
async function askLogprobs(extra: Record<string, unknown>): Promise<{ status: number; text: string; tokens: number; finish?: string; entries: LogprobEntry[]; error?: { code?: string; param?: string; message?: string } }> {
    const r = await postJson(`${w.url}/v1/chat/completions`, { model: 'tiny', messages: [{ role: 'user', content: 'Tell me about the network.' }], max_tokens: 24, temperature: 0, logprobs: true, ...extra });
    const choice = (r.json.choices as Array<{ message: { content: string }; finish_reason: string; logprobs: { content: LogprobEntry[]; refusal: null } | null }> | undefined)?.[0];
    return {
        status: r.status,
        text: choice?.message.content ?? '',
        finish: choice?.finish_reason,
        tokens: (r.json.usage as { completion_tokens?: number } | undefined)?.completion_tokens ?? 0,
        entries: choice?.logprobs?.content ?? [],
        error: r.json.error as never,
    };
}
const utf8 = (text: string) => [...Buffer.from(text, 'utf8')];

describe('JSON-schema grammars kept', () => {
    it('keeps the most recently used grammars, at most 64 and 2 MiB of schemas in all (metrics show them)', async () => {
        const own = await spawnCli('cocoon-worker.js', ['--model', model, '--port', '0', ...FAST_WORKER]);
        try {
            const schema = (name: string, n: number) => ({ type: 'object', properties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`${name}_${i}`, { type: 'boolean' }])) });
            /** The size the worker counts: the schema as it builds the grammar from it, as JSON. */
            const size = (s: unknown) => JSON.stringify(grammarSchema(s)).length;
            const use = async (s: unknown) => {
                const r = await postJson(`${own.url}/v1/chat/completions`, { model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_tokens: 1, temperature: 0, ...jsonSchema(s) });
                expect(r.status).toBe(200);
            };
            const kept = async () => [await metric(own.url, 'cocoon_worker_json_grammars', { model: 'tiny', measure: 'kept' }), await metric(own.url, 'cocoon_worker_json_grammars', { model: 'tiny', measure: 'schema_bytes' })];
            // By count: 64 schemas (the first two of their own sizes), the first used again, then one more.
            const small = Array.from({ length: GRAMMARS_KEPT + 1 }, (_, i) => schema(`s${i}`, i === 0 ? 3 : i === 1 ? 5 : 1));
            for (const s of small.slice(0, GRAMMARS_KEPT)) await use(s);
            const all = small.slice(0, GRAMMARS_KEPT).reduce((n, s) => n + size(s), 0);
            expect(await kept()).toEqual([GRAMMARS_KEPT, all]);
            await use(small[0]); // a hit: now the most recently used
            await use(small[GRAMMARS_KEPT]);
            // The least recently used (the second) went, not the oldest built.
            expect(await kept()).toEqual([GRAMMARS_KEPT, all - size(small[1]) + size(small[GRAMMARS_KEPT])]);
            // By size: schemas of ~123 KB each; what is kept stays within 2 MiB.
            const big = Array.from({ length: 18 }, (_, i) => schema(`big${String(i).padStart(2, '0')}`, 4000));
            for (const s of big) await use(s);
            const [grammars, bytes] = await kept();
            expect(bytes).toBeLessThanOrEqual(GRAMMAR_CACHE_BYTES);
            expect(bytes).toBeGreaterThan(GRAMMAR_CACHE_BYTES - size(big[0]));
            expect(grammars).toBe(Math.floor(GRAMMAR_CACHE_BYTES / size(big[0])));
        } finally {
            await stop(own);
        }
    }, 60_000);
});

describe('logprobs', () => {
    it('greedy: one entry per token, adding up to the answer, the chosen token the likeliest, probabilities that are probabilities', async () => {
        const r = await askLogprobs({ top_logprobs: 5 });
        expect(r.status).toBe(200);
        expect(r.finish).toBe('length');
        expect(r.entries).toHaveLength(r.tokens);
        expect(r.entries.map((e) => e.token).join('')).toBe(r.text);
        for (const e of r.entries) {
            expect(e.bytes).toEqual(utf8(e.token));
            expect(e.logprob).toBeLessThanOrEqual(0);
            expect(e.top_logprobs).toHaveLength(5);
            // Temperature 0 takes the likeliest token: it heads the list, with the same log-probability.
            expect(e.top_logprobs[0]).toEqual({ token: e.token, logprob: e.logprob, bytes: e.bytes });
            const lps = e.top_logprobs.map((t) => t.logprob);
            expect([...lps].sort((a, b) => b - a)).toEqual(lps);
            expect(lps.reduce((sum, lp) => sum + Math.exp(lp), 0)).toBeLessThanOrEqual(1 + 1e-6);
            for (const t of e.top_logprobs) expect(t.bytes).toEqual(utf8(t.token));
        }
        // A random model is unsure: some token had a real alternative.
        expect(r.entries.some((e) => e.logprob < -0.01)).toBe(true);
        // The same request gives the same figures (to float precision: a prompt prefix reused from
        // the KV cache is not evaluated in the same batches); without top_logprobs, no alternatives.
        const again = await askLogprobs({ top_logprobs: 5 });
        const bare = await askLogprobs({});
        for (const other of [again, bare]) {
            expect(other.entries.map((e) => e.token)).toEqual(r.entries.map((e) => e.token));
            other.entries.forEach((e, i) => expect(e.logprob).toBeCloseTo(r.entries[i].logprob, 4));
        }
        again.entries.forEach((e, i) => expect(e.top_logprobs.map((t) => t.token)).toEqual(r.entries[i].top_logprobs.map((t) => t.token)));
        for (const e of bare.entries) expect(e.top_logprobs).toEqual([]);
    });

    it('reports the distribution sampled from: a +100 logit_bias makes that token certain', async () => {
        const r = await askLogprobs({ logit_bias: { [G]: 100 }, top_logprobs: 2 });
        expect(r.status).toBe(200);
        expect(r.text).toBe('G'.repeat(24));
        for (const e of r.entries) {
            expect(e.token).toBe('G');
            expect(e.logprob).toBeGreaterThan(-1e-6);
            expect(e.top_logprobs[1].logprob).toBeLessThan(-40);
        }
    });

    it('at temperature 1: the sampled token, where listed among the alternatives, has its own log-probability there', async () => {
        const r = await askLogprobs({ temperature: 1, seed: 7, top_logprobs: 20, max_tokens: 32 });
        expect(r.status).toBe(200);
        expect(r.entries.map((e) => e.token).join('')).toBe(r.text);
        let listed = 0;
        for (const e of r.entries) {
            const same = e.top_logprobs.find((t) => t.token === e.token);
            if (same) {
                listed++;
                expect(same.logprob).toBeCloseTo(e.logprob, 12);
            }
            expect(e.top_logprobs.reduce((sum, t) => sum + Math.exp(t.logprob), 0)).toBeLessThanOrEqual(1 + 1e-6);
        }
        expect(listed).toBeGreaterThan(r.entries.length / 2);
    });

    it('a stop string cuts the entries with the answer: the token across it keeps its text before the stop', async () => {
        const full = await askLogprobs({});
        // A stop string from the middle of some token of the answer (from its second character).
        const at = full.entries.findIndex((e, i) => i > 2 && e.token.trim().length >= 2);
        expect(at).toBeGreaterThan(0);
        const before = full.entries.slice(0, at).map((e) => e.token).join('');
        const token = full.entries[at].token;
        const lead = token.length - token.trimStart().length + 1;
        const stop = token.slice(lead);
        const cutAt = full.text.indexOf(stop);
        const r = await askLogprobs({ stop: [stop] });
        expect(r.finish).toBe('stop');
        expect(r.text).toBe(full.text.slice(0, cutAt));
        expect(r.entries.map((e) => e.token).join('')).toBe(r.text);
        // (The tiny model's greedy answer has it first in that token.)
        expect(cutAt).toBe(before.length + lead);
        expect(r.entries).toHaveLength(at + 1);
        expect(r.entries[at]).toMatchObject({ token: token.slice(0, lead), logprob: full.entries[at].logprob, bytes: utf8(token.slice(0, lead)) });
    });

    it('streams each chunk with the entries of its text: together the same as unstreamed; role and finish chunks carry null', async () => {
        const plain = await askLogprobs({ top_logprobs: 2 });
        const res = await fetch(`${w.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Tell me about the network.' }], max_tokens: 24, temperature: 0, logprobs: true, top_logprobs: 2, stream: true }),
        });
        const chunks = (await res.text())
            .split('\n\n')
            .filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]')
            .map((e) => JSON.parse(e.slice(6)) as { choices: Array<{ delta: { content?: string; role?: string }; logprobs: { content: LogprobEntry[] } | null; finish_reason: string | null }> });
        expect(chunks[0].choices[0]).toMatchObject({ delta: { role: 'assistant' }, logprobs: null });
        expect(chunks[chunks.length - 1].choices[0]).toMatchObject({ finish_reason: 'length', logprobs: null });
        const content = chunks.filter((c) => c.choices[0]?.delta.content);
        for (const c of content) expect(c.choices[0].logprobs?.content.map((e) => e.token).join('')).toBe(c.choices[0].delta.content);
        const streamed = content.flatMap((c) => c.choices[0].logprobs?.content ?? []);
        expect(streamed.map((e) => [e.token, e.top_logprobs.map((t) => t.token)])).toEqual(plain.entries.map((e) => [e.token, e.top_logprobs.map((t) => t.token)]));
        streamed.forEach((e, i) => expect(e.logprob).toBeCloseTo(plain.entries[i].logprob, 4));
    });

    it('refuses top_logprobs beyond 20 or without logprobs, and a logprobs that is not a boolean', async () => {
        for (const [extra, param] of [
            [{ top_logprobs: 21 }, 'top_logprobs'],
            [{ top_logprobs: 1.5 }, 'top_logprobs'],
            [{ logprobs: false, top_logprobs: 3 }, 'top_logprobs'],
            [{ logprobs: 'yes' }, 'logprobs'],
        ] as const) {
            const r = await askLogprobs(extra);
            expect([JSON.stringify(extra), r.status]).toEqual([JSON.stringify(extra), 400]);
            expect(r.error).toMatchObject({ param });
        }
    });

    it('seals a sealed answer\'s logprobs to the client key as a stream of their own, whole or per chunk', async () => {
        const info = (await (await fetch(`${w.url}/v1/worker`)).json()) as { x25519_public_key: string };
        const key = Buffer.from(info.x25519_public_key, 'hex');
        const messages = [{ role: 'user' as const, content: 'Tell me about the network.' }];
        const clear = await askLogprobs({ top_logprobs: 2 });
        // Whole answer.
        const sealed = sealChatRequest(key, { messages });
        const r = await postJson(`${w.url}/v1/chat/completions`, { model: 'tiny', max_tokens: 24, temperature: 0, logprobs: true, top_logprobs: 2, ...sealed.body });
        expect(r.status).toBe(200);
        const choice = (r.json.choices as Array<{ message: { sealed: SealedPiece }; logprobs: { sealed?: SealedPiece; content?: unknown } }>)[0];
        // Nothing of the answer in the clear: no token, no alternative.
        expect(choice.logprobs.content).toBeUndefined();
        expect(JSON.stringify(r.json)).not.toMatch(/"token"|top_logprobs|"bytes"/);
        const text = new SealedAnswerReader(sealed.replyKeys).push(choice.message.sealed);
        const entries = new SealedLogprobsReader(sealed.replyKeys).push(choice.logprobs.sealed as SealedPiece);
        expect(text).toBe(clear.text);
        expect(entries.map((e) => [e.token, e.top_logprobs.map((t) => t.token)])).toEqual(clear.entries.map((e) => [e.token, e.top_logprobs.map((t) => t.token)]));
        // Another key cannot open them.
        expect(() => new SealedLogprobsReader(sealChatRequest(key, { messages }).replyKeys).push(choice.logprobs.sealed as SealedPiece)).toThrow();
        // Streamed: each chunk's sealed text with its sealed entries.
        const s2 = sealChatRequest(key, { messages });
        const res = await fetch(`${w.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'tiny', max_tokens: 24, temperature: 0, logprobs: true, stream: true, ...s2.body }),
        });
        const chunks = (await res.text())
            .split('\n\n')
            .filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]')
            .map((e) => JSON.parse(e.slice(6)) as { choices: Array<{ delta: { sealed?: SealedPiece }; logprobs: { sealed: SealedPiece } | null }> });
        const answer = new SealedAnswerReader(s2.replyKeys);
        const lps = new SealedLogprobsReader(s2.replyKeys);
        for (const c of chunks.filter((x) => x.choices[0]?.delta.sealed)) {
            const piece = answer.push(c.choices[0].delta.sealed as SealedPiece);
            expect(lps.push((c.choices[0].logprobs as { sealed: SealedPiece }).sealed).map((e) => e.token).join('')).toBe(piece);
        }
        expect(answer.answer).toBe(clear.text);
        expect(lps.entries.map((e) => e.token)).toEqual(clear.entries.map((e) => e.token));
    });
});

describe('parameters for what the worker does not do', () => {
    it('refuses tools, n > 1, other modalities and predictions with a 400 naming the parameter', async () => {
        const cases: Array<[string, unknown]> = [
            ['tools', [{ type: 'function', function: { name: 'f', parameters: {} } }]],
            ['functions', [{ name: 'f' }]],
            ['tool_choice', 'required'],
            ['function_call', { name: 'f' }],
            ['n', 2],
            ['modalities', ['text', 'audio']],
            ['audio', { voice: 'alloy', format: 'mp3' }],
            ['prediction', { type: 'content', content: 'x' }],
        ];
        for (const [param, value] of cases) {
            const r = await ask({ [param]: value });
            expect([param, r.status]).toEqual([param, 400]);
            expect(r.error).toMatchObject({ code: 'unsupported_parameter', param });
        }
    });

    it('accepts their neutral values and parameters that change nothing about the answer', async () => {
        const plain = await ask({});
        const neutral = await ask({
            tools: [],
            tool_choice: 'none',
            response_format: { type: 'text' },
            logprobs: false,
            top_logprobs: 0,
            modalities: ['text'],
            n: 1,
            user: 'u-1',
            metadata: { a: 'b' },
            store: false,
            parallel_tool_calls: true,
        });
        expect(neutral.status).toBe(200);
        expect(neutral.text).toBe(plain.text);
    });
});
