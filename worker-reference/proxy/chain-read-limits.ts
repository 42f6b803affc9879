/**
 * Limits on the chain reads strangers can make a proxy do: a worker joining with a key the
 * proxy has not admitted, a client naming an escrow the proxy has not seen. Each costs reads of
 * the proxy's v4 API, and anyone can make up keys and addresses, so such requests are limited
 * per source address (a token bucket: a burst of `perSourcePerMinute`, refilled evenly) and
 * in how many run at once (`atOnce`). Workers and clients the proxy knows are never held by
 * either limit. The callers answer 429 with Retry-After, in their own words.
 */
import { isIPv6 } from 'node:net';
import { RateBuckets } from '../common/rate-buckets';

export interface ChainReadLimitOptions {
    /** Requests a minute from one source address; 0: no limit. */
    perSourcePerMinute: number;
    /** Reads at once; more are refused. */
    atOnce: number;
}

export class ChainReadLimits {
    private readonly perSource?: RateBuckets;
    private active = 0;
    private prunedAt: number;

    constructor(
        readonly limits: ChainReadLimitOptions,
        private readonly now: () => number = Date.now,
    ) {
        if (limits.perSourcePerMinute > 0) this.perSource = new RateBuckets(limits.perSourcePerMinute, now);
        this.prunedAt = now();
    }

    /** Takes one of `source`'s requests: 0 when taken, else the whole seconds until one may be. */
    waitFor(source: string): number {
        if (!this.perSource) return 0;
        if (this.now() - this.prunedAt >= 60_000) {
            this.perSource.prune(); // memory stays bounded by the sources of the last minute
            this.prunedAt = this.now();
        }
        return this.perSource.take(source);
    }

    /** A place among the reads at once: its release (call it once), or undefined when every place is taken. */
    enter(): (() => void) | undefined {
        if (this.active >= this.limits.atOnce) return undefined;
        this.active += 1;
        let released = false;
        return () => {
            if (!released) {
                released = true;
                this.active -= 1;
            }
        };
    }

    /** Reads running now. */
    get running(): number {
        return this.active;
    }

    /** Source addresses with a bucket (for tests). */
    get sources(): number {
        return this.perSource?.size ?? 0;
    }
}

/**
 * Who a request is counted against: an IPv4 address as it is (an IPv4-mapped IPv6 one as
 * IPv4), an IPv6 address by its /64, the block one host or site is usually given, so rotating
 * addresses within it does not rotate the limit.
 */
export function sourceOf(address: string | undefined): string {
    if (address === undefined || !isIPv6(address)) return address ?? 'unknown';
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return mapped[1];
    const [head, tail = ''] = address.split('::');
    const left = head ? head.split(':') : [];
    const right = address.includes('::') && tail ? tail.split(':') : [];
    const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
    return `${groups
        .slice(0, 4)
        .map((g) => parseInt(g, 16).toString(16))
        .join(':')}::/64`;
}
