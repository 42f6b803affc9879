import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { certificateFromArgs, certificateOptions } from '../ops/certificate-source';
import { renewProvider } from '../ops/provider';
import { requireDeployed } from '../ops/confirm';
import { runScript } from '../ops/script';
import { Provider } from '../wrappers/Provider';
import { Role } from '../wrappers/payloads';

/** The provider's owner renews its certificate from a fresh quote for the same key. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'renewProvider',
            summary: "renew your provider's certificate (a fresh cocoon-verify attest --role worker of the same key) before it expires",
            options: {
                provider: { kind: 'address', help: 'Provider contract address', required: true },
                ...certificateOptions,
            },
        },
        async (a) => {
            const address = a.one<Address>('provider');
            await requireDeployed(provider, address, 'Provider');
            // A certificate made here (--quote) names the Root the Provider belongs to.
            const root = await provider.open(Provider.fromAddress(address)).getRoot();
            const r = await renewProvider(provider, { provider: address, bundle: certificateFromArgs(provider, a, root, Role.Worker) });
            provider.ui().write(`valid until: ${new Date(r.validUntil * 1000).toISOString()}`);
        },
    );
}
