/**
 * The reference proxy router's HTTP API:
 *   POST /v1/chat/completions   OpenAI-compatible; `Authorization: Bearer <escrow address>:<secret hex>`
 *                               (the openai client's apiKey; the secret hashes to the escrow's secretHash)
 *   GET  /v1/models             models of healthy workers
 *   GET  /v1/workers            workers with their keys (clients seal prompts to x25519)
 *   POST /v1/workers/join       a worker joins (proxy/admissions.ts; with ProxyServerOptions.admit)
 *   GET  /health
 *   GET  /metrics               Prometheus metrics (proxy/metrics.ts)
 *   GET  /v1/settlement/charge/<escrow>          latest signed cumulative charge
 *   GET  /v1/settlement/payout/<worker account>  latest signed cumulative payout
 *   GET  /v1/settlement                          accounts known to the ledger
 *   GET  /v1/faults[?after=<report id>&limit=N], /v1/faults/<report id>
 *                               signed fault reports against workers still valid on chain,
 *                               in report-id order, a page at a time (`more`, `next_after`)
 * A request is counted (write-ahead, fsync) only after its receipt checks out, and before
 * the client sees the end of the answer. A receipt the worker signed that fails the check is
 * reported (proxy/faults.ts) before the client gets the 502.
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { AddressInfo } from 'node:net';
import { Address } from '@ton/core';
import { ApiError, drainServer, HEADER_PROXY, HEADER_REQUEST_ID, HEADER_REQUEST_ID_FLOOR, log, parseJsonObject, readBody, sendError, sendJson, SseBatch } from '../common/http';
import { Ed25519Signer } from '../crypto/ed25519';
import { tlsCredentials } from '../crypto/tls-link';
import { ProxyConfig } from './config';
import { faultReasonName } from '../../wrappers/payloads';
import { ApiKeyFormatError, parseEscrowApiKey, secretMatches } from '../../wrappers/escrowSecret';
import { EscrowReader, EscrowState } from './escrow';
import { EscrowCache } from './escrow-cache';
import { FaultReporter } from './faults';
import { Ledger } from './ledger';
import { ProxyMetrics } from './metrics';
import { checkReceipt, ReceiptError, UsageJson } from './receipt-check';
import { WorkerConfig } from './config';
import { JoinCheck, JoinLimits, WorkerAdmissions } from './admissions';
import { ChainReadLimitOptions, ChainReadLimits, sourceOf } from './chain-read-limits';
import { RegisteredKeys } from './registered-keys';
import { requestModule, WorkerListChange, WorkerRegistry, WorkerState } from './registry';
import { Settlement } from './settlement';
import { SseParser } from './sse';
import { costOf, TokenCounts, zeroTokens } from './tokens';

const MAX_ATTEMPTS = 3;
/** The most a worker's request-id floor may lie above the id it refused (its reservation block is 10^6): more is not skipped to. */
const MAX_ID_SKIP = 1_000_000_000n;

/**
 * The floor of a worker's 409 request_id_below_floor, when it is one the proxy can skip to:
 * above the refused id by at most MAX_ID_SKIP (a worker cannot push a proxy's ids to the end
 * of their range). Undefined otherwise: the 409 is then passed to the client as it is.
 */
function requestIdFloor(res: http.IncomingMessage, refused: bigint): bigint | undefined {
    const text = res.headers[HEADER_REQUEST_ID_FLOOR];
    if (typeof text !== 'string' || !/^[0-9]{1,20}$/.test(text)) return undefined;
    const floor = BigInt(text);
    return floor > refused && floor - refused <= MAX_ID_SKIP ? floor : undefined;
}

export interface ProxyServerOptions {
    config: ProxyConfig;
    signer: Ed25519Signer;
    escrows: EscrowReader;
    ledger: Ledger;
    /** Clock (ms) of the escrow cache; tests move it to expire cached state. */
    now?: () => number;
    /** Serve clients over HTTPS with this key and certificate (PEM) instead of plain HTTP. */
    tls?: { key: string; cert: string };
    /** Admit workers that join (POST /v1/workers/join), checked by `check`, for `ttlMs` after each join. */
    admit?: { check: JoinCheck; registered?: RegisteredKeys; ttlMs: number; limits?: JoinLimits };
    /**
     * Limits on reads of escrows the proxy has not seen (an API key naming a made-up address
     * costs a chain read): per source address and at once. Given when escrows are read from
     * the chain (cocoon-proxy --ton-v4); absent, no limit.
     */
    escrowLimits?: ChainReadLimitOptions;
}

