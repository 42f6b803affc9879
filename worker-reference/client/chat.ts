/**
 * A client's chat completion through a Cocoon proxy: streamed, optionally sealed to one
 * worker's X25519 key (only that worker reads the prompt; the answer comes back sealed to a
 * one-off key of this client), over a TLS connection pinned to the proxy's enclave key when
 * one is given. The answer's work receipt is checked as the proxy checks it: signed by a
 * worker the proxy lists (the one sealed to, for a sealed request), for the model asked,
 * hashing exactly the answer received and counting exactly the tokens reported.
 *
 * What `cocoon-chat` (cli/chat.ts) and the demo run.
 */
import * as http from 'node:http';
import { Address } from '@ton/core';
import { TokenCounts } from '../../wrappers/payloads';
import { Ed25519Verifier } from '../crypto/ed25519';
import { PinnedKeyAgent } from '../crypto/tls-link';
import { SealedPiece } from '../crypto/seal';
import { requestModule, getJson } from '../proxy/registry';
import { checkAnswer, ReceiptError, UsageJson } from '../proxy/receipt-check';
import type { ChainCheck } from './chain-check';
import { SseParser } from '../proxy/sse';
import { openReceipt, ReceiptJson, ResultHasher } from '../worker/receipt';
import { ChatMessage } from '../worker/chat-request';
import { proxyAuthHeaders } from './api-key';
import type { LogprobJson } from '../worker/server';
import { SealedChatContent, sealChatRequest, SealedAnswerReader, SealedLogprobsReader } from './sealed-client';

/** A worker as the proxy's GET /v1/workers lists it. */
export interface ListedWorker {
    name: string;
    healthy: boolean;
    models: Record<string, string>; // id → model hash (hex)
    ed25519_public_key: string;
    x25519_public_key: string | null;
    inflight: number;
}

export interface ChatOptions {
    /** The proxy's base URL. */
    proxy: string;
    /** `<escrow address>:<secret hex>` (client/api-key.ts). */
    apiKey: string;
    /** The proxy's Ed25519 enclave key: its TLS certificate must carry it (a proxy with --tls). */
    proxyKey?: Buffer;
    /** A model id or `sha256:<hash>`; default: the one model the proxy's healthy workers serve. */
    model?: string;
    messages: ChatMessage[];
    /** Seal the messages to a worker's X25519 key. */
    seal?: boolean;
    maxTokens?: number;
    temperature?: number;
    stop?: string[];
    /** JSON output (OpenAI's response_format); sealed with the prompt when `seal` is set. */
    responseFormat?: SealedChatContent['response_format'];
    /** Ask for each token's log-probability and this many alternatives (0..20); sealed when `seal` is set. */
    logprobs?: number;
    timeoutMs?: number;
    /**
     * Check on chain (client/chain-check.ts): the pinned proxy key is an active registered
     * Proxy, the worker a sealed prompt goes to and the worker that signed the receipt are
     * eligible registered Providers with those keys, serving the model.
     */
    chain?: ChainCheck;
}

export interface ChatOutcome {
    text: string;
    model: string;
    modelHash: string;
    tokens: TokenCounts;
    /** The worker whose key signed the receipt. */
    worker: ListedWorker;
    requestId: bigint;
    sealed: boolean;
    receipt: ReceiptJson;
    /** With `chain`: the Provider contract of the worker that signed the receipt, and the Proxy contract of a pinned proxy key. */
    onChain?: { provider: Address; proxy?: Address };
    /** With `logprobs`: one entry per answer token (opened, when sealed). */
    logprobs?: LogprobJson[];
}

/** The proxy answered with an error (its OpenAI-shaped message, HTTP status and code). */
export class ProxyError extends Error {
    constructor(
        message: string,
        readonly status: number,
        readonly code: string | null,
    ) {
        super(message);
    }
}

/** Whether a worker is healthy and serves `model` (an id or `sha256:<hash>`). */
const serves = (model: string) => (w: ListedWorker) => w.healthy && (model in w.models || Object.values(w.models).includes(model.toLowerCase().replace(/^sha256:/, '')));

