/**
 * Report bodies: the TD report (TDX) and the enclave report (SGX, also the QE report).
 * Offsets: Intel TDX DCAP Quoting Library API, Appendix A.3.2 "TD Report" (TD 1.0: 584 bytes;
 * TD 1.5 adds TEE_TCB_SVN2 and MRSERVICETD, 648 bytes) and A.3.x "Enclave Report" (384 bytes).
 */
import { createHash } from 'crypto';

export interface TdReport {
    teeTcbSvn: Buffer; // 16
    mrSeam: Buffer; // 48
    mrSignerSeam: Buffer; // 48
    seamAttributes: Buffer; // 8
    tdAttributes: Buffer; // 8
    xfam: Buffer; // 8
    mrTd: Buffer; // 48
    mrConfigId: Buffer; // 48
    mrOwner: Buffer; // 48
    mrOwnerConfig: Buffer; // 48
    rtmr0: Buffer; // 48
    rtmr1: Buffer; // 48
    rtmr2: Buffer; // 48
    rtmr3: Buffer; // 48
    reportData: Buffer; // 64
    /** TD 1.5 only. */
    teeTcbSvn2?: Buffer; // 16
    mrServiceTd?: Buffer; // 48
}

export const TD_OFFSETS = {
    teeTcbSvn: [0, 16],
    mrSeam: [16, 48],
    mrSignerSeam: [64, 48],
    seamAttributes: [112, 8],
    tdAttributes: [120, 8],
    xfam: [128, 8],
    mrTd: [136, 48],
    mrConfigId: [184, 48],
    mrOwner: [232, 48],
    mrOwnerConfig: [280, 48],
    rtmr0: [328, 48],
    rtmr1: [376, 48],
    rtmr2: [424, 48],
    rtmr3: [472, 48],
    reportData: [520, 64],
} as const;

function field(body: Buffer, [off, len]: readonly [number, number]): Buffer {
    return Buffer.from(body.subarray(off, off + len));
}

export function decodeTdReport(body: Buffer): TdReport {
    if (body.length !== 584 && body.length !== 648) throw new Error(`TD report must be 584 or 648 bytes, got ${body.length}`);
    const o = TD_OFFSETS;
    const td: TdReport = {
        teeTcbSvn: field(body, o.teeTcbSvn),
        mrSeam: field(body, o.mrSeam),
        mrSignerSeam: field(body, o.mrSignerSeam),
        seamAttributes: field(body, o.seamAttributes),
        tdAttributes: field(body, o.tdAttributes),
        xfam: field(body, o.xfam),
        mrTd: field(body, o.mrTd),
        mrConfigId: field(body, o.mrConfigId),
        mrOwner: field(body, o.mrOwner),
        mrOwnerConfig: field(body, o.mrOwnerConfig),
        rtmr0: field(body, o.rtmr0),
        rtmr1: field(body, o.rtmr1),
        rtmr2: field(body, o.rtmr2),
        rtmr3: field(body, o.rtmr3),
        reportData: field(body, o.reportData),
    };
    if (body.length === 648) {
        td.teeTcbSvn2 = field(body, [584, 16]);
        td.mrServiceTd = field(body, [600, 48]);
    }
    return td;
}

/**
 * TDATTRIBUTES bit 0 is TUD.DEBUG: the host VMM can read and write the TD's memory and
 * registers, so no confidentiality is left. (TDX Module ABI spec, "TDATTRIBUTES".)
 */
export function isDebugTd(td: TdReport): boolean {
    return (td.tdAttributes[0] & 0x01) !== 0;
}

/**
 * The image hash, the key of every allow-list (DESIGN.md §2):
 * SHA-256(MRTD ‖ MRCONFIGID ‖ MROWNER ‖ MROWNERCONFIG ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ RTMR3 ‖ 0^64).
 * Same definition as Telegram Cocoon's `tdx::AttestationData::image_hash()` (REPORTDATA zeroed),
 * so hash lists are interchangeable. The one function that computes it.
 */
export function imageHash(td: Pick<TdReport, 'mrTd' | 'mrConfigId' | 'mrOwner' | 'mrOwnerConfig' | 'rtmr0' | 'rtmr1' | 'rtmr2' | 'rtmr3'>): Buffer {
    const parts = [td.mrTd, td.mrConfigId, td.mrOwner, td.mrOwnerConfig, td.rtmr0, td.rtmr1, td.rtmr2, td.rtmr3];
    const h = createHash('sha256');
    for (const p of parts) {
        if (p.length !== 48) throw new Error('every measurement register must be 48 bytes');
        h.update(p);
    }
    h.update(Buffer.alloc(64));
    return h.digest();
}

export interface EnclaveReport {
    cpuSvn: Buffer; // 16
    miscSelect: number;
    attributes: Buffer; // 16
    mrEnclave: Buffer; // 32
    mrSigner: Buffer; // 32
    isvProdId: number;
    isvSvn: number;
    reportData: Buffer; // 64
}

export function decodeEnclaveReport(body: Buffer): EnclaveReport {
    if (body.length !== 384) throw new Error(`enclave report must be 384 bytes, got ${body.length}`);
    return {
        cpuSvn: Buffer.from(body.subarray(0, 16)),
        miscSelect: body.readUInt32LE(16),
        attributes: Buffer.from(body.subarray(48, 64)),
        mrEnclave: Buffer.from(body.subarray(64, 96)),
        mrSigner: Buffer.from(body.subarray(128, 160)),
        isvProdId: body.readUInt16LE(256),
        isvSvn: body.readUInt16LE(258),
        reportData: Buffer.from(body.subarray(320, 384)),
    };
}

/** SGX ATTRIBUTES.DEBUG is bit 1 of the first byte. */
export function isDebugEnclave(r: EnclaveReport): boolean {
    return (r.attributes[0] & 0x02) !== 0;
}
