/**
 * The client's API secret for a JobEscrow and the API key a proxy router accepts.
 *
 * The client picks 32 random bytes (the secret) and stores only their SHA-256 in its escrow
 * (`EscrowOpen.secretHash`, rotated by `EscrowSetSecret`; 0 = none). Its API key is
 * `<escrow address>:<secret as 64 hex>`: the proxy hashes the secret and compares the hash
 * with the escrow's. The escrow's address alone (public on chain) is not a key.
 *
 * `escrowSecretHash` is the one function that turns a secret into the on-chain value: the
 * wrappers, ops, the proxy router, the client helpers, the tests and the demo all use it.
 * This module does not depend on the generated contract bindings, so the proxy router can
 * use it without a build.
 */
import * as crypto from 'node:crypto';
import { Address } from '@ton/core';

/** Length of an API secret in bytes (64 hex characters in an API key). */
export const ESCROW_SECRET_BYTES = 32;

/** A fresh random API secret. */
export function generateEscrowSecret(): Buffer {
    return crypto.randomBytes(ESCROW_SECRET_BYTES);
}

function requireSecret(secret: Buffer): void {
    if (secret.length !== ESCROW_SECRET_BYTES) throw new Error(`an escrow API secret is ${ESCROW_SECRET_BYTES} bytes, got ${secret.length}`);
}

/** SHA-256 of the secret as the escrow stores it (`secretHash`, uint256). Never 0 in practice. */
export function escrowSecretHash(secret: Buffer): bigint {
    requireSecret(secret);
    return BigInt('0x' + crypto.createHash('sha256').update(secret).digest('hex'));
}

/** A stored hash as the 32 bytes SHA-256 returns (big-endian). */
export function secretHashBytes(secretHash: bigint): Buffer {
    if (secretHash < 0n || secretHash >= 1n << 256n) throw new Error('a secret hash is a 256-bit unsigned integer');
    return Buffer.from(secretHash.toString(16).padStart(64, '0'), 'hex');
}

/**
 * Whether `secret` hashes to `secretHash`, compared in constant time (the time does not
 * depend on where the hashes differ). Always false for `secretHash` 0 (no secret set).
 */
export function secretMatches(secret: Buffer, secretHash: bigint): boolean {
    if (secret.length !== ESCROW_SECRET_BYTES || secretHash === 0n) return false;
    const presented = secretHashBytes(escrowSecretHash(secret));
    return crypto.timingSafeEqual(presented, secretHashBytes(secretHash));
}

/** The API key of an escrow: `<escrow address (user-friendly)>:<secret hex>`. */
export function formatEscrowApiKey(escrow: Address, secret: Buffer): string {
    requireSecret(secret);
    return `${escrow.toString()}:${secret.toString('hex')}`;
}

/** Why an API key could not be read (the proxy answers 401 with this message). */
export class ApiKeyFormatError extends Error {}

/**
 * Reads `<escrow address>:<secret hex>`. The address may be user-friendly or raw (`0:…`, which
 * has a colon of its own), so the secret is what follows the last colon.
 */
export function parseEscrowApiKey(key: string): { escrow: Address; secret: Buffer } {
    if (Address.isFriendly(key) || /^-?\d+:[0-9a-fA-F]{64}$/.test(key)) throw new ApiKeyFormatError('the API key is "<escrow address>:<secret hex>"; the escrow address alone is not a key');
    const colon = key.lastIndexOf(':');
    if (colon < 0) throw new ApiKeyFormatError('the API key is "<escrow address>:<secret hex>"; the escrow address alone is not a key');
    const address = key.slice(0, colon);
    const hex = key.slice(colon + 1);
    if (!new RegExp(`^[0-9a-fA-F]{${ESCROW_SECRET_BYTES * 2}}$`).test(hex)) throw new ApiKeyFormatError(`the API key's secret (after the last ":") must be ${ESCROW_SECRET_BYTES * 2} hex characters`);
    let escrow: Address;
    try {
        escrow = Address.parse(address);
    } catch {
        throw new ApiKeyFormatError('the API key must start with the address of your JobEscrow with this proxy');
    }
    return { escrow, secret: Buffer.from(hex, 'hex') };
}
