/**
 * QE identity check (Intel "Quote Verification" flow, step "verify the QE report against the
 * QE identity"): the Quoting Enclave that signed the quote must be Intel's, of the right kind
 * (TD_QE for TDX, QE for SGX), not in debug mode, and its ISV SVN gives the QE's TCB status.
 * The WASM build of dcap-qvl 0.3.3 skips all of this; this module closes that gap.
 * Reference: https://api.portal.trustedservices.intel.com/content/documentation.html
 * ("Get Quoting Enclave Identity", field meanings) and the DCAP QVL sources.
 */
import { QeIdentity } from './collateral';
import { EnclaveReport, isDebugEnclave } from './report';
import { TcbVerdict } from './tcb-status';

export function checkQeIdentity(qe: EnclaveReport, qeMiscSelectBytes: Buffer, id: QeIdentity, tdx: boolean): TcbVerdict {
    const wantId = tdx ? 'TD_QE' : 'QE';
    if (id.id !== wantId) throw new Error(`QE identity id is "${id.id}", expected "${wantId}" for a ${tdx ? 'TDX' : 'SGX'} quote`);
    const versions = tdx ? [2, 3] : [2];
    if (!versions.includes(id.version)) throw new Error(`unsupported QE identity version ${id.version}`);
    if (!qe.mrSigner.equals(id.mrsigner)) throw new Error('QE report MRSIGNER does not match the QE identity');
    if (qe.isvProdId !== id.isvprodid) throw new Error(`QE report ISVPRODID ${qe.isvProdId} does not match the QE identity (${id.isvprodid})`);
    for (let i = 0; i < 4; i++) {
        if ((qeMiscSelectBytes[i] & id.miscselectMask[i]) !== (id.miscselect[i] & id.miscselectMask[i])) {
            throw new Error('QE report MISCSELECT does not match the QE identity');
        }
    }
    for (let i = 0; i < 16; i++) {
        if ((qe.attributes[i] & id.attributesMask[i]) !== (id.attributes[i] & id.attributesMask[i])) {
            throw new Error('QE report ATTRIBUTES do not match the QE identity');
        }
    }
    if (isDebugEnclave(qe)) throw new Error('the Quoting Enclave runs in debug mode');
    const levels = [...id.tcbLevels].sort((a, b) => b.isvsvn - a.isvsvn);
    const level = levels.find((l) => qe.isvSvn >= l.isvsvn);
    if (!level) throw new Error(`QE ISV SVN ${qe.isvSvn} is below every QE identity TCB level`);
    return { status: level.status, advisoryIds: level.advisoryIds };
}
