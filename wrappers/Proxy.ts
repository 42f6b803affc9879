/** Typed wrapper of the Proxy contract (contracts/proxy.tact). */
export * from '../build/cocoon/cocoon_Proxy';

/** Proxy states (getter `state`). */
export const ProxyState = { uninit: 0n, active: 1n, closing: 2n, closed: 3n } as const;

/** Value an owner operation carries on top of the amount it moves (contracts/constants.tact OP_GAS). */
export const PROXY_OP_GAS = 20_000_000n;
