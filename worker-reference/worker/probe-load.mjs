// Trial load of a GGUF in a separate process (see model-check.ts): exit 0 when llama.cpp can
// load the model and create a one-token context, anything else means "do not load it".
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const file = process.argv[2];
const llama = await getLlama({ gpu: false, build: 'never', maxThreads: 1, logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
const context = await model.createContext({ contextSize: 64, threads: 1 });
await context.dispose();
await model.dispose();
process.exit(0);
