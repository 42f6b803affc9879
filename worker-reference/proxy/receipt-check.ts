/**
 * What the proxy checks before it counts a worker's answer: the receipt verifies with the
 * worker's key, names this proxy and this request, an allowed model, the very token counts
 * reported in `usage`, and the hash of the answer bytes the proxy forwarded.
 * A failure after the signature verified is the worker's own doing: the error carries the
 * fault reason the proxy reports on chain (proxy/faults.ts).
 */
import { Address } from '@ton/core';
import { FaultReason, TokenCounts, WorkReceipt } from '../../wrappers/payloads';
import { openReceipt, ReceiptJson } from '../worker/receipt';
import { WorkerState } from './registry';

export interface UsageJson {
    prompt_tokens?: unknown;
    completion_tokens?: unknown;
    prompt_tokens_details?: { cached_tokens?: unknown } | null;
    completion_tokens_details?: { reasoning_tokens?: unknown } | null;
}

export class ReceiptError extends Error {
    /** Set when a receipt signed by the worker's key fails a check: reportable evidence. */
    constructor(
        message: string,
        readonly fault?: FaultReason,
    ) {
        super(message);
    }
}

function count(v: unknown): bigint {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ReceiptError('usage token count is not a non-negative integer', FaultReason.WrongCounts);
    return BigInt(v);
}

export function checkReceipt(args: {
    receipt: unknown;
    worker: WorkerState;
    proxy: Address;
    requestId: bigint;
    usage: UsageJson | undefined;
    resultHash: Buffer;
}): TokenCounts {
    let opened;
    try {
        opened = openReceipt(args.receipt as ReceiptJson, args.worker.verifier);
    } catch (e) {
        throw new ReceiptError(`bad receipt: ${e instanceof Error ? e.message : String(e)}`);
    }
    const r = opened.receipt;
    if (!r.proxy.equals(args.proxy)) throw new ReceiptError('receipt names another proxy', FaultReason.WrongRequest);
    if (r.requestId !== args.requestId) throw new ReceiptError(`receipt is for request ${r.requestId}, expected ${args.requestId}`, FaultReason.WrongRequest);
    if (!args.worker.config.modelHashes.has(r.modelHash.toString('hex'))) throw new ReceiptError('receipt names a model not allowed for this worker', FaultReason.ModelNotAllowed);
    return checkAnswer(r, args.usage, args.resultHash);
}

/**
 * What anyone holding the answer can check of a receipt whose signature verified (the proxy,
 * and a client through client/chat.ts): it hashes the answer received and counts exactly the
 * tokens `usage` reports. Returns the counts.
 */
export function checkAnswer(r: WorkReceipt, usage: UsageJson | undefined, resultHash: Buffer): TokenCounts {
    if (!r.resultHash.equals(resultHash)) throw new ReceiptError('receipt result hash does not match the answer forwarded', FaultReason.ResultMismatch);
    const u = usage;
    if (!u) throw new ReceiptError('answer has no usage', FaultReason.WrongCounts);
    const reported: TokenCounts = {
        prompt: count(u.prompt_tokens),
        completion: count(u.completion_tokens),
        cached: count(u.prompt_tokens_details?.cached_tokens ?? 0),
        reasoning: count(u.completion_tokens_details?.reasoning_tokens ?? 0),
    };
    for (const k of ['prompt', 'cached', 'completion', 'reasoning'] as const)
        if (reported[k] !== r.tokens[k]) throw new ReceiptError(`receipt ${k} tokens ${r.tokens[k]} differ from usage ${reported[k]}`, FaultReason.WrongCounts);
    if (r.tokens.cached > r.tokens.prompt || r.tokens.reasoning > r.tokens.completion) throw new ReceiptError('receipt token counts are inconsistent', FaultReason.WrongCounts);
    return r.tokens;
}
