/**
 * Workers that join a proxy themselves (POST /v1/workers/join) instead of being listed in its
 * config: a worker sends a WorkerJoin (wrappers/payloads.ts) signed by its enclave key; the
 * proxy admits it when the chain says that key is an eligible Provider's, holding that X25519
 * key and serving every model named (the same checks a client makes, client/chain-check.ts),
 * and routes to it over the mutual-TLS link pinned to the key, paying its Provider's owner.
 *
 * A join is fresh (issued at most JOIN_MAX_AGE_S ago, at most JOIN_MAX_AHEAD_S ahead) and
 * newer than the last one taken from that key, so a copied join cannot be replayed to bring
 * back a worker that stopped. An admitted worker stays `ttlMs` after its last join: workers
 * join again well within it (cocoon-worker --join does every --join-every seconds); one that
 * stops is dropped (its requests in flight finish). A worker the config lists is not admitted
 * again: the config wins.
 *
 * Joins cost the proxy chain reads, and anyone can sign a join with a fresh key, so joins are
 * limited (JoinLimits): per source address (before the signature is even checked), and the
 * chain checks running at once for keys not admitted now. A worker admitted now is held by no
 * one else's flood at the second limit: its next join is how it stays listed. Both answer 429
 * with Retry-After.
 */
import { Address, Cell } from '@ton/core';
import type { ContractReader } from '../../ops/escrow-reader';
import type { ChainCheck } from '../client/chain-check';
import { parseWorkerJoin, verifyCellSignature, WorkerJoin } from '../../wrappers/payloads';
import { ApiError, log } from '../common/http';
import { ChainReadLimits } from './chain-read-limits';
import { RegisteredKeys } from './registered-keys';
import { ProviderRef, WorkerConfig } from './config';
import { WorkerListChange, WorkerRegistry } from './registry';

/** Oldest and most future `issuedAt` taken, in seconds from the proxy's clock. */
export const JOIN_MAX_AGE_S = 120;
export const JOIN_MAX_AHEAD_S = 30;

/** What the chain says about a joining worker: its Provider and the WorkerAccount this proxy pays for its tokens. */
export interface JoiningProvider {
    provider: ProviderRef;
    workerAccount: Address;
}

/**
 * Checks a join on chain. Throws JoinRefused when the chain says no (the reason goes to the
 * worker); any other error means the chain could not be read (503, the worker tries again).
 */
export type JoinCheck = (join: WorkerJoin) => Promise<JoiningProvider>;

export class JoinRefused extends Error {}

/** A failed chain check as the worker is answered: the chain said no (403), or it could not be read (503, try again). */
function chainAnswer(e: unknown): ApiError {
    if (e instanceof JoinRefused) return new ApiError(403, `not admitted: ${e.message}`, 'permission_error', 'not_eligible');
    return new ApiError(503, `the chain could not be read to check this worker: ${e instanceof Error ? e.message : String(e)}`, 'server_error', 'chain_unavailable', null, { retryAfterS: BUSY_RETRY_S });
}

/** How many joins the proxy takes (cocoon-proxy --join-rate, --join-checks). */
export interface JoinLimits {
    /** Joins a minute from one source address (a burst of as many, refilled evenly); 0: no limit. */
    perSourcePerMinute: number;
    /** Chain checks at once for keys not admitted now; more get 429. */
    chainChecks: number;
}

export const DEFAULT_JOIN_LIMITS: JoinLimits = { perSourcePerMinute: 30, chainChecks: 8 };

/** Seconds a join refused for a busy chain check is told to wait. */
const BUSY_RETRY_S = 5;

export interface JoinAnswer {
    name: string;
    provider: string;
    provider_seqno: string;
    worker_account: string;
    expires_at: string;
    healthy: boolean;
}

interface Admitted {
    config: WorkerConfig;
    expiresAt: number;
}

