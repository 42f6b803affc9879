import type { NetworkProvider } from '@ton/blueprint';
import { Address, fromNano } from '@ton/core';
import { withdrawRefund } from '../ops/payments';
import { runScript } from '../ops/script';

/** After the close delay the client takes its whole escrow balance back. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        { name: 'withdrawRefund', summary: 'after the close delay, take your JobEscrow balance back', options: { escrow: { kind: 'address', help: 'JobEscrow address', required: true } } },
        async (a) => {
            const { refunded } = await withdrawRefund(provider, { escrow: a.one<Address>('escrow') });
            provider.ui().write(`refunded: ${fromNano(refunded)} TON`);
        },
    );
}
