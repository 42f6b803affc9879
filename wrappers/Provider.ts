/** Typed wrapper of the Provider contract (contracts/provider.tact). */
export * from '../build/cocoon/cocoon_Provider';
