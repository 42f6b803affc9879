/**
 * Loads node-llama-cpp (an ES module) from this CommonJS code with a real dynamic import, and
 * picks the compute backend: `off` = the prebuilt CPU binary, `cuda` = the CUDA build or fail,
 * `auto` = CUDA when it loads, otherwise CPU. Never builds from source (`build: "never"`).
 */
import * as os from 'node:os';
import type { Llama } from 'node-llama-cpp';

export type NodeLlamaCpp = typeof import('node-llama-cpp');
export type GpuChoice = 'auto' | 'cuda' | 'off';

// `import()` written through Function so TypeScript's CommonJS output keeps it an import.
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

let cached: Promise<NodeLlamaCpp> | undefined;
export function loadNodeLlamaCpp(): Promise<NodeLlamaCpp> {
    cached ??= importEsm('node-llama-cpp') as Promise<NodeLlamaCpp>;
    return cached;
}

/**
 * Threads for CPU inference: the real core count minus one, at least one. llama.cpp's threads
 * spin-wait, so more threads than free cores collapses generation (measured here: ~4-20
 * tokens/s with 2+ threads on a busy 2-core machine, ~1,500 with 1); one core stays free for
 * the HTTP server.
 */
export function defaultCpuThreads(): number {
    const n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    return Math.max(1, n - 1);
}

export interface LlamaBackend {
    llama: Llama;
    /** What is actually used: "cuda", "vulkan", "metal" or "cpu". */
    backend: string;
    /** Why this backend was chosen (logged at start). */
    reason: string;
}

export async function openLlama(choice: GpuChoice, cpuThreads: number): Promise<LlamaBackend> {
    const lib = await loadNodeLlamaCpp();
    const logLevel = lib.LlamaLogLevel.error;
    if (choice === 'off') {
        const llama = await lib.getLlama({ gpu: false, build: 'never', maxThreads: cpuThreads, logLevel });
        return { llama, backend: 'cpu', reason: '--gpu off' };
    }
    try {
        const llama = await lib.getLlama({ gpu: 'cuda', build: 'never', logLevel });
        return { llama, backend: 'cuda', reason: `--gpu ${choice}: CUDA binary loaded` };
    } catch (e) {
        const why = cudaProblem(e);
        if (choice === 'cuda') throw new Error(`--gpu cuda: the CUDA build of llama.cpp could not be loaded (${why})`);
        const llama = await lib.getLlama({ gpu: false, build: 'never', maxThreads: cpuThreads, logLevel });
        return { llama, backend: 'cpu', reason: `--gpu auto: CUDA unavailable (${why}); using CPU` };
    }
}

/** Why the CUDA build did not load, in words an operator can act on. */
function cudaProblem(e: unknown): string {
    const first = e instanceof Error ? e.message.split('\n')[0] : String(e);
    if (e instanceof Error && (e.name === 'NoBinaryFoundError' || first === 'NoBinaryFoundError'))
        return 'NoBinaryFoundError: no prebuilt CUDA binary works on this machine; it needs an NVIDIA GPU with its driver and the CUDA 13 runtime libraries (CUDA 12 through @node-llama-cpp/linux-x64-cuda-ext)';
    return first;
}