export class WorkerAdmissions {
    private configWorkers: WorkerConfig[];
    /** By worker key (hex). */
    private readonly admitted = new Map<string, Admitted>();
    /** Newest issuedAt taken per worker key, kept after a worker expires (replays stay refused). */
    private readonly newest = new Map<string, number>();
    /** Joins and list changes one at a time: each rebuilds the registry's list from the last. */
    private queue: Promise<unknown> = Promise.resolve();
    private timer?: NodeJS.Timeout;
    private readonly now: () => number;
    private readonly limits: JoinLimits;
    /** Joins per source address, and chain checks at once for keys not admitted now. */
    private readonly reads: ChainReadLimits;

    constructor(
        private readonly o: {
            proxy: Address;
            registry: WorkerRegistry;
            check: JoinCheck;
            /** Keys of the Providers Root lists: a newcomer not among them is refused without a chain check. */
            registered?: RegisteredKeys;
            ttlMs: number;
            configWorkers: WorkerConfig[];
            limits?: JoinLimits;
            now?: () => number;
        },
    ) {
        this.configWorkers = o.configWorkers;
        this.now = o.now ?? Date.now;
        this.limits = o.limits ?? DEFAULT_JOIN_LIMITS;
        this.reads = new ChainReadLimits({ perSourcePerMinute: this.limits.perSourcePerMinute, atOnce: this.limits.chainChecks }, this.now);
    }

    /** Workers admitted now (name, key, expiry), for logs and tests. */
    get workers(): Array<{ name: string; key: string; expiresAt: number }> {
        return [...this.admitted].map(([key, a]) => ({ name: a.config.name, key, expiresAt: a.expiresAt }));
    }

    private serial<T>(f: () => Promise<T>): Promise<T> {
        const run = this.queue.then(f, f);
        this.queue = run.catch(() => undefined);
        return run;
    }

    private apply(): Promise<WorkerListChange> {
        return this.o.registry.replaceWorkers([...this.configWorkers, ...[...this.admitted.values()].map((a) => a.config)]);
    }

    /** A reloaded config (SIGHUP): its workers, plus the admitted ones it does not list. */
    setConfigWorkers(workers: WorkerConfig[]): Promise<WorkerListChange> {
        return this.serial(async () => {
            this.configWorkers = workers;
            const listed = new Set(workers.map((w) => w.ed25519Key.toString('hex')));
            for (const key of [...this.admitted.keys()]) if (listed.has(key)) this.admitted.delete(key);
            return this.apply();
        });
    }

