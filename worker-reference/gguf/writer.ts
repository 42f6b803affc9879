/**
 * Streaming GGUF v3 writer: metadata and tensor infos are laid out in memory, tensor data is
 * produced by callbacks chunk by chunk, so multi-gigabyte files never sit in memory.
 */
import * as fs from 'node:fs';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, GgmlType, GgufValue, GgufValueType, ggmlTypeSize } from './format';

/** A tensor to write: its shape, type and a producer that fills `count` elements at `start`. */
export interface TensorSpec {
    name: string;
    dims: number[];
    type: GgmlType;
    /** Writes elements [start, start + out.length) as float32 values (converted on write). */
    fill: (start: number, out: Float32Array) => void;
}

class ByteSink {
    private chunks: Buffer[] = [];
    length = 0;
    push(b: Buffer): void {
        this.chunks.push(b);
        this.length += b.length;
    }
    u32(v: number): void {
        const b = Buffer.alloc(4);
        b.writeUInt32LE(v >>> 0);
        this.push(b);
    }
    i32(v: number): void {
        const b = Buffer.alloc(4);
        b.writeInt32LE(v | 0);
        this.push(b);
    }
    u64(v: bigint | number): void {
        const b = Buffer.alloc(8);
        b.writeBigUInt64LE(BigInt(v));
        this.push(b);
    }
    i64(v: bigint): void {
        const b = Buffer.alloc(8);
        b.writeBigInt64LE(v);
        this.push(b);
    }
    f32(v: number): void {
        const b = Buffer.alloc(4);
        b.writeFloatLE(v);
        this.push(b);
    }
    f64(v: number): void {
        const b = Buffer.alloc(8);
        b.writeDoubleLE(v);
        this.push(b);
    }
    str(s: string): void {
        const bytes = Buffer.from(s, 'utf8');
        this.u64(bytes.length);
        this.push(bytes);
    }
    concat(): Buffer {
        return Buffer.concat(this.chunks);
    }
}

function writeScalar(sink: ByteSink, type: GgufValueType, v: string | number | bigint | boolean): void {
    switch (type) {
        case GgufValueType.Uint8:
            sink.push(Buffer.from([Number(v) & 0xff]));
            return;
        case GgufValueType.Int8: {
            const b = Buffer.alloc(1);
            b.writeInt8(Number(v));
            sink.push(b);
            return;
        }
        case GgufValueType.Uint16: {
            const b = Buffer.alloc(2);
            b.writeUInt16LE(Number(v));
            sink.push(b);
            return;
        }
        case GgufValueType.Int16: {
            const b = Buffer.alloc(2);
            b.writeInt16LE(Number(v));
            sink.push(b);
            return;
        }
        case GgufValueType.Uint32:
            sink.u32(Number(v));
            return;
        case GgufValueType.Int32:
            sink.i32(Number(v));
            return;
        case GgufValueType.Float32:
            sink.f32(Number(v));
            return;
        case GgufValueType.Float64:
            sink.f64(Number(v));
            return;
        case GgufValueType.Bool:
            sink.push(Buffer.from([v ? 1 : 0]));
            return;
        case GgufValueType.String:
            sink.str(String(v));
            return;
        case GgufValueType.Uint64:
            sink.u64(BigInt(v));
            return;
        case GgufValueType.Int64:
            sink.i64(BigInt(v));
            return;
        default:
            throw new Error(`cannot write GGUF value type ${type} as a scalar`);
    }
}

function writeValue(sink: ByteSink, v: GgufValue): void {
    sink.u32(v.type);
    if (v.type === GgufValueType.Array) {
        sink.u32(v.elementType);
        sink.u64(v.value.length);
        for (const e of v.value) writeScalar(sink, v.elementType, e);
        return;
    }
    writeScalar(sink, v.type, v.value);
}

function alignUp(n: bigint, a: bigint): bigint {
    return ((n + a - 1n) / a) * a;
}

function elementCount(dims: number[]): number {
    return dims.reduce((a, b) => a * b, 1);
}

/** The bits of a float32 through a shared scratch word (no allocation per value). */
const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

/** IEEE 754 half from a float (round to nearest even, with subnormals and infinities). */
export function floatToHalf(f: number): number {
    scratchFloat[0] = f;
    return halfFromFloatBits(scratchBits[0]);
}

