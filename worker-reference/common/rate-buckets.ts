/**
 * Token buckets by key (e.g. a client's address): each holds up to `perMinute` tokens and
 * refills evenly, `perMinute` a minute; a request takes one. Memory stays bounded by the keys
 * seen within the last minute (`prune` forgets full buckets).
 */
export class RateBuckets {
    private readonly buckets = new Map<string, { tokens: number; at: number }>();

    constructor(
        readonly perMinute: number,
        private readonly now: () => number = Date.now,
    ) {
        if (!(perMinute > 0)) throw new Error(`a rate must be above 0 a minute, got ${perMinute}`);
    }

    /** Takes a token from `key`'s bucket: 0 when taken, else the whole seconds until one is there. */
    take(key: string): number {
        const now = this.now();
        const tokens = this.level(key, now);
        if (tokens >= 1) {
            this.buckets.set(key, { tokens: tokens - 1, at: now });
            return 0;
        }
        this.buckets.set(key, { tokens, at: now });
        return Math.max(1, Math.ceil(((1 - tokens) * 60) / this.perMinute));
    }

    /** Forgets the buckets that are full again. */
    prune(): void {
        const now = this.now();
        for (const key of [...this.buckets.keys()]) if (this.level(key, now) >= this.perMinute) this.buckets.delete(key);
    }

    get size(): number {
        return this.buckets.size;
    }

    private level(key: string, now: number): number {
        const b = this.buckets.get(key);
        if (!b) return this.perMinute;
        return Math.min(this.perMinute, b.tokens + ((now - b.at) * this.perMinute) / 60_000);
    }
}