    /** Handles POST /v1/workers/join: `{announcement, signature}` (base64 BOC, base64), sent from address `source`. */
    async join(body: Record<string, unknown>, source = 'unknown'): Promise<JoinAnswer> {
        const wait = this.reads.waitFor(source);
        if (wait > 0)
            throw new ApiError(429, `too many joins from ${source}: at most ${this.limits.perSourcePerMinute} a minute; retry in ${wait} s`, 'rate_limit_exceeded', 'join_rate_limited', null, { retryAfterS: wait });
        const { join } = readJoin(body);
        const nowS = Math.floor(this.now() / 1000);
        const key = join.ed25519Key.toString('hex');
        if (!join.proxy.equals(this.o.proxy)) throw new ApiError(403, `this join is for Proxy ${join.proxy.toString()}; this proxy is ${this.o.proxy.toString()}`, 'permission_error', 'wrong_proxy');
        if (join.issuedAt < nowS - JOIN_MAX_AGE_S || join.issuedAt > nowS + JOIN_MAX_AHEAD_S)
            throw new ApiError(400, `the join was issued at ${join.issuedAt}, the proxy's clock says ${nowS}: sign a fresh one (at most ${JOIN_MAX_AGE_S} s old)`, 'invalid_request_error', 'stale_join');
        const endpoint = workerEndpoint(join.endpoint);
        if (this.configWorkers.some((w) => w.ed25519Key.equals(join.ed25519Key)))
            throw new ApiError(409, `worker key ${key} is in this proxy's config already`, 'invalid_request_error', 'configured_worker');
        const replayed = () => {
            if (join.issuedAt <= (this.newest.get(key) ?? -1))
                throw new ApiError(409, `a join from this worker issued at ${this.newest.get(key)} was taken already: each join must be newer (a replay?)`, 'invalid_request_error', 'replayed_join');
        };
        replayed();
        // The chain is read outside the queue: a slow API or a flood of joins from unknown keys holds up no one else's join.
        const newcomer = !this.admitted.has(key);
        const registered = this.o.registered;
        if (newcomer && registered) {
            let listed: boolean;
            try {
                listed = await registered.has(join.ed25519Key);
            } catch (e) {
                throw chainAnswer(e);
            }
            if (!listed) {
                // Retry-After: when the registry may be read again, so a Provider registered since is admitted then.
                const nextReadS = registered.nextReadInS;
                throw new ApiError(
                    403,
                    `not admitted: the worker key ${key} is not a Provider registered at Root (registry read ${registered.ageS ?? 0} s ago; a Provider registered since is listed at the next read, in ${nextReadS} s)`,
                    'permission_error',
                    'not_eligible',
                    null,
                    { retryAfterS: nextReadS },
                );
            }
        }
        const release = newcomer ? this.reads.enter() : undefined;
        if (newcomer && !release)
            throw new ApiError(429, `the proxy is checking ${this.reads.running} other joins on chain; retry in ${BUSY_RETRY_S} s`, 'rate_limit_exceeded', 'joins_busy', null, { retryAfterS: BUSY_RETRY_S });
        let chain: JoiningProvider;
        try {
            chain = await this.o.check(join);
        } catch (e) {
            throw chainAnswer(e);
        } finally {
            release?.();
        }
        return this.serial(async () => {
            replayed(); // again: another join from this key may have been taken while the chain was read
            this.newest.set(key, join.issuedAt);
            const name = `provider-${chain.provider.seqno}`;
            const config: WorkerConfig = {
                // Names identify workers (logs, metrics, reloads): a config entry keeps its own.
                name: this.configWorkers.some((w) => w.name === name) ? `${name}-joined` : name,
                endpoint,
                ed25519Key: join.ed25519Key,
                x25519Key: join.x25519Key,
                modelHashes: new Set(join.models.map((m) => m.toString('hex'))),
                workerAccount: chain.workerAccount,
                provider: chain.provider,
            };
            const was = this.admitted.get(key);
            const expiresAt = this.now() + this.o.ttlMs;
            this.admitted.set(key, { config, expiresAt });
            const change = await this.apply();
            if (!was || change.changed.length > 0)
                log('proxy', was ? 'joined worker changed' : 'worker joined', { name: config.name, endpoint, provider: chain.provider.address.toString(), models: join.models.length });
            const state = this.o.registry.workers.find((w) => w.config.name === config.name);
            return {
                name: config.name,
                provider: chain.provider.address.toString(),
                provider_seqno: chain.provider.seqno.toString(),
                worker_account: chain.workerAccount.toString(),
                expires_at: new Date(expiresAt).toISOString(),
                healthy: state?.healthy ?? false,
            };
        });
    }

    /** Drops workers whose last join is older than the TTL; returns their names. */
    sweep(): Promise<string[]> {
        return this.serial(async () => {
            const now = this.now();
            const gone: string[] = [];
            for (const [key, a] of [...this.admitted]) {
                if (a.expiresAt > now) continue;
                this.admitted.delete(key);
                gone.push(a.config.name);
            }
            if (gone.length > 0) {
                await this.apply();
                log('proxy', 'joined workers expired (no join within the TTL)', { names: gone.join(',') });
            }
            return gone;
        });
    }

    start(intervalMs: number): void {
        this.timer = setInterval(() => void this.sweep(), intervalMs);
        this.timer.unref();
    }

    stop(): void {
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
    }
}

