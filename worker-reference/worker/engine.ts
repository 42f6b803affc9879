/**
 * One served model: the llama.cpp model, a context with N parallel sequences, its chat
 * wrapper (resolved once: resolving per request costs hundreds of ms) and the generation
 * loop with exact token accounting.
 */
import type {
    ChatHistoryItem,
    ChatWrapper,
    ControlledEvaluateInputItem,
    Llama,
    LlamaContext,
    LlamaContextSequence,
    LlamaContextSequenceRepeatPenalty,
    LlamaGrammar,
    LlamaGrammarEvaluationState,
    LlamaModel,
    Token,
    TokenBias,
} from 'node-llama-cpp';
import { ResponseFormat } from './response-format';
import { ApiError } from '../common/http';
import { ChatMessage } from './chat-request';
import { loadNodeLlamaCpp, NodeLlamaCpp } from './llama';
import { SequencePool } from './sequence-pool';
import { LogprobTrack, logprobOf, StopScanner, TokenLogprob, TokenTextDecoder } from './text-stream';

export interface EngineOptions {
    id: string;
    file: string;
    hash: Buffer;
    contextSize: number;
    parallel: number;
    maxQueue: number;
    threads: number;
    defaultMaxTokens: number;
    gpuLayers?: number;
}

export interface GenerateParams {
    messages: ChatMessage[];
    maxTokens?: number;
    temperature: number;
    topP?: number;
    seed?: number;
    stop: string[];
    /** Subtracted once from the logit of every token already generated (OpenAI's presence_penalty). */
    presencePenalty?: number;
    /** Subtracted from a token's logit per time it was generated (OpenAI's frequency_penalty). */
    frequencyPenalty?: number;
    /** Token id → bias added to its logit; -100 bans the token (OpenAI's logit_bias). */
    logitBias?: Map<number, number>;
    /** JSON output, enforced by a grammar while sampling; undefined for plain text. */
    responseFormat?: ResponseFormat;
    /** Report each token's log-probability and this many likeliest alternatives (0..20); undefined: no logprobs. */
    logprobs?: number;
    signal: AbortSignal;
    /** Called with each piece of answer text as soon as it is final (and its tokens' logprobs when asked for). */
    onText?: TextListener;
}

export type TextListener = (text: string, logprobs?: TokenLogprob[]) => void;

export interface TokenUsage {
    prompt: number;
    /** Prompt tokens whose KV state was reused, not evaluated again (part of `prompt`). */
    cached: number;
    completion: number;
    /** Tokens of the model's thought segments (part of `completion`); 0 for models without them. */
    reasoning: number;
}

export interface GenerateResult {
    text: string;
    usage: TokenUsage;
    finishReason: 'stop' | 'length';
    /** Per token of `text`, when asked for (`GenerateParams.logprobs`). */
    logprobs?: TokenLogprob[];
    /** ms from start of evaluation to the first generated token. */
    firstTokenMs: number;
    cancelled: boolean;
}

export interface AdmittedRequest {
    /** Generates on the sequence it holds, then frees it. */
    run(onText?: TextListener): Promise<GenerateResult>;
    /** Frees the sequence without generating. */
    release(): void;
}

/**
 * Keeps the sequence's KV state for the longest prefix it shares with `prompt` (always
 * leaving at least one token to evaluate) and drops the rest; returns how many prompt tokens
 * are reused. Then `sequence.evaluateWithMetadata(prompt.slice(reused), …)` generates the answer.
 */
export async function reuseCommonPrefix(sequence: LlamaContextSequence, prompt: Token[]): Promise<number> {
    await sequence.adaptStateToTokens(prompt, false);
    const keep = Math.min(sequence.nextTokenIndex, prompt.length - 1);
    if (sequence.nextTokenIndex > keep) await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
    return sequence.nextTokenIndex;
}

/** A generated token, with its probability and its position's candidates' when asked for. */
interface GeneratedStep {
    token: Token;
    confidence?: number;
    /** Candidates → probability, likeliest first. */
    probabilities?: Map<Token, number>;
}

/**
 * Greedy generation reporting the chosen token's probability and the `top` likeliest tokens'
 * without handing the whole vocabulary's distribution to JavaScript per token, as
 * evaluateWithMetadata's `probabilities` does at temperature 0 (measured: +1.3 ms a token on
 * the 3.7k-token `small` model, growing with the vocabulary). node-llama-cpp's
 * controlledEvaluate returns the top logits with the chosen token's probability, and softmax
 * gives each listed token the chosen one's probability times e^(its logit − the chosen logit).
 * One call per token; at temperature 0 nothing is random, so its fresh sampler per call
 * changes nothing.
 */