/** IEEE 754 half from the bits of a float32 (round to nearest even, subnormals, infinities, NaN). */
function halfFromFloatBits(x: number): number {
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
    const e = exp - 127 + 15;
    if (e >= 0x1f) return sign | 0x7c00;
    if (e <= 0) {
        if (e < -10) return sign;
        mant |= 0x800000;
        const shift = 14 - e;
        let half = mant >>> shift;
        const rem = mant & ((1 << shift) - 1);
        const halfway = 1 << (shift - 1);
        if (rem > halfway || (rem === halfway && (half & 1))) half++;
        return sign | half;
    }
    let half = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
    return sign | half;
}

/** Writes `floats` as little-endian IEEE halves into `out` (2 bytes each). */
export function writeHalves(floats: Float32Array, out: Buffer): void {
    const bits = new Uint32Array(floats.buffer, floats.byteOffset, floats.length);
    for (let j = 0, o = 0; j < bits.length; j++, o += 2) {
        const h = halfFromFloatBits(bits[j]);
        out[o] = h & 0xff;
        out[o + 1] = h >>> 8;
    }
}

export interface WriteGgufOptions {
    /** Tensor data alignment (GGUF's `general.alignment`); default 32. */
    alignment?: number;
    /** Called after each chunk written, with the bytes written so far and the file's size. */
    onProgress?: (written: number, total: number) => void;
}

/**
 * Writes a GGUF v3 file. Metadata keys keep their insertion order.
 * Returns the number of bytes written.
 */
export function writeGguf(file: string, metadata: Map<string, GgufValue>, tensors: TensorSpec[], options: WriteGgufOptions = {}): number {
    const alignment = options.alignment ?? GGUF_DEFAULT_ALIGNMENT;
    const head = new ByteSink();
    head.u32(GGUF_MAGIC);
    head.u32(GGUF_VERSION);
    head.u64(tensors.length);
    const meta = new Map(metadata);
    if (alignment !== GGUF_DEFAULT_ALIGNMENT) meta.set('general.alignment', { type: GgufValueType.Uint32, value: alignment });
    head.u64(meta.size);
    for (const [key, value] of meta) {
        head.str(key);
        writeValue(head, value);
    }
    const a = BigInt(alignment);
    let offset = 0n;
    const offsets: bigint[] = [];
    for (const t of tensors) {
        const size = ggmlTypeSize(t.type);
        if (size === undefined) throw new Error(`tensor ${t.name}: unsupported type ${t.type}`);
        offset = alignUp(offset, a);
        offsets.push(offset);
        head.str(t.name);
        head.u32(t.dims.length);
        for (const d of t.dims) head.u64(d);
        head.u32(t.type);
        head.u64(offset);
        offset += BigInt(elementCount(t.dims) * size);
    }
    const header = head.concat();
    const dataStart = alignUp(BigInt(header.length), a);
    const total = Number(dataStart + offset);
    const fd = fs.openSync(file, 'w');
    try {
        fs.writeSync(fd, header);
        let pos = BigInt(header.length);
        const pad = (to: bigint) => {
            if (to > pos) {
                fs.writeSync(fd, Buffer.alloc(Number(to - pos)));
                pos = to;
            }
        };
        pad(dataStart);
        const chunkElems = 1 << 16;
        const floats = new Float32Array(chunkElems);
        const halves = Buffer.alloc(chunkElems * 2);
        for (let i = 0; i < tensors.length; i++) {
            const t = tensors[i];
            pad(dataStart + offsets[i]);
            const n = elementCount(t.dims);
            for (let start = 0; start < n; start += chunkElems) {
                const count = Math.min(chunkElems, n - start);
                const view = floats.subarray(0, count);
                t.fill(start, view);
                let out: Buffer;
                if (t.type === GgmlType.F32) {
                    out = Buffer.from(view.buffer, view.byteOffset, count * 4);
                } else {
                    out = halves.subarray(0, count * 2);
                    writeHalves(view, out);
                }
                fs.writeSync(fd, out);
                pos += BigInt(out.length);
                options.onProgress?.(Number(pos), total);
            }
        }
        fs.fsyncSync(fd);
        return Number(pos);
    } finally {
        fs.closeSync(fd);
    }
}
