/**
 * Strict decoder of Intel DCAP quotes: SGX v3, TDX v4 and v5 (ECDSA P-256 attestation key).
 *
 * Layouts: "Intel TDX DCAP Quote Generation Library and Quote Verification Library API",
 * Appendix A (Quote Format v4 / v5), https://download.01.org/intel-sgx/latest/dcap-latest/linux/docs/Intel_TDX_DCAP_Quoting_Library_API.pdf
 * and "Intel SGX ECDSA Quote Library API", Appendix A (Quote Format v3),
 * https://download.01.org/intel-sgx/latest/dcap-latest/linux/docs/Intel_SGX_ECDSA_QuoteLibReference_DCAP_API.pdf
 *
 * All integers are little-endian. The decoder refuses anything it does not fully understand:
 * unknown versions/types, lengths that run past the input, and non-zero bytes after the
 * signature data (zero padding is tolerated: real quote generators return fixed buffers).
 */

export const TEE_TYPE_SGX = 0x00000000;
export const TEE_TYPE_TDX = 0x00000081;
export const ATTESTATION_KEY_ECDSA_P256 = 2;
export const HEADER_LEN = 48;
export const ENCLAVE_REPORT_LEN = 384;
export const TD_REPORT10_LEN = 584;
export const TD_REPORT15_LEN = 648;
/** v5 body descriptor: type u16 + size u32. */
export const BODY_DESCRIPTOR_LEN = 6;
export const BODY_TYPE_SGX = 1;
export const BODY_TYPE_TD10 = 2;
export const BODY_TYPE_TD15 = 3;
/** Certification data types (QE Library API, "Certification Data Type"). */
export const CERT_TYPE_PCK_CHAIN = 5;
export const CERT_TYPE_QE_REPORT = 6;
/** Intel's QE vendor id, 939A7233-F79C-4CA9-940A-0DB3957F0607. */
export const INTEL_QE_VENDOR_ID = Buffer.from('939a7233f79c4ca9940a0db3957f0607', 'hex');

export interface QuoteHeader {
    version: number;
    attestationKeyType: number;
    teeType: number;
    qeSvn: number;
    pceSvn: number;
    qeVendorId: Buffer;
    userData: Buffer;
}

export type BodyKind = 'sgx' | 'td10' | 'td15';

export interface QuoteSignatureData {
    /** ECDSA P-256 signature (r‖s) over header‖body by the attestation key. */
    quoteSignature: Buffer;
    /** Attestation public key, x‖y (64 bytes). */
    attestationKey: Buffer;
    /** QE report (SGX enclave report of the Quoting Enclave), 384 bytes. */
    qeReport: Buffer;
    /** Signature (r‖s) over the QE report by the PCK key. */
    qeReportSignature: Buffer;
    qeAuthData: Buffer;
    /** Innermost certification data: type and body (for type 5: the PEM PCK chain). */
    certType: number;
    certData: Buffer;
}

export interface ParsedQuote {
    raw: Buffer;
    header: QuoteHeader;
    bodyKind: BodyKind;
    /** The report body (enclave report or TD report), without any v5 descriptor. */
    body: Buffer;
    /** Length of header (+ v5 descriptor) + body: the bytes the attestation key signs. */
    signedLength: number;
    signature: QuoteSignatureData;
    /** Offset just past the signature data. */
    end: number;
}

class Reader {
    constructor(private readonly buf: Buffer, public pos = 0, private readonly limit = buf.length) {}
    need(n: number, what: string): void {
        if (this.pos + n > this.limit) throw new Error(`quote truncated: ${what} needs ${n} bytes at offset ${this.pos}, only ${this.limit - this.pos} left`);
    }
    u16(what: string): number {
        this.need(2, what);
        const v = this.buf.readUInt16LE(this.pos);
        this.pos += 2;
        return v;
    }
    u32(what: string): number {
        this.need(4, what);
        const v = this.buf.readUInt32LE(this.pos);
        this.pos += 4;
        return v;
    }
    bytes(n: number, what: string): Buffer {
        this.need(n, what);
        const v = this.buf.subarray(this.pos, this.pos + n);
        this.pos += n;
        return v;
    }
}

