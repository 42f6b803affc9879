/**
 * The (proxy, request id) pairs this worker key has claimed, kept across restarts: two
 * receipts for one pair with different result hashes are slashable equivocation, so a pair
 * is claimed once, ever, and no receipt is signed before its claim is on disk.
 *
 * A claim is taken in memory at once (a concurrent duplicate is refused). What goes to disk
 * is a reservation, per proxy: "every id up to U may have a receipt". A claim above the
 * reservation reserves `reserveBlock` ids beyond it, written in the background: `claim`
 * returns the promise of that fdatasync, which the worker awaits only just before it signs
 * the receipt, so the write overlaps generation; claims within the reservation wait for
 * nothing more (one write per block of ids, not per request). Reservations made while a
 * write is in flight share the next one (group commit). After a restart every id up to the
 * reservation is refused (`floorOf`): proxies allocate rising ids, and one that meets the
 * floor skips its ids past it (the worker's 409 `request_id_below_floor` names it).
 *
 * File `<dir>/request-ids.log`, append-only, lines in the checked format of
 * common/checked-log.ts:
 *   {"p":"<proxy raw address>","upTo":"<uint64>"}   ids up to upTo are reserved
 *   {"p":"<proxy raw address>","id":"<uint64>"}     the id is claimed (files of earlier versions)
 *   {"p":"<proxy raw address>","floor":"<uint64>"}  every id below floor is refused
 * Per proxy the worker keeps the set of claimed ids above a low-water mark (`floor`). The
 * file is compacted every `compactEvery` appended lines (temp file, fsync, rename, directory
 * fsync): per proxy it keeps the `keepPerProxy` highest ids and raises the floor above the
 * rest; a proxy that claimed nothing since the previous compaction keeps only its floor
 * (= its highest id + 1). Proxies allocate rising ids, so the floor only refuses ids they
 * would never send again. The file holds at most one floor line per proxy, `keepPerProxy`
 * ids per active proxy and `compactEvery` lines more.
 *
 * A torn last line (crash mid-append) is dropped at load: it was never synced, so no receipt
 * was signed for it. Any other damage refuses to start. `<dir>/lock` (the owner's pid) keeps
 * a second process off the same directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Address } from '@ton/core';
import { checkedLine, dropTornTail, GroupCommit, LogDamaged, readCheckedLog, writeFileDurably } from '../common/checked-log';

export interface RequestIdOptions {
    /** Ids kept in memory per proxy; lower ones fall under the floor. */
    keepPerProxy: number;
    /** Claims (in memory) or lines (on disk) between prunings / compactions. */
    compactEvery: number;
    /** Ids reserved beyond a claim above the reservation (one write per this many ids). */
    reserveBlock: bigint;
    /**
     * Proxy addresses kept at most: claims naming another are refused (`admits`). No proxy's
     * record may ever be forgotten, so this bounds the file and the memory of a worker that
     * serves whoever names a proxy (no --trust-proxy or --join).
     */
    maxProxies: number;
}

export const DEFAULT_MAX_PROXIES = 1_000;
const DEFAULTS: RequestIdOptions = { keepPerProxy: 10_000, compactEvery: 50_000, reserveBlock: 1_000_000n, maxProxies: DEFAULT_MAX_PROXIES };
const MAX_ID = (1n << 64n) - 1n;

type Line = { p: string; id: string } | { p: string; floor: string } | { p: string; upTo: string };

interface ProxyIds {
    floor: bigint;
    ids: Set<bigint>;
    /** Highest id ever claimed (-1 when none). */
    max: bigint;
    /** Claimed something since the last compaction. */
    active: boolean;
    /** Ids up to this are reserved (-1 when none), and the write that makes it durable. */
    reserved: bigint;
    reserving: Promise<void>;
}

export class RequestIdLogError extends Error {}
/** A claim for a proxy beyond `maxProxies`. */
export class ProxyLimitError extends Error {}

export class ClaimedRequestIds {
    private readonly proxies = new Map<string, ProxyIds>();
    private fd?: number;
    /** Claim lines on their way to disk (one fdatasync per batch). */
    private readonly log = new GroupCommit<string>({
        fd: () => this.fd as number,
        encode: (lines) => Buffer.from(lines.join('')),
        committed: (lines) => {
            this.syncs++;
            this.linesSinceCompaction += lines.length;
        },
        settled: () => {
            if (this.linesSinceCompaction >= this.opts.compactEvery) this.compact();
        },
        // Unknown state on disk: refuse every further claim rather than risk a reuse.
        failure: (cause) => new RequestIdLogError(`request-id log write failed: ${cause.message}`),
    });
    private linesSinceCompaction = 0;
    private claimsSincePrune = 0;
    private lockPath?: string;
    /** fdatasync calls so far (group commit makes it fewer than claims). */
    syncs = 0;

