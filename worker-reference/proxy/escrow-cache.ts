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

export class EscrowCache {
    private readonly entries = new Map<string, Entry>();
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

    /** The escrow's state, from the cache while it is fresh, else read. */
    async get(escrow: Address): Promise<EscrowState | null> {
        const key = escrow.toRawString();
        const e = this.entries.get(key);
        if (e && this.now() - e.readAt < this.o.ttlMs) return e.state;
        return (await this.read(escrow, key)).state;
    }

    /** Reads the escrow again unless its entry is younger than `refreshMinMs` (then returns that). */
    async refresh(escrow: Address): Promise<EscrowState | null> {
        const key = escrow.toRawString();
        const e = this.entries.get(key);
        if (e && this.now() - e.readAt < this.o.refreshMinMs) return e.state;
        return (await this.read(escrow, key)).state;
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
                if (this.entries.size >= this.maxEntries) {
                    const oldest = this.entries.keys().next().value;
                    if (oldest !== undefined) this.entries.delete(oldest);
                }
                this.entries.set(key, entry);
                return entry;
            } finally {
                this.pending.delete(key);
            }
        })();
        this.pending.set(key, p);
        return p;
    }
}
