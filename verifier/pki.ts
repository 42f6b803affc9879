/**
 * X.509 certificates and CRLs, verified synchronously with Node's crypto (no network, no
 * async). Closes the gaps of the pure-JS dcap-qvl build, which never checks a CRL's
 * signature, its dates or whether it parses at all, and matches revocations by serial
 * number across unrelated issuers.
 */
import { createHash, createPublicKey, KeyObject, verify as cryptoVerify, X509Certificate } from 'crypto';
import { children, content, decodeOid, DerNode, raw, readTlv } from './der';

export const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';

export interface Cert {
    der: Buffer;
    x509: X509Certificate;
    /** Serial number as lowercase hex without leading zero bytes. */
    serial: string;
    issuerDer: Buffer;
    subjectDer: Buffer;
    notBefore: number; // unix seconds
    notAfter: number;
    isCa: boolean;
}

function normSerial(bytes: Buffer): string {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    return bytes.subarray(i).toString('hex');
}

// Parsed certificates by DER bytes: the same roots, intermediates and PCK leaves come back
// with every quote of a platform, and parsing is most of our own per-quote cost. A Cert is
// never modified after parsing, so sharing one is safe. Bounded; the oldest entry goes first.
const CERT_CACHE_SIZE = 512;
const certCache = new Map<string, Cert>();

export function parseCert(der: Buffer): Cert {
    const key = der.toString('base64');
    const hit = certCache.get(key);
    if (hit) return hit;
    const cert = parseCertUncached(Buffer.from(der));
    if (certCache.size >= CERT_CACHE_SIZE) certCache.delete(certCache.keys().next().value as string);
    certCache.set(key, cert);
    return cert;
}

function parseCertUncached(der: Buffer): Cert {
    let x509: X509Certificate;
    try {
        x509 = new X509Certificate(der);
    } catch (e) {
        throw new Error(`unparseable certificate: ${(e as Error).message}`);
    }
    const top = readTlv(der, 0);
    if (top.end !== der.length) throw new Error('certificate has trailing bytes');
    const tbs = children(der, children(der, top)[0]);
    // tbsCertificate: [0] version, serial, signature alg, issuer, validity, subject, ...
    const off = tbs[0].tag === 0xa0 ? 1 : 0;
    const serial = normSerial(content(der, tbs[off]));
    return {
        der,
        x509,
        serial,
        issuerDer: raw(der, tbs[off + 2]),
        subjectDer: raw(der, tbs[off + 4]),
        notBefore: Math.floor(Date.parse(x509.validFrom) / 1000),
        notAfter: Math.floor(Date.parse(x509.validTo) / 1000),
        isCa: x509.ca,
    };
}

/**
 * Splits a PEM bundle into DER certificates (at least one, nothing else allowed).
 * `strict` (used for the chain inside a quote, whose bytes are hashed into the certificate):
 * only "\n" line breaks, nothing between blocks but line breaks, at most one trailing NUL, and
 * canonical base64 — so no two different quote byte strings carry the same chain.
 */
export function parsePemChain(pem: string, what: string, strict = false): Cert[] {
    const re = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g;
    const out: Cert[] = [];
    let last = 0;
    const between: string[] = [];
    for (const m of pem.matchAll(re)) {
        between.push(pem.slice(last, m.index));
        last = (m.index as number) + m[0].length;
        const body = m[1];
        const b64 = body.replace(/\s+/g, '');
        if (strict) {
            if (/[^\S\n]/.test(body)) throw new Error(`${what}: whitespace other than line feeds inside a PEM block`);
            if (!body.startsWith('\n') || !body.endsWith('\n') || body.includes('\n\n')) throw new Error(`${what}: badly formed PEM block`);
        }
        const der = Buffer.from(b64, 'base64');
        if (der.toString('base64') !== b64) throw new Error(`${what}: non-canonical base64 in a PEM block`);
        out.push(parseCert(der));
    }
    between.push(pem.slice(last));
    const junk = strict
        ? between.some((t, i) => !(i === between.length - 1 ? /^\n?\0?$/ : /^\n?$/).test(t))
        : between.some((t) => /[^\s\0]/.test(t)); // Intel's chains may end with a NUL byte
    if (junk) throw new Error(`${what}: unexpected bytes outside PEM certificate blocks`);
    if (out.length === 0) throw new Error(`${what}: no certificate found`);
    return out;
}

