import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { readCertificate } from '../ops/certificate-file';
import { registerProxy } from '../ops/register';
import { runScript } from '../ops/script';

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
                certificate: { kind: 'file', help: 'certificate file or base64 BOC from cocoon-verify attest', required: true },
                stake: { kind: 'ton', help: "stake in TON (at least Root's minimum proxy stake)", required: true },
                endpoint: { kind: 'string', help: 'public endpoint clients reach the proxy at', required: true },
            },
        },
        async (a) => {
            await registerProxy(provider, {
                root: a.one<Address>('root'),
                bundle: readCertificate(a.one<string>('certificate')),
                stake: a.one<bigint>('stake'),
                endpoint: a.one<string>('endpoint'),
            });
        },
    );
}
