/**
 * Offline DCAP quote verification: our own checks first (cheap, and they close the gaps of
 * both dcap-qvl builds), then both builds, which must agree, then the policy.
 *
 * Order: decode the quote strictly → collateral (CRLs, signatures, time window, max age) →
 * PCK chain from the quote (to the trusted root, revocation by the issuer's own CRL) → QE
 * report signature, QE hash binding, quote signature → QE identity → debug TD → key binding →
 * WASM build and pure-JS build → merged TCB status against the allow-list and refused
 * advisories. Nothing throws: every failure is `ok: false` with a reason.
 */
import { createHash } from 'crypto';
import { checkCollateral, Collateral, parseCollateral } from './collateral';
import { BuildFields, BuildName, BuildVerdict, runJs, runWasm } from './builds';
import { INTEL_SGX_ROOT_CA_PEM } from './intel-root';
import { keysMatchReportData } from './key-binding';
import { makePolicy, VerifyPolicy } from './policy';
import { Cert, certFromDerOrPem, checkRevocation, p256KeyFromXY, parsePemChain, verifyChain, verifyP1363 } from './pki';
import { checkQeIdentity } from './qe-identity';
import { parseQuote, ParsedQuote, TEE_TYPE_TDX } from './quote';
import { decodeEnclaveReport, decodeTdReport, EnclaveReport, imageHash, isDebugEnclave, isDebugTd, TdReport } from './report';
import { mergeStatus, severity, TcbVerdict } from './tcb-status';

export interface VerifyOptions {
    /** Verification time, unix seconds. */
    now: number;
    /** Trusted root certificate (DER bytes or PEM). Default: Intel SGX Root CA. */
    rootCa?: Buffer | string;
    /** Policy (partial: the rest from DEFAULT_POLICY). */
    policy?: Partial<VerifyPolicy>;
    /** When given, REPORTDATA must equal SHA-512(ed25519 ‖ x25519). */
    expectedKeys?: { ed25519: Buffer; x25519: Buffer };
}

export interface VerificationResult {
    ok: boolean;
    /** Why the quote was rejected (absent when ok). */
    error?: string;
    tcbStatus?: string;
    advisoryIds: string[];
    /** The builds whose verdict was used; both when both could decide. */
    decidedBy: BuildName[];
    builds: BuildVerdict[];
    quoteVersion?: number;
    teeType?: 'TDX' | 'SGX';
    td?: TdReport;
    sgx?: EnclaveReport;
    /** TDX only. */
    imageHash?: Buffer;
    reportData?: Buffer;
    /** SHA-256 of the quote bytes as given. */
    quoteHash: Buffer;
    /** End of the collateral validity window (unix seconds), when the collateral checked out. */
    collateralValidUntil?: number;
}

let intelRoot: Cert | undefined;
function intelRootCert(): Cert {
    if (!intelRoot) intelRoot = certFromDerOrPem(INTEL_SGX_ROOT_CA_PEM);
    return intelRoot;
}

const rootCache = new Map<string, Cert>();
function rootCert(input: Buffer | string | undefined): Cert {
    if (input === undefined) return intelRootCert();
    const key = typeof input === 'string' ? input : input.toString('base64');
    let c = rootCache.get(key);
    if (!c) {
        c = certFromDerOrPem(input);
        if (!c.isCa || !c.issuerDer.equals(c.subjectDer) || !c.x509.verify(c.x509.publicKey)) throw new Error('root certificate must be a self-signed CA certificate');
        if (rootCache.size > 8) rootCache.clear();
        rootCache.set(key, c);
    }
    return c;
}

class Rejection extends Error {}
const reject = (msg: string): never => {
    throw new Rejection(msg);
};

