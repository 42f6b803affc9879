import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { requestRefund } from '../ops/payments';
import { runScript } from '../ops/script';

/** The client starts closing its escrow; the refund can be withdrawn after the client close delay. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        { name: 'requestRefund', summary: 'start closing your JobEscrow (withdrawRefund after the close delay)', options: { escrow: { kind: 'address', help: 'JobEscrow address', required: true } } },
        async (a) => {
            const { unlockAt } = await requestRefund(provider, { escrow: a.one<Address>('escrow') });
            provider.ui().write(`unlock at: ${unlockAt}`);
        },
    );
}
