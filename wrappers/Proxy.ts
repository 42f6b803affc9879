/** Typed wrapper of the Proxy contract (contracts/proxy.tact). */
import type { ContractProvider } from '@ton/core';
import { loadGetterTuplePrices, loadGetterTupleSlashing, loadGetterTupleStakes, Params } from '../build/cocoon/cocoon_Proxy';

export * from '../build/cocoon/cocoon_Proxy';

/** Proxy states (getter `state`). */
export const ProxyState = { uninit: 0n, active: 1n, closing: 2n, closed: 3n } as const;

/** Most bytes of a proxy's registered endpoint (contracts/constants.tact MAX_ENDPOINT_BYTES: one cell). */
export const MAX_ENDPOINT_BYTES = 127;

/**
 * Why `endpoint` cannot be a proxy's public endpoint, or null when it can: clients find a
 * proxy on chain by it (client/chain-check.ts), so it must be the base URL they connect to,
 * http(s)://host[:port] with nothing after it, and fit Root's record.
 */
export function proxyEndpointProblem(endpoint: string): string | null {
    const bytes = Buffer.byteLength(endpoint);
    if (bytes > MAX_ENDPOINT_BYTES) return `the endpoint is ${bytes} bytes; at most ${MAX_ENDPOINT_BYTES} fit Root's record`;
    let url: URL;
    try {
        url = new URL(endpoint);
    } catch {
        return `"${endpoint}" is not a URL: give the base URL clients connect to, https://host:port`;
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return `"${endpoint}" is not an http(s) URL`;
    if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== ''))
        return `"${endpoint}" must be a base URL, scheme://host[:port] with no path, query or credentials`;
    return null;
}

/** Value an owner operation carries on top of the amount it moves (contracts/constants.tact OP_GAS). */
export const PROXY_OP_GAS = 20_000_000n;

/**
 * The Proxy's Params snapshot (getter `params`), or null before its deploy. The generated
 * `getParams` cannot decode the optional nested struct the getter returns (it reads the
 * nested tuples as numbers); this reads each nested struct from its own tuple.
 */
export async function readProxyParams(provider: ContractProvider): Promise<Params | null> {
    const t = (await provider.get('params', [])).stack.readTupleOpt();
    if (!t) return null;
    const prices = loadGetterTuplePrices(t.readTuple());
    const stakes = loadGetterTupleStakes(t.readTuple());
    const slashing = loadGetterTupleSlashing(t.readTuple());
    return { $$type: 'Params', prices, stakes, slashing, tcbStatusMask: t.readBigNumber() };
}
