import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { certificateFromArgs, certificateOptions } from '../ops/certificate-source';
import { Role } from '../wrappers/payloads';
import { registerProvider } from '../ops/register';
import { runScript } from '../ops/script';

/** Registers a GPU provider from a worker certificate; this wallet becomes its owner. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'registerProvider',
            summary: 'register a GPU provider with a certificate (cocoon-verify attest --role worker), hardware facts, models and a stake',
            options: {
                root: { kind: 'address', help: 'Root contract address', required: true },
                ...certificateOptions,
                stake: { kind: 'ton', help: "stake in TON (at least Root's minimum provider stake)", required: true },
                model: { kind: 'hex32', help: 'SHA-256 of a served GGUF model (on the allow-list)', required: true, repeat: true },
                'gpu-model': { kind: 'string', help: 'GPU model name', required: true },
                'vram-gib': { kind: 'int', help: 'VRAM per GPU in GiB', required: true },
                'gpu-count': { kind: 'int', help: 'number of GPUs', default: '1' },
                'uptime-bps': { kind: 'int', help: 'expected uptime in basis points', default: '9900' },
            },
        },
        async (a) => {
            await registerProvider(provider, {
                root: a.one<Address>('root'),
                bundle: certificateFromArgs(provider, a, a.one<Address>('root'), Role.Worker),
                stake: a.one<bigint>('stake'),
                models: a.all<Buffer>('model'),
                gpuModel: a.one<string>('gpu-model'),
                vramGiB: Number(a.one<bigint>('vram-gib')),
                gpuCount: Number(a.one<bigint>('gpu-count')),
                expectedUptimeBps: Number(a.one<bigint>('uptime-bps')),
            });
        },
    );
}
