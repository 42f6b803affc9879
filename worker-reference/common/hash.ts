import * as crypto from 'node:crypto';
import * as fs from 'node:fs';

/** SHA-256 of a whole file, streamed in 4 MiB reads (model files are gigabytes). */
export function sha256File(file: string): Buffer {
    const h = crypto.createHash('sha256');
    const fd = fs.openSync(file, 'r');
    try {
        const buf = Buffer.alloc(4 * 1024 * 1024);
        for (;;) {
            const n = fs.readSync(fd, buf, 0, buf.length, null);
            if (n === 0) break;
            h.update(buf.subarray(0, n));
        }
    } finally {
        fs.closeSync(fd);
    }
    return h.digest();
}

export function sha256(data: Buffer | string): Buffer {
    return crypto.createHash('sha256').update(data).digest();
}
