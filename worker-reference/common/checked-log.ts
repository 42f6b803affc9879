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
