/**
 * The worker's OpenAI-compatible HTTP API:
 *   GET  /v1/models            models served (id, SHA-256 of the GGUF)
 *   GET  /v1/worker            identity (Ed25519 + X25519 public keys), backend, load
 *   GET  /health               liveness and load, for proxies' health checks
 *   GET  /metrics              Prometheus metrics (worker/metrics.ts)
 *   POST /v1/chat/completions  chat completion, plain or sealed, streaming or not, with a
 *                              signed work receipt in every answer
 * Answers and prompts are never logged; logs carry ids, token counts and timings only.
 * A (proxy, request id) pair is claimed once, ever (worker/request-ids.ts): its claim is on
 * disk before the receipt is signed.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { Address } from '@ton/core';
import { ApiError, drainServer, HEADER_PROXY, HEADER_REQUEST_ID, HEADER_REQUEST_ID_FLOOR, log, parseJsonObject, readBody, sendError, sendJson, SseBatch } from '../common/http';
import { Ed25519Signer } from '../crypto/ed25519';
import { NodeIdentity } from '../crypto/keys';
import { Opener, SealedPiece, Sealer } from '../crypto/seal';
import { peerEd25519Key, TlsCredentials, tlsServerOptions } from '../crypto/tls-link';
import { AnswerShaping, ChatRequest, parseChatRequest, parseSealedContent } from './chat-request';
import { GenerateResult, ModelEngine, TokenUsage } from './engine';
import { TokenLogprob } from './text-stream';
import { ReceiptJson, ResultHasher, signReceipt } from './receipt';
import { WorkerMetrics } from './metrics';
import { ClaimedRequestIds } from './request-ids';

/**
 * Longest a streamed piece of text waits to share an SSE event with the next ones: at most 50
 * events a second, smoother than a screen refreshes. A model slower than that (most real ones)
 * still gets one event per token; a fast one gets fewer writes, which on a small machine
 * compete with generation for the CPU (bench: 5 ms → 20 ms took the tiny model's API ratio from
 * ~0.90 to ~0.93).
 */
const STREAM_FLUSH_MS = 20;

export interface WorkerServerOptions {
    engines: ModelEngine[];
    identity: NodeIdentity;
    backend: string;
    /** Proxy address put in receipts of requests that name none (direct use, tests). */
    defaultProxy: Address;
    maxBodyBytes: number;
    /** (proxy, request id) pairs claimed so far: signing two receipts for one pair is slashable. */
    requestIds: ClaimedRequestIds;
    /** Serve HTTPS (crypto/tls-link.ts) instead of plain HTTP. */
    tls?: WorkerTlsOptions;
}

export interface WorkerTlsOptions {
    /** The worker's certificate: its Ed25519 enclave key, which proxies pin. */
    credentials: TlsCredentials;
    /**
     * Proxies allowed to request completions: hex Ed25519 enclave key → Proxy contract address.
     * Empty: anyone may (receipts name the proxy the request claims). Otherwise a request must
     * come over a connection whose client certificate carries one of these keys, and its
     * receipt names that key's proxy. Read per request: entries may come and go (--join-proxy
     * follows the chain).
     */
    trustedProxies: Map<string, Address>;
    /** Serve only trusted proxies even while the map is empty (it was not empty at start). */
    restricted?: boolean;
}

export function usageJson(u: TokenUsage) {
    return {
        prompt_tokens: u.prompt,
        completion_tokens: u.completion,
        total_tokens: u.prompt + u.completion,
        prompt_tokens_details: { cached_tokens: u.cached },
        completion_tokens_details: { reasoning_tokens: u.reasoning },
    };
}

/** One token's entry in OpenAI's `choices[].logprobs.content`. */
export interface LogprobJson {
    token: string;
    logprob: number;
    bytes: number[];
    top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

/** Tokens' log-probabilities in OpenAI's shape (`choices[].logprobs.content`). */
export function logprobsContent(entries: TokenLogprob[]): LogprobJson[] {
    const bytes = (text: string) => [...Buffer.from(text, 'utf8')];
    return entries.map((e) => ({
        token: e.text,
        logprob: e.logprob,
        bytes: bytes(e.text),
        top_logprobs: e.top.map((t) => ({ token: t.text, logprob: t.logprob, bytes: bytes(t.text) })),
    }));
}

export class WorkerServer {
    readonly server: http.Server | https.Server;
    private requests = 0;
    private readonly signer: Ed25519Signer;
    readonly metrics: WorkerMetrics;

