/**
 * Validates the body of POST /v1/chat/completions into a typed request. Everything a client
 * can get wrong becomes a 400 in OpenAI's error shape.
 */
import { ApiError } from '../common/http';
import { SealedPiece } from '../crypto/seal';
import { parseResponseFormat, ResponseFormat } from './response-format';

export type ChatRole = 'system' | 'developer' | 'user' | 'assistant';

export interface ChatMessage {
    role: ChatRole;
    content: string;
}

export interface ChatRequest {
    model: string;
    /** Plain messages, or undefined when the request is sealed. */
    messages?: ChatMessage[];
    sealed?: SealedPiece;
    /** Client's X25519 public key (32 bytes) for a sealed answer. */
    replyKey?: Buffer;
    stream: boolean;
    includeUsage: boolean;
    maxTokens?: number;
    temperature: number;
    topP?: number;
    seed?: number;
    stop: string[];
    /** OpenAI's presence_penalty / frequency_penalty (-2..2): subtracted from the logits of tokens already generated (once / per occurrence). */
    presencePenalty?: number;
    frequencyPenalty?: number;
    /** OpenAI's logit_bias: token id → bias (-100..100) added to its logit; -100 bans it. */
    logitBias?: Map<number, number>;
    /** JSON output (`response_format` json_object / json_schema); undefined for plain text. */
    responseFormat?: ResponseFormat;
    /** `logprobs: true`: each answer token's log-probability, with this many alternatives (`top_logprobs`, 0..20). */
    logprobs?: number;
}

/** OpenAI's bound on top_logprobs. */
export const MAX_TOP_LOGPROBS = 20;

/** Entries of logit_bias accepted at most. */
export const MAX_LOGIT_BIAS = 1024;

/** The fields that shape the answer beyond messages and stop strings. */
export type AnswerShaping = Pick<ChatRequest, 'presencePenalty' | 'frequencyPenalty' | 'logitBias' | 'responseFormat'>;

/** Their names in the request body (sealed requests carry them inside the sealed content). */
export const SHAPING_FIELDS = ['presence_penalty', 'frequency_penalty', 'logit_bias', 'response_format'] as const;

/**
 * What a sealed payload carries: the messages, and the fields that would say something about
 * them in the clear (stop strings, penalties, logit biases, a response schema).
 */
export interface SealedContent extends AnswerShaping {
    messages: ChatMessage[];
    stop?: string[];
}

const bad = (message: string, param: string | null = null, code: string | null = null) => new ApiError(400, message, 'invalid_request_error', code, param);

function contentText(content: unknown, i: number): string {
    if (typeof content === 'string') return content;
    if (Array.isArray(content)) {
        return content
            .map((part: unknown) => {
                if (typeof part === 'object' && part !== null && (part as { type?: unknown }).type === 'text' && typeof (part as { text?: unknown }).text === 'string')
                    return (part as { text: string }).text;
                throw bad(`messages[${i}].content: only text parts are supported`, `messages[${i}].content`);
            })
            .join('');
    }
    if (content === null || content === undefined) return '';
    throw bad(`messages[${i}].content must be a string or an array of text parts`, `messages[${i}].content`);
}

export function parseMessages(v: unknown): ChatMessage[] {
    if (!Array.isArray(v) || v.length === 0) throw bad('messages must be a non-empty array', 'messages');
    return v.map((m: unknown, i) => {
        if (typeof m !== 'object' || m === null) throw bad(`messages[${i}] must be an object`, `messages[${i}]`);
        const role = (m as { role?: unknown }).role;
        if (role !== 'system' && role !== 'developer' && role !== 'user' && role !== 'assistant')
            throw bad(`messages[${i}].role must be system, developer, user or assistant`, `messages[${i}].role`);
        return { role, content: contentText((m as { content?: unknown }).content, i) };
    });
}

export function parseStop(v: unknown): string[] {
    if (v === undefined || v === null) return [];
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.length > 4 || list.some((s) => typeof s !== 'string' || s.length === 0))
        throw bad('stop must be a string or an array of up to 4 non-empty strings', 'stop');
    return list as string[];
}

function optNumber(body: Record<string, unknown>, name: string, min: number, max: number, integer: boolean): number | undefined {
    const v = body[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
        throw bad(`${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`, name);
    return v;
}

const unsupported = (param: string, message: string) => new ApiError(400, message, 'invalid_request_error', 'unsupported_parameter', param);
const given = (v: unknown) => v !== undefined && v !== null;

/**
 * OpenAI parameters asking for what this worker does not do are refused, not ignored: a client
 * that asks for tool calls must not mistake plain text for the model's choice not to call one.
 * Their neutral values (no tools, `tool_choice: "none"`, one modality of text…), which some
 * clients always send, are accepted. Parameters that change
 * nothing about the answer (`user`, `metadata`, `store`, `service_tier`…) are ignored.
 */
function refuseUnsupported(body: Record<string, unknown>): void {
    for (const name of ['tools', 'functions'])
        if (given(body[name]) && !(Array.isArray(body[name]) && (body[name] as unknown[]).length === 0))
            throw unsupported(name, `${name} is not supported: this worker's models answer in text only and call no tools`);
    for (const name of ['tool_choice', 'function_call'])
        if (given(body[name]) && body[name] !== 'none' && body[name] !== 'auto') throw unsupported(name, `${name} is not supported: this worker calls no tools`);
    if (given(body.n) && body.n !== 1) throw unsupported('n', 'n must be 1: this worker returns one choice per request (send several requests for several answers)');
    const modalities = body.modalities;
    if (given(modalities) && !(Array.isArray(modalities) && modalities.length === 1 && modalities[0] === 'text')) throw unsupported('modalities', 'only the text modality is supported');
    for (const name of ['audio', 'prediction', 'web_search_options']) if (given(body[name])) throw unsupported(name, `${name} is not supported by this worker`);
}

function parseLogitBias(v: unknown): Map<number, number> | undefined {
    if (!given(v)) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw bad('logit_bias must be an object mapping token ids to biases', 'logit_bias');
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length > MAX_LOGIT_BIAS) throw bad(`logit_bias may hold at most ${MAX_LOGIT_BIAS} tokens`, 'logit_bias');
    const out = new Map<number, number>();
    for (const [key, bias] of entries) {
        if (!/^(0|[1-9][0-9]{0,9})$/.test(key)) throw bad(`logit_bias: "${key}" is not a token id`, 'logit_bias');
        if (typeof bias !== 'number' || !Number.isFinite(bias) || bias < -100 || bias > 100) throw bad(`logit_bias: the bias of token ${key} must be a number in [-100, 100]`, 'logit_bias');
        out.set(Number(key), bias);
    }
    return out.size > 0 ? out : undefined;
}

