/**
 * A worker under the test's control for the proxy's routing and receipt checks: a small HTTP
 * server that answers like the reference worker (plain JSON or SSE), reports `key` in
 * GET /v1/worker, and signs its receipts with `signer` (default: that same key). Honest
 * unless `lie` names one way to lie:
 *   counts  the signed receipt claims more completion tokens than the usage it reports
 *   result  the signed result hash is not the hash of the answer it sends
 *   request the signed receipt names another request id than the one the proxy sent
 *   forged  the receipt is signed by another key (with `signer`): no evidence against the worker
 *   endless a stream's second event never ends (64 KB writes of one data line, up to 8 MiB)
 *   huge    a non-streamed answer of 1 MiB of text
 *   flood   an honest streamed answer of 128 MiB (2,048 events of 64 KiB of text), written as
 *           fast as the proxy reads it; `floodDone` says whether the last event was written
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { AddressInfo } from 'node:net';
import { Address } from '@ton/core';
import { buildWorkReceipt, Ed25519KeyPair, signCell } from '../../wrappers/payloads';
import { tlsCredentials, tlsServerOptions } from '../../worker-reference/crypto/tls-link';

export type Lie = 'counts' | 'result' | 'request' | 'forged' | 'endless' | 'huge' | 'flood';

export interface FakeWorker {
    url: string;
    /** Request ids of the completions answered, in arrival order. */
    requestIds: bigint[];
    /** Completions in progress now. */
    inflight: number;
    /** Completions whose caller closed the connection before the answer was complete. */
    cancelled: number;
    /** While true, completions get 429 (all sequences and the queue full). */
    busy: boolean;
    /** While true, GET /v1/worker fails with 503 (a worker going down). */
    down: boolean;
    /** While set, completions with a lower request id get 409 request_id_below_floor naming it (a restarted worker). */
    idFloor?: bigint;
    /** `flood`: the whole answer has been written to the proxy's connection. */
    floodDone: boolean;
    close(): Promise<void>;
}

export interface FakeWorkerOptions {
    key: Ed25519KeyPair;
    signer?: Ed25519KeyPair;
    modelId: string;
    modelHash: Buffer;
    lie?: Lie;
    /** Hold each answer this long after the request arrived (a slow model). */
    delayMs?: number;
    /** In a stream, the time between the answer's text and the end (receipt, usage); default 20 ms. */
    streamGapMs?: number;
    /** Send the whole stream in one write (a fast answer), instead of the text first. */
    streamAtOnce?: boolean;
    /** Serve HTTPS with `key` as TLS key, as the reference worker's --tls does. */
    tls?: boolean;
}

const ANSWER = 'a confident answer';

