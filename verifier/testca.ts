/**
 * Test-CA minter: a complete synthetic DCAP PKI (root, PCK platform CA, PCK leaf with Intel's
 * SGX extension, TCB signing certificate, CRLs, signed TCB info and QE identity) and TDX
 * quotes (v4 and v5) with chosen measurements, REPORTDATA and TCB levels. Lets the tests walk
 * every failure path without TDX hardware. Everything is synchronous Node crypto: minting a
 * quote costs two ECDSA signatures.
 *
 * The root certificate is made exactly as long as Intel's (659 bytes of DER), so the WASM
 * build can be pointed at it too (see wasm-build.ts).
 *
 * FOR TESTS ONLY: the keys live in memory and nothing here is secret.
 */
import { createHash, generateKeyPairSync, KeyObject, randomBytes, sign as cryptoSign } from 'crypto';
import { oid, octets, seq, Tag, tlv, uint } from './der';
import { Collateral } from './collateral';
import { pemFromDer } from './pki';
import { INTEL_QE_VENDOR_ID, TD_REPORT10_LEN, TD_REPORT15_LEN } from './quote';
import { TD_OFFSETS } from './report';

const OID = {
    ecdsaSha256: '1.2.840.10045.4.3.2',
    cn: '2.5.4.3',
    o: '2.5.4.10',
    l: '2.5.4.7',
    st: '2.5.4.8',
    c: '2.5.4.6',
    basicConstraints: '2.5.29.19',
    keyUsage: '2.5.29.15',
    ski: '2.5.29.14',
    aki: '2.5.29.35',
    crlNumber: '2.5.29.20',
    crlReason: '2.5.29.21',
    // Intel SGX PCK certificate extensions: "Intel SGX PCK Certificate and CRL Profile",
    // https://api.trustedservices.intel.com/documents/Intel_SGX_PCK_Certificate_CRL_Spec-1.5.pdf
    sgx: '1.2.840.113741.1.13.1',
} as const;

const ROOT_DER_LEN = 659;
const DAY = 24 * 3600;

export interface KeyPair {
    privateKey: KeyObject;
    publicKey: KeyObject;
}

