/**
 * `cocoon-worker --gpu auto|cuda|off` (worker/llama.ts openLlama): the CUDA build where it
 * loads, CPU otherwise, and the choice logged at start with its reason. The same assertions
 * hold on a machine with a GPU and on one without: `auto` tells which this is, and `cuda` must
 * then agree with it (start on CUDA, or stop with a reason an operator can act on).
 */
import * as path from 'node:path';
import { spawnCli, Spawned, stop } from '../../worker-reference/launch';
import { generateModel } from '../../worker-reference/model/generate';
import { getJson, runCli, tmpDir } from './helpers';

const dir = tmpDir('cocoon-gpu-');
const model = path.join(dir, 'tiny.gguf');
const ARGS = ['--model', model, '--port', '0', '--no-probe', '--threads', '1'];
let auto: Spawned | undefined;

beforeAll(() => generateModel(model, 'tiny', 1));
afterAll(() => stop(auto));

describe('cocoon-worker --gpu', () => {
    it('auto: starts on the CUDA build where it loads, otherwise on CPU, logging the choice and why', async () => {
        auto = await spawnCli('cocoon-worker.js', [...ARGS, '--gpu', 'auto']);
        const backend = auto.info.backend as string;
        expect(['cuda', 'cpu']).toContain(backend);
        if (backend === 'cuda') expect(auto.stderr()).toMatch(/backend cuda reason="?--gpu auto: CUDA binary loaded/);
        else expect(auto.stderr()).toMatch(/backend cpu reason="?--gpu auto: CUDA unavailable \(.+\); using CPU"? threads=1/);
        // It serves either way, and says on which backend.
        expect(await getJson(`${auto.url}/v1/worker`)).toMatchObject({ backend });
    });

    it('cuda: starts on CUDA where auto found it; elsewhere exits 2 saying what CUDA needs, instead of falling back', async () => {
        const usesCuda = auto?.info.backend === 'cuda';
        if (usesCuda) {
            const w = await spawnCli('cocoon-worker.js', [...ARGS, '--gpu', 'cuda']);
            expect(w.info.backend).toBe('cuda');
            await stop(w);
            return;
        }
        const r = await runCli('cocoon-worker.js', [...ARGS, '--gpu', 'cuda']);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/--gpu cuda: the CUDA build of llama\.cpp could not be loaded \(.+\)/);
        expect(r.stderr).not.toMatch(/listening/);
        if (/NoBinaryFoundError/.test(r.stderr)) expect(r.stderr).toMatch(/needs an NVIDIA GPU with its driver and the CUDA 13 runtime/);
    });

    it('off: the CPU build, whatever the machine has; anything else is refused', async () => {
        const w = await spawnCli('cocoon-worker.js', [...ARGS, '--gpu', 'off']);
        expect(w.info.backend).toBe('cpu');
        expect(w.stderr()).toMatch(/backend cpu reason="?--gpu off/);
        await stop(w);
        const bad = await runCli('cocoon-worker.js', [...ARGS, '--gpu', 'metal']);
        expect(bad.code).toBe(2);
        expect(bad.stderr).toMatch(/--gpu/);
    });
});
