import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { openEscrow } from '../ops/payments';
import { runScript } from '../ops/script';

/** A client opens (or re-opens) its escrow with a proxy; this wallet is the client. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'openEscrow',
            summary: 'open your JobEscrow with a proxy: deposit TON, part of it locked as stake',
            options: {
                proxy: { kind: 'address', help: 'Proxy contract address', required: true },
                deposit: { kind: 'ton', help: 'TON to deposit (pays for requests)', required: true },
                stake: { kind: 'ton', help: "part of the deposit locked as stake (default: the proxy's minimum client stake)" },
            },
        },
        async (a) => {
            const { address } = await openEscrow(provider, { proxy: a.one<Address>('proxy'), deposit: a.one<bigint>('deposit'), stake: a.maybe<bigint>('stake') });
            provider.ui().write(`escrow: ${address.toString()}`);
        },
    );
}
