/**
 * The router's view of its own Proxy contract (with --ton-v4), read at start and every
 * `everyMs`: its certificate's valid-until and whether it is active. Served as metrics, so an
 * operator is alerted before clients start refusing the proxy; logged as a warning while the
 * certificate has less than `warnSeconds` left (renew with scripts/renewProxy).
 */
import { log } from '../common/http';

export interface ContractStatus {
    /** Unix seconds. */
    validUntil: number;
    /** Active state, not deactivated by governance, certificate not expired. */
    active: boolean;
}

export class ContractWatch {
    latest?: ContractStatus;
    private timer?: NodeJS.Timeout;

    constructor(
        private readonly read: () => Promise<ContractStatus>,
        private readonly o: { everyMs: number; warnSeconds: number; now?: () => number },
    ) {}

    /** Reads once (a failed read keeps the last status and is logged). */
    async refresh(): Promise<void> {
        try {
            this.latest = await this.read();
        } catch (e) {
            log('proxy', 'Proxy contract not read (kept the last status)', { error: e instanceof Error ? e.message : String(e) });
            return;
        }
        const left = this.latest.validUntil - Math.floor((this.o.now ?? Date.now)() / 1000);
        if (!this.latest.active) log('proxy', 'WARNING: the Proxy contract is not active: clients that check the chain refuse this proxy', { valid_until: new Date(this.latest.validUntil * 1000).toISOString() });
        else if (left < this.o.warnSeconds)
            log('proxy', 'WARNING: the certificate expires soon: renew it (scripts/renewProxy) or clients will refuse this proxy', { valid_until: new Date(this.latest.validUntil * 1000).toISOString(), hours_left: Math.floor(left / 3600) });
    }

    async start(): Promise<void> {
        await this.refresh();
        this.timer = setInterval(() => void this.refresh(), this.o.everyMs);
        this.timer.unref();
    }

    stop(): void {
        if (this.timer) clearInterval(this.timer);
    }
}
