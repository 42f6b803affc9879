/**
 * Checks a GGUF header for what llama.cpp needs before it is handed the file: a missing
 * hyper-parameter or tensor makes llama.cpp abort the whole process (a GGML assert), so the
 * worker refuses such a file with a readable reason instead.
 */
import { ggmlTypeSize } from './format';
import { GgufHeader, GgufMetaValue } from './reader';

export interface ModelFacts {
    architecture: string;
    contextLength: number;
    embeddingLength: number;
    blockCount: number;
    vocabSize: number;
    name?: string;
}

function num(v: GgufMetaValue | undefined): number | undefined {
    if (typeof v === 'number') return v;
    if (typeof v === 'bigint') return Number(v);
    return undefined;
}

/** Architectures whose blocks carry the llama-style tensor set checked below. */
const LLAMA_LIKE = new Set(['llama', 'mistral', 'qwen2', 'qwen3', 'granite']);
const LLAMA_BLOCK_TENSORS = ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_down', 'ffn_up'];

/** Returns the list of problems (empty when the model looks loadable) and the facts found. */
export function validateGgufHeader(h: GgufHeader): { problems: string[]; facts?: ModelFacts } {
    const problems: string[] = [];
    const m = h.metadata;
    const arch = m.get('general.architecture');
    if (typeof arch !== 'string' || arch.length === 0) return { problems: ['missing general.architecture'] };
    const need = (suffix: string): number | undefined => {
        const v = num(m.get(`${arch}.${suffix}`));
        if (v === undefined) problems.push(`missing ${arch}.${suffix}`);
        else if (!(v > 0)) problems.push(`${arch}.${suffix} must be positive, got ${v}`);
        return v;
    };
    const contextLength = need('context_length');
    const embeddingLength = need('embedding_length');
    const blockCount = need('block_count');
    need('feed_forward_length');
    const heads = need('attention.head_count');
    const headsKv = num(m.get(`${arch}.attention.head_count_kv`));
    if (heads !== undefined && embeddingLength !== undefined && embeddingLength % heads !== 0)
        problems.push(`embedding_length ${embeddingLength} is not divisible by head_count ${heads}`);
    if (headsKv !== undefined && heads !== undefined && (headsKv <= 0 || heads % headsKv !== 0))
        problems.push(`head_count ${heads} is not a multiple of head_count_kv ${headsKv}`);
    if (num(m.get(`${arch}.attention.layer_norm_rms_epsilon`)) === undefined && num(m.get(`${arch}.attention.layer_norm_epsilon`)) === undefined)
        problems.push(`missing ${arch}.attention.layer_norm_rms_epsilon`);
    const tokModel = m.get('tokenizer.ggml.model');
    if (typeof tokModel !== 'string') problems.push('missing tokenizer.ggml.model');
    const tokens = m.get('tokenizer.ggml.tokens');
    const vocabSize = Array.isArray(tokens) ? tokens.length : 0;
    if (!Array.isArray(tokens) || vocabSize === 0 || tokens.some((t) => typeof t !== 'string')) problems.push('missing tokenizer.ggml.tokens');
    for (const k of ['tokenizer.ggml.scores', 'tokenizer.ggml.token_type']) {
        const v = m.get(k);
        if (v !== undefined && (!Array.isArray(v) || v.length !== vocabSize)) problems.push(`${k} must have one entry per token`);
    }
    for (const k of ['tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id', 'tokenizer.ggml.unknown_token_id']) {
        const v = num(m.get(k));
        if (v !== undefined && (v < 0 || v >= vocabSize)) problems.push(`${k} ${v} is outside the vocabulary`);
    }

    const byName = new Map(h.tensors.map((t) => [t.name, t]));
    if (byName.size !== h.tensors.length) problems.push('duplicate tensor names');
    for (const t of h.tensors) {
        const size = ggmlTypeSize(t.type);
        if (size === undefined) continue; // quantised types: llama.cpp checks the sizes itself
        const bytes = BigInt(t.dims.reduce((a, b) => a * b, 1) * size);
        if (t.offset % BigInt(h.alignment) !== 0n) problems.push(`tensor ${t.name} is not aligned`);
        if (h.dataOffset + t.offset + bytes > h.fileSize) problems.push(`tensor ${t.name} extends past the end of the file`);
    }
    const requireTensor = (name: string, dims0?: number) => {
        const t = byName.get(name);
        if (!t) problems.push(`missing tensor ${name}`);
        else if (dims0 !== undefined && t.dims[0] !== dims0) problems.push(`tensor ${name} has row length ${t.dims[0]}, expected ${dims0}`);
    };
    requireTensor('token_embd.weight', embeddingLength);
    requireTensor('output_norm.weight', embeddingLength);
    if (blockCount !== undefined && blockCount < 100000) {
        for (let i = 0; i < blockCount; i++) {
            if (LLAMA_LIKE.has(arch)) for (const t of LLAMA_BLOCK_TENSORS) requireTensor(`blk.${i}.${t}.weight`);
            else if (!h.tensors.some((t) => t.name.startsWith(`blk.${i}.`))) problems.push(`missing tensors of block ${i}`);
        }
    }
    const tokenEmbd = byName.get('token_embd.weight');
    if (tokenEmbd && vocabSize > 0 && tokenEmbd.dims[1] !== vocabSize)
        problems.push(`token_embd.weight has ${tokenEmbd.dims[1]} rows for ${vocabSize} tokens`);
    if (problems.length > 0 || contextLength === undefined || embeddingLength === undefined || blockCount === undefined) return { problems };
    const name = m.get('general.name');
    return { problems, facts: { architecture: arch, contextLength, embeddingLength, blockCount, vocabSize, name: typeof name === 'string' ? name : undefined } };
}
