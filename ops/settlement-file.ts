/**
 * Reading what the reference nodes emit, for the settlement and slashing scripts:
 * - the proxy router's `GET /v1/settlement/charge/<escrow>` and `GET /v1/settlement/payout/<account>`
 *   answers (worker-reference/proxy/settlement.ts: `payload` base64 BOC, `signature` base64);
 * - the worker's work receipt (docs/worker.md "Work receipt": `{boc, signature, ...}`), alone or
 *   inside the response that carried it (`{..., receipt: {...}}`).
 * Each reader takes a file path or the JSON text itself, and checks what it can offline.
 */
import { Address, Cell } from '@ton/core';
import { existsSync, readFileSync } from 'fs';
import { parseChargePayload, parsePayoutPayload, parseWorkReceipt, SignedPayload, WorkReceipt } from '../wrappers/payloads';

function readJson(fileOrJson: string, what: string): Record<string, unknown> {
    const text = existsSync(fileOrJson) ? readFileSync(fileOrJson, 'utf8') : fileOrJson;
    let v: unknown;
    try {
        v = JSON.parse(text);
    } catch {
        throw new Error(`${what}: not a file or JSON text`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what}: expected a JSON object`);
    return v as Record<string, unknown>;
}

function field(o: Record<string, unknown>, name: string, what: string): string {
    const v = o[name];
    if (typeof v !== 'string' || v.length === 0) throw new Error(`${what}: missing "${name}"`);
    return v;
}

function oneCell(base64: string, what: string): Cell {
    let cells: Cell[];
    try {
        cells = Cell.fromBoc(Buffer.from(base64, 'base64'));
    } catch {
        throw new Error(`${what}: the payload is not a base64 BOC`);
    }
    if (cells.length !== 1) throw new Error(`${what}: the BOC must hold exactly one root cell`);
    return cells[0];
}

/** A 64-byte Ed25519 signature as base64 (what the nodes emit) or hex. */
function signatureBytes(text: string, what: string): Buffer {
    const sig = /^(0x)?[0-9a-fA-F]{128}$/.test(text) ? Buffer.from(text.replace(/^0x/, ''), 'hex') : Buffer.from(text, 'base64');
    if (sig.length !== 64) throw new Error(`${what}: the signature must be 64 bytes (base64 or hex)`);
    return sig;
}

export interface SignedChargeFile extends SignedPayload {
    escrow: Address;
}

/** A signed cumulative charge as the router's `/v1/settlement/charge/<escrow>` returns it. */
export function readSignedCharge(fileOrJson: string): SignedChargeFile {
    const what = 'charge';
    const o = readJson(fileOrJson, what);
    const payload = oneCell(field(o, 'payload', what), what);
    let escrow: Address;
    try {
        escrow = parseChargePayload(payload).escrow;
    } catch (e) {
        throw new Error(`${what}: ${(e as Error).message}`);
    }
    if (typeof o.escrow === 'string' && !Address.parse(o.escrow).equals(escrow)) throw new Error(`${what}: "escrow" does not match the signed payload's escrow ${escrow.toString()}`);
    return { escrow, payload, signature: signatureBytes(field(o, 'signature', what), what) };
}

export interface SignedPayoutFile extends SignedPayload {
    workerAccount: Address;
}

/** A signed cumulative payout as the router's `/v1/settlement/payout/<account>` returns it. */
export function readSignedPayout(fileOrJson: string): SignedPayoutFile {
    const what = 'payout';
    const o = readJson(fileOrJson, what);
    const payload = oneCell(field(o, 'payload', what), what);
    let workerAccount: Address;
    try {
        workerAccount = parsePayoutPayload(payload).workerAccount;
    } catch (e) {
        throw new Error(`${what}: ${(e as Error).message}`);
    }
    if (typeof o.worker_account === 'string' && !Address.parse(o.worker_account).equals(workerAccount)) {
        throw new Error(`${what}: "worker_account" does not match the signed payload's account ${workerAccount.toString()}`);
    }
    return { workerAccount, payload, signature: signatureBytes(field(o, 'signature', what), what) };
}

export interface SignedReceiptFile extends SignedPayload {
    receipt: WorkReceipt;
}

/** A worker's signed work receipt: the `receipt` object, or a response (or final stream chunk) that carries one. */
export function readReceipt(fileOrJson: string, what = 'receipt'): SignedReceiptFile {
    const top = readJson(fileOrJson, what);
    const o = typeof top.receipt === 'object' && top.receipt !== null ? (top.receipt as Record<string, unknown>) : top;
    const payload = oneCell(field(o, 'boc', what), what);
    let receipt: WorkReceipt;
    try {
        receipt = parseWorkReceipt(payload);
    } catch (e) {
        throw new Error(`${what}: ${(e as Error).message}`);
    }
    return { receipt, payload, signature: signatureBytes(field(o, 'signature', what), what) };
}
