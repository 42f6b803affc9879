/**
 * Work receipts: the worker signs, for every answered request, the cell the Provider contract
 * checks (wrappers/payloads.ts, `buildWorkReceipt`). Result hash definition:
 *   plain answer  → SHA-256 of the UTF-8 bytes of the answer text (all deltas concatenated);
 *   sealed answer → SHA-256 of the concatenated ciphertext bytes (`ct`, tag included) of the
 *                   sealed pieces in order, so the proxy can check it without reading the answer.
 */
import * as crypto from 'node:crypto';
import { Address, Cell } from '@ton/core';
import { buildWorkReceipt, parseWorkReceipt, WorkReceipt } from '../../wrappers/payloads';
import { Ed25519Signer, Ed25519Verifier } from '../crypto/ed25519';
import { TokenUsage } from './engine';

/** How a receipt travels in JSON (the `receipt` field of responses). */
export interface ReceiptJson {
    /** base64 BOC of the work_receipt cell. */
    boc: string;
    /** base64 Ed25519 signature over the cell hash. */
    signature: string;
    /** hex Ed25519 public key of the worker. */
    worker_key: string;
    request_id: string;
    proxy: string;
    model_hash: string;
    result_hash: string;
}

/** Incremental result hash over what is sent. */
export class ResultHasher {
    private readonly h = crypto.createHash('sha256');
    update(bytes: Buffer | string): void {
        this.h.update(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes);
    }
    digest(): Buffer {
        return this.h.digest();
    }
}

export function signReceipt(
    args: { proxy: Address; requestId: bigint; modelHash: Buffer; usage: TokenUsage; resultHash: Buffer },
    signer: Ed25519Signer,
): ReceiptJson {
    const cell = buildWorkReceipt({
        proxy: args.proxy,
        requestId: args.requestId,
        modelHash: args.modelHash,
        tokens: { prompt: BigInt(args.usage.prompt), cached: BigInt(args.usage.cached), completion: BigInt(args.usage.completion), reasoning: BigInt(args.usage.reasoning) },
        resultHash: args.resultHash,
    });
    return {
        boc: cell.toBoc().toString('base64'),
        signature: signer.signCell(cell).toString('base64'),
        worker_key: signer.publicKey.toString('hex'),
        request_id: args.requestId.toString(),
        proxy: args.proxy.toString(),
        model_hash: args.modelHash.toString('hex'),
        result_hash: args.resultHash.toString('hex'),
    };
}

/** Parses a receipt and checks its signature against the expected worker key. */
export function openReceipt(json: ReceiptJson, worker: Ed25519Verifier): { receipt: WorkReceipt; cell: Cell; signature: Buffer } {
    if (typeof json !== 'object' || json === null || typeof json.boc !== 'string' || typeof json.signature !== 'string') throw new Error('missing receipt');
    const cell = Cell.fromBoc(Buffer.from(json.boc, 'base64'))[0];
    const signature = Buffer.from(json.signature, 'base64');
    if (!worker.verifyCell(cell, signature)) throw new Error('receipt signature does not verify with the worker key');
    return { receipt: parseWorkReceipt(cell), cell, signature };
}
