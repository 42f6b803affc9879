/**
 * The router's short-lived cache of escrow state, so it does not read the chain on every
 * request. An entry is served for `ttlMs` after the read that produced it began. A caller that
 * is about to refuse a request on a cached entry (wrong or no API secret, escrow not open,
 * balance short) calls `refresh` first: the client may just have rotated its secret or topped
 * up. Refreshes of one escrow happen at most once per `refreshMinMs`, and concurrent reads of
 * one escrow share a single read, so a stream of bad keys cannot turn into a stream of chain
 * reads for one escrow.
 */
import { Address } from '@ton/core';
import { EscrowReader, EscrowState } from './escrow';

export interface EscrowCacheOptions {
    /** How long a read is served from the cache (ms). */
    ttlMs: number;
    /** Minimum age of an entry before `refresh` reads it again (ms). */
    refreshMinMs: number;
    /** Entries kept at most; the oldest go first. */
    maxEntries?: number;
    /** Clock (ms), for tests. */
    now?: () => number;
}

interface Entry {
    state: EscrowState | null;
    /** When the read that produced this entry began. */
    readAt: number;
}

const DEFAULT_MAX_ENTRIES = 10_000;
/** Addresses read and found without an escrow, kept apart so made-up ones never push out real escrows. */
const MAX_ABSENT = 1_000;

export class EscrowCache {
    /** Escrows read with a state. */
    private readonly entries = new Map<string, Entry>();
    /** Addresses read with no escrow there (state null). */
    private readonly absent = new Map<string, Entry>();
    private readonly pending = new Map<string, Promise<Entry>>();
    private readonly now: () => number;
    private readonly maxEntries: number;
    /** Reads made through the underlying reader (chain reads, in production). */
    reads = 0;

    constructor(
        private readonly reader: EscrowReader,
        private readonly o: EscrowCacheOptions,
    ) {
        this.now = o.now ?? (() => Date.now());
        this.maxEntries = o.maxEntries ?? DEFAULT_MAX_ENTRIES;
    }

    /** Whether this escrow was read with a state and is still cached (reading it again is no stranger's doing). */
    known(escrow: Address): boolean {
        return this.entries.has(escrow.toRawString());
    }

    /** Whether `get` (or `refresh`, with `fresh`) of this escrow would read the chain now rather than answer from the cache or join a read in flight. */
    wouldRead(escrow: Address, fresh: boolean): boolean {
        const key = escrow.toRawString();
        return !this.pending.has(key) && !this.cached(key, fresh ? this.o.refreshMinMs : this.o.ttlMs);
    }

    /** The escrow's state, from the cache while it is fresh, else read. */
    async get(escrow: Address): Promise<EscrowState | null> {
        const key = escrow.toRawString();
        return (this.cached(key, this.o.ttlMs) ?? (await this.read(escrow, key))).state;
    }

    /** Reads the escrow again unless its entry is younger than `refreshMinMs` (then returns that). */
    async refresh(escrow: Address): Promise<EscrowState | null> {
        const key = escrow.toRawString();
        return (this.cached(key, this.o.refreshMinMs) ?? (await this.read(escrow, key))).state;
    }

    /** The cached entry of `key` read less than `maxAgeMs` ago, if any. */
    private cached(key: string, maxAgeMs: number): Entry | undefined {
        const e = this.entries.get(key) ?? this.absent.get(key);
        return e && this.now() - e.readAt < maxAgeMs ? e : undefined;
    }

    private read(escrow: Address, key: string): Promise<Entry> {
        const inFlight = this.pending.get(key);
        if (inFlight) return inFlight;
        const readAt = this.now();
        const p = (async () => {
            try {
                this.reads += 1;
                const entry: Entry = { state: await this.reader.getEscrow(escrow), readAt };
                this.entries.delete(key);
                this.absent.delete(key);
                const into = entry.state ? this.entries : this.absent;
                if (into.size >= (entry.state ? this.maxEntries : MAX_ABSENT)) {
                    const oldest = into.keys().next().value;
                    if (oldest !== undefined) into.delete(oldest);
                }
                into.set(key, entry);
                return entry;
            } finally {
                this.pending.delete(key);
            }
        })();
        this.pending.set(key, p);
        return p;
    }
}
