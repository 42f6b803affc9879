import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { proxyBeginClose, proxyFinishClose } from '../ops/payments';
import { runScript } from '../ops/script';

/** The proxy operator begins closing, then (after the close delay) finishes and takes stake and pool back. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'closeProxy',
            summary: 'begin closing your Proxy, or with --finish (after the close delay) take stake and pool back',
            options: {
                proxy: { kind: 'address', help: 'Proxy contract address', required: true },
                finish: { kind: 'flag', help: 'finish closing instead of beginning', default: 'false' },
            },
        },
        async (a) => {
            const proxy = a.one<Address>('proxy');
            if (a.one<boolean>('finish')) {
                await proxyFinishClose(provider, { proxy });
                provider.ui().write('proxy closed');
            } else {
                const { unlockAt } = await proxyBeginClose(provider, { proxy });
                provider.ui().write(`unlock at: ${unlockAt} (${new Date(unlockAt * 1000).toISOString()}); then run closeProxy --finish`);
            }
        },
    );
}
