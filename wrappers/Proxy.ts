/** Typed wrapper of the Proxy contract (contracts/proxy.tact). */
export * from '../build/cocoon/cocoon_Proxy';
