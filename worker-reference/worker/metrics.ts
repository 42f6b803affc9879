/** The worker's Prometheus metrics (GET /metrics): completions, tokens, timings, load. */
import { Counter, Gauge, Histogram } from 'prom-client';
import { HttpMetrics } from '../common/metrics';
import type { ModelEngine, TokenUsage } from './engine';

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export interface CompletionFacts {
    model: string;
    stream: boolean;
    sealed: boolean;
    /** stop | length | cancelled */
    finish: string;
    usage: TokenUsage;
    firstTokenMs: number;
    ms: number;
}

export class WorkerMetrics extends HttpMetrics {
    private readonly completions: Counter<'model' | 'stream' | 'sealed' | 'finish'>;
    private readonly tokens: Counter<'model' | 'kind'>;
    private readonly ttft: Histogram<'model'>;
    private readonly duration: Histogram<'model'>;

    constructor(engines: ModelEngine[], backend: string) {
        super('cocoon_worker_', ['/v1/chat/completions', '/v1/models', '/v1/worker', '/health', '/metrics']);
        const registers = [this.registry];
        this.completions = new Counter({ name: 'cocoon_worker_completions_total', help: 'chat completions generated, by how they ended', labelNames: ['model', 'stream', 'sealed', 'finish'], registers });
        this.tokens = new Counter({ name: 'cocoon_worker_tokens_total', help: 'tokens of generated completions by kind (prompt includes cached), as receipts count them', labelNames: ['model', 'kind'], registers });
        this.ttft = new Histogram({ name: 'cocoon_worker_time_to_first_token_seconds', help: 'from the start of evaluation to the first generated token', labelNames: ['model'], buckets: SECONDS, registers });
        this.duration = new Histogram({ name: 'cocoon_worker_generation_seconds', help: 'from admission to the end of generation', labelNames: ['model'], buckets: SECONDS, registers });
        /** A gauge read from every engine when scraped: one value per model and `label`. */
        const perModel = (name: string, help: string, label: string, read: (e: ModelEngine) => Record<string, number>) =>
            new Gauge({
                name,
                help,
                labelNames: ['model', label],
                registers,
                collect() {
                    for (const e of engines) for (const [k, v] of Object.entries(read(e))) this.set({ model: e.id, [label]: k }, v);
                },
            });
        perModel('cocoon_worker_requests', 'requests generating (active) or waiting for a sequence (queued), and sequences per model (capacity)', 'state', (e) => {
            const l = e.load;
            return { active: l.active, queued: l.queued, capacity: l.capacity };
        });
        perModel('cocoon_worker_json_grammars', 'grammars of JSON response formats kept per model (kept) and the size of their schemas as JSON (schema_bytes)', 'measure', (e) => {
            const c = e.grammarCache;
            return { kept: c.grammars, schema_bytes: c.bytes };
        });
        const info = new Gauge({ name: 'cocoon_worker_info', help: 'compute backend and served models (value 1)', labelNames: ['backend', 'model', 'model_hash'], registers });
        for (const e of engines) info.set({ backend, model: e.id, model_hash: e.options.hash.toString('hex') }, 1);
    }

    completion(f: CompletionFacts): void {
        this.completions.inc({ model: f.model, stream: String(f.stream), sealed: String(f.sealed), finish: f.finish });
        this.tokens.inc({ model: f.model, kind: 'prompt' }, f.usage.prompt);
        this.tokens.inc({ model: f.model, kind: 'cached' }, f.usage.cached);
        this.tokens.inc({ model: f.model, kind: 'completion' }, f.usage.completion);
        this.tokens.inc({ model: f.model, kind: 'reasoning' }, f.usage.reasoning);
        if (f.usage.completion > 0) this.ttft.observe({ model: f.model }, f.firstTokenMs / 1000);
        this.duration.observe({ model: f.model }, f.ms / 1000);
    }

    /** `cocoon_worker_proxy_joined{proxy}`: 1 while the last join to that proxy (--join, --join-proxy) was admitted. */
    watchJoins(status: () => Array<{ url: string; joined: boolean }>): void {
        new Gauge({
            name: 'cocoon_worker_proxy_joined',
            help: 'proxies this worker joins (--join, --join-proxy): 1 while the last join was admitted',
            labelNames: ['proxy'],
            registers: [this.registry],
            collect() {
                this.reset();
                for (const s of status()) this.set({ proxy: s.url }, s.joined ? 1 : 0);
            },
        });
    }
}