function pickModel(workers: ListedWorker[], asked: string | undefined): string {
    if (asked !== undefined) return asked;
    const ids = [...new Set(workers.filter((w) => w.healthy).flatMap((w) => Object.keys(w.models)))].sort();
    if (ids.length === 1) return ids[0];
    throw new Error(ids.length === 0 ? 'the proxy lists no healthy worker' : `the proxy serves ${ids.join(', ')}: name one with --model`);
}

/** Sends the request and resolves with the response once its head is in (an error status rejects with ProxyError). */
function post(url: string, body: unknown, headers: Record<string, string>, agent: http.Agent | undefined, timeoutMs: number): Promise<http.IncomingMessage> {
    const payload = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
        const req = requestModule(url).request(url, { method: 'POST', agent, timeout: timeoutMs, headers: { 'content-type': 'application/json', 'content-length': String(payload.length), ...headers } }, (res) => {
            if (res.statusCode === 200) return resolve(res);
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                let err: { message?: string; code?: string | null } | undefined;
                try {
                    err = (JSON.parse(text) as { error?: { message?: string; code?: string | null } }).error;
                } catch {
                    /* not JSON */
                }
                reject(new ProxyError(`the proxy answered HTTP ${res.statusCode}: ${err?.message ?? text.slice(0, 200)}`, res.statusCode ?? 0, err?.code ?? null));
            });
        });
        req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end(payload);
    });
}

interface StreamChunk {
    error?: { message?: string; code?: string | null };
    choices?: Array<{ delta?: { content?: string | null; sealed?: SealedPiece }; logprobs?: { content?: LogprobJson[]; sealed?: SealedPiece } | null }>;
    usage?: UsageJson;
    receipt?: ReceiptJson;
}

