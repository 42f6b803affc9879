import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { setProxyEndpoint } from '../ops/payments';
import { runScript } from '../ops/script';

/** The proxy operator moves the endpoint clients find its proxy at. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'setProxyEndpoint',
            summary: 'move the endpoint clients find your proxy at (Root\'s record and the Proxy)',
            options: {
                proxy: { kind: 'address', help: 'Proxy contract address', required: true },
                endpoint: { kind: 'string', help: 'the new base URL, https://host:port', required: true },
            },
        },
        async (a) => setProxyEndpoint(provider, { proxy: a.one<Address>('proxy'), endpoint: a.one<string>('endpoint') }),
    );
}
