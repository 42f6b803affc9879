/**
 * A worker joining proxies itself (cocoon-worker --join URL): every `everyMs` it sends each
 * proxy a WorkerJoin signed by its enclave key (wrappers/payloads.ts) naming its https
 * endpoint, its keys and the models it serves; the proxy checks them on chain and routes to
 * it (proxy/admissions.ts). Only proxies the worker trusts (--trust-proxy ADDR=KEY) are
 * joined: over https the connection is pinned to that proxy's key, and the proxy's own
 * GET /v1/workers must name that address and key.
 */
import * as http from 'node:http';
import { Address } from '@ton/core';
import { buildWorkerJoin, signCell } from '../../wrappers/payloads';
import { log } from '../common/http';
import { NodeIdentity } from '../crypto/keys';
import { PinnedKeyAgent } from '../crypto/tls-link';
import type { JoinAnswer } from '../proxy/admissions';
import { HttpStatusError, requestJson } from '../proxy/registry';

export interface JoinOptions {
    /** Base URLs of the proxies to join. */
    proxies: string[];
    /** Trusted proxies: Ed25519 key (hex) → Proxy contract address (--trust-proxy). */
    trusted: Map<string, Address>;
    identity: NodeIdentity;
    /** https://host:port the proxies reach this worker at. */
    endpoint: string;
    models: Buffer[];
    everyMs: number;
    timeoutMs?: number;
}

interface Target {
    url: string;
    /** Found on the first contact: the trusted proxy at `url` and the agent pinned to its key. */
    proxy?: { address: Address; agent?: http.Agent };
    /** Last outcome logged (a change is logged again). */
    last?: string;
    /** The last join was admitted. */
    joined: boolean;
    /** A join sooner than the next round, when the proxy said when to try again (Retry-After on a 429, a 503, or a 403 from a registry read before the Provider registered). */
    retry?: NodeJS.Timeout;
    /** `issuedAt` of the last join sent to this proxy: each is newer than the last, per proxy. */
    lastIssued: number;
    /** The join in flight: a round that comes while a slow proxy still checks the last join waits for it rather than racing it (a newer join taken first makes the older a "replay"). */
    inFlight?: Promise<JoinAnswer | Error>;
}

export class ProxyJoins {
    private targets: Target[] = [];
    private timer?: NodeJS.Timeout;

    /** `o.trusted` must name every proxy joined (cli/worker.ts refuses --join without --trust-proxy). */
    constructor(private readonly o: JoinOptions) {
        this.setTargets(o.proxies);
    }

    /** Each proxy joined (by URL) and whether its last join was admitted. */
    status(): Array<{ url: string; joined: boolean }> {
        return this.targets.map((t) => ({ url: t.url, joined: t.joined }));
    }

    /**
     * Joins every proxy once now, then every `everyMs` give or take a tenth (spread at random,
     * so workers started together, or refused together by a proxy that was down, do not keep
     * joining in the same second).
     */
    start(): Promise<Array<JoinAnswer | Error>> {
        const next = () => {
            this.timer = setTimeout(() => {
                next();
                void this.joinAll();
            }, jittered(this.o.everyMs, 0.9, 1.1));
            this.timer.unref();
        };
        next();
        return this.joinAll();
    }

    /** Joins these URLs from now on (a target kept keeps what it found; one dropped is no longer joined). */
    setTargets(urls: string[]): void {
        const wanted = [...new Set(urls.map((u) => u.replace(/\/+$/, '')))];
        for (const t of this.targets) if (!wanted.includes(t.url)) this.forget(t);
        this.targets = wanted.map((url) => this.targets.find((t) => t.url === url) ?? { url, joined: false, lastIssued: 0 });
    }

    stop(): void {
        if (this.timer) clearTimeout(this.timer);
        this.timer = undefined;
        for (const t of this.targets) this.forget(t);
    }

    joinAll(): Promise<Array<JoinAnswer | Error>> {
        return Promise.all(this.targets.map((t) => this.joinTarget(t)));
    }

    private forget(t: Target): void {
        t.proxy?.agent?.destroy();
        clearTimeout(t.retry);
        t.retry = undefined;
    }

