import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { deployRoot } from '../ops/root';
import { runScript } from '../ops/script';

/** Deploys the network's Root with default params; the sending wallet pays. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'deployRoot',
            summary: 'deploy a Root (governance = --owner, e.g. a multisig wallet) with default params',
            options: {
                owner: { kind: 'address', help: 'governance address (default: this wallet)' },
                value: { kind: 'ton', help: 'TON sent with the deploy (gas balance of Root)', default: '0.5' },
            },
        },
        async (a) => {
            const owner = a.maybe<Address>('owner') ?? provider.sender().address;
            if (!owner) throw new Error('this wallet has no address: pass --owner');
            const root = await deployRoot(provider, { owner, value: a.one<bigint>('value') });
            provider.ui().write(`Root: ${root.address.toString()}`);
        },
    );
}