export function startFakeWorker(o: FakeWorkerOptions): Promise<FakeWorker> {
    const requestIds: bigint[] = [];
    const state: { inflight: number; cancelled: number; busy: boolean; down: boolean; idFloor?: bigint; floodDone: boolean } = { inflight: 0, cancelled: 0, busy: false, down: false, floodDone: false };
    const FLOOD_PIECE = 'f'.repeat(64 << 10);
    const FLOOD_EVENTS = 2048;
    const floodHash = () => {
        const h = crypto.createHash('sha256').update(ANSWER);
        for (let i = 0; i < FLOOD_EVENTS; i++) h.update(FLOOD_PIECE);
        return h.digest();
    };
    const receiptFor = (proxy: Address, requestId: bigint) => {
        const cell = buildWorkReceipt({
            proxy,
            requestId: o.lie === 'request' ? requestId + 1n : requestId,
            modelHash: o.modelHash,
            tokens: { prompt: 5n, cached: 0n, completion: o.lie === 'counts' ? 50n : 1n, reasoning: 0n },
            resultHash:
                o.lie === 'flood'
                    ? floodHash()
                    : crypto
                          .createHash('sha256')
                          .update(o.lie === 'result' ? 'another answer' : ANSWER)
                          .digest(),
        });
        return { boc: cell.toBoc().toString('base64'), signature: signCell(cell, (o.signer ?? o.key).secretKey).toString('base64') };
    };
    const usage = { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } };
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
        if (req.url === '/v1/worker' || req.url === '/health') {
            if (state.down) {
                res.writeHead(503).end('{"error":{"message":"going down"}}');
                return;
            }
            res.end(JSON.stringify({ ed25519_public_key: o.key.publicKey.toString('hex'), models: [{ id: o.modelId, model_hash: o.modelHash.toString('hex') }], load: [] }));
            return;
        }
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
            if (state.busy) {
                res.writeHead(429, { 'content-type': 'application/json' }).end('{"error":{"message":"busy","type":"rate_limit_error","code":"queue_full"}}');
                return;
            }
            const id = BigInt(req.headers['x-cocoon-request-id'] as string);
            if (state.idFloor !== undefined && id < state.idFloor) {
                res.writeHead(409, { 'content-type': 'application/json', 'x-cocoon-request-id-floor': state.idFloor.toString() });
                res.end('{"error":{"message":"below the floor","type":"invalid_request_error","code":"request_id_below_floor"}}');
                return;
            }
            state.inflight++;
            res.on('close', () => {
                state.inflight--;
                if (!res.writableFinished) state.cancelled++;
            });
            setTimeout(() => answer(JSON.parse(Buffer.concat(chunks).toString('utf8')) as { stream?: boolean }), o.delayMs ?? 0).unref();
        });
        const answer = (body: { stream?: boolean }) => {
            if (res.destroyed) return;
            const requestId = BigInt(req.headers['x-cocoon-request-id'] as string);
            requestIds.push(requestId);
            const receipt = receiptFor(Address.parse(req.headers['x-cocoon-proxy'] as string), requestId);
            const base = { id: 'chatcmpl-fake', created: 0, model: o.modelId };
            if (!body.stream) {
                res.setHeader('content-type', 'application/json');
                const content = o.lie === 'huge' ? 'x'.repeat(1 << 20) : ANSWER;
                res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage, receipt }));
                return;
            }
            res.writeHead(200, { 'content-type': 'text/event-stream' });
            const chunk = { ...base, object: 'chat.completion.chunk' };
            if (o.streamAtOnce) {
                const events = [
                    { ...chunk, choices: [{ index: 0, delta: { role: 'assistant', content: ANSWER }, finish_reason: null }] },
                    { ...chunk, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], receipt },
                    { ...chunk, choices: [], usage },
                ];
                res.end(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n');
                return;
            }
            const event = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
            event({ ...chunk, choices: [{ index: 0, delta: { role: 'assistant', content: ANSWER }, finish_reason: null }] });
            if (o.lie === 'flood') {
                state.floodDone = false;
                let i = 0;
                const more = () => {
                    while (!res.destroyed && i < FLOOD_EVENTS) {
                        i++;
                        if (!event({ ...chunk, choices: [{ index: 0, delta: { content: FLOOD_PIECE }, finish_reason: null }] })) return void res.once('drain', more);
                    }
                    if (res.destroyed) return;
                    state.floodDone = true;
                    event({ ...chunk, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], receipt });
                    event({ ...chunk, choices: [], usage });
                    res.end('data: [DONE]\n\n');
                };
                more();
                return;
            }
            if (o.lie === 'endless') {
                res.write('data: ');
                let sent = 0;
                const more = () => {
                    while (!res.destroyed && sent < 8 << 20) {
                        sent += 1 << 16;
                        if (!res.write('x'.repeat(1 << 16))) return void res.once('drain', more);
                    }
                };
                more();
                return;
            }
            // The answer reaches the proxy (and its client) before the receipt, as in a real stream.
            setTimeout(() => {
                if (res.destroyed) return;
                event({ ...chunk, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], receipt });
                event({ ...chunk, choices: [], usage });
                res.end('data: [DONE]\n\n');
            }, o.streamGapMs ?? 20).unref();
        };
    };
    const server = o.tls ? https.createServer(tlsServerOptions(tlsCredentials(o.key, 'cocoon-worker')), handler) : http.createServer(handler);
    return new Promise((resolve) =>
        server.listen(0, '127.0.0.1', () =>
            resolve(
                Object.assign(state, {
                url: `${o.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
                requestIds,
                close: () =>
                    new Promise<void>((r) => {
                        server.close(() => r());
                        server.closeAllConnections();
                    }),
                }),
            ),
        ),
    );
}
