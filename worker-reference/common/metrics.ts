/**
 * Prometheus metrics (prom-client) served at GET /metrics by the worker and the proxy: one
 * registry per server with the process's own metrics (CPU, memory, event-loop delay) and the
 * server's, and every HTTP answer counted by route and status. Counters hold no prompt, answer
 * or client identity.
 */
import * as http from 'node:http';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

export class HttpMetrics {
    readonly registry = new Registry();
    private readonly responses: Counter<'route' | 'status'>;

    /** `prefix`: `cocoon_worker_` or `cocoon_proxy_`; `routes`: the paths counted by name (others count as "other"). */
    constructor(
        readonly prefix: string,
        private readonly routes: readonly string[],
    ) {
        collectDefaultMetrics({ register: this.registry, prefix });
        this.responses = new Counter({ name: `${prefix}http_responses_total`, help: 'HTTP answers by route and status', labelNames: ['route', 'status'], registers: [this.registry] });
    }

    /** Counts the answer to `req` when it is complete (or cut). */
    count(req: http.IncomingMessage, res: http.ServerResponse): void {
        const url = (req.url ?? '/').split('?')[0];
        const route = this.routes.find((r) => (r.endsWith('/') ? url.startsWith(r) : url === r)) ?? 'other';
        res.once('close', () => this.responses.inc({ route, status: res.headersSent ? String(res.statusCode) : 'none' }));
    }

    async send(res: http.ServerResponse): Promise<void> {
        const text = await this.registry.metrics();
        res.writeHead(200, { 'content-type': this.registry.contentType, 'cache-control': 'no-store' });
        res.end(text);
    }
}
