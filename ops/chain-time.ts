/** "Now" as the chain sees it: the sandbox's clock in tests and the demo, wall time on networks. */
import type { NetworkProvider } from '@ton/blueprint';
import { SandboxNetworkProvider } from './sandbox-provider';

export function chainNow(provider: NetworkProvider): number {
    if (provider instanceof SandboxNetworkProvider && provider.chain.now !== undefined) return provider.chain.now;
    return Math.floor(Date.now() / 1000);
}

/** A chain time (unix seconds) as an ISO date, for messages. */
export function when(unix: bigint | number): string {
    return new Date(Number(unix) * 1000).toISOString();
}
