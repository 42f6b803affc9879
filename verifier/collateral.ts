/**
 * Quote collateral (the dcap-qvl `QuoteCollateralV3` JSON shape): parsing, and the checks
 * that do not depend on the quote: signatures of the TCB info and QE identity through their
 * issuer chains to the trusted root, both CRLs (parse, signature, dates) and revocation of
 * every collateral certificate, and the validity windows of everything at `now`.
 *
 * The signature work is cached per (collateral, root); the time checks run on every call.
 */
import { createHash } from 'crypto';
import {
    Cert,
    ChainLink,
    checkCrlTime,
    checkRevocation,
    checkValidity,
    Crl,
    parseCrl,
    parsePemChain,
    verifyChain,
    verifyCrlSignature,
    verifyP1363,
} from './pki';

/** Collateral as dcap-qvl takes it: signed JSON strings, hex CRLs / signatures, PEM chains. */
export interface Collateral {
    pck_crl_issuer_chain: string;
    root_ca_crl: string;
    pck_crl: string;
    tcb_info_issuer_chain: string;
    tcb_info: string;
    tcb_info_signature: string;
    qe_identity_issuer_chain: string;
    qe_identity: string;
    qe_identity_signature: string;
}

const STRING_FIELDS = ['pck_crl_issuer_chain', 'tcb_info_issuer_chain', 'tcb_info', 'qe_identity_issuer_chain', 'qe_identity'] as const;
const BYTE_FIELDS = ['root_ca_crl', 'pck_crl', 'tcb_info_signature', 'qe_identity_signature'] as const;

/** Validates and normalises collateral JSON (byte fields may be hex strings or byte arrays). */
export function parseCollateral(input: unknown): Collateral {
    if (typeof input === 'string') {
        try {
            input = JSON.parse(input);
        } catch (e) {
            throw new Error(`collateral is not JSON: ${(e as Error).message}`);
        }
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new Error('collateral must be a JSON object');
    const o = input as Record<string, unknown>;
    const out: Partial<Collateral> = {};
    for (const k of STRING_FIELDS) {
        if (typeof o[k] !== 'string') throw new Error(`collateral field ${k} must be a string`);
        out[k] = o[k] as string;
    }
    for (const k of BYTE_FIELDS) {
        const v = o[k];
        if (typeof v === 'string') {
            if (!/^([0-9a-fA-F]{2})*$/.test(v)) throw new Error(`collateral field ${k} must be hex`);
            out[k] = v.toLowerCase();
        } else if (Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)) {
            out[k] = Buffer.from(v as number[]).toString('hex');
        } else throw new Error(`collateral field ${k} must be a hex string or a byte array`);
    }
    return out as Collateral;
}

export interface TcbLevelJson {
    tcb: { sgxtcbcomponents?: { svn: number }[]; pcesvn?: number; tdxtcbcomponents?: { svn: number }[]; isvsvn?: number };
    tcbDate?: string;
    tcbStatus: string;
    advisoryIDs?: string[];
}

export interface TcbInfoJson {
    id?: string;
    version: number;
    issueDate: string;
    nextUpdate: string;
    fmspc: string;
    pceId: string;
    tcbLevels: TcbLevelJson[];
}

export interface QeIdentityJson {
    id: string;
    version: number;
    issueDate: string;
    nextUpdate: string;
    miscselect: string;
    miscselectMask: string;
    attributes: string;
    attributesMask: string;
    mrsigner: string;
    isvprodid: number;
    tcbLevels: TcbLevelJson[];
}

function parseDate(s: unknown, what: string): number {
    if (typeof s !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(s)) throw new Error(`${what} is not an ISO-8601 UTC date`);
    return Math.floor(Date.parse(s) / 1000);
}

function parseJson<T>(s: string, what: string): T {
    try {
        const v: unknown = JSON.parse(s);
        if (typeof v !== 'object' || v === null) throw new Error('not an object');
        return v as T;
    } catch (e) {
        throw new Error(`${what} is not valid JSON: ${(e as Error).message}`);
    }
}

