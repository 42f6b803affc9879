/**
 * The line format of the nodes' append-only logs (the proxy's write-ahead ledger, the
 * worker's claimed request ids): one record a line, `<check> <json>\n`, where check = the
 * first 16 hex characters of SHA-256(json).
 *
 * Reading tolerates exactly what a crash mid-append leaves: damage at the end of the file
 * (a line without its newline, or lines that fail their check with no intact line after
 * them). Damage followed by intact records is not a torn append: reading refuses.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';

function check(json: string): string {
    return crypto.createHash('sha256').update(json).digest('hex').slice(0, 16);
}

/** One record as a log line (with its newline). */
export function checkedLine(json: string): string {
    return `${check(json)} ${json}\n`;
}

export class LogDamaged extends Error {}

export interface CheckedLog {
    /** JSON text of the intact records, in file order. */
    records: string[];
    /** Byte length of the intact part; anything after it is a torn tail. */
    goodEnd: number;
    /** Byte length of the file as read. */
    size: number;
}

/** Reads a log (missing file = empty). Throws LogDamaged when damage precedes intact records. */
export function readCheckedLog(file: string): CheckedLog {
    if (!fs.existsSync(file)) return { records: [], goodEnd: 0, size: 0 };
    const data = fs.readFileSync(file);
    const records: string[] = [];
    let offset = 0;
    let goodEnd = 0;
    let damagedAt = -1;
    let line = 0;
    let damagedLine = 0;
    while (offset < data.length) {
        const nl = data.indexOf(0x0a, offset);
        if (nl < 0) break; // torn tail: no newline
        const text = data.subarray(offset, nl).toString('utf8');
        offset = nl + 1;
        line++;
        const sp = text.indexOf(' ');
        const json = sp > 0 ? text.slice(sp + 1) : '';
        if (sp !== 16 || check(json) !== text.slice(0, 16)) {
            if (damagedAt < 0) {
                damagedAt = goodEnd;
                damagedLine = line;
            }
            continue;
        }
        if (damagedAt >= 0) throw new LogDamaged(`${file} is damaged at line ${damagedLine} (byte ${damagedAt}), before intact records`);
        records.push(json);
        goodEnd = offset;
    }
    return { records, goodEnd, size: data.length };
}

/** Cuts a torn tail off (so new records start on a clean line) and syncs the file. */
export function dropTornTail(file: string, log: CheckedLog): void {
    if (log.goodEnd >= log.size) return;
    const fd = fs.openSync(file, 'r+');
    try {
        fs.ftruncateSync(fd, log.goodEnd);
        fs.fsyncSync(fd);
    } finally {
        fs.closeSync(fd);
    }
}

/** Writes `text` to `file` atomically: temp file, fsync, rename, directory fsync. */
export function writeFileDurably(file: string, dir: string, text: string): void {
    const tmp = file + '.tmp';
    const fd = fs.openSync(tmp, 'w');
    try {
        fs.writeSync(fd, text);
        fs.fsyncSync(fd);
    } finally {
        fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    const dfd = fs.openSync(dir, 'r');
    try {
        fs.fsyncSync(dfd);
    } finally {
        fs.closeSync(dfd);
    }
}

interface Waiting<T> {
    item: T;
    resolve: () => void;
    reject: (e: Error) => void;
}

export interface GroupCommitHooks<T> {
    /** The file descriptor to append to (read at each write: a compaction may reopen it). */
    fd(): number;
    /** The bytes of a batch, made at write time (so records can be numbered in log order). */
    encode(batch: T[]): Buffer;
    /** The batch is on disk; runs before its appends resolve. */
    committed(batch: T[]): void;
    /** After the batch's appends resolved (e.g. a compaction); a throw fails later appends. */
    settled?(): void;
    /** The error every waiting and later append fails with after a failed write. */
    failure(cause: Error): Error;
}

/**
 * Group commit of an append-only log: appends made while a write is on its way go out
 * together in the next write, with one fdatasync. A failed write leaves the file in an
 * unknown state, so from then on every append fails (never a lower or missing record
 * answered as durable).
 */
export class GroupCommit<T> {
    private queue: Waiting<T>[] = [];
    private writing = false;
    private failedWith?: Error;

    constructor(private readonly hooks: GroupCommitHooks<T>) {}

    /** The error appends fail with, once a write has failed. */
    get failed(): Error | undefined {
        return this.failedWith;
    }

    /** Appends are queued or being written. */
    get busy(): boolean {
        return this.writing || this.queue.length > 0;
    }

    /** Resolves once `item` is on disk (fdatasync'ed). */
    append(item: T): Promise<void> {
        if (this.failedWith) return Promise.reject(this.failedWith);
        return new Promise((resolve, reject) => {
            this.queue.push({ item, resolve, reject });
            if (!this.writing) this.writeNext();
        });
    }

    /** Waits until nothing is queued or being written. */
    async drain(): Promise<void> {
        while (this.busy) await new Promise((r) => setTimeout(r, 2));
    }

    private fail(cause: Error, batch: Waiting<T>[]): void {
        this.failedWith = this.hooks.failure(cause);
        for (const w of [...batch, ...this.queue]) w.reject(this.failedWith);
        this.queue = [];
        this.writing = false;
    }

    private writeNext(): void {
        const batch = this.queue;
        this.queue = [];
        if (batch.length === 0) {
            this.writing = false;
            return;
        }
        this.writing = true;
        const items = batch.map((w) => w.item);
        const buf = this.hooks.encode(items);
        const fd = this.hooks.fd();
        const done = (err: Error | null) => {
            if (err) return this.fail(err, batch);
            try {
                this.hooks.committed(items);
            } catch (e) {
                return this.fail(e instanceof Error ? e : new Error(String(e)), batch);
            }
            for (const w of batch) w.resolve();
            try {
                this.hooks.settled?.();
            } catch (e) {
                return this.fail(e instanceof Error ? e : new Error(String(e)), []);
            }
            this.writeNext();
        };
        fs.write(fd, buf, 0, buf.length, null, (err, written) => {
            if (err) return done(err);
            if (written !== buf.length) return done(new Error('short write'));
            fs.fdatasync(fd, (e) => done(e));
        });
    }
}
