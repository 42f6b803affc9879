/**
 * Sealed messages: ephemeral X25519 → HKDF-SHA256 → AES-256-GCM (node:crypto, OpenSSL).
 *
 * A sealed stream is one ephemeral key and a sequence of pieces; piece `seq` uses
 * IV = ivBase XOR seq (big-endian in the last 8 bytes) and AAD = "cocoon-seal-v1|purpose|seq",
 * so pieces cannot be reordered, replayed into another stream or moved between purposes.
 * Requests are one piece (purpose "request"); answers are one piece (non-streaming) or one
 * per streamed delta (purpose "response"); an answer's log-probabilities, when asked for, are a
 * stream of their own (purpose "logprobs", its own ephemeral key).
 */
import * as crypto from 'node:crypto';
import { generateX25519, x25519Shared } from './keys';

export const SEAL_INFO = 'cocoon-seal-v1';
export type SealPurpose = 'request' | 'response' | 'logprobs';

/** One sealed piece as it travels in JSON. */
export interface SealedPiece {
    /** Sender's ephemeral X25519 public key, base64. */
    epk: string;
    seq: number;
    /** AES-256-GCM ciphertext followed by its 16-byte tag, base64. */
    ct: string;
}

interface StreamKeys {
    key: Buffer;
    ivBase: Buffer;
}

function deriveKeys(shared: Buffer, epk: Buffer, recipient: Buffer): StreamKeys {
    const okm = Buffer.from(crypto.hkdfSync('sha256', shared, Buffer.concat([epk, recipient]), SEAL_INFO, 44));
    return { key: okm.subarray(0, 32), ivBase: okm.subarray(32, 44) };
}

function ivFor(base: Buffer, seq: number): Buffer {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new Error('bad sealed piece sequence number');
    const iv = Buffer.from(base);
    const s = Buffer.alloc(8);
    s.writeBigUInt64BE(BigInt(seq));
    for (let i = 0; i < 8; i++) iv[4 + i] ^= s[i];
    return iv;
}

function aad(purpose: SealPurpose, seq: number): Buffer {
    return Buffer.from(`${SEAL_INFO}|${purpose}|${seq}`);
}

/** Sender side: encrypts pieces to one recipient X25519 public key. */
export class Sealer {
    private readonly keys: StreamKeys;
    private readonly epk: string;
    private seq = 0;
    constructor(recipientPublic: Buffer, private readonly purpose: SealPurpose) {
        const eph = generateX25519();
        this.keys = deriveKeys(x25519Shared(eph.privateKey, recipientPublic), eph.publicKey, recipientPublic);
        this.epk = eph.publicKey.toString('base64');
    }
    seal(plaintext: Buffer | string): SealedPiece {
        const seq = this.seq++;
        const c = crypto.createCipheriv('aes-256-gcm', this.keys.key, ivFor(this.keys.ivBase, seq));
        c.setAAD(aad(this.purpose, seq));
        const ct = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
        return { epk: this.epk, seq, ct: ct.toString('base64') };
    }
}

/** Recipient side: decrypts the pieces of one stream in order. */
export class Opener {
    private keys?: StreamKeys;
    private epk?: string;
    private nextSeq = 0;
    constructor(
        private readonly privateKey: crypto.KeyObject,
        private readonly ownPublic: Buffer,
        private readonly purpose: SealPurpose,
    ) {}
    open(piece: SealedPiece): Buffer {
        if (typeof piece !== 'object' || piece === null || typeof piece.epk !== 'string' || typeof piece.ct !== 'string' || typeof piece.seq !== 'number')
            throw new Error('malformed sealed piece');
        if (piece.seq !== this.nextSeq) throw new Error(`sealed piece out of order: ${piece.seq}, expected ${this.nextSeq}`);
        if (this.epk === undefined) {
            const epk = Buffer.from(piece.epk, 'base64');
            if (epk.length !== 32) throw new Error('sealed piece: bad ephemeral key');
            this.keys = deriveKeys(x25519Shared(this.privateKey, epk), epk, this.ownPublic);
            this.epk = piece.epk;
        } else if (piece.epk !== this.epk) throw new Error('sealed piece from another stream');
        const keys = this.keys as StreamKeys;
        const raw = Buffer.from(piece.ct, 'base64');
        if (raw.length < 16) throw new Error('sealed piece too short');
        const d = crypto.createDecipheriv('aes-256-gcm', keys.key, ivFor(keys.ivBase, piece.seq));
        d.setAAD(aad(this.purpose, piece.seq));
        d.setAuthTag(raw.subarray(raw.length - 16));
        const pt = Buffer.concat([d.update(raw.subarray(0, raw.length - 16)), d.final()]);
        this.nextSeq++;
        return pt;
    }
}

/** The ciphertext bytes of a piece (what the result hash of a sealed answer covers). */
export function pieceCiphertext(piece: SealedPiece): Buffer {
    return Buffer.from(piece.ct, 'base64');
}
