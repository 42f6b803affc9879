/**
 * Typed wrapper of the Provider contract (contracts/provider.tact): the generated Tact
 * binding plus helpers to build slashing evidence and fault-report submissions.
 * Payloads are built and signed only by wrappers/payloads.ts; this module packs them into
 * the message layouts of docs/tlb/cocoon.tlb ("Provider").
 */
import { beginCell, Cell } from '@ton/core';
import { SignedPayload, storeSignature } from './payloads';
import type { ReportEquivocation, SubmitFaultReport } from '../build/cocoon/cocoon_Provider';

export * from '../build/cocoon/cocoon_Provider';

/** Provider states (getter `state`). */
export const ProviderState = {
    uninit: 0n,
    active: 1n,
    unbonding: 2n,
    jailed: 3n,
    exited: 4n,
} as const;

/** signed_work_receipt$_ signature:bits512 receipt:^WorkReceipt = SignedWorkReceipt; */
export function packSignedWorkReceipt(r: SignedPayload): Cell {
    return beginCell().store(storeSignature(r.signature)).storeRef(r.payload).endCell();
}

/** The ReportEquivocation message for two signed receipts (anyone may send it). */
export function equivocationReport(first: SignedPayload, second: SignedPayload, queryId = 0n): ReportEquivocation {
    return {
        $$type: 'ReportEquivocation',
        queryId,
        first: packSignedWorkReceipt(first),
        second: packSignedWorkReceipt(second),
    };
}

/** The SubmitFaultReport message for the reporting Proxy (anyone may send it). */
export function faultReportSubmission(report: SignedPayload, providerSeqno: bigint, queryId = 0n): SubmitFaultReport {
    return {
        $$type: 'SubmitFaultReport',
        queryId,
        providerSeqno,
        report: report.payload,
        signature: report.signature,
    };
}
