import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { startUnbond } from '../ops/provider';
import { runScript } from '../ops/script';

/** The provider's owner starts unbonding (withdrawStake after the unbond delay). */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        { name: 'unbond', summary: 'start unbonding your Provider (withdrawStake after the unbond delay)', options: { provider: { kind: 'address', help: 'Provider contract address', required: true } } },
        async (a) => {
            const { unlockAt } = await startUnbond(provider, { provider: a.one<Address>('provider') });
            provider.ui().write(`unlock at: ${unlockAt}`);
        },
    );
}