/** The join in a request body, its signature checked against the key it names (400 / 401 otherwise). */
function readJoin(body: Record<string, unknown>): { join: WorkerJoin } {
    const { announcement, signature } = body;
    if (typeof announcement !== 'string' || typeof signature !== 'string')
        throw new ApiError(400, 'a join is {"announcement": base64 BOC of a WorkerJoin, "signature": base64 Ed25519 signature}', 'invalid_request_error', 'invalid_join');
    let cell: Cell;
    let join: WorkerJoin;
    try {
        cell = Cell.fromBoc(Buffer.from(announcement, 'base64'))[0];
        join = parseWorkerJoin(cell);
    } catch (e) {
        throw new ApiError(400, `announcement is not a WorkerJoin: ${e instanceof Error ? e.message : String(e)}`, 'invalid_request_error', 'invalid_join');
    }
    if (!verifyCellSignature(cell, Buffer.from(signature, 'base64'), join.ed25519Key))
        throw new ApiError(401, `the signature is not worker key ${join.ed25519Key.toString('hex')}'s`, 'authentication_error', 'bad_signature');
    return { join };
}

/** A joining worker's endpoint: https only (the link is mutual TLS pinned to its key), a base URL. */
function workerEndpoint(endpoint: string): string {
    let url: URL;
    try {
        url = new URL(endpoint);
    } catch {
        throw new ApiError(400, `endpoint "${endpoint}" is not a URL`, 'invalid_request_error', 'invalid_join');
    }
    if (url.protocol !== 'https:') throw new ApiError(400, `endpoint "${endpoint}" must be https:// (the proxy reaches joined workers only over mutual TLS pinned to their key)`, 'invalid_request_error', 'invalid_join');
    if (url.pathname !== '/' || url.search || url.hash || url.username) throw new ApiError(400, `endpoint "${endpoint}" must be a base URL, https://host:port`, 'invalid_request_error', 'invalid_join');
    return `https://${url.host}`;
}

/** How often at most the registry of Provider keys is read for a key it did not list. */
export const REGISTRY_REFRESH_MIN_MS = 30_000;

/**
 * The join checks of `proxy` reading the chain through `reader`, at the Proxy contract's Root
 * (read at the first join, so the proxy may start before its registration lands):
 * - `registered`: the keys of every Provider Root lists (RegisteredKeys), so a join from a key
 *   no Provider holds is refused without a chain check of its own;
 * - `check`: ChainCheck.provider for every model named, a refusal becoming JoinRefused; then
 *   the WorkerAccount this proxy pays for the worker, that of its Provider's owner.
 */
export function chainJoinChecks(proxy: Address, reader: ContractReader): { check: JoinCheck; registered: RegisteredKeys } {
    let chainCheck: Promise<ChainCheck> | undefined;
    const atRoot = async () => {
        const [{ ChainCheck: Check }, { Proxy }] = await Promise.all([import('../client/chain-check'), import('../../wrappers/Proxy')]);
        if (!(await reader.isContractDeployed(proxy))) throw new JoinRefused(`this proxy's contract ${proxy.toString()} is not deployed yet`);
        return new Check(reader, await reader.open(Proxy.fromAddress(proxy)).getRoot());
    };
    const chain = async (): Promise<ChainCheck> => {
        chainCheck ??= atRoot();
        try {
            return await chainCheck;
        } catch (e) {
            chainCheck = undefined; // read again at the next join
            throw e;
        }
    };
    const registered = new RegisteredKeys(async () => (await chain()).providerKeys(), { refreshMinMs: REGISTRY_REFRESH_MIN_MS });
    const check: JoinCheck = async (join) => {
        const [{ ChainRefusal }, { workerAccountFor }] = await Promise.all([import('../client/chain-check'), import('../../wrappers/WorkerAccount')]);
        const c = await chain();
        try {
            const keys = { ed25519: join.ed25519Key, x25519: join.x25519Key };
            const p = await c.provider({ ...keys, modelHash: join.models[0] });
            for (const modelHash of join.models.slice(1)) await c.provider({ ...keys, modelHash });
            if (!p.owner) throw new ChainRefusal(`Provider #${p.seqno} has no owner to pay`);
            return { provider: { address: p.address, seqno: p.seqno }, workerAccount: (await workerAccountFor(proxy, p.address, p.owner)).address };
        } catch (e) {
            if (e instanceof ChainRefusal) throw new JoinRefused(e.message);
            throw e;
        }
    };
    return { check, registered };
}
