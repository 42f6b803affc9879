import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { proxyAddStake } from '../ops/payments';
import { runScript } from '../ops/script';

/** The proxy operator adds stake. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'proxyAddStake',
            summary: "add stake to your Proxy (backs clients' shortfalls)",
            options: {
                proxy: { kind: 'address', help: 'Proxy contract address', required: true },
                amount: { kind: 'ton', help: 'TON to add to the stake', required: true },
            },
        },
        async (a) => proxyAddStake(provider, { proxy: a.one<Address>('proxy'), amount: a.one<bigint>('amount') }),
    );
}
