import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { topUpEscrow } from '../ops/payments';
import { runScript } from '../ops/script';

/** The client adds TON to its open escrow. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'topUpEscrow',
            summary: 'add TON to your open JobEscrow',
            options: {
                escrow: { kind: 'address', help: 'JobEscrow address (openEscrow prints it)', required: true },
                amount: { kind: 'ton', help: 'TON to add', required: true },
            },
        },
        async (a) => topUpEscrow(provider, { escrow: a.one<Address>('escrow'), amount: a.one<bigint>('amount') }),
    );
}
