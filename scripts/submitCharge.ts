import type { NetworkProvider } from '@ton/blueprint';
import { fromNano } from '@ton/core';
import { submitCharge } from '../ops/payments';
import { runScript } from '../ops/script';
import { readSignedCharge } from '../ops/settlement-file';

/** Anyone (normally the proxy operator) submits the router's latest signed charge to its escrow. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'submitCharge',
            summary: 'submit a signed cumulative charge (the JSON of the router\'s GET /v1/settlement/charge/<escrow>) to its escrow',
            options: {
                charge: { kind: 'file', help: 'file holding the router\'s charge JSON (or the JSON itself)', required: true },
            },
        },
        async (a) => {
            const c = readSignedCharge(a.one<string>('charge'));
            const { charged } = await submitCharge(provider, { escrow: c.escrow, payload: c.payload, signature: c.signature });
            provider.ui().write(`charged: ${fromNano(charged)} TON`);
        },
    );
}
