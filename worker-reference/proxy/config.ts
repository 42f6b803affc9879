/** The proxy's configuration file (JSON). See docs/worker.md for an example. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Address } from '@ton/core';
import { Prices } from './tokens';

export interface WorkerConfig {
    name: string;
    /** https://host:port (mutual TLS pinned to ed25519Key) or http://host:port (this host only, in production). */
    endpoint: string;
    ed25519Key: Buffer; // worker enclave key (receipts must verify with it)
    x25519Key?: Buffer; // for clients who seal prompts (published by GET /v1/workers)
    modelHashes: Set<string>; // hex SHA-256 of the GGUFs this worker may serve (allow-list)
    workerAccount: Address; // the WorkerAccount paid for this worker's tokens
    /** The worker's Provider contract and its seqno at Root: needed to file fault reports. */
    provider?: ProviderRef;
}

export interface ProviderRef {
    address: Address;
    seqno: bigint;
}

export interface ProxyConfig {
    proxyAddress: Address;
    keySeedHex?: string;
    dataDir: string;
    workers: WorkerConfig[];
    prices: Prices;
    /** The config file gave `prices` (else the defaults, or the Proxy contract's with --ton-v4). */
    pricesGiven: boolean;
    escrows: unknown;
    healthIntervalMs: number;
    requestTimeoutMs: number;
    signatureTtlSeconds: number;
    /** How long a fault report's signature stays valid (its valid-until = filing time + this). */
    faultTtlSeconds: number;
    /** Tokens reserved against the balance for a request without max_tokens. */
    defaultReserveTokens: number;
    maxBodyBytes: number;
    /** The largest non-streamed answer taken from a worker (bytes); a larger one fails that worker's attempt. */
    maxAnswerBytes: number;
    /** How long escrow state read from the chain is reused (ms). */
    escrowCacheMs: number;
    /** Minimum age of cached escrow state before a request that would be refused reads it again (ms). */
    escrowRefreshMinMs: number;
}

function hex32(v: unknown, what: string): Buffer {
    if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) throw new Error(`${what} must be 64 hex characters`);
    return Buffer.from(v, 'hex');
}

function big(v: unknown, fallback: bigint, what: string): bigint {
    if (v === undefined) return fallback;
    if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`${what} must be a number or a decimal string`);
    return BigInt(v);
}