function p256(): KeyPair {
    return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

function name(cn: string): Buffer {
    const rdn = (o: string, tag: number, v: string): Buffer => tlv(0x31, seq(oid(o), tlv(tag, Buffer.from(v, 'utf8'))));
    return seq(rdn(OID.cn, 0x0c, cn), rdn(OID.o, 0x0c, 'Cocoon Test'), rdn(OID.l, 0x0c, 'Nowhere'), rdn(OID.st, 0x0c, 'NA'), rdn(OID.c, 0x13, 'ZZ'));
}

function time(t: number): Buffer {
    const d = new Date(t * 1000);
    const p = (n: number): string => String(n).padStart(2, '0');
    const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
    const y = d.getUTCFullYear();
    return y < 2050 ? tlv(0x17, Buffer.from(`${String(y % 100).padStart(2, '0')}${rest}`)) : tlv(0x18, Buffer.from(`${y}${rest}`));
}

function ext(o: string, critical: boolean, value: Buffer): Buffer {
    return critical ? seq(oid(o), tlv(0x01, Buffer.from([0xff])), octets(value)) : seq(oid(o), octets(value));
}

function keyId(pub: KeyObject): Buffer {
    const spki = pub.export({ type: 'spki', format: 'der' });
    return createHash('sha1').update(spki.subarray(spki.length - 65)).digest();
}

function signed(tbs: Buffer, key: KeyObject): Buffer {
    const sig = cryptoSign('sha256', tbs, key);
    return seq(tbs, seq(oid(OID.ecdsaSha256)), tlv(Tag.bitString, Buffer.concat([Buffer.from([0]), sig])));
}

function serialBytes(hex: string): Buffer {
    const b = Buffer.from(hex, 'hex');
    return tlv(Tag.integer, b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

interface CertSpec {
    serial: string; // hex
    issuer: Buffer; // Name DER
    subject: Buffer;
    notBefore: number;
    notAfter: number;
    subjectKey: KeyObject;
    issuerKey: KeyObject; // public, for the AKI
    signKey: KeyObject;
    ca: boolean;
    extra?: Buffer[];
}

function makeCert(s: CertSpec): Buffer {
    const exts = [
        ext(OID.aki, false, seq(tlv(0x80, keyId(s.issuerKey)))),
        ext(OID.ski, false, octets(keyId(s.subjectKey))),
        ext(OID.keyUsage, true, s.ca ? tlv(Tag.bitString, Buffer.from([0x01, 0x06])) : tlv(Tag.bitString, Buffer.from([0x06, 0xc0]))),
        ext(OID.basicConstraints, true, s.ca ? seq(tlv(0x01, Buffer.from([0xff])), uint(0)) : seq()),
        ...(s.extra ?? []),
    ];
    const tbs = seq(
        tlv(0xa0, uint(2)),
        serialBytes(s.serial),
        seq(oid(OID.ecdsaSha256)),
        s.issuer,
        seq(time(s.notBefore), time(s.notAfter)),
        s.subject,
        s.subjectKey.export({ type: 'spki', format: 'der' }),
        tlv(0xa3, seq(...exts)),
    );
    return signed(tbs, s.signKey);
}

/** TCB values of a platform: 16 SGX component SVNs, the PCE SVN, and (TDX) TEE_TCB_SVN. */
export interface PlatformTcb {
    sgxSvns: number[];
    pceSvn: number;
}

function sgxExtension(ppid: Buffer, tcb: PlatformTcb, fmspc: Buffer): Buffer {
    const item = (sub: string, v: Buffer): Buffer => seq(oid(`${OID.sgx}.${sub}`), v);
    const comps = tcb.sgxSvns.map((svn, i) => item(`2.${i + 1}`, uint(svn)));
    return seq(
        item('1', octets(ppid)),
        item('2', seq(...comps, item('2.17', uint(tcb.pceSvn)), item('2.18', octets(Buffer.from(tcb.sgxSvns))))),
        item('3', octets(Buffer.from([0, 0]))),
        item('4', octets(fmspc)),
        item('5', uint(0, Tag.enumerated)),
    );
}

export interface PckIdentity {
    key: KeyPair;
    der: Buffer;
    serial: string;
}

/** TCB level profiles of the test TCB info, selected through TEE_TCB_SVN in the TD report. */
export const TEST_TCB = {
    UpToDate: { teeTcbSvn: [5, 1, 2], status: 'UpToDate', advisoryIDs: [] as string[] },
    SWHardeningNeeded: { teeTcbSvn: [4, 1, 1], status: 'SWHardeningNeeded', advisoryIDs: ['INTEL-SA-00615'] },
    OutOfDate: { teeTcbSvn: [3, 1, 0], status: 'OutOfDate', advisoryIDs: ['INTEL-SA-00615', 'INTEL-SA-00837'] },
    /** Below every level of the test TCB info. */
    BelowAll: { teeTcbSvn: [2, 1, 0], status: 'Unknown', advisoryIDs: [] as string[] },
} as const;
export type TestTcbProfile = keyof typeof TEST_TCB;

export interface MintOptions {
    version?: 4 | 5;
    /** v5 only: TD report 1.5 body (type 3) instead of 1.0 (type 2). */
    td15?: boolean;
    mrTd?: Buffer;
    mrConfigId?: Buffer;
    mrOwner?: Buffer;
    mrOwnerConfig?: Buffer;
    rtmr?: [Buffer, Buffer, Buffer, Buffer];
    reportData?: Buffer;
    /** TDATTRIBUTES (8 bytes). Default: SEPT_VE_DISABLE only. */
    tdAttributes?: Buffer;
    debug?: boolean;
    tcb?: TestTcbProfile;
    /** QE report overrides. */
    qe?: { isvSvn?: number; isvProdId?: number; mrSigner?: Buffer; attributes?: Buffer };
    /** Use another PCK leaf (e.g. one that is then revoked). */
    pck?: PckIdentity;
    /** Sign the QE report with this key instead of the PCK key. */
    qeReportSigner?: KeyObject;
    /** Sign the quote with this key instead of the attestation key. */
    quoteSigner?: KeyObject;
    /** Zero bytes appended after the quote (real quotes often carry padding). */
    padding?: number;
}

export interface CollateralOptions {
    tcbInfo?: Record<string, unknown>; // fields merged over the default TCB info
    qeIdentity?: Record<string, unknown>; // fields merged over the default QE identity
    rootCrl?: string; // hex DER
    pckCrl?: string;
    /** Sign the TCB info / QE identity with a key that is not the TCB signing key. */
    badTcbInfoSignature?: boolean;
    badQeIdentitySignature?: boolean;
}

export interface CrlOptions {
    issuer: 'root' | 'pckCa';
    /** Serial numbers (hex) to list as revoked. */
    revoked?: string[];
    thisUpdate?: number;
    nextUpdate?: number;
    /** Sign with an unrelated key (bad signature). */
    wrongKey?: boolean;
}

export interface TestCaOptions {
    /** The time the PKI and collateral are minted for (unix seconds). Default: now. */
    now?: number;
    fmspc?: string; // 12 hex chars
}

const PLATFORM_TCB: PlatformTcb = { sgxSvns: Array(16).fill(2), pceSvn: 11 };

export class TestCa {
    readonly now: number;
    readonly fmspc: Buffer;
    readonly rootKey = p256();
    readonly pckCaKey = p256();
    readonly tcbKey = p256();
    readonly attestationKey = p256();
    readonly strayKey = p256();
    readonly rootName: Buffer;
    readonly pckCaName = name('Cocoon Test SGX PCK Platform CA');
    readonly rootDer: Buffer;
    readonly pckCaDer: Buffer;
    readonly tcbSignerDer: Buffer;
    readonly pck: PckIdentity;
    readonly qeMrSigner = createHash('sha256').update('cocoon test QE signer').digest();
    readonly qeMrEnclave = createHash('sha256').update('cocoon test QE').digest();
    private serialCounter = 0x1000;

    constructor(opts: TestCaOptions = {}) {
        this.now = opts.now ?? Math.floor(Date.now() / 1000);
        this.fmspc = Buffer.from(opts.fmspc ?? '00C0FFEE0000', 'hex');
        const from = this.now - 365 * DAY;
        const to = this.now + 5 * 365 * DAY;
        // The root: self-signed, its CN padded until the DER is exactly as long as Intel's root.
        let pad = 0;
        let der: Buffer = Buffer.alloc(0);
        let rootName: Buffer = Buffer.alloc(0);
        for (let i = 0; i < 64; i++) {
            rootName = name(`Cocoon Test SGX Root CA${'.'.repeat(Math.max(0, pad))}`);
            der = makeCert({ serial: '01', issuer: rootName, subject: rootName, notBefore: from, notAfter: to, subjectKey: this.rootKey.publicKey, issuerKey: this.rootKey.publicKey, signKey: this.rootKey.privateKey, ca: true });
            if (der.length === ROOT_DER_LEN) break;
            // The name appears twice (issuer = subject): one more character adds two bytes. An odd
            // difference comes from the ECDSA signature's DER length; signing again fixes it.
            pad += Math.trunc((ROOT_DER_LEN - der.length) / 2);
        }
        if (der.length !== ROOT_DER_LEN) throw new Error('could not make a root certificate of the required length');
        this.rootName = rootName;
        this.rootDer = der;
        this.pckCaDer = makeCert({ serial: '02', issuer: rootName, subject: this.pckCaName, notBefore: from, notAfter: to, subjectKey: this.pckCaKey.publicKey, issuerKey: this.rootKey.publicKey, signKey: this.rootKey.privateKey, ca: true });
        this.tcbSignerDer = makeCert({ serial: '03', issuer: rootName, subject: name('Cocoon Test SGX TCB Signing'), notBefore: from, notAfter: to, subjectKey: this.tcbKey.publicKey, issuerKey: this.rootKey.publicKey, signKey: this.rootKey.privateKey, ca: false });
        this.pck = this.issuePck();
    }

    get rootPem(): string {
        return pemFromDer(this.rootDer);
    }

    /** Issues a PCK leaf certificate (with the SGX extension) under the PCK platform CA. */
    issuePck(o: { tcb?: PlatformTcb; notBefore?: number; notAfter?: number; fmspc?: Buffer; badSignature?: boolean } = {}): PckIdentity {
        const key = p256();
        const serial = (this.serialCounter++).toString(16).padStart(4, '0') + randomBytes(8).toString('hex');
        const der = makeCert({
            serial,
            issuer: this.pckCaName,
            subject: name('Cocoon Test SGX PCK Certificate'),
            notBefore: o.notBefore ?? this.now - 365 * DAY,
            notAfter: o.notAfter ?? this.now + 5 * 365 * DAY,
            subjectKey: key.publicKey,
            issuerKey: this.pckCaKey.publicKey,
            signKey: o.badSignature ? this.strayKey.privateKey : this.pckCaKey.privateKey,
            ca: false,
            extra: [ext(OID.sgx, false, sgxExtension(randomBytes(16), o.tcb ?? PLATFORM_TCB, o.fmspc ?? this.fmspc))],
        });
        return { key, der, serial };
    }

    /** A signed CRL (hex DER) from the root or the PCK CA. */
    crl(o: CrlOptions): string {
        const issuerName = o.issuer === 'root' ? this.rootName : this.pckCaName;
        const issuerKey = o.issuer === 'root' ? this.rootKey : this.pckCaKey;
        const thisUpdate = o.thisUpdate ?? this.now - DAY;
        const entries = (o.revoked ?? []).map((s) => seq(serialBytes(s.length % 2 ? `0${s}` : s), time(thisUpdate), seq(ext(OID.crlReason, false, tlv(Tag.enumerated, Buffer.from([1]))))));
        const tbs = seq(
            uint(1),
            seq(oid(OID.ecdsaSha256)),
            issuerName,
            time(thisUpdate),
            time(o.nextUpdate ?? this.now + 29 * DAY),
            ...(entries.length ? [seq(...entries)] : []),
            tlv(0xa0, seq(ext(OID.crlNumber, false, uint(1)), ext(OID.aki, false, seq(tlv(0x80, keyId(issuerKey.publicKey)))))),
        );
        return signed(tbs, o.wrongKey ? this.strayKey.privateKey : issuerKey.privateKey).toString('hex');
    }

    private defaultTcbInfo(): Record<string, unknown> {
        const iso = (t: number): string => new Date(t * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
        const comps = (svns: readonly number[]): { svn: number }[] => Array.from({ length: 16 }, (_, i) => ({ svn: svns[i] ?? 0 }));
        const level = (p: (typeof TEST_TCB)[TestTcbProfile], sgx: number, pce: number): Record<string, unknown> => ({
            tcb: { sgxtcbcomponents: comps(Array(16).fill(sgx)), pcesvn: pce, tdxtcbcomponents: comps(p.teeTcbSvn) },
            tcbDate: '2024-03-13T00:00:00Z',
            tcbStatus: p.status,
            ...(p.advisoryIDs.length ? { advisoryIDs: [...p.advisoryIDs] } : {}),
        });
        const zeros48 = '00'.repeat(48);
        return {
            id: 'TDX',
            version: 3,
            issueDate: iso(this.now - DAY),
            nextUpdate: iso(this.now + 29 * DAY),
            fmspc: this.fmspc.toString('hex').toUpperCase(),
            pceId: '0000',
            tcbType: 0,
            tcbEvaluationDataNumber: 17,
            tdxModule: { mrsigner: zeros48, attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF' },
            tdxModuleIdentities: [
                { id: 'TDX_01', mrsigner: zeros48, attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF', tcbLevels: [{ tcb: { isvsvn: 0 }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' }] },
            ],
            tcbLevels: [level(TEST_TCB.UpToDate, 2, 11), level(TEST_TCB.SWHardeningNeeded, 2, 11), level(TEST_TCB.OutOfDate, 1, 10)],
        };
    }

    private defaultQeIdentity(): Record<string, unknown> {
        const iso = (t: number): string => new Date(t * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
        return {
            id: 'TD_QE',
            version: 2,
            issueDate: iso(this.now - DAY),
            nextUpdate: iso(this.now + 29 * DAY),
            tcbEvaluationDataNumber: 17,
            miscselect: '00000000',
            miscselectMask: 'FFFFFFFF',
            attributes: '11000000000000000000000000000000',
            attributesMask: 'FBFFFFFFFFFFFFFF0000000000000000',
            mrsigner: this.qeMrSigner.toString('hex').toUpperCase(),
            isvprodid: 2,
            tcbLevels: [
                { tcb: { isvsvn: 4 }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' },
                { tcb: { isvsvn: 2 }, tcbDate: '2023-08-09T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIDs: ['INTEL-SA-00999'] },
            ],
        };
    }

    private signJson(doc: string, bad: boolean | undefined): string {
        return cryptoSign('sha256', Buffer.from(doc), { key: bad ? this.strayKey.privateKey : this.tcbKey.privateKey, dsaEncoding: 'ieee-p1363' }).toString('hex');
    }

    private defaultCrls?: { root: string; pck: string };

    /** Collateral for this PKI (dcap-qvl JSON shape), valid around `now`. */
    collateral(o: CollateralOptions = {}): Collateral {
        if (!this.defaultCrls) this.defaultCrls = { root: this.crl({ issuer: 'root' }), pck: this.crl({ issuer: 'pckCa' }) };
        const tcbInfo = JSON.stringify({ ...this.defaultTcbInfo(), ...o.tcbInfo });
        const qeIdentity = JSON.stringify({ ...this.defaultQeIdentity(), ...o.qeIdentity });
        const rootPem = pemFromDer(this.rootDer);
        const signerChain = pemFromDer(this.tcbSignerDer) + rootPem;
        return {
            pck_crl_issuer_chain: pemFromDer(this.pckCaDer) + rootPem,
            root_ca_crl: o.rootCrl ?? this.defaultCrls.root,
            pck_crl: o.pckCrl ?? this.defaultCrls.pck,
            tcb_info_issuer_chain: signerChain,
            tcb_info: tcbInfo,
            tcb_info_signature: this.signJson(tcbInfo, o.badTcbInfoSignature),
            qe_identity_issuer_chain: signerChain,
            qe_identity: qeIdentity,
            qe_identity_signature: this.signJson(qeIdentity, o.badQeIdentitySignature),
        };
    }

    /** Mints a TDX quote signed through this PKI. */
    mintQuote(o: MintOptions = {}): Buffer {
        const version = o.version ?? 4;
        const pck = o.pck ?? this.pck;
        // Header (48 bytes).
        const header = Buffer.alloc(48);
        header.writeUInt16LE(version, 0);
        header.writeUInt16LE(2, 2); // ECDSA-256 with P-256
        header.writeUInt32LE(0x81, 4); // TDX
        header.writeUInt16LE(PLATFORM_TCB.pceSvn, 10);
        INTEL_QE_VENDOR_ID.copy(header, 12);
        createHash('sha256').update('qe id').digest().copy(header, 28, 0, 16);
        // TD report body.
        const td15 = version === 5 && o.td15 === true;
        const body = Buffer.alloc(td15 ? TD_REPORT15_LEN : TD_REPORT10_LEN);
        const put = (f: keyof typeof TD_OFFSETS, v: Buffer | undefined): void => {
            if (!v) return;
            const [off, len] = TD_OFFSETS[f];
            if (v.length !== len) throw new Error(`${f} must be ${len} bytes`);
            v.copy(body, off);
        };
        const profile = TEST_TCB[o.tcb ?? 'UpToDate'];
        const svn = Buffer.alloc(16);
        Buffer.from(profile.teeTcbSvn).copy(svn);
        put('teeTcbSvn', svn);
        put('mrSeam', createHash('sha384').update('test seam').digest());
        const attrs = Buffer.from(o.tdAttributes ?? Buffer.from('0000001000000000', 'hex'));
        if (o.debug) attrs[0] |= 0x01;
        put('tdAttributes', attrs);
        put('xfam', Buffer.from('e702060000000000', 'hex'));
        put('mrTd', o.mrTd ?? createHash('sha384').update('test mrtd').digest());
        put('mrConfigId', o.mrConfigId);
        put('mrOwner', o.mrOwner);
        put('mrOwnerConfig', o.mrOwnerConfig);
        o.rtmr?.forEach((r, i) => put(`rtmr${i}` as keyof typeof TD_OFFSETS, r));
        put('reportData', o.reportData);
        const descriptor = Buffer.alloc(version === 5 ? 6 : 0);
        if (version === 5) {
            descriptor.writeUInt16LE(td15 ? 3 : 2, 0);
            descriptor.writeUInt32LE(body.length, 2);
        }
        const signedPart = Buffer.concat([header, descriptor, body]);

        // QE report (an SGX enclave report, 384 bytes) binding the attestation key.
        const attKeyJwk = this.attestationKey.publicKey.export({ format: 'jwk' });
        const attKey = Buffer.concat([Buffer.from(attKeyJwk.x as string, 'base64url'), Buffer.from(attKeyJwk.y as string, 'base64url')]);
        const qeAuth = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
        const qe = Buffer.alloc(384);
        (o.qe?.attributes ?? Buffer.from('11000000000000000000000000000000', 'hex')).copy(qe, 48);
        this.qeMrEnclave.copy(qe, 64);
        (o.qe?.mrSigner ?? this.qeMrSigner).copy(qe, 128);
        qe.writeUInt16LE(o.qe?.isvProdId ?? 2, 256);
        qe.writeUInt16LE(o.qe?.isvSvn ?? 4, 258);
        createHash('sha256').update(attKey).update(qeAuth).digest().copy(qe, 320);
        const p1363 = (data: Buffer, key: KeyObject): Buffer => cryptoSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
        const qeSig = p1363(qe, o.qeReportSigner ?? pck.key.privateKey);

        const chain = Buffer.from(pemFromDer(pck.der) + pemFromDer(this.pckCaDer) + pemFromDer(this.rootDer) + '\0', 'latin1');
        const u16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
        const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
        const inner = Buffer.concat([qe, qeSig, u16(qeAuth.length), qeAuth, u16(5), u32(chain.length), chain]);
        const sigData = Buffer.concat([p1363(signedPart, o.quoteSigner ?? this.attestationKey.privateKey), attKey, u16(6), u32(inner.length), inner]);
        return Buffer.concat([signedPart, u32(sigData.length), sigData, Buffer.alloc(o.padding ?? 0)]);
    }
}
