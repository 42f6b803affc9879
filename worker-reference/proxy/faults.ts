/**
 * Fault reports: when a receipt signed by a worker's own key fails the proxy's check
 * (receipt-check.ts gives the reason), the proxy signs a `fault_report` against the worker's
 * Provider with its enclave key (wrappers/payloads.ts `buildFaultReport`), records it in the
 * ledger's write-ahead log (fdatasync) and only then lets anything else happen. The signed
 * reports are served as JSON (GET /v1/faults in pages, GET /v1/faults/<reportId>) in the shape
 * of the settlement payloads, for `scripts/submitFaultReport(s).ts`, while the chain would
 * still accept them (until their signed valid-until; proxy/ledger.ts keeps them).
 *
 * A worker entry without `provider` / `providerSeqno` cannot be reported; the proxy logs
 * that once per worker.
 */
import { Address, Cell } from '@ton/core';
import { buildFaultReport, FaultReason, faultReasonName, parseFaultReport } from '../../wrappers/payloads';
import { log } from '../common/http';
import { Ed25519Signer } from '../crypto/ed25519';
import { WorkerConfig } from './config';
import { FaultEntry, Ledger } from './ledger';

/** A filed report as GET /v1/faults serves it (ops/settlement-file.ts `readSignedFault` reads it). */
export interface SignedFaultJson {
    report_id: string;
    provider: string; // the Provider contract (the signed payload names it too)
    provider_seqno: string; // its seqno at Root: SubmitFaultReport needs it, the payload does not carry it
    proxy: string;
    worker: string;
    reason: number;
    reason_name: string;
    request_id: string;
    detail: string;
    filed_at: number;
    valid_until: number;
    payload: string; // base64 BOC of the fault_report cell
    signature: string; // base64 Ed25519 over the cell hash
    proxy_key: string; // hex
}

export interface FaultReporterOptions {
    ledger: Ledger;
    signer: Ed25519Signer;
    proxy: Address;
    ttlSeconds: number;
}

export class FaultReporter {
    /** Workers already logged as unreportable (no Provider in their config entry). */
    private readonly unreportable = new Set<string>();

    constructor(private readonly o: FaultReporterOptions) {}

    /**
     * Signs a report against `worker`'s Provider for `requestId` and resolves once it is on
     * disk; undefined when the worker entry names no Provider.
     */
    async file(worker: WorkerConfig, requestId: bigint, reason: FaultReason, detail: string): Promise<SignedFaultJson | undefined> {
        const provider = worker.provider;
        if (!provider) {
            if (!this.unreportable.has(worker.name)) {
                this.unreportable.add(worker.name);
                log('proxy', 'no fault report can be filed for this worker: its config entry names no provider / providerSeqno', { worker: worker.name });
            }
            return undefined;
        }
        const filedAt = Math.floor(Date.now() / 1000);
        const validUntil = filedAt + this.o.ttlSeconds;
        const dropped = this.o.ledger.faultsDropped;
        const entry = await this.o.ledger.recordFault((reportId) => {
            const cell = buildFaultReport({ provider: provider.address, proxy: this.o.proxy, reportId, reason, requestId, validUntil });
            return {
                worker: worker.name,
                providerSeqno: provider.seqno,
                payload: cell.toBoc().toString('base64'),
                signature: this.o.signer.signCell(cell).toString('base64'),
                filedAt,
                validUntil,
                detail,
            };
        });
        log('proxy', 'fault report filed', { worker: worker.name, report_id: entry.reportId.toString(), reason: faultReasonName(reason), request_id: requestId.toString() });
        if (this.o.ledger.faultsDropped > dropped)
            log('proxy', 'the oldest unexpired fault reports were dropped to stay within the kept maximum: submit reports more often', { dropped_since_start: this.o.ledger.faultsDropped });
        return this.json(entry);
    }

    /** Unexpired reports with an id above `after`, oldest first, at most `limit`. */
    page(after: bigint, limit: number): { faults: SignedFaultJson[]; more: boolean } {
        const { faults, more } = this.o.ledger.faultsAfter(after, limit);
        return { faults: faults.map((f) => this.json(f)), more };
    }

    /** One unexpired report. */
    get(reportId: bigint): SignedFaultJson | undefined {
        const [f] = this.o.ledger.faultsAfter(reportId - 1n, 1).faults;
        return f?.reportId === reportId ? this.json(f) : undefined;
    }

    private json(f: FaultEntry): SignedFaultJson {
        const r = parseFaultReport(Cell.fromBoc(Buffer.from(f.payload, 'base64'))[0]);
        return {
            report_id: f.reportId.toString(),
            provider: r.provider.toString(),
            provider_seqno: f.providerSeqno.toString(),
            proxy: r.proxy.toString(),
            worker: f.worker,
            reason: r.reason,
            reason_name: faultReasonName(r.reason),
            request_id: r.requestId.toString(),
            detail: f.detail,
            filed_at: f.filedAt,
            valid_until: r.validUntil,
            payload: f.payload,
            signature: f.signature,
            proxy_key: this.o.signer.publicKey.toString('hex'),
        };
    }
}