export function pemFromDer(der: Buffer): string {
    const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
    return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** Accepts a certificate as DER bytes or PEM text. */
export function certFromDerOrPem(input: Buffer | string): Cert {
    if (typeof input === 'string' || input.subarray(0, 11).toString() === '-----BEGIN ') {
        return parsePemChain(input.toString(), 'root certificate')[0];
    }
    return parseCert(input);
}

/** Verifies an ECDSA P-256/SHA-256 signature given as r‖s (64 bytes) — the DCAP format. */
export function verifyP1363(data: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
    if (signature.length !== 64) return false;
    try {
        return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    } catch {
        return false;
    }
}

/** A P-256 public key from its raw x‖y coordinates (64 bytes), as DCAP stores it. */
export function p256KeyFromXY(xy: Uint8Array): KeyObject {
    if (xy.length !== 64) throw new Error('P-256 public key must be 64 bytes');
    const b = Buffer.from(xy);
    // createPublicKey throws when the point is not on the curve: the caller turns that into a rejection.
    return createPublicKey({
        key: { kty: 'EC', crv: 'P-256', x: b.subarray(0, 32).toString('base64url'), y: b.subarray(32).toString('base64url') },
        format: 'jwk',
    });
}

export interface ChainLink {
    cert: Cert;
    issuer: Cert;
}

/**
 * Verifies `leaf` up through `intermediates` to the trusted `root`, at time `now`.
 * A copy of the root at the end of the supplied chain is allowed only when byte-identical.
 * Returns each (certificate, issuer) pair so the caller can check revocation.
 */
export function verifyChain(leaf: Cert, intermediates: Cert[], root: Cert, now: number, what: string, leafKind: 'end-entity' | 'ca' = 'end-entity'): ChainLink[] {
    const list = [leaf, ...intermediates];
    while (list.length > 1 && list[list.length - 1].der.equals(root.der)) list.pop();
    const links: ChainLink[] = [];
    for (let i = 0; i < list.length; i++) {
        const cert = list[i];
        const issuer = i + 1 < list.length ? list[i + 1] : root;
        if (cert.der.equals(root.der)) throw new Error(`${what}: the root certificate cannot be a leaf or intermediate`);
        if (!cert.issuerDer.equals(issuer.subjectDer)) throw new Error(`${what}: certificate ${i} is not issued by the next certificate in the chain (or by the trusted root)`);
        if (!issuer.isCa) throw new Error(`${what}: issuer of certificate ${i} is not a CA`);
        if (i === 0 && leafKind === 'end-entity' && cert.isCa) throw new Error(`${what}: a CA certificate is used as the end entity`);
        if (i === 0 && leafKind === 'ca' && !cert.isCa) throw new Error(`${what}: the first certificate must be a CA`);
        if (!cert.x509.verify(issuer.x509.publicKey)) throw new Error(`${what}: bad signature on certificate ${i}`);
        checkValidity(cert, now, `${what}: certificate ${i}`);
        links.push({ cert, issuer });
    }
    checkValidity(root, now, `${what}: root certificate`);
    return links;
}

export function checkValidity(cert: Cert, now: number, what: string): void {
    if (now < cert.notBefore) throw new Error(`${what} is not valid yet (notBefore ${new Date(cert.notBefore * 1000).toISOString()})`);
    if (now > cert.notAfter) throw new Error(`${what} has expired (notAfter ${new Date(cert.notAfter * 1000).toISOString()})`);
}

// --------------------------------------------------------------------------------------
// CRLs (RFC 5280 §5.1)
// --------------------------------------------------------------------------------------

export interface Crl {
    der: Buffer;
    tbs: Buffer;
    signature: Buffer; // DER ECDSA signature
    issuerDer: Buffer;
    thisUpdate: number;
    nextUpdate: number;
    revoked: Set<string>;
    /** Stable id for caches and messages. */
    sha256: string;
}

function parseTime(buf: Buffer, node: DerNode): number {
    const s = content(buf, node).toString('latin1');
    let m: RegExpMatchArray | null;
    if (node.tag === 0x17 && (m = s.match(/^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/))) {
        const yy = Number(m[1]);
        return Date.UTC(yy >= 50 ? 1900 + yy : 2000 + yy, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000;
    }
    if (node.tag === 0x18 && (m = s.match(/^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/))) {
        return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000;
    }
    throw new Error('CRL: bad time encoding');
}

/** Parses a DER CRL; any malformation throws (a garbage CRL is a rejection, never a pass). */
export function parseCrl(der: Buffer, what: string): Crl {
    try {
        if (der.length === 0) throw new Error('empty');
        const top = readTlv(der, 0);
        if (top.tag !== 0x30 || top.end !== der.length) throw new Error('not a single DER SEQUENCE');
        const [tbsNode, algNode, sigNode, ...extra] = children(der, top);
        if (!tbsNode || !algNode || !sigNode || extra.length) throw new Error('CertificateList must have 3 elements');
        const alg = decodeOid(content(der, children(der, algNode)[0]));
        if (alg !== OID_ECDSA_SHA256) throw new Error(`unsupported signature algorithm ${alg}`);
        if (sigNode.tag !== 0x03) throw new Error('signature is not a BIT STRING');
        const sigBits = content(der, sigNode);
        if (sigBits[0] !== 0) throw new Error('signature BIT STRING has unused bits');
        const f = children(der, tbsNode);
        let i = 0;
        if (f[i]?.tag === 0x02) {
            if (content(der, f[i]).toString('hex') !== '01') throw new Error('only v2 CRLs are accepted');
            i++;
        } else throw new Error('only v2 CRLs are accepted');
        const innerAlg = decodeOid(content(der, children(der, f[i++])[0]));
        if (innerAlg !== alg) throw new Error('inner and outer signature algorithms differ');
        const issuerNode = f[i++];
        if (!issuerNode || issuerNode.tag !== 0x30) throw new Error('missing issuer');
        const thisUpdate = parseTime(der, f[i++]);
        if (!f[i] || (f[i].tag !== 0x17 && f[i].tag !== 0x18)) throw new Error('nextUpdate is required');
        const nextUpdate = parseTime(der, f[i++]);
        const revoked = new Set<string>();
        if (f[i]?.tag === 0x30) {
            for (const entry of children(der, f[i++])) {
                const e = children(der, entry);
                if (e.length < 2 || e[0].tag !== 0x02) throw new Error('bad revoked entry');
                parseTime(der, e[1]);
                revoked.add(normSerial(content(der, e[0])));
            }
        }
        if (f[i]?.tag === 0xa0) i++;
        if (i !== f.length) throw new Error('unexpected fields in tbsCertList');
        return {
            der,
            tbs: raw(der, tbsNode),
            signature: sigBits.subarray(1),
            issuerDer: raw(der, issuerNode),
            thisUpdate,
            nextUpdate,
            revoked,
            sha256: createHash('sha256').update(der).digest('hex'),
        };
    } catch (e) {
        throw new Error(`${what}: unparseable CRL (${(e as Error).message})`);
    }
}

/** Checks that `crl` was issued and signed by `issuer` (name and key). */
export function verifyCrlSignature(crl: Crl, issuer: Cert, what: string): void {
    if (!crl.issuerDer.equals(issuer.subjectDer)) throw new Error(`${what}: CRL issuer does not match the certificate that should sign it`);
    let ok = false;
    try {
        ok = cryptoVerify('sha256', crl.tbs, issuer.x509.publicKey, crl.signature);
    } catch {
        ok = false;
    }
    if (!ok) throw new Error(`${what}: bad CRL signature`);
}

export function checkCrlTime(crl: Crl, now: number, what: string): void {
    if (now < crl.thisUpdate) throw new Error(`${what}: CRL is not valid yet (thisUpdate ${new Date(crl.thisUpdate * 1000).toISOString()})`);
    if (now > crl.nextUpdate) throw new Error(`${what}: CRL has expired (nextUpdate ${new Date(crl.nextUpdate * 1000).toISOString()})`);
}

/**
 * Each link's certificate must be covered by a CRL from its own issuer, and not listed there.
 * `crls` must already be signature-checked.
 */
export function checkRevocation(links: ChainLink[], crls: Crl[], what: string): void {
    for (const { cert, issuer } of links) {
        const crl = crls.find((c) => c.issuerDer.equals(issuer.subjectDer));
        if (!crl) throw new Error(`${what}: no CRL from the issuer of certificate with serial ${cert.serial}`);
        if (crl.revoked.has(cert.serial)) throw new Error(`${what}: certificate with serial ${cert.serial} is revoked`);
    }
}