function ms(v: unknown, fallback: number, what: string): number {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${what} must be a non-negative number of milliseconds`);
    return v;
}

/** `provider` + `providerSeqno` of a worker entry: both or neither. */
function providerRef(o: Record<string, unknown>, what: string): ProviderRef | undefined {
    if (o.provider === undefined && o.providerSeqno === undefined) return undefined;
    if (typeof o.provider !== 'string') throw new Error(`${what}.provider (the worker's Provider contract address) is required with providerSeqno`);
    const n = o.providerSeqno;
    if (!((typeof n === 'number' && Number.isInteger(n) && n >= 0) || (typeof n === 'string' && /^\d+$/.test(n))))
        throw new Error(`${what}.providerSeqno (the Provider's seqno at Root, a non-negative integer) is required with provider`);
    let address: Address;
    try {
        address = Address.parse(o.provider);
    } catch {
        throw new Error(`${what}.provider is not a TON address`);
    }
    return { address, seqno: BigInt(n) };
}

export function parseProxyConfig(json: unknown, baseDir: string): ProxyConfig {
    if (typeof json !== 'object' || json === null) throw new Error('config must be a JSON object');
    const c = json as Record<string, unknown>;
    if (typeof c.proxyAddress !== 'string') throw new Error('proxyAddress (the Proxy contract address) is required');
    const workers = c.workers;
    if (!Array.isArray(workers)) throw new Error('workers must be an array');
    const p = (c.prices ?? {}) as Record<string, unknown>;
    const names = new Set<string>();
    workers.forEach((w: unknown, i: number) => {
        const name = (w as Record<string, unknown> | null)?.name ?? `worker${i}`;
        if (typeof name !== 'string' || name.length === 0) throw new Error(`workers[${i}].name must be a non-empty string`);
        if (names.has(name)) throw new Error(`workers[${i}].name "${name}" is used twice: names identify workers in logs, metrics and reloads`);
        names.add(name);
    });
    return {
        proxyAddress: Address.parse(c.proxyAddress),
        keySeedHex: typeof c.keySeed === 'string' ? c.keySeed : undefined,
        dataDir: path.resolve(baseDir, typeof c.dataDir === 'string' ? c.dataDir : '.cocoon-data/proxy'),
        workers: workers.map((w: unknown, i: number) => {
            const o = w as Record<string, unknown>;
            if (typeof o.endpoint !== 'string') throw new Error(`workers[${i}].endpoint is required`);
            let url: URL;
            try {
                url = new URL(o.endpoint);
            } catch {
                throw new Error(`workers[${i}].endpoint ${o.endpoint} is not a URL (https://host:port, or http:// on this host)`);
            }
            if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`workers[${i}].endpoint must be https://… (or http://…), not ${url.protocol}`);
            if (!Array.isArray(o.modelHashes) || o.modelHashes.length === 0) throw new Error(`workers[${i}].modelHashes must list at least one model hash`);
            if (typeof o.workerAccount !== 'string') throw new Error(`workers[${i}].workerAccount (address) is required`);
            return {
                name: typeof o.name === 'string' ? o.name : `worker${i}`,
                endpoint: o.endpoint.replace(/\/+$/, ''),
                ed25519Key: hex32(o.ed25519Key, `workers[${i}].ed25519Key`),
                x25519Key: o.x25519Key === undefined ? undefined : hex32(o.x25519Key, `workers[${i}].x25519Key`),
                modelHashes: new Set(o.modelHashes.map((h: unknown) => hex32(h, `workers[${i}].modelHashes`).toString('hex'))),
                workerAccount: Address.parse(o.workerAccount),
                provider: providerRef(o, `workers[${i}]`),
            };
        }),
        prices: {
            pricePerToken: big(p.pricePerToken, 1000n, 'prices.pricePerToken'),
            workerFeePerToken: big(p.workerFeePerToken, 800n, 'prices.workerFeePerToken'),
            promptMultiplier: big(p.promptMultiplier, 10000n, 'prices.promptMultiplier'),
            cachedMultiplier: big(p.cachedMultiplier, 10000n, 'prices.cachedMultiplier'),
            completionMultiplier: big(p.completionMultiplier, 10000n, 'prices.completionMultiplier'),
            reasoningMultiplier: big(p.reasoningMultiplier, 10000n, 'prices.reasoningMultiplier'),
        },
        pricesGiven: c.prices !== undefined,
        escrows: c.escrows,
        healthIntervalMs: typeof c.healthIntervalMs === 'number' ? c.healthIntervalMs : 5000,
        requestTimeoutMs: typeof c.requestTimeoutMs === 'number' ? c.requestTimeoutMs : 300_000,
        signatureTtlSeconds: typeof c.signatureTtlSeconds === 'number' ? c.signatureTtlSeconds : 3600,
        faultTtlSeconds: typeof c.faultTtlSeconds === 'number' ? c.faultTtlSeconds : 7 * 86400,
        defaultReserveTokens: typeof c.defaultReserveTokens === 'number' ? c.defaultReserveTokens : 512,
        maxBodyBytes: typeof c.maxBodyBytes === 'number' ? c.maxBodyBytes : 1 << 20,
        maxAnswerBytes: typeof c.maxAnswerBytes === 'number' ? c.maxAnswerBytes : 64 << 20,
        escrowCacheMs: ms(c.escrowCacheMs, 3000, 'escrowCacheMs'),
        escrowRefreshMinMs: ms(c.escrowRefreshMinMs, 1000, 'escrowRefreshMinMs'),
    };
}

/** Fields of a reloaded config (SIGHUP) that differ from the running one and only a restart applies (everything but `workers`). */
export function fieldsNeedingRestart(running: ProxyConfig, reloaded: ProxyConfig): string[] {
    const plain = (c: ProxyConfig) => {
        const { workers: _, ...rest } = c;
        return rest as Record<string, unknown>;
    };
    const a = plain(running);
    const b = plain(reloaded);
    const text = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x instanceof Address ? x.toRawString() : x));
    return Object.keys({ ...a, ...b }).filter((k) => text(a[k]) !== text(b[k]));
}

export function loadProxyConfig(file: string): ProxyConfig {
    return parseProxyConfig(JSON.parse(fs.readFileSync(file, 'utf8')), path.dirname(path.resolve(file)));
}
