/**
 * A minimal DER (ITU-T X.690) reader and writer: just what the verifier needs to cut the
 * signed part out of a CRL and read Intel's SGX certificate extension, and what the test-CA
 * minter needs to write that extension. Definite lengths only, as DER requires.
 */

export interface DerNode {
    tag: number;
    /** Offset of the tag byte in the input. */
    start: number;
    /** Offset of the first content byte. */
    contentStart: number;
    /** Offset just past the content. */
    end: number;
}

/** Reads the TLV at `offset`; throws on truncated or non-DER lengths. */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): DerNode {
    if (offset + 2 > limit) throw new Error('DER: truncated element');
    const tag = buf[offset];
    if ((tag & 0x1f) === 0x1f) throw new Error('DER: multi-byte tags are not supported');
    let len = buf[offset + 1];
    let p = offset + 2;
    if (len & 0x80) {
        const n = len & 0x7f;
        if (n === 0 || n > 4) throw new Error('DER: unsupported length encoding');
        if (p + n > limit) throw new Error('DER: truncated length');
        len = 0;
        for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
        if (len < 0x80 || (n > 1 && buf[p] === 0)) throw new Error('DER: non-minimal length');
        p += n;
    }
    if (p + len > limit) throw new Error('DER: element runs past its container');
    return { tag, start: offset, contentStart: p, end: p + len };
}

/** The children of a constructed element, in order. */
export function children(buf: Uint8Array, node: DerNode): DerNode[] {
    const out: DerNode[] = [];
    let p = node.contentStart;
    while (p < node.end) {
        const c = readTlv(buf, p, node.end);
        out.push(c);
        p = c.end;
    }
    return out;
}

export function content(buf: Uint8Array, node: DerNode): Buffer {
    return Buffer.from(buf.subarray(node.contentStart, node.end));
}

export function raw(buf: Uint8Array, node: DerNode): Buffer {
    return Buffer.from(buf.subarray(node.start, node.end));
}

/** Decodes an OBJECT IDENTIFIER's content bytes to dotted form. */
export function decodeOid(bytes: Uint8Array): string {
    if (bytes.length === 0) throw new Error('DER: empty OID');
    const parts: number[] = [];
    let v = 0;
    for (let i = 0; i < bytes.length; i++) {
        v = v * 128 + (bytes[i] & 0x7f);
        if ((bytes[i] & 0x80) === 0) {
            parts.push(v);
            v = 0;
        }
    }
    const first = parts.shift() as number;
    const a = first < 80 ? Math.floor(first / 40) : 2;
    return [a, first - a * 40, ...parts].join('.');
}

/** Decodes a non-negative INTEGER's content bytes (small values only). */
export function decodeSmallUint(bytes: Uint8Array): number {
    if (bytes.length === 0 || bytes.length > 6) throw new Error('DER: integer out of range');
    let v = 0;
    for (const b of bytes) v = v * 256 + b;
    return v;
}

// --------------------------------------------------------------------------------------
// Writer
// --------------------------------------------------------------------------------------

export const Tag = {
    integer: 0x02,
    bitString: 0x03,
    octetString: 0x04,
    oid: 0x06,
    enumerated: 0x0a,
    sequence: 0x30,
} as const;

export function tlv(tag: number, body: Uint8Array): Buffer {
    const len = body.length;
    let head: number[];
    if (len < 0x80) head = [tag, len];
    else {
        const bytes: number[] = [];
        for (let l = len; l > 0; l = Math.floor(l / 256)) bytes.unshift(l & 0xff);
        head = [tag, 0x80 | bytes.length, ...bytes];
    }
    return Buffer.concat([Buffer.from(head), body]);
}

export function seq(...items: Uint8Array[]): Buffer {
    return tlv(Tag.sequence, Buffer.concat(items));
}

export function oid(dotted: string): Buffer {
    const parts = dotted.split('.').map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 0) throw new Error(`bad OID ${dotted}`);
        return n;
    });
    if (parts.length < 2) throw new Error(`bad OID ${dotted}`);
    const out: number[] = [];
    const enc = (n: number): void => {
        const bytes = [n & 0x7f];
        for (n = Math.floor(n / 128); n > 0; n = Math.floor(n / 128)) bytes.unshift((n & 0x7f) | 0x80);
        out.push(...bytes);
    };
    enc(parts[0] * 40 + parts[1]);
    for (const p of parts.slice(2)) enc(p);
    return tlv(Tag.oid, Buffer.from(out));
}

export function uint(n: number, tag: number = Tag.integer): Buffer {
    if (!Number.isInteger(n) || n < 0) throw new Error(`bad integer ${n}`);
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    if (bytes.length === 0 || bytes[0] & 0x80) bytes.unshift(0);
    return tlv(tag, Buffer.from(bytes));
}

export function octets(b: Uint8Array): Buffer {
    return tlv(Tag.octetString, b);
}