    /** Joins `t` and notes the outcome; a proxy that says when to try again is tried then, if that is before the next round. */
    private joinTarget(t: Target): Promise<JoinAnswer | Error> {
        clearTimeout(t.retry);
        t.retry = undefined;
        t.inFlight ??= this.joinOnce(t).finally(() => (t.inFlight = undefined));
        return t.inFlight;
    }

    private joinOnce(t: Target): Promise<JoinAnswer | Error> {
        return this.joinOne(t).then(
            (answer) => {
                t.joined = true;
                this.report(t, `joined as ${answer.name} (Provider ${answer.provider}, fees to ${answer.worker_account})`);
                return answer;
            },
            (e: Error) => {
                t.joined = false;
                this.report(t, `join failed: ${e.message}`);
                const afterS = e instanceof HttpStatusError ? e.retryAfterS : undefined;
                if (afterS !== undefined && afterS * 1500 < this.o.everyMs && this.timer && this.targets.includes(t)) {
                    // Up to half as long again, at random: the workers a busy proxy turned away together come back apart.
                    t.retry = setTimeout(() => void this.joinTarget(t), jittered(Math.max(afterS, 1) * 1000, 1, 1.5));
                    t.retry.unref();
                }
                return e;
            },
        );
    }

    private report(t: Target, outcome: string): void {
        if (outcome === t.last) return;
        t.last = outcome;
        log('worker', outcome, { proxy: t.url });
    }

    /** Sends one join to `t` (finding which trusted proxy it is on first contact). */
    async joinOne(t: Target): Promise<JoinAnswer> {
        const timeoutMs = this.o.timeoutMs ?? 10_000;
        t.proxy ??= await this.identify(t.url, timeoutMs);
        // Strictly rising even within one second: the proxy takes only joins newer than the last
        // it took from this key. Per proxy, so joining many proxies does not run ahead of the clock.
        t.lastIssued = Math.max(Math.floor(Date.now() / 1000), t.lastIssued + 1);
        const cell = buildWorkerJoin({
            proxy: t.proxy.address,
            ed25519Key: this.o.identity.ed25519.publicKey,
            x25519Key: this.o.identity.x25519.publicKey,
            issuedAt: t.lastIssued,
            endpoint: this.o.endpoint,
            models: this.o.models,
        });
        const body = { announcement: cell.toBoc().toString('base64'), signature: signCell(cell, this.o.identity.ed25519.secretKey).toString('base64') };
        try {
            return (await requestJson(`${t.url}/v1/workers/join`, { body, timeoutMs, agent: t.proxy.agent })) as JoinAnswer;
        } catch (e) {
            // Found again next time: the proxy at this URL may have restarted with another key or address.
            t.proxy.agent?.destroy();
            t.proxy = undefined;
            throw e;
        }
    }

    /** Which trusted proxy answers at `url`: over https the one whose key its TLS certificate carries; its /v1/workers must agree. */
    private async identify(url: string, timeoutMs: number): Promise<{ address: Address; agent?: http.Agent }> {
        const failures: string[] = [];
        const keys = url.startsWith('https://') ? [...this.o.trusted.keys()] : [undefined];
        for (const key of keys) {
            const agent = key ? new PinnedKeyAgent(Buffer.from(key, 'hex')) : undefined;
            try {
                const info = (await requestJson(`${url}/v1/workers`, { timeoutMs, agent })) as { proxy?: unknown; proxy_key?: unknown };
                const proxyKey = typeof info.proxy_key === 'string' ? info.proxy_key.toLowerCase() : '';
                const address = this.o.trusted.get(proxyKey);
                if (!address || (key && key !== proxyKey)) throw new Error(`it is proxy key ${proxyKey || '(none)'}, not one of --trust-proxy`);
                if (typeof info.proxy !== 'string' || !Address.parse(info.proxy).equals(address)) throw new Error(`it names Proxy ${String(info.proxy)}, but --trust-proxy gives ${address.toString()} for its key`);
                return { address, agent };
            } catch (e) {
                agent?.destroy();
                failures.push((e as Error).message);
            }
        }
        throw new Error(`${url} is not a proxy this worker trusts: ${failures.join('; ')}`);
    }
}

/** `ms` times a random factor in [low, high). */
export function jittered(ms: number, low: number, high: number): number {
    return Math.round(ms * (low + Math.random() * (high - low)));
}
