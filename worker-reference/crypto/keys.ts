/**
 * A node's enclave identity: an Ed25519 key (signs receipts, charges, payouts; TON
 * convention) and an X25519 key (clients seal prompts to it), both derived from one 32-byte
 * seed with HKDF so one secret restores both.
 */
import * as crypto from 'node:crypto';
import { ed25519FromSeed, Ed25519KeyPair } from '../../wrappers/payloads';

const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export interface X25519KeyPair {
    publicKey: Buffer; // 32 raw bytes
    privateKey: crypto.KeyObject;
}

export interface NodeIdentity {
    ed25519: Ed25519KeyPair;
    x25519: X25519KeyPair;
}

export function x25519FromPrivate(raw: Buffer): X25519KeyPair {
    if (raw.length !== 32) throw new Error('X25519 private key must be 32 bytes');
    const privateKey = crypto.createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
    const spki = crypto.createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    return { privateKey, publicKey: Buffer.from(spki.subarray(spki.length - 32)) };
}

export function generateX25519(): X25519KeyPair {
    return x25519FromPrivate(crypto.randomBytes(32));
}

export function x25519PublicKeyObject(raw: Buffer): crypto.KeyObject {
    if (raw.length !== 32) throw new Error('X25519 public key must be 32 bytes');
    return crypto.createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** X25519 shared secret; throws on an all-zero result (a low-order public key). */
export function x25519Shared(privateKey: crypto.KeyObject, publicRaw: Buffer): Buffer {
    const shared = crypto.diffieHellman({ privateKey, publicKey: x25519PublicKeyObject(publicRaw) });
    if (shared.every((b) => b === 0)) throw new Error('X25519: low-order public key');
    return shared;
}

export function identityFromSeed(seed: Buffer): NodeIdentity {
    if (seed.length !== 32) throw new Error(`key seed must be 32 bytes (64 hex chars), got ${seed.length}`);
    const derive = (info: string) => Buffer.from(crypto.hkdfSync('sha256', seed, Buffer.alloc(0), info, 32));
    return { ed25519: ed25519FromSeed(derive('cocoon-node-ed25519-v1')), x25519: x25519FromPrivate(derive('cocoon-node-x25519-v1')) };
}

/** Parses `--key-seed` (64 hex chars); a missing seed gives a fresh random identity. */
export function identityFromSeedHex(hex: string | undefined): NodeIdentity {
    if (hex === undefined) return identityFromSeed(crypto.randomBytes(32));
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error('key seed must be 64 hex characters');
    return identityFromSeed(Buffer.from(hex, 'hex'));
}