/** One streamed chat completion through the proxy; `onText` gets the answer as it arrives (opened, when sealed). */
export async function chatThroughProxy(o: ChatOptions, onText: (text: string) => void = () => undefined): Promise<ChatOutcome> {
    const base = o.proxy.replace(/\/+$/, '');
    const agent = o.proxyKey ? new PinnedKeyAgent(o.proxyKey) : undefined;
    const timeoutMs = o.timeoutMs ?? 120_000;
    try {
        const proxyContract = o.chain && o.proxyKey ? await o.chain.proxy(o.proxyKey) : undefined;
        const workers = ((await getJson(`${base}/v1/workers`, timeoutMs, agent)) as { workers: ListedWorker[] }).workers;
        const model = pickModel(workers, o.model);
        const serving = workers.filter(serves(model));
        let sealedTo: ListedWorker | undefined;
        let sealed: ReturnType<typeof sealChatRequest> | undefined;
        const body: Record<string, unknown> = { model, stream: true, stream_options: { include_usage: true }, max_tokens: o.maxTokens, temperature: o.temperature };
        if (o.logprobs !== undefined) Object.assign(body, { logprobs: true, top_logprobs: o.logprobs });
        if (o.seal) {
            sealedTo = serving.filter((w) => w.x25519_public_key).sort((a, b) => a.inflight - b.inflight)[0];
            if (!sealedTo) throw new Error(`no healthy worker serving ${model} publishes an X25519 key to seal to`);
            // Before the prompt leaves: the key it is sealed to is an attested worker's.
            await o.chain?.worker({
                ed25519: Buffer.from(sealedTo.ed25519_public_key, 'hex'),
                x25519: Buffer.from(sealedTo.x25519_public_key as string, 'hex'),
                modelHash: Buffer.from(sealedTo.models[model] ?? model.toLowerCase().replace(/^sha256:/, ''), 'hex'),
            });
            sealed = sealChatRequest(Buffer.from(sealedTo.x25519_public_key as string, 'hex'), { messages: o.messages, stop: o.stop, response_format: o.responseFormat });
            Object.assign(body, { sealed_for: sealedTo.x25519_public_key, ...sealed.body });
        } else Object.assign(body, { messages: o.messages, stop: o.stop, response_format: o.responseFormat });

        const res = await post(`${base}/v1/chat/completions`, body, proxyAuthHeaders(o.apiKey), agent, timeoutMs);
        const opener = sealed && new SealedAnswerReader(sealed.replyKeys);
        const logprobOpener = sealed && o.logprobs !== undefined ? new SealedLogprobsReader(sealed.replyKeys) : undefined;
        const logprobs: LogprobJson[] = [];
        const hasher = new ResultHasher();
        const parser = new SseParser();
        let text = '';
        let usage: UsageJson | undefined;
        let receipt: ReceiptJson | undefined;
        let done = false;
        res.setEncoding('utf8');
        for await (const piece of res as AsyncIterable<string>) {
            for (const data of parser.push(piece)) {
                if (data === '[DONE]') {
                    done = true;
                    continue;
                }
                const chunk = JSON.parse(data) as StreamChunk;
                if (chunk.error) throw new ProxyError(`the answer failed: ${chunk.error.message ?? 'unknown error'}`, 200, chunk.error.code ?? null);
                const delta = chunk.choices?.[0]?.delta;
                let got = '';
                if (delta?.sealed) {
                    if (!opener) throw new Error('the proxy sent a sealed piece for a plain request');
                    hasher.update(Buffer.from(delta.sealed.ct, 'base64'));
                    got = opener.push(delta.sealed);
                } else if (typeof delta?.content === 'string') {
                    if (opener && delta.content.length > 0) throw new Error('the proxy sent plain text for a sealed request');
                    hasher.update(delta.content);
                    got = delta.content;
                }
                if (got.length > 0) {
                    text += got;
                    onText(got);
                }
                const lp = chunk.choices?.[0]?.logprobs;
                if (lp?.sealed) {
                    if (!logprobOpener) throw new Error('the proxy sent sealed logprobs for a plain request, or ones not asked for');
                    logprobs.push(...logprobOpener.push(lp.sealed));
                } else if (lp?.content) {
                    if (opener) throw new Error('the proxy sent logprobs in the clear for a sealed request');
                    logprobs.push(...lp.content);
                }
                if (chunk.usage) usage = chunk.usage;
                if (chunk.receipt) receipt = chunk.receipt;
            }
        }
        if (!done) throw new Error('the stream ended before [DONE]: the answer is incomplete');
        if (!receipt) throw new Error('the answer carries no work receipt');

        // The receipt: a listed worker's key (the sealed-to worker's, when sealed) signed it.
        const candidates = sealedTo ? [sealedTo] : [...serving].sort((a, b) => Number(b.ed25519_public_key === receipt?.worker_key) - Number(a.ed25519_public_key === receipt?.worker_key));
        let signer: ListedWorker | undefined;
        let opened: ReturnType<typeof openReceipt> | undefined;
        let why = 'no worker serving it is listed';
        for (const w of candidates) {
            try {
                opened = openReceipt(receipt, new Ed25519Verifier(Buffer.from(w.ed25519_public_key, 'hex')));
                signer = w;
                break;
            } catch (e) {
                why = (e as Error).message;
            }
        }
        if (!signer || !opened) throw new ReceiptError(`bad receipt: no worker the proxy lists for ${model}${sealedTo ? ` (the one sealed to, ${sealedTo.name})` : ''} signed it (${why})`);
        const modelHash = opened.receipt.modelHash.toString('hex');
        if (!Object.entries(signer.models).some(([id, hash]) => hash === modelHash && (id === model || hash === model.toLowerCase().replace(/^sha256:/, ''))))
            throw new ReceiptError(`the receipt names model ${modelHash}, not ${model}`);
        const tokens = checkAnswer(opened.receipt, usage, hasher.digest());
        const provider = await o.chain?.worker({ ed25519: Buffer.from(signer.ed25519_public_key, 'hex'), modelHash: opened.receipt.modelHash });
        return {
            text,
            model,
            modelHash,
            tokens,
            worker: signer,
            requestId: opened.receipt.requestId,
            sealed: !!sealed,
            receipt,
            ...(o.logprobs !== undefined ? { logprobs } : {}),
            onChain: provider ? { provider, proxy: proxyContract } : undefined,
        };
    } finally {
        agent?.destroy();
    }
}
