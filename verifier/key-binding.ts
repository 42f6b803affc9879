/**
 * Key binding (DESIGN.md §2): a node's quote commits to its keys through REPORTDATA =
 * SHA-512(ed25519_pub ‖ x25519_pub).
 */
import { createHash, timingSafeEqual } from 'crypto';

export function reportDataForKeys(ed25519Pub: Buffer, x25519Pub: Buffer): Buffer {
    if (ed25519Pub.length !== 32) throw new Error(`Ed25519 public key must be 32 bytes, got ${ed25519Pub.length}`);
    if (x25519Pub.length !== 32) throw new Error(`X25519 public key must be 32 bytes, got ${x25519Pub.length}`);
    return createHash('sha512').update(ed25519Pub).update(x25519Pub).digest();
}

export function keysMatchReportData(reportData: Buffer, ed25519Pub: Buffer, x25519Pub: Buffer): boolean {
    const want = reportDataForKeys(ed25519Pub, x25519Pub);
    return reportData.length === 64 && timingSafeEqual(reportData, want);
}