/** cocoon-proxy --escrow-rate / --escrow-reads defaults. */
export const DEFAULT_ESCROW_LIMITS: ChainReadLimitOptions = { perSourcePerMinute: 60, atOnce: 16 };

/** A worker that answered with a retryable failure before sending anything. */
class RetryableFailure extends Error {
    constructor(
        message: string,
        readonly markUnhealthy: boolean,
        /** The worker answered 429: healthy, but its sequences and queue are full. */
        readonly busy = false,
    ) {
        super(message);
    }
}

interface Upstream {
    res: http.IncomingMessage;
    req: http.ClientRequest;
}

/** Reports per GET /v1/faults page unless `limit` says otherwise, and the most one may ask for. */
export const FAULT_PAGE_DEFAULT = 500;
export const FAULT_PAGE_MAX = 1000;

export class ProxyServer {
    readonly server: http.Server | https.Server;
    readonly registry: WorkerRegistry;
    readonly settlement: Settlement;
    readonly faults: FaultReporter;
    /** nanoTON reserved by requests in flight, per escrow. */
    private readonly reserved = new Map<string, bigint>();
    /** Escrow state, read through the cache (config escrowCacheMs / escrowRefreshMinMs). */
    readonly escrows: EscrowCache;
    readonly metrics: ProxyMetrics;
    /** Workers that joined themselves (with `admit`). */
    readonly admissions?: WorkerAdmissions;
    private readonly escrowReads?: ChainReadLimits;

