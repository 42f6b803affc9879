/**
 * Reads a proxy router's JSON API (`GET` only) the way operators' scripts do: over a TLS
 * connection pinned to the router's enclave key when one is given (a router started with
 * --tls), with each failure naming the URL.
 */
import { PinnedKeyAgent } from '../worker-reference/crypto/tls-link';
import { getJson } from '../worker-reference/proxy/registry';

export class RouterClient {
    readonly base: string;
    private readonly agent?: PinnedKeyAgent;

    /** `routerKey`: the router's Ed25519 enclave key, pinned (its --tls certificate carries it). */
    constructor(
        router: string,
        routerKey?: Buffer,
        private readonly timeoutMs = 10_000,
    ) {
        this.base = router.replace(/\/+$/, '');
        this.agent = routerKey ? new PinnedKeyAgent(routerKey) : undefined;
    }

    /** GET `path` (with its query string); rejects with "GET <url>: <why>". */
    async get(path: string): Promise<unknown> {
        const url = `${this.base}${path}`;
        try {
            return await getJson(url, this.timeoutMs, this.agent);
        } catch (e) {
            throw new Error(`GET ${url}: ${(e as Error).message}`);
        }
    }

    close(): void {
        this.agent?.destroy();
    }
}
