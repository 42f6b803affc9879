/**
 * Reading what the reference nodes emit, for the settlement and slashing scripts:
 * - the proxy router's `GET /v1/settlement/charge/<escrow>` and `GET /v1/settlement/payout/<account>`
 *   answers (worker-reference/proxy/settlement.ts: `payload` base64 BOC, `signature` base64);
 * - the worker's work receipt (docs/worker.md "Work receipt": `{boc, signature, ...}`), alone or
 *   inside the response that carried it (`{..., receipt: {...}}`);
 * - the router's fault reports, `GET /v1/faults/<id>` (one report) or `GET /v1/faults` (the list)
 *   (worker-reference/proxy/faults.ts).
 * Each reader takes a file path or the JSON text itself, and checks what it can offline.
 */
import { Address, Cell } from '@ton/core';
import { existsSync, readFileSync } from 'fs';
import { FaultReport, parseChargePayload, parseFaultReport, parsePayoutPayload, parseWorkReceipt, SignedPayload, WorkReceipt } from '../wrappers/payloads';

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

/** The one cell in field `name` of `o`, and what `parse` reads from it; errors name `what`. */
function parsedCell<T>(o: Record<string, unknown>, name: string, what: string, parse: (cell: Cell) => T): { payload: Cell; parsed: T } {
    const payload = oneCell(field(o, name, what), what);
    try {
        return { payload, parsed: parse(payload) };
    } catch (e) {
        throw new Error(`${what}: ${(e as Error).message}`);
    }
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
    const { payload, parsed: escrow } = parsedCell(o, 'payload', what, (c) => parseChargePayload(c).escrow);
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
    const { payload, parsed: workerAccount } = parsedCell(o, 'payload', what, (c) => parsePayoutPayload(c).workerAccount);
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
    const { payload, parsed: receipt } = parsedCell(o, 'boc', what, parseWorkReceipt);
    return { receipt, payload, signature: signatureBytes(field(o, 'signature', what), what) };
}

export interface SignedFaultFile extends SignedPayload {
    report: FaultReport;
    /** The Provider's seqno at Root as the router recorded it (absent if the JSON lacks it). */
    providerSeqno?: bigint;
}

function pickFault(top: Record<string, unknown>, reportId: bigint | undefined, what: string): Record<string, unknown> {
    if (!Array.isArray(top.faults)) {
        if (reportId !== undefined && top.report_id !== undefined && String(top.report_id) !== reportId.toString()) {
            throw new Error(`${what}: this is report ${String(top.report_id)}, not ${reportId}`);
        }
        return top;
    }
    const list = top.faults.filter((f): f is Record<string, unknown> => typeof f === 'object' && f !== null);
    const ids = list.map((f) => String(f.report_id));
    if (reportId === undefined) {
        if (list.length === 1) return list[0];
        throw new Error(`${what}: the list holds ${list.length} reports (${ids.join(', ') || 'none'}); name one by its report id`);
    }
    const found = list.find((f) => String(f.report_id) === reportId.toString());
    if (!found) throw new Error(`${what}: no report ${reportId} in the list (${ids.join(', ') || 'none'})`);
    return found;
}

/**
 * A signed fault report as the router's `GET /v1/faults/<id>` returns it, or one picked by
 * `reportId` out of its `GET /v1/faults` list.
 */
export function readSignedFault(fileOrJson: string, reportId?: bigint): SignedFaultFile {
    const what = 'fault report';
    return parseSignedFault(pickFault(readJson(fileOrJson, what), reportId, what), what);
}

/** Every report of the router's `GET /v1/faults` list (or the one report of `GET /v1/faults/<id>`). */
export function readSignedFaults(fileOrJson: string): SignedFaultFile[] {
    const what = 'fault reports';
    const top = readJson(fileOrJson, what);
    if (!Array.isArray(top.faults)) return [parseSignedFault(top, what)];
    return top.faults.map((f, i) => {
        if (typeof f !== 'object' || f === null) throw new Error(`${what}: faults[${i}] is not an object`);
        return parseSignedFault(f as Record<string, unknown>, `${what}: faults[${i}]`);
    });
}

function parseSignedFault(o: Record<string, unknown>, what: string): SignedFaultFile {
    const { payload, parsed: report } = parsedCell(o, 'payload', what, parseFaultReport);
    if (typeof o.provider === 'string' && !Address.parse(o.provider).equals(report.provider)) throw new Error(`${what}: "provider" does not match the signed payload's provider ${report.provider.toString()}`);
    if (typeof o.proxy === 'string' && !Address.parse(o.proxy).equals(report.proxy)) throw new Error(`${what}: "proxy" does not match the signed payload's proxy ${report.proxy.toString()}`);
    if (o.report_id !== undefined && String(o.report_id) !== report.reportId.toString()) throw new Error(`${what}: "report_id" does not match the signed payload's id ${report.reportId}`);
    let providerSeqno: bigint | undefined;
    if (o.provider_seqno !== undefined) {
        if (!/^\d+$/.test(String(o.provider_seqno))) throw new Error(`${what}: "provider_seqno" is not a non-negative integer`);
        providerSeqno = BigInt(String(o.provider_seqno));
    }
    return { report, providerSeqno, payload, signature: signatureBytes(field(o, 'signature', what), what) };
}
