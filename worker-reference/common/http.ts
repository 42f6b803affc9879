/** HTTP helpers shared by the worker and the proxy: bounded bodies and OpenAI-shaped errors. */
import * as http from 'node:http';
import type * as https from 'node:https';

/** Headers a proxy sends its workers: which proxy asks, and the request id its receipt names. */
export const HEADER_PROXY = 'x-cocoon-proxy';
export const HEADER_REQUEST_ID = 'x-cocoon-request-id';
/** On a worker's 409 request_id_below_floor: the lowest id it takes from that proxy now. */
export const HEADER_REQUEST_ID_FLOOR = 'x-cocoon-request-id-floor';

/** An error that becomes an HTTP response in OpenAI's error shape. */
export class ApiError extends Error {
    constructor(
        readonly status: number,
        message: string,
        readonly type: string = 'invalid_request_error',
        readonly code: string | null = null,
        readonly param: string | null = null,
        more: ApiErrorExtras = {},
    ) {
        super(message);
        this.retryAfterS = more.retryAfterS;
        this.headers = more.headers ?? {};
    }

    /** Seconds the client should wait before trying again (sent as Retry-After, which the openai client honours). */
    readonly retryAfterS?: number;
    /** More response headers (e.g. the worker's x-cocoon-request-id-floor). */
    readonly headers: Record<string, string>;
}

/** What an ApiError may add to its response besides the OpenAI error body. */
export interface ApiErrorExtras {
    retryAfterS?: number;
    headers?: Record<string, string>;
}

export interface OpenAiErrorBody {
    error: { message: string; type: string; param: string | null; code: string | null };
}

export function errorBody(e: ApiError): OpenAiErrorBody {
    return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text).toString(), ...headers });
    res.end(text);
}

export function sendError(res: http.ServerResponse, e: unknown): void {
    const err = e instanceof ApiError ? e : new ApiError(500, 'internal error', 'server_error', 'internal_error');
    if (res.headersSent) {
        res.destroy();
        return;
    }
    sendJson(res, err.status, errorBody(err), err.retryAfterS === undefined ? err.headers : { ...err.headers, 'retry-after': String(err.retryAfterS) });
}

/** Reads a request body up to `limit` bytes; larger bodies get 413. */
export function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const declared = Number(req.headers['content-length'] ?? '0');
        if (declared > limit) {
            reject(new ApiError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`, 'invalid_request_error', 'request_too_large'));
            req.resume();
            return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        let failed = false;
        req.on('data', (c: Buffer) => {
            if (failed) return;
            size += c.length;
            if (size > limit) {
                failed = true;
                reject(new ApiError(413, `request body exceeds the limit of ${limit} bytes`, 'invalid_request_error', 'request_too_large'));
                return;
            }
            chunks.push(c);
        });
        req.on('end', () => {
            if (!failed) resolve(Buffer.concat(chunks));
        });
        req.on('error', (e) => {
            if (!failed) reject(e);
        });
    });
}

export function parseJsonObject(body: Buffer): Record<string, unknown> {
    let v: unknown;
    try {
        v = JSON.parse(body.toString('utf8'));
    } catch {
        throw new ApiError(400, 'request body is not valid JSON', 'invalid_request_error', 'invalid_json');
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ApiError(400, 'request body must be a JSON object', 'invalid_request_error', 'invalid_json');
    return v as Record<string, unknown>;
}

/** One server-sent event carrying JSON (or the literal [DONE]). */
export function sseEvent(data: unknown): string {
    return `data: ${data === '[DONE]' ? '[DONE]' : JSON.stringify(data)}\n\n`;
}

/**
 * Server-sent events written in batches: events are added, and go out together on `flush`
 * (the response head with the first batch). Each write to a socket is a system call that can
 * cost more than a fast model takes to generate a token, and on the generating process it
 * delays the next token.
 */
export class SseBatch {
    private out = '';
    private started = false;
    constructor(
        private readonly res: http.ServerResponse,
        private readonly headers: Record<string, string> = {},
    ) {}

    /** Whether anything (the 200 head included) has gone out. */
    get sent(): boolean {
        return this.started;
    }

    add(data: unknown): void {
        this.out += sseEvent(data);
    }

    /** Adds an event already encoded as `data: ...\n\n` text. */
    addRaw(event: string): void {
        this.out += event;
    }

    /** Sends what was added; false when the response's buffer is full (wait for 'drain' before sending more). */
    flush(): boolean {
        if (this.res.destroyed || this.res.writableEnded) return true;
        this.start();
        if (this.out.length === 0) return true;
        const text = this.out;
        this.out = '';
        return this.res.write(text);
    }

    /** Sends what is left and ends the response. */
    end(): void {
        if (this.res.destroyed || this.res.writableEnded) return;
        this.start();
        const text = this.out;
        this.out = '';
        this.res.end(text);
    }

    private start(): void {
        if (this.started) return;
        this.started = true;
        this.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', ...this.headers });
    }
}

export function log(component: string, msg: string, fields: Record<string, unknown> = {}): void {
    const extra = Object.entries(fields)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
    process.stderr.write(`${new Date().toISOString()} [${component}] ${msg}${extra ? ' ' + extra : ''}\n`);
}

/**
 * Stops a server gracefully: it takes no new connection, requests in flight finish (idle
 * keep-alive connections are closed as they become idle) for at most `drainMs`, then every
 * connection left is closed. `cut` says whether the deadline cut any.
 */
export function drainServer(server: http.Server | https.Server, drainMs: number): Promise<{ cut: boolean }> {
    return new Promise((resolve) => {
        let cut = false;
        const idle = setInterval(() => server.closeIdleConnections(), 25);
        const deadline = setTimeout(() => {
            cut = true;
            server.closeAllConnections();
        }, drainMs);
        server.close(() => {
            clearInterval(idle);
            clearTimeout(deadline);
            resolve({ cut });
        });
        server.closeIdleConnections();
    });
}
