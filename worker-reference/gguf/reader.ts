/**
 * Reads a GGUF file's header: metadata and tensor infos, never the tensor data. Every length
 * is bounds-checked so a corrupt or hostile file yields an Error, not a crash.
 */
import * as fs from 'node:fs';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufTensorInfo, GgufValueType } from './format';

export type GgufScalar = string | number | bigint | boolean;
export type GgufMetaValue = GgufScalar | GgufScalar[];

export interface GgufHeader {
    version: number;
    metadata: Map<string, GgufMetaValue>;
    tensors: GgufTensorInfo[];
    /** Absolute file offset of the data section. */
    dataOffset: bigint;
    alignment: number;
    fileSize: bigint;
}

/** Limits that keep a hostile header from exhausting memory. */
const MAX_STRING = 1 << 24;
const MAX_ARRAY = 1 << 24;
const MAX_COUNT = 1 << 20;
const MAX_HEADER = 512 * 1024 * 1024;

class FileCursor {
    private buf = Buffer.alloc(0);
    private bufStart = 0; // file position of buf[0]
    pos = 0;
    constructor(private readonly fd: number, readonly size: number) {}

    private ensure(n: number): void {
        if (this.pos + n > this.size) throw new Error(`GGUF truncated: need ${n} bytes at offset ${this.pos}, file has ${this.size}`);
        if (this.pos + n > MAX_HEADER) throw new Error('GGUF header too large');
        const end = this.bufStart + this.buf.length;
        if (this.pos >= this.bufStart && this.pos + n <= end) return;
        const want = Math.max(n, 1 << 20);
        const len = Math.min(want, this.size - this.pos);
        const b = Buffer.alloc(len);
        const read = fs.readSync(this.fd, b, 0, len, this.pos);
        if (read < n) throw new Error(`GGUF short read at offset ${this.pos}`);
        this.buf = b.subarray(0, read);
        this.bufStart = this.pos;
    }
    private take(n: number): Buffer {
        this.ensure(n);
        const at = this.pos - this.bufStart;
        this.pos += n;
        return this.buf.subarray(at, at + n);
    }
    u8(): number {
        return this.take(1)[0];
    }
    i8(): number {
        return this.take(1).readInt8(0);
    }
    u16(): number {
        return this.take(2).readUInt16LE(0);
    }
    i16(): number {
        return this.take(2).readInt16LE(0);
    }
    u32(): number {
        return this.take(4).readUInt32LE(0);
    }
    i32(): number {
        return this.take(4).readInt32LE(0);
    }
    u64(): bigint {
        return this.take(8).readBigUInt64LE(0);
    }
    i64(): bigint {
        return this.take(8).readBigInt64LE(0);
    }
    f32(): number {
        return this.take(4).readFloatLE(0);
    }
    f64(): number {
        return this.take(8).readDoubleLE(0);
    }
    count(limit: number, what: string): number {
        const n = this.u64();
        if (n > BigInt(limit)) throw new Error(`GGUF ${what} too large: ${n}`);
        return Number(n);
    }
    str(): string {
        const n = this.count(MAX_STRING, 'string');
        return this.take(n).toString('utf8');
    }
}

function readScalar(c: FileCursor, type: number): GgufScalar {
    switch (type) {
        case GgufValueType.Uint8:
            return c.u8();
        case GgufValueType.Int8:
            return c.i8();
        case GgufValueType.Uint16:
            return c.u16();
        case GgufValueType.Int16:
            return c.i16();
        case GgufValueType.Uint32:
            return c.u32();
        case GgufValueType.Int32:
            return c.i32();
        case GgufValueType.Float32:
            return c.f32();
        case GgufValueType.Float64:
            return c.f64();
        case GgufValueType.Bool:
            return c.u8() !== 0;
        case GgufValueType.String:
            return c.str();
        case GgufValueType.Uint64:
            return c.u64();
        case GgufValueType.Int64:
            return c.i64();
        default:
            throw new Error(`GGUF: unknown value type ${type}`);
    }
}

function readValue(c: FileCursor): GgufMetaValue {
    const type = c.u32();
    if (type !== GgufValueType.Array) return readScalar(c, type);
    const elementType = c.u32();
    if (elementType === GgufValueType.Array) throw new Error('GGUF: nested arrays are not supported');
    const n = c.count(MAX_ARRAY, 'array');
    const out: GgufScalar[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = readScalar(c, elementType);
    return out;
}

export function readGgufHeader(file: string): GgufHeader {
    const fd = fs.openSync(file, 'r');
    try {
        const size = fs.fstatSync(fd).size;
        const c = new FileCursor(fd, size);
        const magic = c.u32();
        if (magic !== GGUF_MAGIC) throw new Error('not a GGUF file (bad magic)');
        const version = c.u32();
        if (version < 2 || version > 3) throw new Error(`unsupported GGUF version ${version}`);
        const tensorCount = c.count(MAX_COUNT, 'tensor count');
        const kvCount = c.count(MAX_COUNT, 'metadata count');
        const metadata = new Map<string, GgufMetaValue>();
        for (let i = 0; i < kvCount; i++) {
            const key = c.str();
            metadata.set(key, readValue(c));
        }
        const tensors: GgufTensorInfo[] = [];
        for (let i = 0; i < tensorCount; i++) {
            const name = c.str();
            const nDims = c.u32();
            if (nDims < 1 || nDims > 4) throw new Error(`GGUF tensor ${name}: ${nDims} dimensions`);
            const dims: number[] = [];
            for (let d = 0; d < nDims; d++) {
                const v = c.u64();
                if (v < 1n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`GGUF tensor ${name}: bad dimension ${v}`);
                dims.push(Number(v));
            }
            const type = c.u32();
            const offset = c.u64();
            tensors.push({ name, dims, type, offset });
        }
        const alignMeta = metadata.get('general.alignment');
        const alignment = typeof alignMeta === 'number' ? alignMeta : GGUF_DEFAULT_ALIGNMENT;
        if (alignment <= 0 || (alignment & (alignment - 1)) !== 0) throw new Error(`GGUF: bad alignment ${alignment}`);
        const a = BigInt(alignment);
        const dataOffset = ((BigInt(c.pos) + a - 1n) / a) * a;
        return { version, metadata, tensors, dataOffset, alignment, fileSize: BigInt(size) };
    } finally {
        fs.closeSync(fd);
    }
}