    private constructor(
        readonly dir: string | undefined,
        private readonly opts: RequestIdOptions,
    ) {}

    /** Claims kept in memory only: for a fresh key that nothing signed before this process. */
    static inMemory(opts: Partial<RequestIdOptions> = {}): ClaimedRequestIds {
        return new ClaimedRequestIds(undefined, { ...DEFAULTS, ...opts });
    }

    /** Loads (or creates) the claims of `dir`; throws a clear error on a damaged file or a directory in use. */
    static open(dir: string, opts: Partial<RequestIdOptions> = {}): ClaimedRequestIds {
        const c = new ClaimedRequestIds(dir, { ...DEFAULTS, ...opts });
        fs.mkdirSync(dir, { recursive: true });
        c.lock(dir);
        try {
            c.load();
            c.fd = fs.openSync(c.file, 'a');
        } catch (e) {
            c.unlock();
            throw e;
        }
        return c;
    }

    private get file(): string {
        return path.join(this.dir as string, 'request-ids.log');
    }

    /** Proxies known and ids held in memory (for logs and tests). */
    get stats(): { proxies: number; ids: number } {
        let ids = 0;
        for (const p of this.proxies.values()) ids += p.ids.size;
        return { proxies: this.proxies.size, ids };
    }

    // ------------------------------------------------------------------ lock and load

