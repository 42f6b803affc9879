/**
 * The proxy's workers: the link to each (crypto/tls-link.ts for https:// endpoints), health
 * checks (GET /v1/worker: right key, allowed models, load), and selection by model, health
 * and load (fewest requests in flight through this proxy, then the load the worker reports).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { log } from '../common/http';
import { Ed25519Verifier } from '../crypto/ed25519';
import { PinnedKeyAgent, TlsCredentials } from '../crypto/tls-link';
import { WorkerConfig } from './config';

/**
 * How the proxy reaches a worker:
 *   tls       https:// endpoint: mutual TLS pinned to the worker's enclave key
 *   loopback  plain http:// to this host (127.0.0.0/8, ::1, localhost)
 *   plain     plain http:// to another host: readable and alterable on the way
 * Only tls and loopback links carry evidence: a fault report is filed only over them.
 */
export type LinkKind = 'tls' | 'loopback' | 'plain';

export function linkKind(endpoint: string): LinkKind {
    const url = new URL(endpoint);
    if (url.protocol === 'https:') return 'tls';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (host === 'localhost' || host === '::1' || (net.isIPv4(host) && host.startsWith('127.'))) return 'loopback';
    return 'plain';
}

export interface WorkerState {
    config: WorkerConfig;
    verifier: Ed25519Verifier;
    link: LinkKind;
    /** Keep-alive connections to this worker (pinned to its key on a tls link). */
    agent: http.Agent;
    healthy: boolean;
    lastError?: string;
    /** Model id → hash of the allowed models the worker reported. */
    models: Map<string, string>;
    inflight: number;
    reportedLoad: number;
}

interface WorkerInfo {
    ed25519_public_key?: string;
    x25519_public_key?: string;
    models?: Array<{ id?: string; model_hash?: string }>;
    load?: Array<{ active?: number; queued?: number }>;
}

/** The request function of an endpoint's scheme. */
export function requestModule(url: string | URL): typeof http | typeof https {
    return (typeof url === 'string' ? url.startsWith('https:') : url.protocol === 'https:') ? https : http;
}

export function getJson(url: string, timeoutMs: number, agent?: http.Agent): Promise<unknown> {
    return requestJson(url, { timeoutMs, agent });
}

/** A JSON answer other than 200: its status, and the message of an OpenAI-shaped error body when there is one. */
export class HttpStatusError extends Error {
    constructor(
        readonly status: number,
        readonly reason: string | undefined,
        /** The answer's Retry-After in seconds, when it gave one. */
        readonly retryAfterS?: number,
    ) {
        super(`HTTP ${status}${reason ? `: ${reason}` : ''}`);
    }
}

/** GET (or POST `body` as JSON) and parse the JSON answer; a status other than 200 rejects with HttpStatusError. */
export function requestJson(url: string, o: { body?: unknown; timeoutMs: number; agent?: http.Agent }): Promise<unknown> {
    const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const headers: Record<string, string> = payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {};
    return new Promise((resolve, reject) => {
        const req = requestModule(url).request(url, { method: payload ? 'POST' : 'GET', timeout: o.timeoutMs, agent: o.agent, headers }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                let json: unknown;
                try {
                    json = JSON.parse(text);
                } catch (e) {
                    if (res.statusCode === 200) return reject(e);
                }
                const retryAfter = Number(res.headers['retry-after']);
                if (res.statusCode !== 200)
                    return reject(new HttpStatusError(res.statusCode ?? 0, (json as { error?: { message?: string } } | undefined)?.error?.message, Number.isInteger(retryAfter) && retryAfter >= 0 ? retryAfter : undefined));
                resolve(json);
            });
            res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end(payload);
    });
}

/** Whether two worker entries are the same worker reached the same way (all fields equal). */
function sameEntry(a: WorkerConfig, b: WorkerConfig): boolean {
    const hashes = (c: WorkerConfig) => [...c.modelHashes].sort().join(',');
    return (
        a.endpoint === b.endpoint &&
        a.ed25519Key.equals(b.ed25519Key) &&
        (a.x25519Key?.toString('hex') ?? '') === (b.x25519Key?.toString('hex') ?? '') &&
        hashes(a) === hashes(b) &&
        a.workerAccount.equals(b.workerAccount) &&
        (a.provider?.address.toRawString() ?? '') === (b.provider?.address.toRawString() ?? '') &&
        a.provider?.seqno === b.provider?.seqno
    );
}

/** What `replaceWorkers` did, by worker name. */
export interface WorkerListChange {
    added: string[];
    changed: string[];
    removed: string[];
    kept: string[];
}

export class WorkerRegistry {
    private list: WorkerState[];
    /** Workers taken out of the list whose requests may still be running: their connections close when those end. */
    private retired: WorkerState[] = [];
    private timer?: NodeJS.Timeout;

