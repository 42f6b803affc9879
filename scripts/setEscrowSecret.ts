import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { UsageError } from '../ops/args';
import { checkKeyFile, handOverApiKey } from '../ops/api-key';
import { setEscrowSecret } from '../ops/payments';
import { runScript } from '../ops/script';

/** The client rotates the API secret of its escrow (the old API key stops working), or revokes every key. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'setEscrowSecret',
            summary: 'rotate the API secret of your JobEscrow (prints or saves the new API key once), or revoke every API key',
            options: {
                escrow: { kind: 'address', help: 'JobEscrow address (openEscrow prints it)', required: true },
                secret: { kind: 'hex32', help: 'the new API secret, 32 bytes hex (default: a fresh random one; the escrow stores only its SHA-256)' },
                'key-file': { kind: 'file', help: 'write the new API key <escrow>:<secret> to this new file (mode 600) instead of printing it' },
                revoke: { kind: 'flag', help: 'set no secret at all: proxies accept no API key for this escrow until a new secret is set' },
            },
        },
        async (a) => {
            const escrow = a.one<Address>('escrow');
            const revoke = a.maybe<boolean>('revoke') === true;
            const keyFile = a.maybe<string>('key-file');
            const secret = a.maybe<Buffer>('secret');
            if (revoke && (secret !== undefined || keyFile !== undefined)) throw new UsageError('--revoke sets no secret: it takes neither --secret nor --key-file');
            if (keyFile !== undefined) checkKeyFile(keyFile);
            const access = await setEscrowSecret(provider, { escrow, secret, revoke });
            if (access === null) {
                provider.ui().write(`revoked: no API key works for ${escrow.toString()} until a new secret is set`);
                return;
            }
            handOverApiKey(provider.ui(), access.apiKey, keyFile);
        },
    );
}
