/** Typed wrapper of the Proxy contract (contracts/proxy.tact). */
import type { ContractProvider } from '@ton/core';
import { loadGetterTuplePrices, loadGetterTupleSlashing, loadGetterTupleStakes, Params } from '../build/cocoon/cocoon_Proxy';

export * from '../build/cocoon/cocoon_Proxy';

/** Proxy states (getter `state`). */
export const ProxyState = { uninit: 0n, active: 1n, closing: 2n, closed: 3n } as const;

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
