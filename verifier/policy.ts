/**
 * The acceptance policy: which TCB statuses, advisories and collateral ages are acceptable.
 * Debug TDs / enclaves are always refused (not a policy option: both dcap-qvl builds refuse
 * them too, and a debug TD's memory is open to its host).
 */
import { TcbStatusCode, TcbStatusName } from '../wrappers/payloads';

export interface VerifyPolicy {
    /** TCB statuses accepted. Default: UpToDate only. "Revoked" can never be accepted. */
    acceptedTcbStatuses: TcbStatusName[];
    /** Advisory ids (e.g. "INTEL-SA-00615") that reject a quote whatever its status. */
    refusedAdvisoryIds: string[];
    /** Oldest acceptable TCB info / QE identity issueDate, in seconds before `now`; null: no limit. */
    maxCollateralAgeSeconds: number | null;
}

export const DEFAULT_POLICY: Readonly<VerifyPolicy> = Object.freeze({
    acceptedTcbStatuses: ['UpToDate'] as TcbStatusName[],
    refusedAdvisoryIds: [] as string[],
    // Intel issues TCB info and QE identity with a 30-day nextUpdate; one more day of slack.
    maxCollateralAgeSeconds: 31 * 24 * 3600,
});

/** Builds a policy from a partial one (e.g. a JSON file), refusing unknown keys and values. */
export function makePolicy(input: unknown = {}): VerifyPolicy {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new Error('policy must be a JSON object');
    const o = input as Record<string, unknown>;
    const known = ['acceptedTcbStatuses', 'refusedAdvisoryIds', 'maxCollateralAgeSeconds'];
    for (const k of Object.keys(o)) if (!known.includes(k)) throw new Error(`unknown policy field "${k}"`);
    const p: VerifyPolicy = { ...DEFAULT_POLICY, acceptedTcbStatuses: [...DEFAULT_POLICY.acceptedTcbStatuses], refusedAdvisoryIds: [] };
    if (o.acceptedTcbStatuses !== undefined) {
        const v = o.acceptedTcbStatuses;
        if (!Array.isArray(v) || v.length === 0) throw new Error('acceptedTcbStatuses must be a non-empty array');
        for (const s of v) {
            if (typeof s !== 'string' || !(s in TcbStatusCode)) throw new Error(`unknown TCB status "${String(s)}"`);
            if (s === 'Revoked') throw new Error('a Revoked TCB can never be accepted');
        }
        p.acceptedTcbStatuses = [...new Set(v as TcbStatusName[])];
    }
    if (o.refusedAdvisoryIds !== undefined) {
        const v = o.refusedAdvisoryIds;
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error('refusedAdvisoryIds must be an array of strings');
        p.refusedAdvisoryIds = (v as string[]).map((x) => x.toUpperCase());
    }
    if (o.maxCollateralAgeSeconds !== undefined) {
        const v = o.maxCollateralAgeSeconds;
        if (v !== null && (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)) throw new Error('maxCollateralAgeSeconds must be a positive integer or null');
        p.maxCollateralAgeSeconds = v as number | null;
    }
    return p;
}
