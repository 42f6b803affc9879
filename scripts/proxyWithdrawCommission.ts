import type { NetworkProvider } from '@ton/blueprint';
import { Address, fromNano } from '@ton/core';
import { proxyWithdrawCommission } from '../ops/payments';
import { runScript } from '../ops/script';

/** The proxy operator takes commission: the pool above the workers' reserved fees. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'proxyWithdrawCommission',
            summary: "withdraw your Proxy's commission (pool above the workers' reserved fees)",
            options: {
                proxy: { kind: 'address', help: 'Proxy contract address', required: true },
                amount: { kind: 'ton', help: 'TON to withdraw (default: all available)' },
            },
        },
        async (a) => {
            const { withdrawn } = await proxyWithdrawCommission(provider, { proxy: a.one<Address>('proxy'), amount: a.maybe<bigint>('amount') });
            provider.ui().write(`withdrawn: ${fromNano(withdrawn)} TON`);
        },
    );
}