    private lock(dir: string): void {
        const file = path.join(dir, 'lock');
        for (let attempt = 0; attempt < 2; attempt++) {
            try {
                fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
                this.lockPath = file;
                return;
            } catch (e) {
                if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
            }
            // A lock of this very process is a reopen after a simulated crash (tests); of a dead one, stale.
            const pid = Number(fs.readFileSync(file, 'utf8').trim());
            if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid))
                throw new RequestIdLogError(`worker data directory ${dir} is in use by process ${pid}; give each worker its own --data-dir`);
            fs.rmSync(file, { force: true }); // left by a process that is gone
        }
        throw new RequestIdLogError(`could not lock worker data directory ${dir}`);
    }

    private unlock(): void {
        if (this.lockPath) fs.rmSync(this.lockPath, { force: true });
        this.lockPath = undefined;
    }

    private load(): void {
        fs.rmSync(this.file + '.tmp', { force: true }); // an unfinished compaction; the log is intact
        let log;
        try {
            log = readCheckedLog(this.file);
        } catch (e) {
            if (e instanceof LogDamaged)
                throw new RequestIdLogError(
                    `request-id log ${e.message}: refusing to start, since a lost id could let this worker sign two receipts for one request. Restore the file, or start with a new key`,
                );
            throw e;
        }
        for (const json of log.records) this.apply(JSON.parse(json) as Line);
        dropTornTail(this.file, log);
        this.linesSinceCompaction = log.records.length;
    }

    private state(proxy: string): ProxyIds {
        let s = this.proxies.get(proxy);
        if (!s) {
            s = { floor: 0n, ids: new Set(), max: -1n, active: false, reserved: -1n, reserving: Promise.resolve() };
            this.proxies.set(proxy, s);
        }
        return s;
    }

    /** A line of the file, at load: a reservation or a claimed id refuses every id up to it from now on. */
    private apply(l: Line): void {
        const s = this.state(l.p);
        const upTo = 'upTo' in l ? BigInt(l.upTo) : 'id' in l ? BigInt(l.id) : undefined;
        if (upTo !== undefined) {
            this.raiseFloor(s, upTo + 1n);
            return;
        }
        if ('floor' in l) this.raiseFloor(s, BigInt(l.floor));
    }

    private raiseFloor(s: ProxyIds, floor: bigint): void {
        if (floor > s.floor) {
            s.floor = floor;
            for (const id of s.ids) if (id < floor) s.ids.delete(id);
        }
        if (floor - 1n > s.max) s.max = floor - 1n;
    }

    /** Whether claims for `proxy` can be taken: it is known, or fewer than `maxProxies` proxies are (those of earlier runs included). */
    admits(proxy: Address): boolean {
        return this.proxies.has(proxy.toRawString()) || this.proxies.size < this.opts.maxProxies;
    }

    /** The most proxy addresses kept. */
    get maxProxies(): number {
        return this.opts.maxProxies;
    }

    /** Every id of `proxy` below this is refused (reserved before this process started, or pruned). */
    floorOf(proxy: Address): bigint {
        return this.proxies.get(proxy.toRawString())?.floor ?? 0n;
    }

    // ------------------------------------------------------------------ claims

    /**
     * Claims (proxy, id). Null when it was claimed before or lies under the proxy's floor
     * (`floorOf` tells which); otherwise the promise that the claim is durable, i.e. that a
     * reservation covering it is on disk (await it before signing). The promise never counts
     * as an unhandled rejection; awaiting it still throws. Throws ProxyLimitError for a proxy
     * `admits` refuses.
     */
    claim(proxy: Address, id: bigint): Promise<void> | null {
        if (!this.admits(proxy)) throw new ProxyLimitError(`this worker keeps the request ids of at most ${this.opts.maxProxies} proxies, and ${proxy.toString()} would be one more`);
        const key = proxy.toRawString();
        const s = this.state(key);
        if (id < s.floor || id > MAX_ID || s.ids.has(id)) return null;
        s.ids.add(id);
        s.active = true;
        if (id > s.max) s.max = id;
        if (++this.claimsSincePrune >= this.opts.compactEvery) this.prune();
        if (this.dir === undefined) return Promise.resolve();
        if (id > s.reserved) {
            s.reserved = id + this.opts.reserveBlock > MAX_ID ? MAX_ID : id + this.opts.reserveBlock;
            s.reserving = this.log.append(checkedLine(JSON.stringify({ p: key, upTo: s.reserved.toString() })));
            s.reserving.catch(() => undefined);
        }
        // Within the reservation: durable once the write that made it is (at once if it is done).
        return s.reserving;
    }

    /** An id for a request that names none: above every id claimed for `proxy`, and at least now_ms × 1000. */
    fresh(proxy: Address): bigint {
        const s = this.proxies.get(proxy.toRawString());
        const now = BigInt(Date.now()) * 1000n;
        const above = s ? (s.max + 1n > s.floor ? s.max + 1n : s.floor) : 0n;
        return above > now ? above : now;
    }

    /**
     * Bounds what is kept in memory: per proxy the `keepPerProxy` highest ids, the floor raised
     * above the others; a proxy without claims since the last prune keeps only its floor
     * (highest id + 1). Proxies allocate rising ids, so the floor refuses only ids they would
     * never send again.
     */
    private prune(): void {
        for (const s of this.proxies.values()) {
            if (!s.active) {
                if (s.max + 1n > s.floor) s.floor = s.max + 1n;
                s.ids.clear();
            } else if (s.ids.size > this.opts.keepPerProxy) {
                const drop = [...s.ids].sort(byId).slice(0, s.ids.size - this.opts.keepPerProxy);
                for (const id of drop) s.ids.delete(id);
                const above = drop[drop.length - 1] + 1n;
                if (above > s.floor) s.floor = above;
            }
            s.active = false;
        }
        this.claimsSincePrune = 0;
    }

    /** Rewrites the file as one reservation per proxy (between writes, never during one). */
    private compact(): void {
        const lines: string[] = [];
        for (const [p, s] of this.proxies) {
            const upTo = s.reserved >= s.floor ? s.reserved : s.floor - 1n;
            if (upTo >= 0n) lines.push(checkedLine(JSON.stringify({ p, upTo: upTo.toString() })));
        }
        // Reservations still queued are in `reserved` (so in the new file) and are appended again after: harmless.
        writeFileDurably(this.file, this.dir as string, lines.join(''));
        fs.closeSync(this.fd as number);
        this.fd = fs.openSync(this.file, 'a');
        this.linesSinceCompaction = 0;
    }

    /** Waits for pending writes, then closes the file and releases the directory. */
    async close(): Promise<void> {
        await this.log.drain();
        if (this.fd !== undefined) fs.closeSync(this.fd);
        this.fd = undefined;
        this.unlock();
    }
}

function byId(a: bigint, b: bigint): number {
    return a < b ? -1 : a > b ? 1 : 0;
}

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
}
