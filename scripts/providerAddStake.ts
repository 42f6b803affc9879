import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { providerAddStake } from '../ops/provider';
import { runScript } from '../ops/script';

/** The provider's owner adds stake. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'providerAddStake',
            summary: 'add stake to your Provider (active or jailed)',
            options: {
                provider: { kind: 'address', help: 'Provider contract address', required: true },
                amount: { kind: 'ton', help: 'TON to add to the stake', required: true },
            },
        },
        async (a) => providerAddStake(provider, { provider: a.one<Address>('provider'), amount: a.one<bigint>('amount') }),
    );
}