function hexField(v: unknown, bytes: number, what: string): Buffer {
    if (typeof v !== 'string' || v.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(v)) throw new Error(`${what} must be ${bytes} bytes of hex`);
    return Buffer.from(v, 'hex');
}

export interface QeIdentity {
    id: string;
    version: number;
    miscselect: Buffer; // 4 bytes, in report byte order
    miscselectMask: Buffer;
    attributes: Buffer;
    attributesMask: Buffer;
    mrsigner: Buffer;
    isvprodid: number;
    tcbLevels: { isvsvn: number; status: string; advisoryIds: string[] }[];
}

function parseQeIdentity(j: QeIdentityJson): QeIdentity {
    if (typeof j.id !== 'string' || typeof j.version !== 'number') throw new Error('QE identity: id/version missing');
    if (!Number.isInteger(j.isvprodid)) throw new Error('QE identity: isvprodid missing');
    if (!Array.isArray(j.tcbLevels) || j.tcbLevels.length === 0) throw new Error('QE identity: no TCB levels');
    return {
        id: j.id,
        version: j.version,
        miscselect: hexField(j.miscselect, 4, 'QE identity miscselect'),
        miscselectMask: hexField(j.miscselectMask, 4, 'QE identity miscselectMask'),
        attributes: hexField(j.attributes, 16, 'QE identity attributes'),
        attributesMask: hexField(j.attributesMask, 16, 'QE identity attributesMask'),
        mrsigner: hexField(j.mrsigner, 32, 'QE identity mrsigner'),
        isvprodid: j.isvprodid,
        tcbLevels: j.tcbLevels.map((l, i) => {
            if (!l || typeof l.tcb?.isvsvn !== 'number' || typeof l.tcbStatus !== 'string') throw new Error(`QE identity: bad TCB level ${i}`);
            return { isvsvn: l.tcb.isvsvn, status: l.tcbStatus, advisoryIds: Array.isArray(l.advisoryIDs) ? l.advisoryIDs.map(String) : [] };
        }),
    };
}

/** What the collateral proves once its signatures are checked (cached). */
export interface CheckedCollateral {
    tcbInfo: TcbInfoJson;
    qeIdentity: QeIdentity;
    rootCrl: Crl;
    pckCrl: Crl;
    /** The PCK CRL's issuer (the CA that must have issued the PCK leaf). */
    pckCrlIssuer: Cert;
    /** All certificates the collateral relies on, for per-call validity checks. */
    certs: Cert[];
    /** [start, end] in unix seconds: the intersection of every validity window. */
    window: [number, number];
    /** Oldest issue date of the TCB info and QE identity (for the max-age policy). */
    issuedAt: number;
    dates: { tcbIssue: number; tcbNext: number; qeIssue: number; qeNext: number };
}

const cache = new Map<string, CheckedCollateral>();
const CACHE_MAX = 32;

function cacheKey(c: Collateral, root: Cert): string {
    const h = createHash('sha256');
    for (const k of [...STRING_FIELDS, ...BYTE_FIELDS]) h.update(k).update('\0').update(c[k]).update('\0');
    return h.update(root.der).digest('hex');
}

/** Checks everything in the collateral that does not depend on the quote; throws on failure. */
export function checkCollateral(c: Collateral, root: Cert, now: number): CheckedCollateral {
    const key = cacheKey(c, root);
    let checked = cache.get(key);
    if (!checked) {
        checked = checkSignatures(c, root, now);
        if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
        cache.set(key, checked);
    }
    checkTimes(checked, now);
    return checked;
}

function signedDocument(chainPem: string, doc: string, sigHex: string, root: Cert, now: number, crl: Crl, what: string): ChainLink[] {
    const chain = parsePemChain(chainPem, `${what} issuer chain`);
    const links = verifyChain(chain[0], chain.slice(1), root, now, `${what} issuer chain`);
    checkRevocation(links, [crl], `${what} issuer chain`);
    if (!verifyP1363(Buffer.from(doc, 'utf8'), Buffer.from(sigHex, 'hex'), chain[0].x509.publicKey)) {
        throw new Error(`${what}: bad signature`);
    }
    return links;
}