async function* greedyWithTop(
    sequence: LlamaContextSequence,
    tokens: Token[],
    top: number,
    options: { repeatPenalty?: LlamaContextSequenceRepeatPenalty; tokenBias?: TokenBias },
): AsyncGenerator<GeneratedStep, void, undefined> {
    const generateNext = { token: true, confidence: true, logits: { filter: { tokens: [] as Token[], includeTop: top, includeSelected: true } }, options: { temperature: 0, ...options } };
    let input: ControlledEvaluateInputItem[] = [...tokens.slice(0, -1), [tokens[tokens.length - 1], { generateNext }]];
    for (;;) {
        const out = await sequence.controlledEvaluate(input);
        const next = out[input.length - 1]?.next;
        if (next?.token === undefined || next.token === null) return;
        const token = next.token;
        const confidence = next.confidence ?? 0;
        const chosen = next.logits?.get(token);
        const probabilities = new Map<Token, number>();
        if (next.logits && chosen !== undefined) for (const [t, logit] of next.logits) probabilities.set(t, confidence * Math.exp(logit - chosen));
        yield { token, confidence, probabilities };
        input = [[token, { generateNext }]];
    }
}

/** The triggers that are plain text (special-token ones end generation as end-of-generation tokens). */
function textTriggers(triggers: readonly unknown[]): string[] {
    const out: string[] = [];
    for (const t of triggers) {
        const parts = typeof t === 'string' ? [t] : Array.isArray(t) ? t : ((t as { values?: unknown }).values as unknown[] | undefined);
        if (Array.isArray(parts) && parts.length > 0 && parts.every((v) => typeof v === 'string')) out.push(parts.join(''));
    }
    return out.filter((x) => x.length > 0);
}

/**
 * JSON-schema grammars kept per model, the least recently used dropped first: at most this many,
 * and schemas of at most this many bytes (as JSON) in all. A grammar of a 5,000-property
 * schema (234 KB) took ~12 MB of memory here; 2 MiB of schemas bound the cache to ~100 MB.
 */
export const GRAMMARS_KEPT = 64;
export const GRAMMAR_CACHE_BYTES = 2 * 1024 * 1024;

export class ModelEngine {
    /** Each token's own text, kept across requests for the text decoder. */
    private readonly tokenText = new Map<Token, string>();

    private constructor(
        readonly options: EngineOptions,
        readonly model: LlamaModel,
        readonly context: LlamaContext,
        readonly chatWrapper: ChatWrapper,
        private readonly pool: SequencePool<Token, LlamaContextSequence>,
        private readonly textStops: string[],
        /** Tokens in the model's vocabulary (undefined when its file does not say). */
        readonly vocabSize: number | undefined,
        private readonly lib: Pick<NodeLlamaCpp, 'TokenBias' | 'LlamaGrammarEvaluationState'>,
    ) {}

    /** Grammars of JSON schemas used lately (clients send the same schema again and again), and the one for any JSON object. */
    private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
    private grammarBytes = 0;

