import * as path from 'node:path';
import { intArg, one, parseArgs, runMain } from './args';
import { generateModel, MODEL_SHAPES, ModelSize, progressInTenths } from '../model/generate';
import { sha256File } from '../common/hash';

const HELP = `Usage: cocoon-make-model --out FILE [--size tiny|small|1b] [--seed N]

Writes a llama-architecture GGUF model with deterministic random weights and a small
SentencePiece-style tokenizer (ChatML chat template). The answers are noise; the model is
for tests, demos and benchmarks where no real model can be downloaded.

  --out FILE    where to write the .gguf file
  --size S      tiny (64-wide, 2 layers; loads in milliseconds, used by tests),
                small (256-wide, 4 layers), 1b (2048-wide, 16 layers, ~1B params, F16, ~2 GB;
                progress on stderr)
                default: tiny
  --seed N      uint32 seed of the weights (default 1); same seed, same file, same hash
  --help        this text
`;

runMain(() => {
    const argv = process.argv.slice(2);
    if (argv.includes('--help') || argv.includes('-h')) {
        process.stdout.write(HELP);
        return;
    }
    const args = parseArgs(argv, ['help'], HELP);
    const out = one(args, 'out');
    if (!out) throw new Error('--out FILE is required (see --help)');
    const size = (one(args, 'size', 'tiny') ?? 'tiny') as ModelSize;
    if (!(size in MODEL_SHAPES)) throw new Error(`--size must be one of ${Object.keys(MODEL_SHAPES).join(', ')}`);
    const seed = intArg(args, 'seed', 1, 0, 0xffffffff);
    const started = Date.now();
    process.stderr.write(`writing ${size} model (seed ${seed}) to ${path.resolve(out)}\n`);
    const m = generateModel(out, size, seed, progressInTenths((line) => process.stderr.write(`  ${line}\n`)));
    process.stdout.write(
        JSON.stringify({ file: path.resolve(out), size, seed, bytes: m.bytes, parameters: m.parameters, vocabSize: m.vocabSize, sha256: sha256File(out).toString('hex'), ms: Date.now() - started }) + '\n',
    );
});
