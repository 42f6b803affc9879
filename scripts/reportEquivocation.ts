import type { NetworkProvider } from '@ton/blueprint';
import { Address, fromNano } from '@ton/core';
import { reportEquivocation } from '../ops/provider';
import { runScript } from '../ops/script';
import { readReceipt } from '../ops/settlement-file';

/** Anyone: two receipts of one worker for the same request with different results slash its Provider. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'reportEquivocation',
            summary: "report two conflicting work receipts (the worker's `receipt` JSON, or the responses carrying them); earns the bounty",
            options: {
                provider: { kind: 'address', help: 'Provider contract of the worker that signed both', required: true },
                first: { kind: 'file', help: 'first receipt JSON file (or the JSON itself)', required: true },
                second: { kind: 'file', help: 'second receipt JSON file (or the JSON itself)', required: true },
            },
        },
        async (a) => {
            const first = readReceipt(a.one<string>('first'), 'first receipt');
            const second = readReceipt(a.one<string>('second'), 'second receipt');
            const { slashed, bounty } = await reportEquivocation(provider, { provider: a.one<Address>('provider'), first, second });
            provider.ui().write(`slashed: ${fromNano(slashed)} TON, bounty: ${fromNano(bounty)} TON`);
        },
    );
}
