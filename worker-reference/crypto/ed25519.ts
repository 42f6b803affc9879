/**
 * A node's Ed25519 identity as the worker and the proxy hold it: thin holders around the
 * project's one signing function (wrappers/payloads.ts `signCell` / `verifyCellSignature`,
 * Ed25519 over the cell hash through node:crypto).
 */
import { Cell } from '@ton/core';
import { Ed25519KeyPair, signCell, verifyCellSignature } from '../../wrappers/payloads';

export class Ed25519Signer {
    constructor(readonly keyPair: Ed25519KeyPair) {}
    get publicKey(): Buffer {
        return this.keyPair.publicKey;
    }
    /** Signature over the cell's representation hash (the TON convention). */
    signCell(cell: Cell): Buffer {
        return signCell(cell, this.keyPair.secretKey);
    }
}

export class Ed25519Verifier {
    constructor(readonly publicKey: Buffer) {
        if (publicKey.length !== 32) throw new Error('Ed25519 public key must be 32 bytes');
    }
    verifyCell(cell: Cell, signature: Buffer): boolean {
        return verifyCellSignature(cell, signature, this.publicKey);
    }
}
