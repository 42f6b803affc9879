/** TCB statuses: severity order and merging (platform status with the QE's status). */

/** Intel's TCB status names, best first; anything else (e.g. "Unknown") ranks worst. */
export const TCB_STATUS_ORDER = [
    'UpToDate',
    'SWHardeningNeeded',
    'ConfigurationNeeded',
    'ConfigurationAndSWHardeningNeeded',
    'OutOfDate',
    'OutOfDateConfigurationNeeded',
    'Revoked',
] as const;

export function severity(status: string): number {
    const i = (TCB_STATUS_ORDER as readonly string[]).indexOf(status);
    return i < 0 ? 100 : i;
}

export interface TcbVerdict {
    status: string;
    advisoryIds: string[];
}

/** The worse of two statuses, with the union of their advisory ids (sorted, unique). */
export function mergeStatus(a: TcbVerdict, b: TcbVerdict): TcbVerdict {
    const status = severity(a.status) >= severity(b.status) ? a.status : b.status;
    return { status, advisoryIds: [...new Set([...a.advisoryIds, ...b.advisoryIds])].sort() };
}