    constructor(private readonly o: WorkerServerOptions) {
        this.signer = new Ed25519Signer(o.identity.ed25519);
        this.metrics = new WorkerMetrics(o.engines, o.backend);
        const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
            this.metrics.count(req, res);
            this.route(req, res).catch((e: unknown) => {
                if (!(e instanceof ApiError)) log('worker', 'request failed', { error: e instanceof Error ? e.message : String(e) });
                sendError(res, e);
            });
        };
        this.server = o.tls ? https.createServer(tlsServerOptions(o.tls.credentials), handle) : http.createServer(handle);
        this.server.keepAliveTimeout = 30_000;
    }

    listen(port: number, host = '127.0.0.1'): Promise<number> {
        return new Promise((resolve, reject) => {
            this.server.once('error', reject);
            this.server.listen(port, host, () => resolve((this.server.address() as AddressInfo).port));
        });
    }

    /** Requests admitted or waiting for a sequence, over every model. */
    get inFlight(): number {
        return this.load().reduce((n, l) => n + l.active + l.queued, 0);
    }

    /** Stops taking connections; requests in flight get up to `drainMs` to finish (0: cut at once). */
    async close(drainMs = 0): Promise<{ cut: boolean }> {
        return drainServer(this.server, drainMs);
    }

    private findEngine(model: string): ModelEngine {
        const e = this.o.engines.find((x) => x.id === model || x.options.hash.toString('hex') === model.toLowerCase().replace(/^sha256:/, ''));
        if (!e) throw new ApiError(404, `The model \`${model}\` does not exist or is not served by this worker`, 'invalid_request_error', 'model_not_found', 'model');
        return e;
    }

    private load() {
        return this.o.engines.map((e) => ({ model: e.id, ...e.load }));
    }

