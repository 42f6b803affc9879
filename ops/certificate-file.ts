/** Reading a certificate bundle (what `cocoon-verify attest` prints: base64 BOC) from a file or the argument itself. */
import { Cell } from '@ton/core';
import { existsSync, readFileSync } from 'fs';
import { SignedCertificate, unpackCertificateBundle } from '../wrappers/payloads';

export function readCertificate(fileOrBase64: string): SignedCertificate {
    const text = existsSync(fileOrBase64) ? readFileSync(fileOrBase64, 'utf8').trim() : fileOrBase64.trim();
    let cells: Cell[];
    try {
        cells = Cell.fromBoc(Buffer.from(text, 'base64'));
    } catch {
        throw new Error(`not a certificate: expected a file or base64 BOC as printed by "cocoon-verify attest"`);
    }
    if (cells.length !== 1) throw new Error('not a certificate: the BOC must hold exactly one root cell');
    try {
        return unpackCertificateBundle(cells[0]);
    } catch {
        throw new Error('not a certificate bundle: expected ^AttestationCert ^SigEntry');
    }
}
