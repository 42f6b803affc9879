/**
 * The two dcap-qvl builds behind one shape: each either decides (accepts with a status, or
 * rejects with an error) or cannot decide (and says why). Report fields they return are
 * normalised to lowercase hex so they can be compared with our own decoder.
 */
import { QuoteVerifier, TDReport10, TDReport15, EnclaveReport as JsEnclaveReport } from '@phala/dcap-qvl';
import { Collateral } from './collateral';
import { wasmBuildFor, wasmRootSupport } from './wasm-build';

export type BuildName = 'wasm' | 'js';

/** Report fields a build returned (lowercase hex), keyed by our field names. */
export type BuildFields = Record<string, string>;

export type BuildVerdict =
    | { build: BuildName; decided: false; reason: string }
    | { build: BuildName; decided: true; ok: false; error: string }
    | { build: BuildName; decided: true; ok: true; status: string; advisoryIds: string[]; fields: BuildFields };

const hex = (v: unknown): string => {
    if (typeof v === 'string') return v.toLowerCase();
    if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
    throw new Error('unexpected field type in build output');
};

function errorText(e: unknown): string {
    if (typeof e === 'string') return e;
    if (e instanceof Error) {
        const cause = (e as Error & { cause?: unknown }).cause;
        return cause instanceof Error ? `${e.message}: ${cause.message}` : e.message;
    }
    return String(e);
}

const TD_FIELDS: [string, string, keyof TDReport10][] = [
    ['mrTd', 'mr_td', 'mrTd'],
    ['mrConfigId', 'mr_config_id', 'mrConfigId'],
    ['mrOwner', 'mr_owner', 'mrOwner'],
    ['mrOwnerConfig', 'mr_owner_config', 'mrOwnerConfig'],
    ['rtmr0', 'rt_mr0', 'rtMr0'],
    ['rtmr1', 'rt_mr1', 'rtMr1'],
    ['rtmr2', 'rt_mr2', 'rtMr2'],
    ['rtmr3', 'rt_mr3', 'rtMr3'],
    ['tdAttributes', 'td_attributes', 'tdAttributes'],
    ['teeTcbSvn', 'tee_tcb_svn', 'teeTcbSvn'],
    ['reportData', 'report_data', 'reportData'],
];
const SGX_FIELDS: [string, string, keyof JsEnclaveReport][] = [
    ['mrEnclave', 'mr_enclave', 'mrEnclave'],
    ['mrSigner', 'mr_signer', 'mrSigner'],
    ['reportData', 'report_data', 'reportData'],
];

export interface BuildInput {
    quote: Buffer;
    collateral: Collateral;
    now: number;
    rootDer: Buffer;
    intelRootDer: Buffer;
    quoteVersion: number;
}

export function runWasm(input: BuildInput): BuildVerdict {
    if (input.quoteVersion === 5) return { build: 'wasm', decided: false, reason: 'the WASM build cannot decode v5 quotes' };
    const why = wasmRootSupport(input.rootDer, input.intelRootDer);
    if (why) return { build: 'wasm', decided: false, reason: why };
    let out: unknown;
    try {
        out = wasmBuildFor(input.rootDer, input.intelRootDer).js_verify(input.quote, input.collateral, BigInt(input.now));
    } catch (e) {
        return { build: 'wasm', decided: true, ok: false, error: errorText(e) };
    }
    try {
        const r = out as { status: string; advisory_ids: string[]; report: Record<string, Record<string, unknown>> };
        const fields: BuildFields = {};
        const td = r.report.TD10 ?? r.report.TD15;
        const sgx = r.report.SgxEnclave;
        if (td) for (const [ours, theirs] of TD_FIELDS) fields[ours] = hex(td[theirs]);
        else if (sgx) for (const [ours, theirs] of SGX_FIELDS) fields[ours] = hex(sgx[theirs]);
        else throw new Error('no report in the WASM result');
        return { build: 'wasm', decided: true, ok: true, status: String(r.status), advisoryIds: r.advisory_ids.map(String), fields };
    } catch (e) {
        return { build: 'wasm', decided: true, ok: false, error: `unreadable WASM result: ${errorText(e)}` };
    }
}

export function runJs(input: BuildInput): BuildVerdict {
    try {
        const r = QuoteVerifier.newWithRootCa(input.rootDer).verify(input.quote, input.collateral, input.now);
        const fields: BuildFields = {};
        if (r.report.type === 'sgx') {
            const s = r.report.data as JsEnclaveReport;
            for (const [ours, , theirs] of SGX_FIELDS) fields[ours] = hex(s[theirs]);
        } else {
            const t = r.report.type === 'td15' ? (r.report.data as TDReport15).base : (r.report.data as TDReport10);
            for (const [ours, , theirs] of TD_FIELDS) fields[ours] = hex(t[theirs]);
        }
        return { build: 'js', decided: true, ok: true, status: r.status, advisoryIds: [...r.advisory_ids], fields };
    } catch (e) {
        return { build: 'js', decided: true, ok: false, error: errorText(e) };
    }
}
