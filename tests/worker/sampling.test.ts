/**
 * OpenAI's sampling parameters beyond temperature / top_p / seed: presence_penalty,
 * frequency_penalty and logit_bias change what a real worker (tiny model, llama.cpp on CPU)
 * generates, with OpenAI's semantics; parameters asking for what the worker does not do
 * (tools, JSON output, logprobs, audio…) are refused with a 400 naming them, while their
 * neutral values, which some clients always send, are accepted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readGgufHeader } from '../../worker-reference/gguf/reader';
import { generateModel } from '../../worker-reference/model/generate';
import { MAX_LOGIT_BIAS } from '../../worker-reference/worker/chat-request';
import { FAST_WORKER, postJson, spawnCli, Spawned, stop, tmpDir } from './helpers';

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
async function ask(extra: Record<string, unknown>): Promise<{ status: number; text: string; tokens: number; error?: { code?: string; param?: string; message?: string } }> {
    const r = await postJson(`${w.url}/v1/chat/completions`, { model: 'tiny', messages: [{ role: 'user', content: 'Tell me about the network.' }], max_tokens: MAX, temperature: 0, ...extra });
    const choices = r.json.choices as Array<{ message: { content: string } }> | undefined;
    return { status: r.status, text: choices?.[0].message.content ?? '', tokens: (r.json.usage as { completion_tokens?: number } | undefined)?.completion_tokens ?? 0, error: r.json.error as never };
}
const count = (text: string, piece: string) => text.split(piece).length - 1;

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

describe('parameters for what the worker does not do', () => {
    it('refuses tools, JSON output, logprobs, other modalities and predictions with a 400 naming the parameter', async () => {
        const cases: Array<[string, unknown]> = [
            ['tools', [{ type: 'function', function: { name: 'f', parameters: {} } }]],
            ['functions', [{ name: 'f' }]],
            ['tool_choice', 'required'],
            ['function_call', { name: 'f' }],
            ['response_format', { type: 'json_object' }],
            ['response_format', { type: 'json_schema', json_schema: { name: 'x', schema: {} } }],
            ['logprobs', true],
            ['top_logprobs', 3],
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
