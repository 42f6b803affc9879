/** The proxy's Prometheus metrics (GET /metrics): workers, forwarded requests, tokens charged, faults. */
import { Counter, Gauge } from 'prom-client';
import { HttpMetrics } from '../common/metrics';
import type { Ledger } from './ledger';
import type { WorkerRegistry } from './registry';
import type { TokenCounts } from './tokens';
import type { ContractStatus } from './contract-watch';

/** How one attempt at a worker ended. */
export type AttemptOutcome = 'answered' | 'busy' | 'failed' | 'invalid_receipt' | 'client_error' | 'id_floor';

export class ProxyMetrics extends HttpMetrics {
    private readonly attempts: Counter<'worker' | 'outcome'>;
    private readonly tokens: Counter<'kind'>;
    private readonly faults: Counter<'worker' | 'reason'>;
    private readonly joins: Counter<'outcome'>;

    constructor(registry: WorkerRegistry, ledger: Ledger) {
        super('cocoon_proxy_', ['/v1/chat/completions', '/v1/models', '/v1/workers', '/v1/workers/join', '/v1/settlement/', '/v1/settlement', '/v1/faults/', '/v1/faults', '/health', '/metrics']);
        const registers = [this.registry];
        this.attempts = new Counter({ name: 'cocoon_proxy_worker_attempts_total', help: 'requests sent to a worker, by how they ended (busy = 429, failed = connection or 5xx, both retried elsewhere; id_floor = a restarted worker refused ids it had reserved, asked again above them)', labelNames: ['worker', 'outcome'], registers });
        this.tokens = new Counter({ name: 'cocoon_proxy_charged_tokens_total', help: 'tokens charged to clients by kind (durably recorded), since start', labelNames: ['kind'], registers });
        this.faults = new Counter({ name: 'cocoon_proxy_fault_reports_total', help: 'fault reports filed against workers, since start', labelNames: ['worker', 'reason'], registers });
        this.joins = new Counter({ name: 'cocoon_proxy_worker_joins_total', help: 'joins posted by workers (POST /v1/workers/join), by outcome: admitted, or the error code of the refusal', labelNames: ['outcome'], registers });
        new Gauge({
            name: 'cocoon_proxy_worker_healthy',
            help: '1 when the worker passed its last health check',
            labelNames: ['worker'],
            registers,
            collect() {
                this.reset(); // workers removed by a reload leave
                for (const w of registry.workers) this.set({ worker: w.config.name }, w.healthy ? 1 : 0);
            },
        });
        new Gauge({
            name: 'cocoon_proxy_worker_inflight',
            help: 'requests being forwarded to the worker now',
            labelNames: ['worker'],
            registers,
            collect() {
                this.reset();
                for (const w of registry.workers) this.set({ worker: w.config.name }, w.inflight);
            },
        });
        new Gauge({
            name: 'cocoon_proxy_ledger_records',
            help: 'records in the write-ahead ledger (sequence number)',
            registers,
            collect() {
                this.set(ledger.recordCount);
            },
        });
        new Gauge({
            name: 'cocoon_proxy_fault_reports_kept',
            help: 'fault reports kept for GET /v1/faults (unexpired, up to the bound)',
            registers,
            collect() {
                this.set(ledger.faults.length);
            },
        });
    }

    attempt(worker: string, outcome: AttemptOutcome): void {
        this.attempts.inc({ worker, outcome });
    }

    charged(t: TokenCounts): void {
        this.tokens.inc({ kind: 'prompt' }, Number(t.prompt));
        this.tokens.inc({ kind: 'cached' }, Number(t.cached));
        this.tokens.inc({ kind: 'completion' }, Number(t.completion));
        this.tokens.inc({ kind: 'reasoning' }, Number(t.reasoning));
    }

    /** Gauges of the router's own Proxy contract (with --ton-v4): certificate valid-until and active. */
    watchContract(status: () => ContractStatus | undefined): void {
        const registers = [this.registry];
        new Gauge({
            name: 'cocoon_proxy_certificate_valid_until_seconds',
            help: "the Proxy contract's certificate valid-until (unix seconds): renew before it (scripts/renewProxy)",
            registers,
            collect() {
                const s = status();
                if (s) this.set(s.validUntil);
            },
        });
        new Gauge({
            name: 'cocoon_proxy_contract_active',
            help: '1 while the Proxy contract is active, not deactivated and its certificate current (clients that check the chain refuse it otherwise)',
            registers,
            collect() {
                const s = status();
                if (s) this.set(s.active ? 1 : 0);
            },
        });
    }

    join(outcome: string): void {
        this.joins.inc({ outcome });
    }

    fault(worker: string, reason: string): void {
        this.faults.inc({ worker, reason });
    }
}
