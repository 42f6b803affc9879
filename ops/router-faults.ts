/**
 * Reads the fault reports a proxy router still serves: its `GET /v1/faults`, page after page
 * in report-id order (worker-reference/proxy/server.ts), over a connection pinned to the
 * router's enclave key when one is given (a router started with --tls).
 */
import { RouterClient } from './router-client';
import { readSignedFaults, SignedFaultFile } from './settlement-file';

export interface RouterFaultsOptions {
    /** The router's Ed25519 enclave key, pinned (its --tls certificate carries it). */
    routerKey?: Buffer;
    /** Reports per request (the router serves at most 1,000). */
    pageSize?: number;
    timeoutMs?: number;
}

export async function readRouterFaults(router: string, o: RouterFaultsOptions = {}): Promise<SignedFaultFile[]> {
    const client = new RouterClient(router, o.routerKey, o.timeoutMs);
    const reports: SignedFaultFile[] = [];
    let after = '0';
    try {
        for (;;) {
            const path = `/v1/faults?after=${after}&limit=${o.pageSize ?? 500}`;
            const page = await client.get(path);
            reports.push(...readSignedFaults(JSON.stringify(page)));
            const { more, next_after: next } = page as { more?: unknown; next_after?: unknown };
            if (more !== true) return reports;
            // A router that does not move on would keep this loop going forever.
            if (typeof next !== 'string' || !/^\d{1,20}$/.test(next) || BigInt(next) <= BigInt(after))
                throw new Error(`GET ${client.base}${path}: says more reports follow but next_after (${String(next)}) is not past ${after}`);
            after = next;
        }
    } finally {
        client.close();
    }
}
