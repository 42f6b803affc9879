/**
 * The proxy's durable accounting: cumulative tokens per client escrow (what it may charge)
 * and per worker account (what it owes), plus the reservation of request ids.
 *
 * Persistence (directory `dataDir`):
 *   wal.log        append-only write-ahead log, one record a line: `<check> <json>\n` where
 *                  check = first 16 hex chars of SHA-256(json). A record is appended and
 *                  fdatasync'ed before it counts: only then is it applied in memory, answered
 *                  to the client, or reflected in anything signed.
 *   snapshot.json  state up to record `seq` (written to a temp file, fsync'ed, renamed, the
 *                  directory fsync'ed); the log is then truncated. Recovery = snapshot + the
 *                  log records with seq > snapshot.seq; a torn last line (crash mid-append) is
 *                  dropped, damage before intact records refuses to start.
 * Concurrent records share one fdatasync (group commit).
 *
 * The same log keeps the fault reports the proxy files against workers (proxy/faults.ts):
 * each is signed once and recorded before anyone can see it; report ids are never reused,
 * like request ids. A report is kept while the chain could still accept it (until its signed
 * valid-until), at most `faultsKept` of them (a memory bound; the oldest leave first).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkedLine, dropTornTail, GroupCommit, LogDamaged, readCheckedLog, writeFileDurably } from '../common/checked-log';
import { addTokens, TokenCounts, tokensFromJson, tokensJson, zeroTokens } from './tokens';

export interface UsageRecord {
    escrow: string; // raw address of the client's JobEscrow
    workerAccount: string; // raw address of the worker's WorkerAccount
    worker: string; // worker name (for the log only)
    requestId: bigint;
    tokens: TokenCounts;
    resultHash: string;
}

/** A fault report as filed: the signed payload never changes once recorded. */
export interface FaultEntry {
    reportId: bigint;
    worker: string; // worker name (config)
    providerSeqno: bigint; // the Provider's seqno at Root (not in the signed payload)
    payload: string; // base64 BOC of the fault_report cell
    signature: string; // base64 Ed25519 over the cell hash
    filedAt: number; // unix seconds
    /** The signed valid-until (unix seconds): after it the chain refuses the report. */
    validUntil: number;
    detail: string; // what the check found (no prompt or answer content)
}

/** `u` is absent in records written before reports expired from the ledger: kept until the cap. */
type FaultJson = { id: string; w: string; n: string; b: string; sig: string; at: number; u?: number; why: string };

type WalRecord =
    | { s: number; t: 'use'; e: string; a: string; w: string; rid: string; k: Record<keyof TokenCounts, string>; h: string }
    | { s: number; t: 'ids'; upTo: string }
    | ({ s: number; t: 'fault' } & FaultJson);

type WalBody = WalRecord extends infer R ? (R extends WalRecord ? Omit<R, 's'> : never) : never;

interface Snapshot {
    version: 1;
    seq: number;
    reservedUpTo: string;
    charges: Record<string, Record<keyof TokenCounts, string>>;
    payouts: Record<string, Record<keyof TokenCounts, string>>;
    requests: number;
    /** Absent in snapshots written before fault reports existed. */
    lastFaultId?: string;
    faults?: FaultJson[];
}

const ID_BLOCK = 10_000n;
/**
 * Unexpired fault reports kept at most (~1 KB each in memory and in the snapshot). Reports
 * leave when they expire; past this bound the oldest leave first and `faultsDropped` counts them.
 */
export const FAULTS_KEPT = 100_000;

function faultJson(f: FaultEntry): FaultJson {
    return { id: f.reportId.toString(), w: f.worker, n: f.providerSeqno.toString(), b: f.payload, sig: f.signature, at: f.filedAt, u: f.validUntil, why: f.detail };
}

