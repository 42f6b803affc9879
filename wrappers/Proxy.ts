/** Typed wrapper of the Proxy contract (contracts/proxy.tact). */
import type { ContractProvider } from '@ton/core';
import { loadGetterTupleParams, Params } from '../build/cocoon/cocoon_Proxy';

export * from '../build/cocoon/cocoon_Proxy';

/** Proxy states (getter `state`). */
export const ProxyState = { uninit: 0n, active: 1n, closing: 2n, closed: 3n } as const;

/** Value an owner operation carries on top of the amount it moves (contracts/constants.tact OP_GAS). */
export const PROXY_OP_GAS = 20_000_000n;

/**
 * The Proxy's Params snapshot (getter `params`), or null before its deploy. The generated
 * `getParams` cannot decode the optional nested struct the getter returns (it reads the
 * nested tuples as numbers); this reads them as the getter lays them out.
 */
export async function readProxyParams(provider: ContractProvider): Promise<Params | null> {
    const tuple = (await provider.get('params', [])).stack.readTupleOpt();
    return tuple ? loadGetterTupleParams(tuple) : null;
}