/** Verifies a quote against collateral at a given time. Never throws. */
export function verifyQuote(quoteBytes: Uint8Array, collateralInput: Collateral | unknown, opts: VerifyOptions): VerificationResult {
    const quote = Buffer.from(quoteBytes);
    const res: VerificationResult = { ok: false, advisoryIds: [], decidedBy: [], builds: [], quoteHash: createHash('sha256').update(quote).digest() };
    try {
        run(quote, collateralInput, opts, res);
        res.ok = true;
    } catch (e) {
        res.ok = false;
        res.error = e instanceof Error ? e.message : String(e);
    }
    return res;
}

function run(quote: Buffer, collateralInput: unknown, opts: VerifyOptions, res: VerificationResult): void {
    if (!Number.isInteger(opts.now) || opts.now < 0) reject('`now` must be a unix time in whole seconds');
    const now = opts.now;
    const policy = makePolicy(opts.policy ?? {});
    const root = rootCert(opts.rootCa);

    // 1. The quote, decoded strictly by us.
    let q: ParsedQuote;
    try {
        q = parseQuote(quote);
    } catch (e) {
        return reject(`malformed quote: ${(e as Error).message}`);
    }
    const tdx = q.header.teeType === TEE_TYPE_TDX;
    res.quoteVersion = q.header.version;
    res.teeType = tdx ? 'TDX' : 'SGX';
    if (tdx) {
        res.td = decodeTdReport(q.body);
        res.imageHash = imageHash(res.td);
        res.reportData = res.td.reportData;
    } else {
        res.sgx = decodeEnclaveReport(q.body);
        res.reportData = res.sgx.reportData;
    }

    // 2. Collateral: signatures, CRLs, window, age.
    const collateral = parseCollateral(collateralInput);
    const col = checkCollateral(collateral, root, now);
    res.collateralValidUntil = col.window[1];
    if (policy.maxCollateralAgeSeconds !== null && now - col.issuedAt > policy.maxCollateralAgeSeconds) {
        reject(`collateral too old: issued ${now - col.issuedAt} s ago, policy allows ${policy.maxCollateralAgeSeconds} s`);
    }

    // 3. PCK chain carried in the quote.
    const pck = parsePemChain(q.signature.certData.toString('latin1'), 'PCK certificate chain', true);
    if (pck.length < 2) reject('PCK certificate chain in the quote is too short');
    const links = verifyChain(pck[0], pck.slice(1), root, now, 'PCK certificate chain');
    if (!pck[0].issuerDer.equals(col.pckCrlIssuer.subjectDer) || !pck[0].x509.verify(col.pckCrlIssuer.x509.publicKey)) {
        reject('the PCK CRL is not from the CA that issued the PCK certificate');
    }
    checkRevocation(links, [col.rootCrl, col.pckCrl], 'PCK certificate chain');

    // 4. Signatures inside the quote.
    const sd = q.signature;
    if (!verifyP1363(sd.qeReport, sd.qeReportSignature, pck[0].x509.publicKey)) reject('QE report signature is not valid for the PCK certificate');
    const qeReport = decodeEnclaveReport(sd.qeReport);
    const qeHash = createHash('sha256').update(sd.attestationKey).update(sd.qeAuthData).digest();
    if (!qeHash.equals(qeReport.reportData.subarray(0, 32)) || qeReport.reportData.subarray(32).some((b) => b !== 0)) {
        reject('QE report does not bind the attestation key (QE hash mismatch)');
    }
    let attKeyOk: boolean;
    try {
        attKeyOk = verifyP1363(quote.subarray(0, q.signedLength), sd.quoteSignature, p256KeyFromXY(sd.attestationKey));
    } catch {
        attKeyOk = false;
    }
    if (!attKeyOk) reject('quote signature is not valid for the attestation key');

    // 5. QE identity (closes the WASM build's gap).
    const qeStatus = checkQeIdentity(qeReport, sd.qeReport.subarray(16, 20), col.qeIdentity, tdx);

    // 6. Debug TD / enclave, key binding.
    if (res.td && isDebugTd(res.td)) reject('debug TD refused (TDATTRIBUTES.DEBUG is set)');
    if (res.sgx && isDebugEnclave(res.sgx)) reject('debug enclave refused');
    if (opts.expectedKeys && !keysMatchReportData(res.reportData as Buffer, opts.expectedKeys.ed25519, opts.expectedKeys.x25519)) {
        reject('REPORTDATA does not equal SHA-512(ed25519_pub ‖ x25519_pub) of the keys being attested');
    }

    // 7. Both builds.
    const input = { quote, collateral, now, rootDer: root.der, intelRootDer: intelRootCert().der, quoteVersion: q.header.version };
    res.builds = [runWasm(input), runJs(input)];
    res.decidedBy = res.builds.filter((b) => b.decided).map((b) => b.build);
    const verdict = combineVerdicts(res.builds, qeStatus, ourFields(res));
    res.tcbStatus = verdict.status;
    res.advisoryIds = verdict.advisoryIds;

    // 8. Policy.
    if (!(policy.acceptedTcbStatuses as string[]).includes(verdict.status)) {
        reject(`TCB status ${verdict.status} is not accepted by the policy (accepted: ${policy.acceptedTcbStatuses.join(', ')})`);
    }
    const refused = verdict.advisoryIds.filter((a) => policy.refusedAdvisoryIds.includes(a.toUpperCase()));
    if (refused.length) reject(`advisories refused by the policy: ${refused.join(', ')}`);
}