function faultEntry(j: FaultJson): FaultEntry {
    return { reportId: BigInt(j.id), worker: j.w, providerSeqno: BigInt(j.n), payload: j.b, signature: j.sig, filedAt: j.at, validUntil: j.u ?? Number.MAX_SAFE_INTEGER, detail: j.why };
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export class Ledger {
    private readonly charges = new Map<string, TokenCounts>();
    private readonly payouts = new Map<string, TokenCounts>();
    private seq = 0;
    private reservedUpTo = 0n;
    private nextId = 0n;
    private requests = 0;
    private fd: number;
    private readonly log: GroupCommit<WalRecord>;
    private sinceSnapshot = 0;
    private reserving?: Promise<void>;
    /** Kept reports, in report-id order (ids only rise). */
    private faultList: FaultEntry[] = [];
    /** Highest report id recorded or handed out. */
    private lastFaultId = 0n;
    /** Unexpired reports that left because more than `faultsKept` were kept (since start). */
    faultsDropped = 0;

    private constructor(
        readonly dir: string,
        private readonly snapshotEvery: number,
        private readonly faultsKept: number,
    ) {
        fs.mkdirSync(dir, { recursive: true });
        this.recover();
        this.dropExpiredFaults();
        this.fd = fs.openSync(this.walPath, 'a');
        this.log = new GroupCommit<WalRecord>({
            fd: () => this.fd,
            encode: (batch) => {
                let seq = this.seq;
                return Buffer.from(
                    batch
                        .map((rec) => {
                            rec.s = ++seq;
                            return checkedLine(JSON.stringify(rec));
                        })
                        .join(''),
                );
            },
            committed: (batch) => {
                for (const rec of batch) this.apply(rec);
                this.sinceSnapshot += batch.length;
                if (this.sinceSnapshot >= this.snapshotEvery) this.snapshot();
            },
            // Unknown state on disk: stop accepting work rather than risk a lower value.
            failure: (cause) => new Error(`write-ahead log failed: ${cause.message}`),
        });
        const now = BigInt(Date.now()) * 1000n; // ids stay unique even if the data dir is lost
        this.nextId = this.reservedUpTo > now ? this.reservedUpTo : now;
    }

    static open(dir: string, snapshotEvery = 5000, faultsKept = FAULTS_KEPT): Ledger {
        return new Ledger(dir, snapshotEvery, faultsKept);
    }

    private get walPath(): string {
        return path.join(this.dir, 'wal.log');
    }
    private get snapshotPath(): string {
        return path.join(this.dir, 'snapshot.json');
    }

    // ------------------------------------------------------------------ recovery

    private recover(): void {
        let snapSeq = 0;
        if (fs.existsSync(this.snapshotPath)) {
            const snap = JSON.parse(fs.readFileSync(this.snapshotPath, 'utf8')) as Snapshot;
            if (snap.version !== 1) throw new Error(`unknown snapshot version ${String(snap.version)}`);
            snapSeq = snap.seq;
            this.seq = snap.seq;
            this.reservedUpTo = BigInt(snap.reservedUpTo);
            this.requests = snap.requests;
            for (const [k, v] of Object.entries(snap.charges)) this.charges.set(k, tokensFromJson(v));
            for (const [k, v] of Object.entries(snap.payouts)) this.payouts.set(k, tokensFromJson(v));
            this.lastFaultId = BigInt(snap.lastFaultId ?? '0');
            for (const f of snap.faults ?? []) this.faultList.push(faultEntry(f));
        }
        let log;
        try {
            log = readCheckedLog(this.walPath);
        } catch (e) {
            if (e instanceof LogDamaged) throw new Error(`write-ahead log ${e.message}; refusing to start`);
            throw e;
        }
        for (const json of log.records) {
            const rec = JSON.parse(json) as WalRecord;
            if (rec.s > snapSeq) this.apply(rec);
        }
        // Drop the torn tail so new records start on a clean line.
        dropTornTail(this.walPath, log);
    }

    private apply(rec: WalRecord): void {
        if (rec.s !== this.seq + 1) throw new Error(`write-ahead log out of sequence: record ${rec.s} after ${this.seq}`);
        this.seq = rec.s;
        if (rec.t === 'ids') {
            const upTo = BigInt(rec.upTo);
            if (upTo > this.reservedUpTo) this.reservedUpTo = upTo;
            return;
        }
        if (rec.t === 'fault') {
            const f = faultEntry(rec);
            if (f.reportId > this.lastFaultId) this.lastFaultId = f.reportId;
            this.faultList.push(f);
            if (this.faultList.length > this.faultsKept) {
                const over = this.faultList.length - this.faultsKept;
                this.faultList.splice(0, over);
                this.faultsDropped += over;
            }
            return;
        }
        const t = tokensFromJson(rec.k);
        this.charges.set(rec.e, addTokens(this.charges.get(rec.e) ?? zeroTokens(), t));
        this.payouts.set(rec.a, addTokens(this.payouts.get(rec.a) ?? zeroTokens(), t));
        this.requests++;
    }

    // ------------------------------------------------------------------ reads

    /** Durable cumulative tokens charged to an escrow (raw address). */
    chargeOf(escrow: string): TokenCounts {
        return { ...(this.charges.get(escrow) ?? zeroTokens()) };
    }
    /** Durable cumulative tokens served by a worker account (raw address). */
    payoutOf(account: string): TokenCounts {
        return { ...(this.payouts.get(account) ?? zeroTokens()) };
    }
    get escrows(): string[] {
        return [...this.charges.keys()];
    }
    get accounts(): string[] {
        return [...this.payouts.keys()];
    }
    get recordCount(): number {
        return this.seq;
    }
    get requestCount(): number {
        return this.requests;
    }
    /** Kept fault reports (expired ones may linger until the next snapshot), in report-id order. */
    get faults(): readonly FaultEntry[] {
        return this.faultList;
    }

    /**
     * Unexpired reports with an id above `after`, in id order, at most `limit`; `more` says
     * whether any follow.
     */
    faultsAfter(after: bigint, limit: number): { faults: FaultEntry[]; more: boolean } {
        const list = this.faultList;
        let lo = 0;
        let hi = list.length;
        while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            if (list[mid].reportId <= after) lo = mid + 1;
            else hi = mid;
        }
        const now = nowSeconds();
        const faults: FaultEntry[] = [];
        for (let i = lo; i < list.length; i++) {
            if (list[i].validUntil <= now) continue;
            if (faults.length === limit) return { faults, more: true };
            faults.push(list[i]);
        }
        return { faults, more: false };
    }

    /** Forgets reports the chain would refuse now (past their valid-until). */
    private dropExpiredFaults(): void {
        const now = nowSeconds();
        if (this.faultList.some((f) => f.validUntil <= now)) this.faultList = this.faultList.filter((f) => f.validUntil > now);
    }

    // ------------------------------------------------------------------ writes

    /** Appends a usage record; resolves once it is on disk and counted. */
    record(u: UsageRecord): Promise<void> {
        return this.append({ t: 'use', e: u.escrow, a: u.workerAccount, w: u.worker, rid: u.requestId.toString(), k: tokensJson(u.tokens), h: u.resultHash });
    }

    /**
     * Hands out no id below `floor` from now on: a worker that restarted refuses the ids it had
     * reserved (its 409 request_id_below_floor names the floor). Ids stay unique and rising.
     */
    skipRequestIdsTo(floor: bigint): void {
        if (floor > this.nextId) this.nextId = floor;
    }

    /** A request id never used before by this proxy (reserved durably in blocks). */
    async allocateRequestId(): Promise<bigint> {
        while (this.nextId >= this.reservedUpTo) {
            this.reserving ??= this.append({ t: 'ids', upTo: (this.nextId + ID_BLOCK).toString() }).finally(() => {
                this.reserving = undefined;
            });
            await this.reserving;
        }
        return this.nextId++;
    }

    /**
     * Files a fault report: takes a report id never handed out before (above every recorded
     * one and at least now_ms × 1000, so ids keep rising even if the data directory is lost),
     * lets `sign` build the entry for it, and resolves with the entry once it is on disk.
     */
    async recordFault(sign: (reportId: bigint) => Omit<FaultEntry, 'reportId'>): Promise<FaultEntry> {
        const floor = BigInt(Date.now()) * 1000n;
        const reportId = this.lastFaultId >= floor ? this.lastFaultId + 1n : floor;
        this.lastFaultId = reportId;
        const entry: FaultEntry = { reportId, ...sign(reportId) };
        await this.append({ t: 'fault', ...faultJson(entry) });
        return entry;
    }

    private append(partial: WalBody): Promise<void> {
        // Sequence numbers are given at write time, in log order.
        return this.log.append({ s: 0, ...partial } as WalRecord);
    }

    /** Writes a snapshot of the durable state and starts a new log. Called between batches. */
    snapshot(): void {
        this.dropExpiredFaults();
        const snap: Snapshot = {
            version: 1,
            seq: this.seq,
            reservedUpTo: this.reservedUpTo.toString(),
            charges: Object.fromEntries([...this.charges].map(([k, v]) => [k, tokensJson(v)])),
            payouts: Object.fromEntries([...this.payouts].map(([k, v]) => [k, tokensJson(v)])),
            requests: this.requests,
            lastFaultId: this.lastFaultId.toString(),
            faults: this.faultList.map(faultJson),
        };
        writeFileDurably(this.snapshotPath, this.dir, JSON.stringify(snap));
        // Records up to snap.seq are in the snapshot; replay skips them even if truncation is lost.
        fs.ftruncateSync(this.fd, 0);
        fs.fsyncSync(this.fd);
        this.sinceSnapshot = 0;
    }

    /** Waits for pending records, writes a snapshot and closes the log. */
    async close(): Promise<void> {
        await this.log.drain();
        if (!this.log.failed) this.snapshot();
        fs.closeSync(this.fd);
    }
}
