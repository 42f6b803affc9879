import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { editAllowList, listNames } from '../ops/root';
import { runScript } from '../ops/script';
import { UsageError } from '../ops/args';

/** Governance: adds or removes a proxy image, worker image or model hash. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'allowList',
            summary: 'add (default) or remove an allow-list entry: proxy-image | worker-image | model',
            options: {
                root: { kind: 'address', help: 'Root contract address', required: true },
                list: { kind: 'string', help: 'proxy-image | worker-image | model', required: true },
                hash: { kind: 'hex32', help: 'image hash (cocoon-verify image-hash) or model hash (SHA-256 of the GGUF)', required: true },
                remove: { kind: 'flag', help: 'remove the entry instead of adding it', default: 'false' },
                'expires-at': { kind: 'int', help: 'unix time the entry stops counting (0 = never)', default: '0' },
            },
        },
        async (a) => {
            const list = listNames[a.one<string>('list')];
            if (list === undefined) throw new UsageError(`--list must be one of ${Object.keys(listNames).join(', ')}`);
            await editAllowList(provider, a.one<Address>('root'), list, a.one<Buffer>('hash'), !a.one<boolean>('remove'), Number(a.one<bigint>('expires-at')));
        },
    );
}
