import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { certificateFromArgs, certificateOptions } from '../ops/certificate-source';
import { Role } from '../wrappers/payloads';
import { renewProxy } from '../ops/register';
import { runScript } from '../ops/script';

/** Renews a registered proxy's certificate from a fresh quote of the same enclave (anyone may submit). */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'renewProxy',
            summary: "renew a proxy's certificate (a fresh cocoon-verify attest --role proxy of the same keys and image) before it expires",
            options: {
                root: { kind: 'address', help: 'Root contract address', required: true },
                ...certificateOptions,
            },
        },
        async (a) => {
            const r = await renewProxy(provider, { root: a.one<Address>('root'), bundle: certificateFromArgs(provider, a, a.one<Address>('root'), Role.Proxy) });
            provider.ui().write(`valid until: ${new Date(r.validUntil * 1000).toISOString()}`);
        },
    );
}
