import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { describeState, stateKinds, StateKind } from '../ops/state';
import { runScript } from '../ops/script';
import { UsageError } from '../ops/args';

/** Prints a Root's, Proxy's, Provider's or JobEscrow's getters as a table. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'showState',
            summary: "print a contract's getters as tables: Root, Proxy, Provider or JobEscrow (detected, or --kind)",
            options: {
                address: { kind: 'address', help: 'contract address', required: true },
                kind: { kind: 'string', help: `one of ${stateKinds.join(', ')} (default: detected from its getters)` },
            },
        },
        async (a) => {
            const kind = a.maybe<string>('kind');
            if (kind !== undefined && !(stateKinds as readonly string[]).includes(kind)) throw new UsageError(`--kind must be one of ${stateKinds.join(', ')}`);
            provider.ui().write(await describeState(provider, a.one<Address>('address'), kind as StateKind | undefined));
        },
    );
}
