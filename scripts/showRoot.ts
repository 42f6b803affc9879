import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { describeRoot } from '../ops/root';
import { runScript } from '../ops/script';

/** Prints Root's state: owner, params, attestors, allow-lists, registered proxies and providers. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        { name: 'showRoot', summary: "print Root's getters as tables", options: { root: { kind: 'address', help: 'Root contract address', required: true } } },
        async (a) => provider.ui().write(await describeRoot(provider, a.one<Address>('root'))),
    );
}
