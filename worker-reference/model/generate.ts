/**
 * Writes a llama-architecture GGUF with seeded random weights: a real model llama.cpp loads
 * and runs (its output is noise), used for tests, the demo and benchmarks.
 */
import { GgmlType, GgufValue, GgufValueType } from '../gguf/format';
import { TensorSpec, writeGguf } from '../gguf/writer';
import { Prng } from './prng';
import { buildVocabulary, CHATML_TEMPLATE } from './tokenizer';

export type ModelSize = 'tiny' | 'small' | '1b';

export interface ModelShape {
    embedding: number;
    layers: number;
    heads: number;
    kvHeads: number;
    feedForward: number;
    contextLength: number;
    extraWords: number;
    type: GgmlType;
}

export const MODEL_SHAPES: Record<ModelSize, ModelShape> = {
    tiny: { embedding: 64, layers: 2, heads: 4, kvHeads: 2, feedForward: 128, contextLength: 2048, extraWords: 0, type: GgmlType.F32 },
    small: { embedding: 256, layers: 4, heads: 8, kvHeads: 4, feedForward: 768, contextLength: 4096, extraWords: 3000, type: GgmlType.F32 },
    '1b': { embedding: 2048, layers: 16, heads: 32, kvHeads: 8, feedForward: 8192, contextLength: 4096, extraWords: 31000, type: GgmlType.F16 },
};

/** Files smaller than this are written without progress lines. */
export const PROGRESS_MIN_BYTES = 64 * 2 ** 20;

/**
 * A progress callback for `generateModel` that reports each tenth of a file of at least
 * PROGRESS_MIN_BYTES as a line ("30% (632 of 2105 MiB, 6.0 s)"); smaller files write none.
 */
export function progressInTenths(write: (line: string) => void): (written: number, total: number) => void {
    const started = Date.now();
    let shown = 0;
    return (written, total) => {
        if (total < PROGRESS_MIN_BYTES) return;
        const tenth = Math.floor((written * 10) / total);
        if (tenth <= shown) return;
        shown = tenth;
        write(`${tenth * 10}% (${Math.round(written / 2 ** 20)} of ${Math.round(total / 2 ** 20)} MiB, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    };
}

export interface GeneratedModel {
    file: string;
    bytes: number;
    vocabSize: number;
    parameters: number;
}

/** `onProgress` is called as tensor data is written: bytes so far and the file's size. */
export function generateModel(file: string, size: ModelSize, seed: number, onProgress?: (written: number, total: number) => void): GeneratedModel {
    const shape = MODEL_SHAPES[size];
    const vocab = buildVocabulary(shape.extraWords);
    const nVocab = vocab.tokens.length;
    const headDim = shape.embedding / shape.heads;
    const kvDim = headDim * shape.kvHeads;

    const u32 = (value: number): GgufValue => ({ type: GgufValueType.Uint32, value });
    const meta = new Map<string, GgufValue>([
        ['general.architecture', { type: GgufValueType.String, value: 'llama' }],
        ['general.name', { type: GgufValueType.String, value: `cocoon-random-${size}-seed${seed}` }],
        ['general.file_type', u32(shape.type === GgmlType.F16 ? 1 : 0)],
        ['llama.context_length', u32(shape.contextLength)],
        ['llama.embedding_length', u32(shape.embedding)],
        ['llama.block_count', u32(shape.layers)],
        ['llama.feed_forward_length', u32(shape.feedForward)],
        ['llama.attention.head_count', u32(shape.heads)],
        ['llama.attention.head_count_kv', u32(shape.kvHeads)],
        ['llama.attention.layer_norm_rms_epsilon', { type: GgufValueType.Float32, value: 1e-5 }],
        ['llama.rope.dimension_count', u32(headDim)],
        ['llama.rope.freq_base', { type: GgufValueType.Float32, value: 10000 }],
        ['llama.vocab_size', u32(nVocab)],
        ['tokenizer.ggml.model', { type: GgufValueType.String, value: 'llama' }],
        ['tokenizer.ggml.tokens', { type: GgufValueType.Array, elementType: GgufValueType.String, value: vocab.tokens }],
        ['tokenizer.ggml.scores', { type: GgufValueType.Array, elementType: GgufValueType.Float32, value: vocab.scores }],
        ['tokenizer.ggml.token_type', { type: GgufValueType.Array, elementType: GgufValueType.Int32, value: vocab.types }],
        ['tokenizer.ggml.bos_token_id', u32(vocab.bos)],
        ['tokenizer.ggml.eos_token_id', u32(vocab.eos)],
        ['tokenizer.ggml.unknown_token_id', u32(vocab.unk)],
        ['tokenizer.ggml.add_bos_token', { type: GgufValueType.Bool, value: true }],
        ['tokenizer.ggml.add_eos_token', { type: GgufValueType.Bool, value: false }],
        ['tokenizer.chat_template', { type: GgufValueType.String, value: CHATML_TEMPLATE }],
    ]);

    const rng = new Prng(seed);
    const random = (scale: number) => (_start: number, out: Float32Array) => {
        for (let i = 0; i < out.length; i++) out[i] = rng.symmetric() * scale;
    };
    const ones = (_start: number, out: Float32Array) => out.fill(1);
    const tensors: TensorSpec[] = [];
    const matrix = (name: string, cols: number, rows: number, type = shape.type) =>
        tensors.push({ name, dims: [cols, rows], type, fill: random(Math.sqrt(3 / cols)) });
    const norm = (name: string) => tensors.push({ name, dims: [shape.embedding], type: GgmlType.F32, fill: ones });

    tensors.push({ name: 'token_embd.weight', dims: [shape.embedding, nVocab], type: shape.type, fill: random(1) });
    for (let i = 0; i < shape.layers; i++) {
        norm(`blk.${i}.attn_norm.weight`);
        matrix(`blk.${i}.attn_q.weight`, shape.embedding, shape.embedding);
        matrix(`blk.${i}.attn_k.weight`, shape.embedding, kvDim);
        matrix(`blk.${i}.attn_v.weight`, shape.embedding, kvDim);
        matrix(`blk.${i}.attn_output.weight`, shape.embedding, shape.embedding);
        norm(`blk.${i}.ffn_norm.weight`);
        matrix(`blk.${i}.ffn_gate.weight`, shape.embedding, shape.feedForward);
        matrix(`blk.${i}.ffn_down.weight`, shape.feedForward, shape.embedding);
        matrix(`blk.${i}.ffn_up.weight`, shape.embedding, shape.feedForward);
    }
    norm('output_norm.weight');
    // Output logits are scaled up so sampling is not uniform noise. The rows of control and
    // byte tokens are zero (logit 0 against a wide spread): the model rarely ends early and
    // writes readable pieces, so benchmarks measure max_tokens-long answers.
    const firstText = vocab.firstTextToken;
    const outScale = 6 * Math.sqrt(3 / shape.embedding);
    tensors.push({
        name: 'output.weight',
        dims: [shape.embedding, nVocab],
        type: shape.type,
        fill: (start, out) => {
            for (let i = 0; i < out.length; i++) {
                const r = rng.symmetric() * outScale;
                out[i] = Math.floor((start + i) / shape.embedding) < firstText ? 0 : r;
            }
        },
    });

    const bytes = writeGguf(file, meta, tensors, { onProgress });
    const parameters = tensors.reduce((a, t) => a + t.dims.reduce((x, y) => x * y, 1), 0);
    return { file, bytes, vocabSize: nVocab, parameters };
}
