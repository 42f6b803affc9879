/** Waiting for an operation's effect to show in the contract's getters. */
import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';

/**
 * Resolves once `check()` is true. On the sandbox the effect is immediate (one look); on a
 * real network the getters are polled every `intervalMs`, up to `attempts` times.
 */
export async function confirm(provider: NetworkProvider, what: string, check: () => Promise<boolean>, attempts = 30, intervalMs = 2000): Promise<void> {
    const once = provider.network() === 'custom';
    for (let i = 0; i < (once ? 1 : attempts); i++) {
        if (await check()) {
            provider.ui().write(`confirmed: ${what}`);
            return;
        }
        if (!once) await new Promise((r) => setTimeout(r, intervalMs));
    }
    throw new Error(`not confirmed: ${what} (the transaction failed or has not landed; check the explorer)`);
}

/** Refuses to go on when `address` holds no deployed contract. */
export async function requireDeployed(provider: NetworkProvider, address: Address, what: string): Promise<void> {
    if (!(await provider.isContractDeployed(address))) {
        throw new Error(`${what} ${address.toString()} is not a deployed contract on ${provider.network()}`);
    }
}
