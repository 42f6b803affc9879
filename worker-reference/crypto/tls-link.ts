/**
 * The authenticated proxy ↔ worker link: mutual TLS 1.3 in which each side's certificate
 * carries its Ed25519 enclave key (the key its attestation certificate binds, the key that
 * signs receipts and payloads), and each side pins the other's key instead of trusting a CA.
 *
 * The certificate is only a carrier for the key: self-signed, fixed validity, serial and
 * name derived from the key, so it is a pure function of the key. TLS 1.3's CertificateVerify
 * proves the peer holds the private key; `peerEd25519Key` then reads the key and the caller
 * compares it with the one it expects (the proxy: the worker's configured key; the worker:
 * its trusted proxies' keys). No session tickets are used, so every connection shows its key.
 */
import * as crypto from 'node:crypto';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, Certificate, Name, RelativeDistinguishedName, SubjectPublicKeyInfo, TBSCertificate, Validity, Version } from '@peculiar/asn1-x509';
import { Ed25519KeyPair } from '../../wrappers/payloads';

/** RFC 8410: id-Ed25519. */
const ID_ED25519 = '1.3.101.112';
/** X.520 commonName. */
const ID_COMMON_NAME = '2.5.4.3';
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** notBefore: a fixed past date; notAfter: RFC 5280 §4.1.2.5 "no well-defined expiration". */
const NOT_BEFORE = new Date(Date.UTC(2025, 0, 1));
const NOT_AFTER = new Date(Date.UTC(9999, 11, 31, 23, 59, 59));

export interface TlsCredentials {
    /** PKCS#8 PEM of the Ed25519 enclave key. */
    key: string;
    /** Self-signed X.509 PEM carrying the Ed25519 public key. */
    cert: string;
    /** The raw 32-byte public key the certificate carries. */
    publicKey: Buffer;
}

function pem(label: string, der: Buffer): string {
    const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
    return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

/** The TLS key and certificate of an Ed25519 enclave key; `role` names it ("cocoon-worker", "cocoon-proxy"). */
export function tlsCredentials(keys: Ed25519KeyPair, role: string): TlsCredentials {
    const privateKey = crypto.createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, keys.secretKey.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
    const publicKey = Buffer.from(keys.publicKey);
    const name = new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: ID_COMMON_NAME, value: new AttributeValue({ utf8String: `${role} ${publicKey.toString('hex')}` }) })])]);
    const algorithm = new AlgorithmIdentifier({ algorithm: ID_ED25519 });
    // Positive 16-byte serial from the key: one certificate per key, reproducible.
    const serial = crypto.createHash('sha256').update('cocoon-tls-serial').update(publicKey).digest().subarray(0, 16);
    serial[0] &= 0x7f;
    const tbs = new TBSCertificate({
        version: Version.v3,
        serialNumber: new Uint8Array(serial).buffer,
        signature: algorithm,
        issuer: name,
        validity: new Validity({ notBefore: NOT_BEFORE, notAfter: NOT_AFTER }),
        subject: name,
        subjectPublicKeyInfo: new SubjectPublicKeyInfo({ algorithm, subjectPublicKey: new Uint8Array(publicKey).buffer }),
    });
    const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
    const signature = crypto.sign(null, tbsDer, privateKey);
    const der = Buffer.from(AsnConvert.serialize(new Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue: new Uint8Array(signature).buffer })));
    return { key: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, cert: pem('CERTIFICATE', der), publicKey };
}

/** Peer keys of open connections: read once per connection (TLS 1.3 has no renegotiation). */
const peerKeys = new WeakMap<tls.TLSSocket, Buffer | null>();

/** The Ed25519 key of the peer's certificate, or undefined (no certificate, another key type). */
export function peerEd25519Key(socket: tls.TLSSocket): Buffer | undefined {
    let key = peerKeys.get(socket);
    if (key === undefined) {
        // Parsing the certificate costs ~0.4 ms on a small machine: not once per request.
        const cert = socket.getPeerX509Certificate();
        const spki = cert && cert.publicKey.asymmetricKeyType === 'ed25519' ? cert.publicKey.export({ format: 'der', type: 'spki' }) : undefined;
        key = spki ? Buffer.from(spki.subarray(spki.length - 32)) : null;
        if (socket.encrypted && socket.getProtocol() !== null) peerKeys.set(socket, key);
    }
    return key ?? undefined;
}

/** Server options for the worker: its certificate, client certificates asked for (checked by the caller). */
export function tlsServerOptions(own: TlsCredentials): https.ServerOptions {
    return { key: own.key, cert: own.cert, minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: false };
}

/** Longest a TLS handshake may take when the request sets no timeout of its own. */
const DEFAULT_HANDSHAKE_MS = 10_000;

/** The link's refusal: the peer's TLS key is not the one expected. */
export class PinnedKeyMismatch extends Error {
    readonly code = 'ERR_COCOON_PINNED_KEY';
}

/**
 * An HTTPS agent (keep-alive) that connects only to the holder of `expected`: a connection
 * whose peer shows another key (or none) is closed before any request byte is written.
 * It presents `own` as its client certificate (a proxy to its workers); a client of a proxy
 * has no enclave key and passes none (as the openai client's `httpAgent`).
 */
export class PinnedKeyAgent extends https.Agent {
    constructor(
        private readonly expected: Buffer,
        private readonly own?: TlsCredentials,
        options: https.AgentOptions = {},
    ) {
        super({ keepAlive: true, ...options, maxCachedSessions: 0 });
        if (expected.length !== 32) throw new Error('PinnedKeyAgent: the expected Ed25519 key must be 32 bytes');
    }

    createConnection(options: net.NetConnectOpts & tls.ConnectionOptions, callback?: (err: Error | null, socket?: net.Socket) => void): undefined {
        const socket = tls.connect({
            ...options,
            ...(this.own ? { key: this.own.key, cert: this.own.cert } : {}),
            minVersion: 'TLSv1.3',
            // No CA vouches for enclave keys: the key itself is checked below.
            rejectUnauthorized: false,
            session: undefined,
        });
        // As node:http's own agent does for plain sockets: small writes (SSE events) go out at once.
        socket.setNoDelay(true);
        const onError = (e: Error) => callback?.(e);
        socket.once('error', onError);
        // The request's own timeout starts only once it has a socket: bound the handshake here,
        // so a peer that accepts TCP and never answers TLS cannot hold a request (or a health
        // check) forever.
        const handshakeMs = typeof options.timeout === 'number' && options.timeout > 0 ? options.timeout : DEFAULT_HANDSHAKE_MS;
        const timer = setTimeout(() => socket.destroy(new Error(`TLS handshake with ${String(options.host ?? '')}:${String(options.port ?? '')} timed out after ${handshakeMs} ms`)), handshakeMs);
        socket.once('close', () => clearTimeout(timer));
        socket.once('secureConnect', () => {
            clearTimeout(timer);
            socket.removeListener('error', onError);
            const key = peerEd25519Key(socket);
            if (!key || !key.equals(this.expected)) {
                const err = new PinnedKeyMismatch(`TLS peer key ${key ? key.toString('hex') : '(none)'} is not the expected ${this.expected.toString('hex')}`);
                socket.destroy();
                callback?.(err);
                return;
            }
            callback?.(null, socket);
        });
        return undefined;
    }
}
