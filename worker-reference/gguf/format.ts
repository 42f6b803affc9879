/**
 * GGUF (version 3) constants shared by the writer and the reader.
 * Reference: the GGUF specification in the ggml repository (docs/gguf.md).
 */
export const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian uint32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types. */
export enum GgufValueType {
    Uint8 = 0,
    Int8 = 1,
    Uint16 = 2,
    Int16 = 3,
    Uint32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    Uint64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/** Tensor element types this project writes (a subset of ggml_type). */
export enum GgmlType {
    F32 = 0,
    F16 = 1,
}

/** Bytes per element of the tensor types we understand. */
export function ggmlTypeSize(t: number): number | undefined {
    if (t === GgmlType.F32) return 4;
    if (t === GgmlType.F16) return 2;
    return undefined;
}

/** A metadata value in its typed form. Arrays hold one element type. */
export type GgufValue =
    | { type: GgufValueType.String; value: string }
    | { type: GgufValueType.Bool; value: boolean }
    | { type: GgufValueType.Uint8 | GgufValueType.Int8 | GgufValueType.Uint16 | GgufValueType.Int16; value: number }
    | { type: GgufValueType.Uint32 | GgufValueType.Int32 | GgufValueType.Float32 | GgufValueType.Float64; value: number }
    | { type: GgufValueType.Uint64 | GgufValueType.Int64; value: bigint }
    | { type: GgufValueType.Array; elementType: GgufValueType; value: Array<string | number | bigint | boolean> };

export interface GgufTensorInfo {
    name: string;
    /** ggml order: dims[0] is the fastest-varying (row length). */
    dims: number[];
    type: GgmlType;
    /** Offset of the tensor's data relative to the start of the data section. */
    offset: bigint;
}