export function parseQuote(input: Uint8Array): ParsedQuote {
    const raw = Buffer.from(input);
    const r = new Reader(raw);
    const header: QuoteHeader = {
        version: r.u16('version'),
        attestationKeyType: r.u16('attestation key type'),
        teeType: r.u32('TEE type'),
        qeSvn: r.u16('QE SVN'),
        pceSvn: r.u16('PCE SVN'),
        qeVendorId: r.bytes(16, 'QE vendor id'),
        userData: r.bytes(20, 'user data'),
    };
    if (header.attestationKeyType !== ATTESTATION_KEY_ECDSA_P256) {
        throw new Error(`unsupported attestation key type ${header.attestationKeyType} (only ECDSA P-256)`);
    }
    let bodyKind: BodyKind;
    if (header.version === 3) {
        if (header.teeType !== TEE_TYPE_SGX) throw new Error('quote v3 must be an SGX quote');
        bodyKind = 'sgx';
    } else if (header.version === 4) {
        if (header.teeType !== TEE_TYPE_TDX) throw new Error('quote v4 must be a TDX quote (SGX quotes are v3)');
        bodyKind = 'td10';
    } else if (header.version === 5) {
        if (header.teeType !== TEE_TYPE_TDX) throw new Error('quote v5 is accepted for TDX only');
        const type = r.u16('body type');
        const size = r.u32('body size');
        if (type === BODY_TYPE_TD10 && size === TD_REPORT10_LEN) bodyKind = 'td10';
        else if (type === BODY_TYPE_TD15 && size === TD_REPORT15_LEN) bodyKind = 'td15';
        else throw new Error(`unsupported v5 body type ${type} with size ${size}`);
    } else {
        throw new Error(`unsupported quote version ${header.version}`);
    }
    const bodyLen = bodyKind === 'sgx' ? ENCLAVE_REPORT_LEN : bodyKind === 'td10' ? TD_REPORT10_LEN : TD_REPORT15_LEN;
    const body = r.bytes(bodyLen, 'report body');
    const signedLength = r.pos;

    const sigLen = r.u32('signature data length');
    r.need(sigLen, 'signature data');
    const end = r.pos + sigLen;
    const s = new Reader(raw, r.pos, end);
    const quoteSignature = s.bytes(64, 'quote signature');
    const attestationKey = s.bytes(64, 'attestation key');
    let qeReport: Buffer;
    let qeReportSignature: Buffer;
    let qeAuthData: Buffer;
    let certType: number;
    let certData: Buffer;
    if (header.version === 3) {
        qeReport = s.bytes(ENCLAVE_REPORT_LEN, 'QE report');
        qeReportSignature = s.bytes(64, 'QE report signature');
        qeAuthData = s.bytes(s.u16('QE auth data size'), 'QE auth data');
        certType = s.u16('certification data type');
        certData = s.bytes(s.u32('certification data size'), 'certification data');
    } else {
        const outerType = s.u16('certification data type');
        const outerSize = s.u32('certification data size');
        if (outerType !== CERT_TYPE_QE_REPORT) throw new Error(`unsupported outer certification data type ${outerType} (expected 6)`);
        const inner = new Reader(raw, s.pos, s.pos + outerSize);
        s.need(outerSize, 'QE report certification data');
        qeReport = inner.bytes(ENCLAVE_REPORT_LEN, 'QE report');
        qeReportSignature = inner.bytes(64, 'QE report signature');
        qeAuthData = inner.bytes(inner.u16('QE auth data size'), 'QE auth data');
        certType = inner.u16('PCK certification data type');
        certData = inner.bytes(inner.u32('PCK certification data size'), 'PCK certification data');
        if (inner.pos !== s.pos + outerSize) throw new Error('QE report certification data has trailing bytes');
        s.pos += outerSize;
    }
    if (s.pos !== end) throw new Error(`signature data has ${end - s.pos} unexplained trailing bytes`);
    if (certType !== CERT_TYPE_PCK_CHAIN) throw new Error(`unsupported PCK certification data type ${certType} (only 5, PCK chain in the quote)`);
    for (let i = end; i < raw.length; i++) {
        if (raw[i] !== 0) throw new Error(`non-zero byte after the quote at offset ${i}`);
    }
    return {
        raw,
        header,
        bodyKind,
        body,
        signedLength,
        signature: { quoteSignature, attestationKey, qeReport, qeReportSignature, qeAuthData, certType, certData },
        end,
    };
}