/** `logprobs` / `top_logprobs`: the number of alternatives per token, or undefined when no logprobs are asked for. */
function parseLogprobs(body: Record<string, unknown>): number | undefined {
    if (given(body.logprobs) && typeof body.logprobs !== 'boolean') throw bad('logprobs must be a boolean', 'logprobs');
    const top = optNumber(body, 'top_logprobs', 0, MAX_TOP_LOGPROBS, true);
    if (body.logprobs !== true) {
        if (top !== undefined && top > 0) throw bad('top_logprobs needs logprobs: true', 'top_logprobs');
        return undefined;
    }
    return top ?? 0;
}

/** The answer-shaping fields of a request body or of sealed content (absent when neutral). */
function parseShaping(body: Record<string, unknown>): AnswerShaping {
    const out: AnswerShaping = {};
    // Zero is OpenAI's default and means no penalty: left out, so the sampler is not configured for it.
    const presence = optNumber(body, 'presence_penalty', -2, 2, false);
    const frequency = optNumber(body, 'frequency_penalty', -2, 2, false);
    if (presence) out.presencePenalty = presence;
    if (frequency) out.frequencyPenalty = frequency;
    const logitBias = parseLogitBias(body.logit_bias);
    if (logitBias) out.logitBias = logitBias;
    const responseFormat = parseResponseFormat(body.response_format);
    if (responseFormat) out.responseFormat = responseFormat;
    return out;
}

export function parseChatRequest(body: Record<string, unknown>): ChatRequest {
    if (typeof body.model !== 'string' || body.model.length === 0) throw bad('model must be a non-empty string', 'model');
    refuseUnsupported(body);
    const stream = body.stream === true;
    if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw bad('stream must be a boolean', 'stream');
    const so = body.stream_options;
    const includeUsage = typeof so === 'object' && so !== null && (so as { include_usage?: unknown }).include_usage === true;
    const maxTokens = optNumber(body, 'max_completion_tokens', 1, 1 << 20, true) ?? optNumber(body, 'max_tokens', 1, 1 << 20, true);
    const temperature = optNumber(body, 'temperature', 0, 2, false) ?? 1;
    const topP = optNumber(body, 'top_p', 0, 1, false);
    const seed = optNumber(body, 'seed', -(2 ** 31), 2 ** 32 - 1, true);
    const logprobs = parseLogprobs(body);
    const req: ChatRequest = { model: body.model, stream, includeUsage, maxTokens, temperature, topP, seed, stop: parseStop(body.stop), ...parseShaping(body), ...(logprobs !== undefined ? { logprobs } : {}) };
    if (body.sealed !== undefined) {
        if (body.messages !== undefined) throw bad('a sealed request must not carry plain messages', 'messages');
        const s = body.sealed;
        if (typeof s !== 'object' || s === null || typeof (s as SealedPiece).epk !== 'string' || typeof (s as SealedPiece).ct !== 'string' || (s as SealedPiece).seq !== 0)
            throw bad('sealed must be {epk, seq: 0, ct}', 'sealed', 'bad_ciphertext');
        if (typeof body.reply_key !== 'string') throw bad('a sealed request needs reply_key (the client X25519 public key, base64)', 'reply_key');
        const replyKey = Buffer.from(body.reply_key, 'base64');
        if (replyKey.length !== 32) throw bad('reply_key must be 32 bytes, base64', 'reply_key');
        if (req.stop.length > 0) throw bad('a sealed request carries its stop strings inside the sealed content', 'stop');
        for (const f of SHAPING_FIELDS) if (given(body[f])) throw bad(`a sealed request carries ${f} inside the sealed content, where it says nothing to the proxy`, f);
        req.sealed = s as SealedPiece;
        req.replyKey = replyKey;
    } else {
        req.messages = parseMessages(body.messages);
    }
    return req;
}

/** Parses the decrypted content of a sealed request. */
export function parseSealedContent(plain: Buffer): SealedContent {
    let v: unknown;
    try {
        v = JSON.parse(plain.toString('utf8'));
    } catch {
        throw bad('sealed content is not JSON', 'sealed', 'bad_ciphertext');
    }
    if (typeof v !== 'object' || v === null) throw bad('sealed content must be an object', 'sealed', 'bad_ciphertext');
    const content = v as Record<string, unknown>;
    return { messages: parseMessages(content.messages), stop: parseStop(content.stop), ...parseShaping(content) };
}
