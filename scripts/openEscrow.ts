import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { checkKeyFile, handOverApiKey } from '../ops/api-key';
import { openEscrow } from '../ops/payments';
import { runScript } from '../ops/script';

/** A client opens (or re-opens) its escrow with a proxy; this wallet is the client. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'openEscrow',
            summary: 'open your JobEscrow with a proxy: deposit TON, part of it locked as stake; prints (or saves) your API key once',
            options: {
                proxy: { kind: 'address', help: 'Proxy contract address', required: true },
                deposit: { kind: 'ton', help: 'TON to deposit (pays for requests)', required: true },
                stake: { kind: 'ton', help: "part of the deposit locked as stake (default: the proxy's minimum client stake)" },
                secret: { kind: 'hex32', help: 'your API secret, 32 bytes hex (default: a fresh random one; the escrow stores only its SHA-256)' },
                'key-file': { kind: 'file', help: 'write the API key <escrow>:<secret> to this new file (mode 600) instead of printing it' },
            },
        },
        async (a) => {
            const keyFile = a.maybe<string>('key-file');
            if (keyFile !== undefined) checkKeyFile(keyFile);
            const access = await openEscrow(provider, { proxy: a.one<Address>('proxy'), deposit: a.one<bigint>('deposit'), stake: a.maybe<bigint>('stake'), secret: a.maybe<Buffer>('secret') });
            provider.ui().write(`escrow: ${access.address.toString()}`);
            handOverApiKey(provider.ui(), access.apiKey, keyFile);
        },
    );
}