    static async load(llama: Llama, options: EngineOptions): Promise<ModelEngine> {
        const lib = await loadNodeLlamaCpp();
        const model = await llama.loadModel({ modelPath: options.file, ...(options.gpuLayers !== undefined ? { gpuLayers: options.gpuLayers } : {}) });
        const context = await model.createContext({
            contextSize: Math.min(options.contextSize, model.trainContextSize),
            sequences: options.parallel,
            threads: options.threads,
        });
        const chatWrapper = lib.resolveChatWrapper(model) ?? new lib.GeneralChatWrapper();
        const sequences: LlamaContextSequence[] = [];
        for (let i = 0; i < options.parallel; i++) sequences.push(context.getSequence());
        // Stop triggers that are plain text (special-token triggers end generation as EOG tokens).
        const probe = chatWrapper.generateContextState({ chatHistory: [{ type: 'user', text: 'x' }, { type: 'model', response: [] }] });
        const textStops = textTriggers(probe.stopGenerationTriggers);
        const tokens = (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: unknown } } } | undefined)?.tokenizer?.ggml?.tokens;
        const vocabSize = Array.isArray(tokens) ? tokens.length : undefined;
        return new ModelEngine(options, model, context, chatWrapper, new SequencePool(sequences, options.maxQueue), textStops, vocabSize, lib);
    }

    get id(): string {
        return this.options.id;
    }
    get contextSize(): number {
        return this.context.contextSize;
    }
    get load(): { active: number; queued: number; capacity: number; maxQueue: number } {
        return { active: this.pool.active, queued: this.pool.queued, capacity: this.pool.capacity, maxQueue: this.options.maxQueue };
    }

    /** Prompt tokens of a conversation, formatted by the model's chat template. */
    promptTokens(messages: ChatMessage[]): Token[] {
        const history: ChatHistoryItem[] = [];
        for (const m of messages) {
            if (m.role === 'system' || m.role === 'developer') history.push({ type: 'system', text: m.content });
            else if (m.role === 'user') history.push({ type: 'user', text: m.content });
            else history.push({ type: 'model', response: [m.content] });
        }
        history.push({ type: 'model', response: [] });
        const state = this.chatWrapper.generateContextState({ chatHistory: history });
        return state.contextText.tokenize(this.model.tokenizer);
    }

    /**
     * Admits a request: checks it fits the context and waits for a free sequence (or fails
     * with 429 when the queue is full). Nothing is sent to the client before this succeeds.
     */
    async admit(p: GenerateParams): Promise<AdmittedRequest> {
        const prompt = this.promptTokens(p.messages);
        const room = this.contextSize - prompt.length;
        if (room < 1)
            throw new ApiError(400, `prompt is ${prompt.length} tokens; this model's context is ${this.contextSize} tokens`, 'invalid_request_error', 'context_length_exceeded', 'messages');
        if (p.maxTokens !== undefined && p.maxTokens > room)
            throw new ApiError(
                400,
                `prompt (${prompt.length} tokens) + max_tokens (${p.maxTokens}) exceeds this model's context of ${this.contextSize} tokens`,
                'invalid_request_error',
                'context_length_exceeded',
                'max_tokens',
            );
        const maxTokens = p.maxTokens ?? Math.min(room, this.options.defaultMaxTokens);
        if (p.logitBias) {
            if (this.vocabSize === undefined) throw new ApiError(400, "logit_bias is not supported for this model: its file does not list its vocabulary", 'invalid_request_error', 'unsupported_parameter', 'logit_bias');
            for (const id of p.logitBias.keys())
                if (id >= this.vocabSize) throw new ApiError(400, `logit_bias: token ${id} is not in this model's vocabulary of ${this.vocabSize} tokens`, 'invalid_request_error', null, 'logit_bias');
        }
        const grammar = p.responseFormat ? await this.grammarFor(p.responseFormat) : undefined;
        const sequence = await this.pool.acquire(prompt, p.signal);
        let done = false;
        const release = () => {
            if (!done) {
                done = true;
                this.pool.release(sequence);
            }
        };
        return {
            run: async (onText) => {
                try {
                    return await this.run(sequence, prompt, maxTokens, { ...p, onText }, grammar);
                } finally {
                    release();
                }
            },
            release,
        };
    }

    async generate(p: GenerateParams): Promise<GenerateResult> {
        return (await this.admit(p)).run(p.onText);
    }

    private async run(sequence: LlamaContextSequence, prompt: Token[], maxTokens: number, p: GenerateParams, grammar?: LlamaGrammar): Promise<GenerateResult> {
        const cached = await reuseCommonPrefix(sequence, prompt);

        // A JSON grammar lets whitespace follow the JSON; its own stop trigger ends the answer there.
        const scanner = new StopScanner([...p.stop, ...this.textStops, ...(grammar ? textTriggers(grammar.stopGenerationTriggers) : [])]);
        const decoder = new TokenTextDecoder<Token>((tokens) => this.model.detokenize(tokens, false), this.tokenText);
        const started = performance.now();
        let firstTokenMs = -1;
        let completion = 0;
        let finishReason: 'stop' | 'length' = 'length';
        let cancelled = false;
        // Log-probabilities travel with the text that completes their tokens (see LogprobTrack).
        const logprobs = p.logprobs !== undefined ? new LogprobTrack() : undefined;
        let sent = 0;
        const emit = (text: string) => {
            sent += text.length;
            const entries = logprobs?.take(sent);
            if (entries && entries.length > 0) p.onText?.(text, entries);
            else if (text.length > 0) p.onText?.(text);
        };
        const top = p.logprobs ?? 0;
        // The tokens generated so far, which the penalties count (not the prompt's, as OpenAI's).
        const generated: Token[] = [];
        const penalized = p.presencePenalty !== undefined || p.frequencyPenalty !== undefined;
        const repeatPenalty = penalized ? { punishTokens: () => generated, penalty: 1, presencePenalty: p.presencePenalty ?? 0, frequencyPenalty: p.frequencyPenalty ?? 0 } : undefined;
        const tokenBias = p.logitBias ? this.tokenBias(p.logitBias) : undefined;
        const gen: AsyncGenerator<GeneratedStep, void, undefined> =
            logprobs && top > 0 && p.temperature === 0 && !grammar
                ? greedyWithTop(sequence, prompt.slice(cached), top, { repeatPenalty, tokenBias })
                : // evaluateWithMetadata is what sequence.evaluate wraps (one generator less per token);
                  // the chosen token's probability and the candidates' come with it only when asked for.
                  (sequence.evaluateWithMetadata(prompt.slice(cached), logprobs ? { confidence: true, probabilities: top > 0 } : {}, {
                      temperature: p.temperature,
                      topP: p.topP,
                      seed: p.seed,
                      yieldEogToken: true,
                      // penalty 1: no multiplicative repeat penalty (node-llama-cpp's default is 1.1), only OpenAI's two.
                      repeatPenalty,
                      tokenBias,
                      // Only tokens that keep the answer valid JSON can be sampled; once it is complete, only the end.
                      grammarEvaluationState: grammar ? (new this.lib.LlamaGrammarEvaluationState({ model: this.model, grammar }) as LlamaGrammarEvaluationState) : undefined,
                  }) as AsyncGenerator<GeneratedStep, void, undefined>);
        try {
            for await (const step of gen) {
                const token = step.token;
                if (firstTokenMs < 0) firstTokenMs = performance.now() - started;
                completion++;
                if (penalized) generated.push(token);
                if (p.signal.aborted) {
                    cancelled = true;
                    break;
                }
                if (this.model.isEogToken(token)) {
                    finishReason = 'stop';
                    break;
                }
                // The candidates' text as each would have followed the previous token.
                const alternatives = logprobs ? this.alternatives(decoder, step.probabilities, top) : [];
                const piece = decoder.push(token);
                if (logprobs) logprobs.add(piece, { logprob: logprobOf(step.confidence ?? 0), top: alternatives });
                emit(scanner.push(piece));
                if (scanner.stopped) {
                    finishReason = 'stop';
                    break;
                }
                if (completion >= maxTokens) break;
            }
        } finally {
            await gen.return();
        }
        if (!scanner.stopped && !cancelled) {
            const rest = decoder.flush();
            logprobs?.extend(rest);
            emit(scanner.push(rest) + scanner.finish());
        }
        const last = logprobs?.finish(scanner.answer.length);
        if (last && last.length > 0 && !cancelled) p.onText?.('', last);
        return {
            text: scanner.answer,
            ...(logprobs ? { logprobs: logprobs.released } : {}),
            usage: { prompt: prompt.length, cached, completion, reasoning: 0 },
            finishReason,
            firstTokenMs: Math.max(0, firstTokenMs),
            cancelled: cancelled || p.signal.aborted,
        };
    }

    /** The `count` likeliest candidates of a position, each with the text it would add after the previous token. */
    private alternatives(decoder: TokenTextDecoder<Token>, probabilities: Map<Token, number> | undefined, count: number): TokenLogprob['top'] {
        const out: TokenLogprob['top'] = [];
        if (!probabilities || count === 0) return out;
        for (const [token, probability] of probabilities) {
            out.push({ text: decoder.textNext(token), logprob: logprobOf(probability) });
            if (out.length >= count) break;
        }
        return out;
    }

    /** OpenAI's logit_bias as node-llama-cpp's TokenBias: a bias added to the logit, -100 a ban. */
    private tokenBias(bias: Map<number, number>): TokenBias {
        const tb = new this.lib.TokenBias(this.model.tokenizer);
        for (const [id, value] of bias) tb.set(id as Token, value <= -100 ? 'never' : { logit: value });
        return tb;
    }

    /** The grammar of a JSON response format: built once per schema (see GRAMMARS_KEPT); a schema it cannot build is a 400. */
    private grammarFor(f: ResponseFormat): Promise<LlamaGrammar> {
        const key = f.type === 'json_schema' ? JSON.stringify(f.schema) : f.type;
        let g = this.grammars.get(key);
        if (g) {
            // Most recently used last.
            this.grammars.delete(key);
            this.grammars.set(key, g);
            return g;
        }
        const llama = this.model.llama;
        g = (f.type === 'json_schema' ? llama.createGrammarForJsonSchema(f.schema as never) : llama.getGrammarFor('json')).catch((e: unknown) => {
            this.forgetGrammar(key);
            throw new ApiError(400, `response_format: no grammar could be built for this schema (${e instanceof Error ? e.message : String(e)})`, 'invalid_request_error', 'unsupported_parameter', 'response_format');
        });
        this.grammars.set(key, g);
        this.grammarBytes += key.length;
        for (const oldest of this.grammars.keys()) {
            if (this.grammars.size <= GRAMMARS_KEPT && (this.grammarBytes <= GRAMMAR_CACHE_BYTES || oldest === key)) break;
            this.forgetGrammar(oldest);
        }
        return g;
    }

    private forgetGrammar(key: string): void {
        if (this.grammars.delete(key)) this.grammarBytes -= key.length;
    }

    /** Grammars kept and the size of their schemas as JSON (metrics: cocoon_worker_json_grammars). */
    get grammarCache(): { grammars: number; bytes: number } {
        return { grammars: this.grammars.size, bytes: this.grammarBytes };
    }


    async dispose(): Promise<void> {
        await this.context.dispose();
        await this.model.dispose();
    }
}