    /** `own`: the proxy's TLS credentials (its enclave key), presented on tls links. */
    constructor(
        configs: WorkerConfig[],
        private readonly own: TlsCredentials,
    ) {
        this.list = configs.map((config) => this.newState(config));
    }

    get workers(): readonly WorkerState[] {
        return this.list;
    }

    private newState(config: WorkerConfig): WorkerState {
        const link = linkKind(config.endpoint);
        const agent = link === 'tls' ? new PinnedKeyAgent(config.ed25519Key, this.own, { maxSockets: 256 }) : new http.Agent({ keepAlive: true, maxSockets: 256 });
        if (link === 'plain')
            log('proxy', 'WARNING: plain HTTP to a remote worker: prompts and answers cross the network readable, and its faults are not reported (use an https:// endpoint)', {
                worker: config.name,
                endpoint: config.endpoint,
            });
        return { config, verifier: new Ed25519Verifier(config.ed25519Key), link, agent, healthy: false, models: new Map(), inflight: 0, reportedLoad: 0 };
    }

    /**
     * Takes a new list of worker entries (a reloaded config): an entry equal to the running one
     * keeps its state (health, connections); a new or changed one starts unhealthy and is
     * checked at once; a removed or replaced one gets no new request, and its connections
     * close once its requests in flight end.
     */
    async replaceWorkers(configs: WorkerConfig[]): Promise<WorkerListChange> {
        const change: WorkerListChange = { added: [], changed: [], removed: [], kept: [] };
        const old = new Map(this.list.map((w) => [w.config.name, w]));
        const fresh: WorkerState[] = [];
        this.list = configs.map((config) => {
            const was = old.get(config.name);
            old.delete(config.name);
            if (was && sameEntry(was.config, config)) {
                change.kept.push(config.name);
                return was;
            }
            if (was) this.retired.push(was);
            (was ? change.changed : change.added).push(config.name);
            const state = this.newState(config);
            fresh.push(state);
            return state;
        });
        for (const [name, w] of old) {
            change.removed.push(name);
            this.retired.push(w);
        }
        this.closeRetired();
        await Promise.all(fresh.map((w) => this.checkOne(w)));
        return change;
    }

    /** Closes the connections of retired workers with no request left. */
    private closeRetired(): void {
        this.retired = this.retired.filter((w) => {
            if (w.inflight > 0) return true;
            w.agent.destroy();
            return false;
        });
    }

    async checkOne(w: WorkerState): Promise<void> {
        try {
            const info = (await getJson(`${w.config.endpoint}/v1/worker`, 3000, w.agent)) as WorkerInfo;
            if (info.ed25519_public_key !== w.config.ed25519Key.toString('hex')) throw new Error('worker reports a different Ed25519 key than configured');
            const models = new Map<string, string>();
            for (const m of info.models ?? []) if (m.id && m.model_hash && w.config.modelHashes.has(m.model_hash)) models.set(m.id, m.model_hash);
            if (models.size === 0) throw new Error('worker serves no allowed model');
            w.models = models;
            w.reportedLoad = (info.load ?? []).reduce((a, l) => a + (l.active ?? 0) + (l.queued ?? 0), 0);
            if (!w.healthy) log('proxy', 'worker healthy', { worker: w.config.name, models: [...models.keys()] });
            w.healthy = true;
            w.lastError = undefined;
        } catch (e) {
            this.markUnhealthy(w, e instanceof Error ? e.message : String(e));
        }
    }

    markUnhealthy(w: WorkerState, why: string): void {
        if (w.healthy || w.lastError !== why) log('proxy', 'worker unhealthy', { worker: w.config.name, reason: why });
        w.healthy = false;
        w.lastError = why;
    }

    checkAll(): Promise<void> {
        this.closeRetired();
        return Promise.all(this.list.map((w) => this.checkOne(w))).then(() => undefined);
    }

    start(intervalMs: number): void {
        this.timer = setInterval(() => void this.checkAll(), intervalMs);
        this.timer.unref();
    }

    stop(): void {
        if (this.timer) clearInterval(this.timer);
    }

    /** Closes every connection to the workers. */
    destroy(): void {
        this.stop();
        for (const w of [...this.list, ...this.retired]) w.agent.destroy();
    }

    /** Healthy workers serving `model` (an id or a model hash), best first; `exclude` = already tried. */
    candidates(model: string, exclude: Set<WorkerState>): WorkerState[] {
        const key = model.toLowerCase().replace(/^sha256:/, '');
        return this.list
            .filter((w) => w.healthy && !exclude.has(w) && (w.models.has(model) || [...w.models.values()].includes(key)))
            .sort((a, b) => a.inflight - b.inflight || a.reportedLoad - b.reportedLoad);
    }

    /** Any worker (healthy or not) knows this model: distinguishes 404 from 503. */
    knowsModel(model: string): boolean {
        const key = model.toLowerCase().replace(/^sha256:/, '');
        return this.list.some((w) => w.models.has(model) || [...w.models.values()].includes(key) || w.config.modelHashes.has(key));
    }
}
