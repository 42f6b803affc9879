import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { setAttestors } from '../ops/root';
import { runScript } from '../ops/script';

/** Governance: replaces Root's attestor keys and the k-of-n threshold. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'setAttestors',
            summary: "replace Root's attestor set (Ed25519 public keys) and threshold k",
            options: {
                root: { kind: 'address', help: 'Root contract address', required: true },
                attestor: { kind: 'hex32', help: 'attestor Ed25519 public key (hex)', required: true, repeat: true },
                threshold: { kind: 'int', help: 'signatures a certificate needs (k)', default: '1' },
            },
        },
        async (a) => setAttestors(provider, a.one<Address>('root'), a.all<Buffer>('attestor'), Number(a.one<bigint>('threshold'))),
    );
}
