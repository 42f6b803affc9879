/**
 * Parallel requests on one model: a fixed set of context sequences, a bounded FIFO of waiting
 * requests (full → 429), and prefix-aware assignment (a free sequence already holding the
 * longest prefix of the prompt is preferred, so its KV cache is reused).
 */
import { ApiError } from '../common/http';

export interface PooledSequence<T> {
    compareContextTokens(tokens: T[]): { firstDifferentIndex: number };
}

interface Waiter<S, T> {
    tokens: T[];
    resolve: (s: S) => void;
    reject: (e: unknown) => void;
}

export class SequencePool<T, S extends PooledSequence<T>> {
    private readonly free: S[];
    private readonly waiting: Waiter<S, T>[] = [];

    constructor(
        sequences: S[],
        private readonly maxQueue: number,
    ) {
        this.free = [...sequences];
        this.capacity = sequences.length;
    }
    readonly capacity: number;

    get active(): number {
        return this.capacity - this.free.length;
    }
    get queued(): number {
        return this.waiting.length;
    }

    acquire(tokens: T[], signal?: AbortSignal): Promise<S> {
        if (this.free.length > 0) return Promise.resolve(this.takeBest(tokens));
        if (this.waiting.length >= this.maxQueue)
            return Promise.reject(
                new ApiError(429, `worker is at capacity: ${this.capacity} requests running and ${this.waiting.length} queued (queue limit ${this.maxQueue}); retry later`, 'rate_limit_exceeded', 'worker_busy', null, { retryAfterS: 1 }),
            );
        return new Promise<S>((resolve, reject) => {
            const w: Waiter<S, T> = { tokens, resolve, reject };
            this.waiting.push(w);
            signal?.addEventListener(
                'abort',
                () => {
                    const i = this.waiting.indexOf(w);
                    if (i >= 0) {
                        this.waiting.splice(i, 1);
                        reject(new ApiError(499, 'client closed the request', 'invalid_request_error', 'client_closed'));
                    }
                },
                { once: true },
            );
        });
    }

    release(s: S): void {
        const w = this.waiting.shift();
        if (w) w.resolve(s);
        else this.free.push(s);
    }

    private takeBest(tokens: T[]): S {
        let best = 0;
        let bestLen = -1;
        for (let i = 0; i < this.free.length; i++) {
            const len = this.free[i].compareContextTokens(tokens).firstDifferentIndex;
            if (len > bestLen) {
                bestLen = len;
                best = i;
            }
        }
        return this.free.splice(best, 1)[0];
    }
}