function ourFields(res: VerificationResult): BuildFields {
    const f: BuildFields = {};
    if (res.td) {
        for (const k of ['mrTd', 'mrConfigId', 'mrOwner', 'mrOwnerConfig', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'tdAttributes', 'teeTcbSvn', 'reportData'] as const) {
            f[k] = res.td[k].toString('hex');
        }
    } else if (res.sgx) {
        for (const k of ['mrEnclave', 'mrSigner', 'reportData'] as const) f[k] = res.sgx[k].toString('hex');
    }
    return f;
}

/**
 * Both builds must agree where both decide. A rejection by any build rejects; otherwise the
 * statuses (each merged with our QE status: the WASM build never looks at the QE identity)
 * and the decoded fields must be identical across builds and equal to our decoder's.
 * Throws with the reason on rejection (exported for tests).
 */
export function combineVerdicts(builds: BuildVerdict[], qe: TcbVerdict, fields: BuildFields): TcbVerdict {
    // A status outside Intel's list (the WASM build answers "Unknown" for a platform below every
    // TCB level, without an error) is a rejection by that build, never a status to compare.
    builds = builds.map((b) =>
        b.decided && b.ok && severity(b.status) >= 100 ? { build: b.build, decided: true, ok: false, error: `TCB status ${b.status} (no TCB level matches the platform)` } : b,
    );
    const decided = builds.filter((b) => b.decided);
    if (decided.length === 0) reject(`no build could decide: ${builds.map((b) => `${b.build}: ${b.decided ? '' : b.reason}`).join('; ')}`);
    const rejections = decided.filter((b) => !b.ok);
    if (rejections.length) {
        const acceptedBy = decided.filter((b) => b.ok).map((b) => b.build);
        const why = rejections.map((b) => `${b.build} build: ${b.decided && !b.ok ? b.error : ''}`).join('; ');
        reject(acceptedBy.length ? `builds disagree (${acceptedBy.join(', ')} accepted): ${why}` : `rejected by ${why}`);
    }
    let result: TcbVerdict | undefined;
    for (const b of decided) {
        if (!b.decided || !b.ok) continue;
        for (const [k, v] of Object.entries(fields)) {
            if (b.fields[k] !== v) reject(`${b.build} build decoded ${k} differently from our decoder`);
        }
        const merged = mergeStatus({ status: b.status, advisoryIds: b.advisoryIds }, qe);
        if (result && (result.status !== merged.status || result.advisoryIds.join() !== merged.advisoryIds.join())) {
            reject(`builds disagree: ${decided[0].build} says ${result.status} [${result.advisoryIds.join(', ')}], ${b.build} says ${merged.status} [${merged.advisoryIds.join(', ')}]`);
        }
        result = merged;
    }
    return result as TcbVerdict;
}
