import type { NetworkProvider } from '@ton/blueprint';
import { Address, fromNano } from '@ton/core';
import { withdrawStake } from '../ops/provider';
import { runScript } from '../ops/script';

/** After the unbond delay the provider's owner takes the whole stake back. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        { name: 'withdrawStake', summary: "after the unbond delay, take your Provider's stake back (it exits)", options: { provider: { kind: 'address', help: 'Provider contract address', required: true } } },
        async (a) => {
            const { withdrawn } = await withdrawStake(provider, { provider: a.one<Address>('provider') });
            provider.ui().write(`withdrawn: ${fromNano(withdrawn)} TON`);
        },
    );
}
