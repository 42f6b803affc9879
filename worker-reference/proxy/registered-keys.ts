/**
 * The Ed25519 keys of every Provider registered at Root, read in one get-method call (Root's
 * `providers` map) and kept, so that a join from a key no Provider holds is refused without a
 * chain check of its own. Anyone can sign joins with fresh keys from many addresses; without
 * this list each such join took one of the proxy's `--join-checks` slots for a chain read,
 * and a flood of them kept new workers waiting. With it a flood costs at most one read of the
 * registry every `refreshMinMs`, and only keys Root lists (each one staked) reach the full check.
 *
 * A key missing from a list younger than `refreshMinMs` is refused at once; otherwise the list
 * is read again first (one read at a time, shared by every join waiting on it). A Provider
 * registered after the last read is listed at the next one: the proxy's refusal says when
 * (Retry-After), and the worker joins again then. A read that fails is answered with its
 * error for FAILED_READ_PAUSE_MS before the registry is read again.
 */
/** After a failed read of the registry, how long its error is answered before reading again. */
export const FAILED_READ_PAUSE_MS = 5_000;

export class RegisteredKeys {
    private keys?: Set<string>;
    private readAt = 0;
    private reading?: Promise<void>;
    /** The last read's failure and when it began: repeated for FAILED_READ_PAUSE_MS instead of reading again (a flood during a chain outage makes no more reads). */
    private failed?: { at: number; error: unknown };
    private readonly now: () => number;

    constructor(
        /** Every registered Provider's Ed25519 key (32 bytes each). */
        private readonly read: () => Promise<Buffer[]>,
        private readonly o: { refreshMinMs: number; now?: () => number },
    ) {
        this.now = o.now ?? Date.now;
    }

    /** Whether Root lists a Provider holding `key` (read again when the list is older than refreshMinMs); throws when the chain cannot be read. */
    async has(key: Buffer): Promise<boolean> {
        const hex = key.toString('hex');
        if (this.keys?.has(hex)) return true;
        if (this.keys && this.now() - this.readAt < this.o.refreshMinMs) return false;
        await this.refresh();
        return this.keys?.has(hex) ?? false;
    }

    /** Seconds since the list was read (for messages); undefined before the first read. */
    get ageS(): number | undefined {
        return this.keys ? Math.floor((this.now() - this.readAt) / 1000) : undefined;
    }

    /** Seconds until a key not listed makes the list be read again (at least 1). */
    get nextReadInS(): number {
        return Math.max(1, Math.ceil((this.readAt + this.o.refreshMinMs - this.now()) / 1000));
    }

    private refresh(): Promise<void> {
        if (this.failed && this.now() - this.failed.at < FAILED_READ_PAUSE_MS) return Promise.reject(this.failed.error);
        this.reading ??= (async () => {
            const startedAt = this.now();
            try {
                const keys = await this.read();
                this.keys = new Set(keys.map((k) => k.toString('hex')));
                this.readAt = startedAt;
                this.failed = undefined;
            } catch (e) {
                this.failed = { at: startedAt, error: e };
                throw e;
            } finally {
                this.reading = undefined;
            }
        })();
        return this.reading;
    }
}