    private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const url = (req.url ?? '/').split('?')[0];
        if (req.method === 'GET' && url === '/v1/models') {
            sendJson(res, 200, {
                object: 'list',
                data: this.o.engines.map((e) => ({
                    id: e.id,
                    object: 'model',
                    created: 0,
                    owned_by: 'cocoon-worker',
                    model_hash: e.options.hash.toString('hex'),
                    context_length: e.contextSize,
                })),
            });
            return;
        }
        if (req.method === 'GET' && url === '/health') {
            sendJson(res, 200, { status: 'ok', load: this.load() });
            return;
        }
        if (req.method === 'GET' && url === '/metrics') return this.metrics.send(res);
        if (req.method === 'GET' && url === '/v1/worker') {
            sendJson(res, 200, {
                ed25519_public_key: this.o.identity.ed25519.publicKey.toString('hex'),
                x25519_public_key: this.o.identity.x25519.publicKey.toString('hex'),
                backend: this.o.backend,
                tls: this.o.tls !== undefined,
                models: this.o.engines.map((e) => ({ id: e.id, model_hash: e.options.hash.toString('hex') })),
                load: this.load(),
            });
            return;
        }
        if (url === '/v1/chat/completions') {
            if (req.method !== 'POST') throw new ApiError(405, 'use POST', 'invalid_request_error', 'method_not_allowed');
            await this.chat(req, res);
            return;
        }
        throw new ApiError(404, `no route ${req.method} ${url}`, 'invalid_request_error', 'not_found');
    }

    /**
     * The proxy a request comes from. With trusted proxies configured it is the one whose key
     * the connection's client certificate carries (403 for any other caller, or for a request
     * that names another proxy); otherwise the one the request names, or the default.
     */
    private requestingProxy(req: http.IncomingMessage): Address {
        const p = req.headers[HEADER_PROXY];
        let named: Address | undefined;
        if (typeof p === 'string') {
            try {
                named = Address.parse(p);
            } catch {
                throw new ApiError(400, `${HEADER_PROXY} is not a TON address`, 'invalid_request_error', 'bad_proxy');
            }
        }
        const trusted = this.o.tls?.trustedProxies;
        if (!trusted || (trusted.size === 0 && !this.o.tls?.restricted)) return named ?? this.o.defaultProxy;
        const key = peerEd25519Key(req.socket as tls.TLSSocket);
        const bound = key ? trusted.get(key.toString('hex')) : undefined;
        if (!bound)
            throw new ApiError(
                403,
                key
                    ? `this worker serves only its proxies: the TLS client key ${key.toString('hex')} is not one of them`
                    : 'this worker serves only its proxies: connect with TLS presenting your proxy enclave key as client certificate',
                'invalid_request_error',
                'untrusted_proxy',
            );
        if (named && !named.equals(bound)) throw new ApiError(403, `${HEADER_PROXY} names ${named.toString()}, but this connection is proxy ${bound.toString()}`, 'invalid_request_error', 'proxy_mismatch');
        return bound;
    }

    /** The receipt's proxy and request id, claimed; `durable` resolves once the claim is on disk. */
    private receiptContext(req: http.IncomingMessage, proxy: Address): { proxy: Address; requestId: bigint; durable: Promise<void> } {
        const r = req.headers[HEADER_REQUEST_ID];
        let requestId: bigint;
        if (typeof r === 'string') {
            if (!/^[0-9]{1,20}$/.test(r) || BigInt(r) >= 1n << 64n) throw new ApiError(400, `${HEADER_REQUEST_ID} must be a uint64`, 'invalid_request_error', 'bad_request_id');
            requestId = BigInt(r);
        } else requestId = this.o.requestIds.fresh(proxy);
        if (!this.o.requestIds.admits(proxy))
            throw new ApiError(
                403,
                `this worker has answered ${this.o.requestIds.maxProxies} proxy addresses, its limit (--max-proxies), and keeps each one's request ids for good: a request naming another (${proxy.toString()}) is refused`,
                'invalid_request_error',
                'proxy_limit',
            );
        const durable = this.o.requestIds.claim(proxy, requestId);
        if (!durable) {
            const floor = this.o.requestIds.floorOf(proxy);
            // Ids this worker reserved before a restart (or long passed): the proxy skips past them and asks again.
            if (requestId < floor)
                throw new ApiError(409, `request id ${requestId} is below ${floor}, under which this worker may have answered this proxy before (ids are reserved in blocks across restarts): use an id of at least ${floor}`, 'invalid_request_error', 'request_id_below_floor', null, { headers: { [HEADER_REQUEST_ID_FLOOR]: floor.toString() } });
            throw new ApiError(409, `request id ${requestId} was already used by this proxy`, 'invalid_request_error', 'duplicate_request_id');
        }
        return { proxy, requestId, durable };
    }

    private async chat(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        // Who asks comes first: an untrusted caller gets nothing read, decrypted or generated.
        const proxy = this.requestingProxy(req);
        const body = parseJsonObject(await readBody(req, this.o.maxBodyBytes));
        const request = parseChatRequest(body);
        const engine = this.findEngine(request.model);
        let messages = request.messages;
        let stop = request.stop;
        let shaping: AnswerShaping = request;
        if (request.sealed) {
            const opener = new Opener(this.o.identity.x25519.privateKey, this.o.identity.x25519.publicKey, 'request');
            let plain: Buffer;
            try {
                plain = opener.open(request.sealed);
            } catch {
                throw new ApiError(400, 'sealed content could not be decrypted with this worker key', 'invalid_request_error', 'bad_ciphertext', 'sealed');
            }
            const content = parseSealedContent(plain);
            messages = content.messages;
            stop = content.stop ?? [];
            shaping = content;
        }
        const ctx = this.receiptContext(req, proxy);
        const id = `chatcmpl-${ctx.requestId.toString(16)}`;
        const created = Math.floor(Date.now() / 1000);
        const abort = new AbortController();
        res.on('close', () => {
            if (!res.writableFinished) abort.abort();
        });
        const sealer = request.replyKey ? new Sealer(request.replyKey, 'response') : undefined;
        // Sealed answers' logprobs (every token and its alternatives) are sealed too, as a stream of their own.
        const logprobSealer = request.replyKey && request.logprobs !== undefined ? new Sealer(request.replyKey, 'logprobs') : undefined;
        /** `choices[].logprobs` for these entries: OpenAI's, or its `content` sealed as JSON. */
        const logprobsField = (entries: TokenLogprob[]) =>
            logprobSealer ? { sealed: logprobSealer.seal(JSON.stringify(logprobsContent(entries))), refusal: null } : { content: logprobsContent(entries), refusal: null };
        const hasher = new ResultHasher();
        const n = ++this.requests;
        const started = performance.now();

        const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}, logprobs: TokenLogprob[] | null = null) => ({
            id,
            object: 'chat.completion.chunk',
            created,
            model: engine.id,
            system_fingerprint: null,
            choices: [{ index: 0, delta, logprobs: logprobs && logprobsField(logprobs), finish_reason: finish }],
            ...extra,
        });
        const sealPiece = (text: string): SealedPiece => {
            const piece = (sealer as Sealer).seal(text);
            hasher.update(Buffer.from(piece.ct, 'base64'));
            return piece;
        };

        const admitted = await engine.admit({
            messages: messages ?? [],
            maxTokens: request.maxTokens,
            temperature: request.temperature,
            topP: request.topP,
            seed: request.seed,
            presencePenalty: shaping.presencePenalty,
            frequencyPenalty: shaping.frequencyPenalty,
            logitBias: shaping.logitBias,
            responseFormat: shaping.responseFormat,
            logprobs: request.logprobs,
            stop,
            signal: abort.signal,
        });
        // Streamed text goes out in SSE events of at most STREAM_FLUSH_MS of tokens: the first
        // piece at once (time to first token, together with the 200 head and the role chunk),
        // then whatever accumulated. One event per token costs more JS work and more system
        // calls (JSON, writes, the client's and the proxy's parsing) than a fast model spends
        // generating it.
        const sse = request.stream ? new SseBatch(res) : undefined;
        sse?.add(chunk({ role: 'assistant', content: '' }, null));
        let pending = '';
        let pendingLogprobs: TokenLogprob[] = [];
        let lastFlush = 0;
        let flushTimer: NodeJS.Timeout | undefined;
        const takePending = () => {
            if (flushTimer) clearTimeout(flushTimer);
            flushTimer = undefined;
            if ((pending.length === 0 && pendingLogprobs.length === 0) || !sse) return;
            const text = pending;
            pending = '';
            const logprobs = request.logprobs !== undefined ? pendingLogprobs : null;
            pendingLogprobs = [];
            if (sealer) sse.add(chunk({ sealed: sealPiece(text) }, null, {}, logprobs));
            else {
                hasher.update(text);
                sse.add(chunk({ content: text }, null, {}, logprobs));
            }
        };
        const flush = () => {
            takePending();
            lastFlush = performance.now();
            sse?.flush();
        };
        let result: GenerateResult;
        try {
            result = await admitted.run(
                sse
                    ? (text, logprobs) => {
                          pending += text;
                          if (logprobs) pendingLogprobs.push(...logprobs);
                          if (performance.now() - lastFlush >= STREAM_FLUSH_MS) flush();
                          else if (!flushTimer) flushTimer = setTimeout(flush, STREAM_FLUSH_MS);
                      }
                    : undefined,
            );
            takePending();
            // Written while the model generated: no receipt is signed before the claim is on disk.
            await ctx.durable.catch((e: Error) => {
                throw new ApiError(503, `the request id could not be recorded, so no receipt can be signed: ${e.message}`, 'server_error', 'request_id_log_failed');
            });
        } catch (e) {
            if (flushTimer) clearTimeout(flushTimer);
            if (sse?.sent) {
                // The 200 head is out: the error travels as an event, as OpenAI's API does.
                const err = e instanceof ApiError ? e : new ApiError(500, 'generation failed', 'server_error', 'internal_error');
                sse.add({ error: { message: err.message, type: err.type, param: err.param, code: err.code } });
                sse.end();
                return;
            }
            throw e;
        }
        const ms = performance.now() - started;
        this.metrics.completion({ model: engine.id, stream: request.stream, sealed: !!sealer, finish: result.cancelled ? 'cancelled' : result.finishReason, usage: result.usage, firstTokenMs: result.firstTokenMs, ms });
        if (result.cancelled) {
            log('worker', 'request cancelled by client', { n, request_id: ctx.requestId.toString(), completion_tokens: result.usage.completion });
            return;
        }
        let sealedAnswer: SealedPiece | undefined;
        if (!request.stream) {
            if (sealer) sealedAnswer = sealPiece(result.text);
            else hasher.update(result.text);
        }
        const receipt: ReceiptJson = signReceipt(
            { proxy: ctx.proxy, requestId: ctx.requestId, modelHash: engine.options.hash, usage: result.usage, resultHash: hasher.digest() },
            this.signer,
        );
        log('worker', 'answered', {
            n,
            request_id: ctx.requestId.toString(),
            model: engine.id,
            sealed: !!sealer,
            stream: request.stream,
            prompt: result.usage.prompt,
            cached: result.usage.cached,
            completion: result.usage.completion,
            ttft_ms: Math.round(result.firstTokenMs),
            ms: Math.round(ms),
        });
        if (sse) {
            sse.add(chunk({}, result.finishReason, { receipt }));
            if (request.includeUsage) sse.add({ ...chunk({}, null), choices: [], usage: usageJson(result.usage) });
            sse.add('[DONE]');
            sse.end();
            return;
        }
        sendJson(res, 200, {
            id,
            object: 'chat.completion',
            created,
            model: engine.id,
            system_fingerprint: null,
            choices: [
                {
                    index: 0,
                    message: sealedAnswer ? { role: 'assistant', content: null, refusal: null, sealed: sealedAnswer } : { role: 'assistant', content: result.text, refusal: null },
                    logprobs: result.logprobs ? logprobsField(result.logprobs) : null,
                    finish_reason: result.finishReason,
                },
            ],
            usage: usageJson(result.usage),
            receipt,
        });
    }
}

export type { ChatRequest };
