/** Which of the project's contracts lives at an address, and its getters as tables (showState script, demo). */
import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { JobEscrow } from '../wrappers/JobEscrow';
import { Provider } from '../wrappers/Provider';
import { Proxy } from '../wrappers/Proxy';
import { Root } from '../wrappers/Root';
import { requireDeployed } from './confirm';
import { describeEscrow, describeProxy } from './payments';
import { describeProvider } from './provider';
import { describeRoot } from './root';

export const stateKinds = ['root', 'proxy', 'provider', 'escrow'] as const;
export type StateKind = (typeof stateKinds)[number];

async function answers(get: () => Promise<unknown>): Promise<boolean> {
    try {
        await get();
        return true;
    } catch {
        return false;
    }
}

/** Tries a getter only that kind of contract has; throws when none answers. */
export async function detectKind(provider: NetworkProvider, address: Address): Promise<StateKind> {
    await requireDeployed(provider, address, 'contract');
    if (await answers(() => provider.open(Root.fromAddress(address)).getTreasury())) return 'root';
    if (await answers(() => provider.open(JobEscrow.fromAddress(address)).getClient())) return 'escrow';
    if (await answers(() => provider.open(Proxy.fromAddress(address)).getEndpoint())) return 'proxy';
    if (await answers(() => provider.open(Provider.fromAddress(address)).getSlashedTotal())) return 'provider';
    throw new Error(`${address.toString()} is not a Root, Proxy, Provider or JobEscrow (none of their getters answers)`);
}

export async function describeState(provider: NetworkProvider, address: Address, kind?: StateKind): Promise<string> {
    switch (kind ?? (await detectKind(provider, address))) {
        case 'root':
            return describeRoot(provider, address);
        case 'proxy':
            return describeProxy(provider, address);
        case 'provider':
            return describeProvider(provider, address);
        case 'escrow':
            return describeEscrow(provider, address);
    }
}