    constructor(private readonly o: ProxyServerOptions) {
        this.escrows = new EscrowCache(o.escrows, { ttlMs: o.config.escrowCacheMs, refreshMinMs: o.config.escrowRefreshMinMs, now: o.now });
        this.registry = new WorkerRegistry(o.config.workers, tlsCredentials(o.signer.keyPair, 'cocoon-proxy'));
        this.settlement = new Settlement(o.ledger, o.signer, o.config.prices, o.config.signatureTtlSeconds);
        this.faults = new FaultReporter({ ledger: o.ledger, signer: o.signer, proxy: o.config.proxyAddress, ttlSeconds: o.config.faultTtlSeconds });
        this.metrics = new ProxyMetrics(this.registry, o.ledger);
        if (o.escrowLimits) this.escrowReads = new ChainReadLimits(o.escrowLimits, o.now);
        if (o.admit)
            this.admissions = new WorkerAdmissions({ proxy: o.config.proxyAddress, registry: this.registry, check: o.admit.check, registered: o.admit.registered, ttlMs: o.admit.ttlMs, limits: o.admit.limits, configWorkers: o.config.workers, now: o.now });
        const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
            this.metrics.count(req, res);
            this.route(req, res).catch((e: unknown) => {
                if (!(e instanceof ApiError)) log('proxy', 'request failed', { error: e instanceof Error ? e.message : String(e) });
                sendError(res, e);
            });
        };
        // TLS ends inside the proxy (its enclave in production): API keys and unsealed prompts
        // are never readable on the host.
        this.server = o.tls ? https.createServer({ key: o.tls.key, cert: o.tls.cert, minVersion: 'TLSv1.2' }, handle) : http.createServer(handle);
        this.server.keepAliveTimeout = 30_000;
    }

    async start(port: number, host = '127.0.0.1'): Promise<number> {
        await this.registry.checkAll();
        this.registry.start(this.o.config.healthIntervalMs);
        this.admissions?.start(Math.max(250, Math.min(this.o.admit?.ttlMs ?? 0, 20_000) / 4));
        return new Promise((resolve, reject) => {
            this.server.once('error', reject);
            this.server.listen(port, host, () => resolve((this.server.address() as AddressInfo).port));
        });
    }

    /** Requests being forwarded now. */
    get inFlight(): number {
        return this.registry.workers.reduce((n, w) => n + w.inflight, 0);
    }

    /**
     * Stops taking connections; requests in flight get up to `drainMs` to finish and be
     * accounted (0: cut at once); then the ledger is closed.
     */
    async close(drainMs = 0): Promise<{ cut: boolean }> {
        this.registry.stop();
        this.admissions?.stop();
        const drained = await drainServer(this.server, drainMs);
        this.registry.destroy();
        await this.o.ledger.close();
        return drained;
    }

    /** A reloaded config's workers (SIGHUP); workers that joined and are not in it stay. */
    replaceConfigWorkers(workers: WorkerConfig[]): Promise<WorkerListChange> {
        return this.admissions ? this.admissions.setConfigWorkers(workers) : this.registry.replaceWorkers(workers);
    }

    private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const url = (req.url ?? '/').split('?')[0];
        if (req.method === 'POST' && url === '/v1/chat/completions') return this.chat(req, res);
        if (req.method === 'POST' && url === '/v1/workers/join') {
            if (!this.admissions)
                throw new ApiError(404, 'this proxy admits no workers that join: it routes to the workers in its config (start it with --admit-workers)', 'invalid_request_error', 'not_found');
            let answer;
            try {
                answer = await this.admissions.join(parseJsonObject(await readBody(req, 64 * 1024)), sourceOf(req.socket.remoteAddress));
            } catch (e) {
                this.metrics.join(e instanceof ApiError ? (e.code ?? 'error') : 'error');
                throw e;
            }
            this.metrics.join('admitted');
            sendJson(res, 200, answer);
            return;
        }
        if (req.method !== 'GET') throw new ApiError(404, `no route ${req.method} ${url}`, 'invalid_request_error', 'not_found');
        if (url === '/health') {
            sendJson(res, 200, { status: 'ok', workers: this.registry.workers.filter((w) => w.healthy).length, ledger_records: this.o.ledger.recordCount });
            return;
        }
        if (url === '/metrics') return this.metrics.send(res);
        if (url === '/v1/models') {
            const seen = new Map<string, string>();
            for (const w of this.registry.workers) if (w.healthy) for (const [id, hash] of w.models) seen.set(id, hash);
            sendJson(res, 200, { object: 'list', data: [...seen].map(([id, hash]) => ({ id, object: 'model', created: 0, owned_by: 'cocoon', model_hash: hash })) });
            return;
        }
        if (url === '/v1/workers') {
            sendJson(res, 200, {
                proxy: this.o.config.proxyAddress.toString(),
                proxy_key: this.o.signer.publicKey.toString('hex'),
                workers: this.registry.workers.map((w) => ({
                    name: w.config.name,
                    healthy: w.healthy,
                    link: w.link,
                    models: Object.fromEntries(w.models),
                    ed25519_public_key: w.config.ed25519Key.toString('hex'),
                    x25519_public_key: w.config.x25519Key?.toString('hex') ?? null,
                    inflight: w.inflight,
                    // Where its fees go: what a settlement pass (scripts/settle) pays out.
                    worker_account: w.config.workerAccount.toString(),
                    provider: w.config.provider?.address.toString() ?? null,
                    joined: this.admissions?.workers.some((a) => a.name === w.config.name) ?? false,
                })),
            });
            return;
        }
        if (url === '/v1/settlement') {
            sendJson(res, 200, {
                escrows: this.o.ledger.escrows.map((a) => Address.parseRaw(a).toString()),
                worker_accounts: this.o.ledger.accounts.map((a) => Address.parseRaw(a).toString()),
                records: this.o.ledger.recordCount,
                requests: this.o.ledger.requestCount,
            });
            return;
        }
        if (url === '/v1/faults' || url.startsWith('/v1/faults/')) return this.faultRoute(url, new URLSearchParams((req.url ?? '').split('?')[1] ?? ''), res);
        const m = /^\/v1\/settlement\/(charge|payout)\/([^/]+)$/.exec(url);
        if (m) {
            let addr: Address;
            try {
                addr = Address.parse(decodeURIComponent(m[2]));
            } catch {
                throw new ApiError(400, 'not a TON address', 'invalid_request_error', 'bad_address');
            }
            sendJson(res, 200, m[1] === 'charge' ? this.settlement.charge(addr) : this.settlement.payout(addr));
            return;
        }
        throw new ApiError(404, `no route GET ${url}`, 'invalid_request_error', 'not_found');
    }

    private faultRoute(url: string, query: URLSearchParams, res: http.ServerResponse): void {
        if (url === '/v1/faults') {
            const after = query.get('after') ?? '0';
            if (!/^\d{1,20}$/.test(after)) throw new ApiError(400, '`after` must be a report id (a decimal integer)', 'invalid_request_error', 'bad_after', 'after');
            const limitText = query.get('limit') ?? String(FAULT_PAGE_DEFAULT);
            const limit = /^\d{1,5}$/.test(limitText) ? Number(limitText) : 0;
            if (limit < 1 || limit > FAULT_PAGE_MAX) throw new ApiError(400, `\`limit\` must be 1 to ${FAULT_PAGE_MAX}`, 'invalid_request_error', 'bad_limit', 'limit');
            const page = this.faults.page(BigInt(after), limit);
            const last = page.faults[page.faults.length - 1];
            sendJson(res, 200, {
                proxy: this.o.config.proxyAddress.toString(),
                proxy_key: this.o.signer.publicKey.toString('hex'),
                faults: page.faults,
                more: page.more,
                next_after: last ? last.report_id : after,
            });
            return;
        }
        const id = url.slice('/v1/faults/'.length);
        const found = /^\d{1,20}$/.test(id) ? this.faults.get(BigInt(id)) : undefined;
        if (!found) throw new ApiError(404, `no fault report ${id}`, 'invalid_request_error', 'not_found');
        sendJson(res, 200, found);
    }

    /** Escrow state through the cache; a failed read is the proxy's problem (503), not the client's. */
    private async escrowState(escrow: Address, fresh: boolean): Promise<EscrowState | null> {
        try {
            return fresh ? await this.escrows.refresh(escrow) : await this.escrows.get(escrow);
        } catch (e) {
            log('proxy', 'escrow read failed', { escrow: escrow.toString(), error: e instanceof Error ? e.message : String(e) });
            throw new ApiError(503, 'the proxy could not read your escrow from the chain right now; retry later', 'server_error', 'escrow_unavailable');
        }
    }

    /**
     * The API key is `<escrow address>:<secret hex>`; the secret must hash to the escrow's
     * secretHash (compared in constant time). A refusal on cached state is re-checked once on
     * fresh state first: the client may just have rotated its secret (or opened the escrow).
     */
    private async authenticate(req: http.IncomingMessage): Promise<{ escrow: Address; state: EscrowState }> {
        const auth = req.headers.authorization;
        if (typeof auth !== 'string' || auth.trim() === '')
            throw new ApiError(401, 'missing API key: send "Authorization: Bearer <escrow address>:<secret hex>" (the openai client\'s apiKey)', 'invalid_request_error', 'missing_api_key');
        const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
        if (!m) throw new ApiError(401, 'the Authorization header must be "Bearer <escrow address>:<secret hex>"', 'invalid_request_error', 'invalid_api_key');
        let key: { escrow: Address; secret: Buffer };
        try {
            key = parseEscrowApiKey(m[1]);
        } catch (e) {
            if (e instanceof ApiKeyFormatError) throw new ApiError(401, e.message, 'invalid_request_error', 'invalid_api_key');
            throw e;
        }
        const { escrow, secret } = key;
        // Reads a stranger can cause are limited: of an escrow not read before, and a fresh read of
        // a known one before refusing (a wrong key for a client's escrow, whose address is public).
        let release = this.escrows.known(escrow) ? undefined : this.strangerRead(escrow, req);
        let state: EscrowState | null;
        try {
            state = await this.escrowState(escrow, false);
            if (!state || !state.open || !secretMatches(secret, state.secretHash)) {
                if (!release && this.escrows.wouldRead(escrow, true)) release = this.strangerRead(escrow, req);
                state = await this.escrowState(escrow, true);
            }
        } finally {
            release?.();
        }
        if (!state) throw new ApiError(402, `no open escrow ${escrow.toString()} with this proxy`, 'insufficient_quota', 'escrow_not_open');
        if (state.secretHash === 0n)
            throw new ApiError(401, `escrow ${escrow.toString()} has no API secret set: its client sets one (setEscrowSecret) before using it`, 'invalid_request_error', 'escrow_secret_not_set');
        if (!secretMatches(secret, state.secretHash))
            throw new ApiError(401, `incorrect API key: the secret does not match the one set on escrow ${escrow.toString()}`, 'invalid_request_error', 'invalid_api_key');
        if (!state.open) throw new ApiError(402, `no open escrow ${escrow.toString()} with this proxy`, 'insufficient_quota', 'escrow_not_open');
        return { escrow, state };
    }

    /**
     * Before a chain read a stranger can cause (an escrow this proxy has not seen: anyone can
     * name a made-up address; a fresh read before refusing a key): a token of its source's
     * bucket and a place among the reads at once, or 429 with Retry-After. Returns the place's
     * release (undefined without limits).
     */
    private strangerRead(escrow: Address, req: http.IncomingMessage): (() => void) | undefined {
        const limits = this.escrowReads;
        if (!limits) return undefined;
        const source = sourceOf(req.socket.remoteAddress);
        const wait = limits.waitFor(source);
        if (wait > 0)
            throw new ApiError(429, `too many requests from ${source} that make the proxy read an escrow from the chain (escrows it has not seen, API keys it would refuse): at most ${limits.limits.perSourcePerMinute} a minute; retry in ${wait} s`, 'rate_limit_exceeded', 'escrow_rate_limited', null, { retryAfterS: wait });
        const release = limits.enter();
        if (!release)
            throw new ApiError(429, `the proxy is reading ${limits.running} escrows for requests it has not served before; retry in 1 s (escrow ${escrow.toString()})`, 'rate_limit_exceeded', 'escrow_reads_busy', null, { retryAfterS: 1 });
        return release;
    }

    /**
     * Reserves the worst-case cost of a request against the escrow; returns the release function.
     * A balance that looks short is read again once (the client may just have topped up).
     */
    private async reserve(escrow: Address, cached: EscrowState, body: Record<string, unknown>, bodyBytes: number): Promise<() => void> {
        const key = escrow.toRawString();
        const maxTokens = typeof body.max_completion_tokens === 'number' ? body.max_completion_tokens : typeof body.max_tokens === 'number' ? body.max_tokens : this.o.config.defaultReserveTokens;
        const estimate: TokenCounts = { ...zeroTokens(), prompt: BigInt(Math.ceil(bodyBytes / 4)), completion: BigInt(Math.max(0, Math.floor(maxTokens))) };
        const need = costOf(estimate, this.o.config.prices);
        // Runs synchronously up to the reservation, so concurrent requests cannot both pass on one balance.
        const check = (state: EscrowState) => {
            // Counted here but not yet charged on chain, priced exactly as the escrow will price it.
            const ahead = costOf(this.o.ledger.chargeOf(key), this.o.config.prices) - costOf(state.charged, this.o.config.prices);
            const unsettled = ahead > 0n ? ahead : 0n;
            const inflight = this.reserved.get(key) ?? 0n;
            return { ok: unsettled + inflight + need <= state.balance, unsettled, inflight, balance: state.balance };
        };
        let c = check(cached);
        if (!c.ok) {
            const fresh = await this.escrowState(escrow, true);
            if (!fresh || !fresh.open) throw new ApiError(402, `no open escrow ${escrow.toString()} with this proxy`, 'insufficient_quota', 'escrow_not_open');
            c = check(fresh);
        }
        if (!c.ok)
            throw new ApiError(
                402,
                `escrow balance ${c.balance} nanoTON does not cover this request: ${c.unsettled} unsettled + ${c.inflight} in flight + up to ${need} for this request`,
                'insufficient_quota',
                'insufficient_balance',
            );
        this.reserved.set(key, c.inflight + need);
        let released = false;
        return () => {
            if (released) return;
            released = true;
            const left = (this.reserved.get(key) ?? 0n) - need;
            if (left > 0n) this.reserved.set(key, left);
            else this.reserved.delete(key);
        };
    }

    private async chat(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const { escrow, state } = await this.authenticate(req);
        const raw = await readBody(req, this.o.config.maxBodyBytes);
        const body = parseJsonObject(raw);
        if (typeof body.model !== 'string') throw new ApiError(400, 'model must be a string', 'invalid_request_error', null, 'model');
        const model = body.model;
        const stream = body.stream === true;
        const clientWantsUsage = stream && typeof body.stream_options === 'object' && body.stream_options !== null && (body.stream_options as { include_usage?: unknown }).include_usage === true;
        const forwardBody = stream ? { ...body, stream_options: { include_usage: true } } : body;
        const payload = Buffer.from(JSON.stringify(forwardBody));
        // A sealed prompt opens only on the worker it was sealed to: route to that worker.
        let sealedFor: string | undefined;
        if (body.sealed !== undefined) {
            if (typeof body.sealed_for !== 'string' || !/^[0-9a-fA-F]{64}$/.test(body.sealed_for))
                throw new ApiError(400, 'a sealed request needs sealed_for: the hex X25519 key of the worker it is sealed to (see GET /v1/workers)', 'invalid_request_error', null, 'sealed_for');
            sealedFor = body.sealed_for.toLowerCase();
        }
        const release = await this.reserve(escrow, state, body, raw.length);
        const closed = new AbortController();
        res.on('close', () => {
            if (!res.writableFinished) closed.abort();
        });
        try {
            const tried = new Set<WorkerState>();
            let busy = 0;
            for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
                const worker = this.registry.candidates(model, tried).find((w) => sealedFor === undefined || w.config.x25519Key?.toString('hex') === sealedFor);
                if (!worker) break;
                tried.add(worker);
                const requestId = await this.o.ledger.allocateRequestId();
                worker.inflight++;
                try {
                    const up = await this.forward(worker, requestId, payload, closed.signal);
                    const floor = up.res.statusCode === 409 ? requestIdFloor(up.res, requestId) : undefined;
                    if (floor !== undefined) {
                        // The worker restarted and refuses the ids it had reserved before: skip past them and ask again.
                        up.res.resume();
                        this.o.ledger.skipRequestIdsTo(floor);
                        tried.delete(worker);
                        this.metrics.attempt(worker.config.name, 'id_floor');
                        log('proxy', 'worker refuses request ids below its floor (it restarted); skipping past it', { worker: worker.config.name, request_id: requestId.toString(), floor: floor.toString() });
                        continue;
                    }
                    if (up.res.statusCode !== 200) {
                        // A client error from the worker is the client's: pass it through, uncharged.
                        this.metrics.attempt(worker.config.name, 'client_error');
                        await this.passThrough(up.res, res);
                        return;
                    }
                    const ctx = { worker, requestId, escrow, model };
                    if (stream) await this.relayStream(up, res, ctx, clientWantsUsage);
                    else await this.relayJson(up, res, ctx);
                    return;
                } catch (e) {
                    if (e instanceof RetryableFailure) {
                        if (e.markUnhealthy) this.registry.markUnhealthy(worker, e.message);
                        if (e.busy) busy++;
                        this.metrics.attempt(worker.config.name, e.busy ? 'busy' : 'failed');
                        log('proxy', 'worker failed, retrying elsewhere', { worker: worker.config.name, request_id: requestId.toString(), reason: e.message });
                        continue;
                    }
                    throw e;
                } finally {
                    worker.inflight--;
                }
            }
            if (closed.signal.aborted) return;
            if (!this.registry.knowsModel(model)) throw new ApiError(404, `The model \`${model}\` is not served by any worker of this proxy`, 'invalid_request_error', 'model_not_found', 'model');
            // Every worker tried was full: a rate limit (clients back off and retry), not an outage.
            if (busy > 0 && busy === tried.size)
                throw new ApiError(429, `every worker serving \`${model}\` that was tried (${busy}) is at capacity; retry shortly`, 'rate_limit_exceeded', 'workers_busy', null, { retryAfterS: 1 });
            throw new ApiError(503, `no healthy worker could serve \`${model}\` right now; retry later`, 'server_error', 'no_worker_available');
        } finally {
            release();
        }
    }

    /** Sends the request to a worker; resolves with its response, or a RetryableFailure. */
    private forward(worker: WorkerState, requestId: bigint, payload: Buffer, signal: AbortSignal): Promise<Upstream> {
        return new Promise((resolve, reject) => {
            const url = new URL(`${worker.config.endpoint}/v1/chat/completions`);
            const req = requestModule(url).request(
                {
                    hostname: url.hostname,
                    port: url.port,
                    path: url.pathname,
                    method: 'POST',
                    agent: worker.agent,
                    timeout: this.o.config.requestTimeoutMs,
                    headers: {
                        'content-type': 'application/json',
                        'content-length': payload.length.toString(),
                        [HEADER_PROXY]: this.o.config.proxyAddress.toString(),
                        [HEADER_REQUEST_ID]: requestId.toString(),
                    },
                },
                (res) => {
                    const status = res.statusCode ?? 0;
                    if (status === 429 || status >= 500) {
                        res.resume();
                        reject(new RetryableFailure(`worker answered HTTP ${status}`, status >= 500, status === 429));
                        return;
                    }
                    resolve({ res, req });
                },
            );
            const onAbort = () => req.destroy(new Error('client closed the request'));
            signal.addEventListener('abort', onAbort, { once: true });
            req.on('close', () => signal.removeEventListener('abort', onAbort));
            req.on('timeout', () => req.destroy(new Error('worker timed out')));
            req.on('error', (e) => reject(signal.aborted ? new ApiError(499, 'client closed the request') : new RetryableFailure(e.message, true)));
            req.end(payload);
        });
    }

    private passThrough(up: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        return new Promise((resolve) => {
            const chunks: Buffer[] = [];
            up.on('data', (c: Buffer) => chunks.push(c));
            up.on('end', () => {
                const body = Buffer.concat(chunks);
                res.writeHead(up.statusCode ?? 502, { 'content-type': up.headers['content-type'] ?? 'application/json', 'content-length': body.length.toString() });
                res.end(body);
                resolve();
            });
            up.on('error', () => {
                sendError(res, new ApiError(502, 'worker connection failed', 'server_error', 'worker_failed'));
                resolve();
            });
        });
    }

    /** Checks the receipt and durably counts the tokens; throws ReceiptError when it does not check out. */
    private async account(ctx: { worker: WorkerState; requestId: bigint; escrow: Address }, receipt: unknown, usage: UsageJson | undefined, resultHash: Buffer): Promise<void> {
        const tokens = checkReceipt({ receipt, worker: ctx.worker, proxy: this.o.config.proxyAddress, requestId: ctx.requestId, usage, resultHash });
        await this.o.ledger.record({
            escrow: ctx.escrow.toRawString(),
            workerAccount: ctx.worker.config.workerAccount.toRawString(),
            worker: ctx.worker.config.name,
            requestId: ctx.requestId,
            tokens,
            resultHash: resultHash.toString('hex'),
        });
        this.metrics.attempt(ctx.worker.config.name, 'answered');
        this.metrics.charged(tokens);
    }

    /** A receipt failed the check: report the worker when its own key signed it, then refuse the answer. */
    private async rejectReceipt(ctx: { worker: WorkerState; requestId: bigint }, e: ReceiptError): Promise<ApiError> {
        const why = e.message;
        // Over a plain remote link the answer may have been altered on the way: no evidence.
        if (e.fault !== undefined && ctx.worker.link === 'plain')
            log('proxy', 'fault not reported: the link to this worker is plain HTTP to another host, so the answer may have been altered on the way', { worker: ctx.worker.config.name, request_id: ctx.requestId.toString() });
        else if (e.fault !== undefined) {
            try {
                if (await this.faults.file(ctx.worker.config, ctx.requestId, e.fault, why)) this.metrics.fault(ctx.worker.config.name, faultReasonName(e.fault));
            } catch (err) {
                log('proxy', 'fault report could not be recorded', { worker: ctx.worker.config.name, request_id: ctx.requestId.toString(), error: err instanceof Error ? err.message : String(err) });
            }
        }
        this.metrics.attempt(ctx.worker.config.name, 'invalid_receipt');
        log('proxy', 'receipt rejected, request not charged', { worker: ctx.worker.config.name, request_id: ctx.requestId.toString(), reason: why });
        this.registry.markUnhealthy(ctx.worker, `invalid receipt: ${why}`);
        return new ApiError(502, `the worker's answer failed verification (${why}); you are not charged`, 'server_error', 'invalid_receipt');
    }

    private async relayJson(up: Upstream, res: http.ServerResponse, ctx: { worker: WorkerState; requestId: bigint; escrow: Address }): Promise<void> {
        const raw = await new Promise<Buffer>((resolve, reject) => {
            const chunks: Buffer[] = [];
            let size = 0;
            const limit = this.o.config.maxAnswerBytes;
            up.res.on('data', (c: Buffer) => {
                size += c.length;
                if (size > limit) {
                    reject(new RetryableFailure(`worker sent an answer of more than ${limit} bytes (maxAnswerBytes)`, true));
                    up.req.destroy();
                    return;
                }
                chunks.push(c);
            });
            up.res.on('end', () => resolve(Buffer.concat(chunks)));
            up.res.on('error', (e) => reject(new RetryableFailure(`worker connection failed: ${e.message}`, true)));
            up.res.on('aborted', () => reject(new RetryableFailure('worker connection aborted', true)));
        });
        let json: Record<string, unknown>;
        try {
            json = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
        } catch {
            throw new RetryableFailure('worker sent invalid JSON', true);
        }
        const choice = (json.choices as Array<{ message?: { content?: unknown; sealed?: { ct?: unknown } } }> | undefined)?.[0];
        const sealedCt = choice?.message?.sealed?.ct;
        const answerBytes = typeof sealedCt === 'string' ? Buffer.from(sealedCt, 'base64') : Buffer.from(typeof choice?.message?.content === 'string' ? choice.message.content : '', 'utf8');
        const resultHash = crypto.createHash('sha256').update(answerBytes).digest();
        try {
            await this.account(ctx, json.receipt, json.usage as UsageJson | undefined, resultHash);
        } catch (e) {
            if (e instanceof ReceiptError) throw await this.rejectReceipt(ctx, e);
            throw e;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': raw.length.toString() });
        res.end(raw);
    }

    private relayStream(up: Upstream, res: http.ServerResponse, ctx: { worker: WorkerState; requestId: bigint; escrow: Address }, clientWantsUsage: boolean): Promise<void> {
        return new Promise((resolve) => {
            // Events go to the client in one write per chunk read from the worker.
            const out = new SseBatch(res);
            const parser = new SseParser();
            const hash = crypto.createHash('sha256');
            let receipt: unknown;
            let usage: UsageJson | undefined;
            let finished = false;
            let chain = Promise.resolve();
            const fail = (message: string, code: string) => {
                if (finished) return;
                finished = true;
                if (!out.sent && !res.destroyed) sendError(res, new ApiError(502, message, 'server_error', code));
                else {
                    out.add({ error: { message, type: 'server_error', param: null, code } });
                    out.end();
                }
                up.req.destroy();
                resolve();
            };
            const onEvent = async (data: string) => {
                if (finished) return;
                if (data === '[DONE]') {
                    try {
                        await this.account(ctx, receipt, usage, hash.digest());
                    } catch (e) {
                        const err = e instanceof ReceiptError ? await this.rejectReceipt(ctx, e) : new ApiError(500, 'accounting failed', 'server_error', 'ledger_failed');
                        fail(err.message, err.code ?? 'invalid_receipt');
                        return;
                    }
                    finished = true;
                    out.add('[DONE]');
                    out.end();
                    resolve();
                    return;
                }
                let chunk: Record<string, unknown>;
                try {
                    chunk = JSON.parse(data) as Record<string, unknown>;
                } catch {
                    fail('worker sent a malformed event', 'worker_failed');
                    return;
                }
                if (chunk.error) {
                    finished = true;
                    out.addRaw(`data: ${data}\n\n`);
                    out.end();
                    resolve();
                    return;
                }
                const delta = (chunk.choices as Array<{ delta?: { content?: unknown; sealed?: { ct?: unknown } } }> | undefined)?.[0]?.delta;
                if (typeof delta?.sealed?.ct === 'string') hash.update(Buffer.from(delta.sealed.ct, 'base64'));
                else if (typeof delta?.content === 'string') hash.update(delta.content, 'utf8');
                if (chunk.receipt !== undefined) receipt = chunk.receipt;
                if (chunk.usage) {
                    usage = chunk.usage as UsageJson;
                    if (!clientWantsUsage) return;
                }
                out.addRaw(`data: ${data}\n\n`);
            };
            up.res.setEncoding('utf8');
            up.res.on('data', (c: string) => {
                let events: string[];
                try {
                    events = parser.push(c);
                } catch (e) {
                    chain = chain.then(() => fail(`the worker sent ${(e as Error).message}`, 'worker_failed'));
                    up.req.destroy();
                    return;
                }
                if (events.length === 0) return;
                for (const data of events) chain = chain.then(() => onEvent(data));
                chain = chain.then(() => {
                    // A client reading slower than the worker writes: stop reading the worker until
                    // the client takes what is buffered, so the answer waits in the worker's socket,
                    // not in this router's memory.
                    if (!finished && !out.flush() && !up.res.isPaused()) {
                        up.res.pause();
                        res.once('drain', () => up.res.resume());
                    }
                });
            });
            up.res.on('end', () => {
                chain = chain.then(() => fail('the worker ended the stream without a receipt', 'worker_failed'));
            });
            up.res.on('error', () => {
                chain = chain.then(() => fail('the worker connection failed mid-answer', 'worker_failed'));
            });
            up.res.on('close', () => {
                chain = chain.then(() => fail('the worker connection closed mid-answer', 'worker_failed'));
            });
            res.on('close', () => {
                if (!finished) up.req.destroy();
            });
        });
    }
}
