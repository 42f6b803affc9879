import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { certificateFromArgs, certificateOptions } from '../ops/certificate-source';
import { Role } from '../wrappers/payloads';
import { registerProxy } from '../ops/register';
import { runScript } from '../ops/script';
import { UsageError } from '../ops/args';
import { proxyEndpointProblem } from '../wrappers/Proxy';

/** Registers a proxy from an attestation certificate; this wallet becomes its operator. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'registerProxy',
            summary: 'register a proxy with a certificate (cocoon-verify attest --role proxy) and a stake',
            options: {
                root: { kind: 'address', help: 'Root contract address', required: true },
                ...certificateOptions,
                stake: { kind: 'ton', help: "stake in TON (at least Root's minimum proxy stake)", required: true },
                endpoint: { kind: 'string', help: "the base URL clients reach the proxy at, https://host:port (they find it on chain from their escrow)", required: true },
            },
        },
        async (a) => {
            // Checked first: a quote is not verified (nor TON sent) for an endpoint no client could use.
            const endpoint = a.one<string>('endpoint');
            const bad = proxyEndpointProblem(endpoint);
            if (bad) throw new UsageError(`--endpoint: ${bad}`);
            await registerProxy(provider, {
                root: a.one<Address>('root'),
                bundle: certificateFromArgs(provider, a, a.one<Address>('root'), Role.Proxy),
                stake: a.one<bigint>('stake'),
                endpoint,
            });
        },
    );
}
