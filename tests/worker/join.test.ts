/**
 * worker/join.ts against a proxy of the test's own: a refused join is tried again when the
 * proxy says (Retry-After on 429 / 503) if that comes before the next round, and not otherwise;
 * a proxy gets one join at a time.
 */
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { Address, Cell } from '@ton/core';
import { parseWorkerJoin } from '../../wrappers/payloads';
import { identityFromSeed } from '../../worker-reference/crypto/keys';
import { jittered, ProxyJoins } from '../../worker-reference/worker/join';

const PROXY = new Address(0, Buffer.alloc(32, 7));
const PROXY_KEY = 'cd'.repeat(32);

/** A proxy answering GET /v1/workers and, for joins, each of `answers` in turn (the last one from then on), after `delayMs`. */
async function fakeProxy(answers: Array<{ status: number; retryAfter?: string }>, delayMs = 0): Promise<{ url: string; joins: number[]; issued: number[]; mostAtOnce: () => number; close: () => void }> {
    const joins: number[] = [];
    const issued: number[] = [];
    let open = 0;
    let most = 0;
    const server = http.createServer((req, res) => {
        if (req.method === 'GET' && req.url === '/v1/workers') {
            res.end(JSON.stringify({ proxy: PROXY.toString(), proxy_key: PROXY_KEY, workers: [] }));
            return;
        }
        most = Math.max(most, ++open);
        const body: Buffer[] = [];
        req.on('data', (c: Buffer) => body.push(c));
        req.on('end', () => {
            const a = answers[Math.min(joins.length, answers.length - 1)];
            joins.push(Date.now());
            issued.push(parseWorkerJoin(Cell.fromBoc(Buffer.from(JSON.parse(Buffer.concat(body).toString()).announcement, 'base64'))[0]).issuedAt);
            const answer = setTimeout(() => {
                open--;
                res.writeHead(a.status, { 'content-type': 'application/json', ...(a.retryAfter === undefined ? {} : { 'retry-after': a.retryAfter }) });
                res.end(JSON.stringify(a.status === 200 ? { name: 'provider-0', provider: PROXY.toString(), worker_account: PROXY.toString() } : { error: { message: `refused with ${a.status}` } }));
            }, delayMs);
            res.on('close', () => clearTimeout(answer));
        });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, joins, issued, mostAtOnce: () => most, close: () => {
            server.close();
            server.closeAllConnections();
        } };
}

function joinsTo(url: string | string[], everyMs: number): ProxyJoins {
    return new ProxyJoins({
        proxies: typeof url === 'string' ? [url] : url,
        trusted: new Map([[PROXY_KEY, PROXY]]),
        identity: identityFromSeed(Buffer.alloc(32, 8)),
        endpoint: 'https://127.0.0.1:9',
        models: [Buffer.alloc(32, 9)],
        everyMs,
    });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('worker/join.ts: when a proxy refuses a join', () => {
    it('joins again after the Retry-After of a 429, a 503 or a 403 (key not in the registry the proxy read last) when that is before the next round', async () => {
        const proxy = await fakeProxy([{ status: 429, retryAfter: '1' }, { status: 503, retryAfter: '1' }, { status: 403, retryAfter: '1' }, { status: 200 }]);
        const joins = joinsTo(proxy.url, 60_000);
        try {
            const [first] = await joins.start();
            expect(first).toBeInstanceOf(Error);
            const t0 = Date.now();
            while (!joins.status()[0].joined) {
                if (Date.now() - t0 > 10_000) throw new Error('never joined after the Retry-After');
                await sleep(50);
            }
            expect(proxy.joins).toHaveLength(4);
            // Retry-After 1: between 1 and 1.5 s later (spread at random so refused workers come back apart).
            for (let i = 1; i < 4; i++) expect(proxy.joins[i] - proxy.joins[i - 1]).toBeGreaterThanOrEqual(950);
        } finally {
            joins.stop();
            proxy.close();
        }
    });

    it('waits for the next round after a refusal with no Retry-After, or one past the next round; stop() cancels a retry', async () => {
        for (const answer of [{ status: 403 }, { status: 429, retryAfter: '120' }]) {
            const proxy = await fakeProxy([answer, { status: 200 }]);
            const joins = joinsTo(proxy.url, 60_000);
            try {
                await joins.start();
                await sleep(1_500);
                expect(proxy.joins).toHaveLength(1);
            } finally {
                joins.stop();
                proxy.close();
            }
        }
        const proxy = await fakeProxy([{ status: 429, retryAfter: '1' }, { status: 200 }]);
        const joins = joinsTo(proxy.url, 60_000);
        await joins.start();
        joins.stop();
        await sleep(1_500);
        expect(proxy.joins).toHaveLength(1);
        proxy.close();
    });

    it('sends a proxy one join at a time: a round that comes while the last join is unanswered waits for it', async () => {
        const proxy = await fakeProxy([{ status: 200 }], 700);
        const joins = joinsTo(proxy.url, 200);
        try {
            await joins.start();
            await sleep(2_000);
            expect(proxy.mostAtOnce()).toBe(1);
            // Rounds every 200 ms, answers after 700 ms: at most one join per answer, not ten.
            expect(proxy.joins.length).toBeGreaterThanOrEqual(2);
            expect(proxy.joins.length).toBeLessThanOrEqual(4);
        } finally {
            joins.stop();
            proxy.close();
        }
    });

    it('dates joins by the clock per proxy: joining several proxies each second does not run ahead of it', async () => {
        const proxies = await Promise.all([1, 2, 3].map(() => fakeProxy([{ status: 200 }])));
        const joins = joinsTo(
            proxies.map((p) => p.url),
            1_000,
        );
        try {
            await joins.start();
            await sleep(3_500);
            const nowS = Math.floor(Date.now() / 1000);
            for (const p of proxies) {
                expect(p.issued.length).toBeGreaterThanOrEqual(3);
                expect(p.issued).toEqual([...p.issued].sort((a, b) => a - b)); // rising per proxy
                expect(new Set(p.issued).size).toBe(p.issued.length);
                expect(Math.max(...p.issued)).toBeLessThanOrEqual(nowS + 1);
            }
        } finally {
            joins.stop();
            for (const p of proxies) p.close();
        }
    });

    it('spreads rounds and retries at random within their bounds (jittered)', () => {
        const xs = Array.from({ length: 1000 }, () => jittered(60_000, 0.9, 1.1));
        expect(Math.min(...xs)).toBeGreaterThanOrEqual(54_000);
        expect(Math.max(...xs)).toBeLessThanOrEqual(66_000);
        expect(new Set(xs).size).toBeGreaterThan(500);
    });
});
