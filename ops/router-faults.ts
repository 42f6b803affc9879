/**
 * Reads the fault reports a proxy router still serves: its `GET /v1/faults`, page after page
 * in report-id order (worker-reference/proxy/server.ts), over a connection pinned to the
 * router's enclave key when one is given (a router started with --tls).
 */
import { PinnedKeyAgent } from '../worker-reference/crypto/tls-link';
import { getJson } from '../worker-reference/proxy/registry';
import { readSignedFaults, SignedFaultFile } from './settlement-file';

export interface RouterFaultsOptions {
    /** The router's Ed25519 enclave key, pinned (its --tls certificate carries it). */
    routerKey?: Buffer;
    /** Reports per request (the router serves at most 1,000). */
    pageSize?: number;
    timeoutMs?: number;
}

export async function readRouterFaults(router: string, o: RouterFaultsOptions = {}): Promise<SignedFaultFile[]> {
    const base = `${router.replace(/\/+$/, '')}/v1/faults`;
    const agent = o.routerKey ? new PinnedKeyAgent(o.routerKey) : undefined;
    const reports: SignedFaultFile[] = [];
    let after = '0';
    try {
        for (;;) {
            const url = `${base}?after=${after}&limit=${o.pageSize ?? 500}`;
            let page: unknown;
            try {
                page = await getJson(url, o.timeoutMs ?? 10_000, agent);
            } catch (e) {
                throw new Error(`GET ${url}: ${(e as Error).message}`);
            }
            reports.push(...readSignedFaults(JSON.stringify(page)));
            const { more, next_after: next } = page as { more?: unknown; next_after?: unknown };
            if (more !== true) return reports;
            // A router that does not move on would keep this loop going forever.
            if (typeof next !== 'string' || !/^\d{1,20}$/.test(next) || BigInt(next) <= BigInt(after))
                throw new Error(`GET ${url}: says more reports follow but next_after (${String(next)}) is not past ${after}`);
            after = next;
        }
    } finally {
        agent?.destroy();
    }
}