function checkSignatures(c: Collateral, root: Cert, now: number): CheckedCollateral {
    const rootCrl = parseCrl(Buffer.from(c.root_ca_crl, 'hex'), 'root CA CRL');
    verifyCrlSignature(rootCrl, root, 'root CA CRL');
    const pckCrl = parseCrl(Buffer.from(c.pck_crl, 'hex'), 'PCK CRL');
    const pckChain = parsePemChain(c.pck_crl_issuer_chain, 'PCK CRL issuer chain');
    const pckLinks = verifyChain(pckChain[0], pckChain.slice(1), root, now, 'PCK CRL issuer chain', 'ca');
    checkRevocation(pckLinks, [rootCrl], 'PCK CRL issuer chain');
    verifyCrlSignature(pckCrl, pckChain[0], 'PCK CRL');

    const tcbLinks = signedDocument(c.tcb_info_issuer_chain, c.tcb_info, c.tcb_info_signature, root, now, rootCrl, 'TCB info');
    const qeLinks = signedDocument(c.qe_identity_issuer_chain, c.qe_identity, c.qe_identity_signature, root, now, rootCrl, 'QE identity');

    const tcbInfo = parseJson<TcbInfoJson>(c.tcb_info, 'TCB info');
    const qeJson = parseJson<QeIdentityJson>(c.qe_identity, 'QE identity');
    const qeIdentity = parseQeIdentity(qeJson);
    if (!Array.isArray(tcbInfo.tcbLevels) || tcbInfo.tcbLevels.length === 0) throw new Error('TCB info has no TCB levels');

    const tcbIssue = parseDate(tcbInfo.issueDate, 'TCB info issueDate');
    const tcbNext = parseDate(tcbInfo.nextUpdate, 'TCB info nextUpdate');
    const qeIssue = parseDate(qeJson.issueDate, 'QE identity issueDate');
    const qeNext = parseDate(qeJson.nextUpdate, 'QE identity nextUpdate');
    const certs = [root, ...[...pckLinks, ...tcbLinks, ...qeLinks].map((l) => l.cert)];
    const start = Math.max(tcbIssue, qeIssue, rootCrl.thisUpdate, pckCrl.thisUpdate, ...certs.map((x) => x.notBefore));
    const end = Math.min(tcbNext, qeNext, rootCrl.nextUpdate, pckCrl.nextUpdate, ...certs.map((x) => x.notAfter));
    return {
        tcbInfo,
        qeIdentity,
        rootCrl,
        pckCrl,
        pckCrlIssuer: pckChain[0],
        certs,
        window: [start, end],
        issuedAt: Math.min(tcbIssue, qeIssue),
        dates: { tcbIssue, tcbNext, qeIssue, qeNext },
    };
}

function iso(t: number): string {
    return new Date(t * 1000).toISOString();
}

/**
 * The collateral time window, [issueDate/thisUpdate, nextUpdate] of every document, CRL and
 * certificate. (The WASM build accepts collateral before its issueDate; this closes that gap.)
 */
function checkTimes(k: CheckedCollateral, now: number): void {
    const d = k.dates;
    if (now < d.tcbIssue) throw new Error(`collateral not valid yet: TCB info issueDate ${iso(d.tcbIssue)} is after now`);
    if (now > d.tcbNext) throw new Error(`collateral expired: TCB info nextUpdate ${iso(d.tcbNext)}`);
    if (now < d.qeIssue) throw new Error(`collateral not valid yet: QE identity issueDate ${iso(d.qeIssue)} is after now`);
    if (now > d.qeNext) throw new Error(`collateral expired: QE identity nextUpdate ${iso(d.qeNext)}`);
    checkCrlTime(k.rootCrl, now, 'root CA CRL');
    checkCrlTime(k.pckCrl, now, 'PCK CRL');
    for (const c of k.certs) checkValidity(c, now, `collateral certificate ${c.serial}`);
}
