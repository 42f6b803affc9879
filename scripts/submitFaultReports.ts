import type { NetworkProvider } from '@ton/blueprint';
import { fromNano } from '@ton/core';
import { UsageError } from '../ops/args';
import { FaultPass, submitPendingFaults } from '../ops/provider';
import { inPasses, PASS_OPTIONS, runScript } from '../ops/script';
import { readRouterFaults } from '../ops/router-faults';
import { readSignedFaults, SignedFaultFile } from '../ops/settlement-file';

/** The router's reports: every page of its GET /v1/faults (pinned to its enclave key when given), or a saved list. */
function loadReports(router: string | undefined, routerKey: Buffer | undefined, file: string | undefined): Promise<SignedFaultFile[]> {
    if (file !== undefined) return Promise.resolve(readSignedFaults(file));
    return readRouterFaults(router as string, { routerKey });
}

function summarize(pass: FaultPass): string[] {
    const lines = [
        `${pass.submitted.length} submitted (${fromNano(pass.submitted.reduce((a, s) => a + s.slashed, 0n))} TON slashed), ${pass.alreadyOnChain.length} already on chain, ${pass.deferred.length} deferred, ${pass.refused.length} refused`,
    ];
    for (const s of pass.submitted) lines.push(`  #${s.reportId} submitted: ${s.provider.toString()} slashed ${fromNano(s.slashed)} TON`);
    for (const d of pass.deferred) lines.push(`  #${d.reportId} deferred: ${d.why}`);
    for (const r of pass.refused) lines.push(`  #${r.reportId} refused: ${r.why}`);
    return lines;
}

/**
 * The proxy operator's fault submitter: reads every report the router signed and submits, in
 * id order, those the chain has not applied yet; with --every, keeps doing so.
 */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'submitFaultReports',
            summary:
                "submit every fault report the proxy router signed that the chain has not applied yet, in report-id order (the chain is the state: nothing is kept locally); a Provider whose period limit is reached keeps its reports for a later pass",
            options: {
                router: { kind: 'string', help: 'the router base URL (reads every page of its GET /v1/faults)' },
                'router-key': { kind: 'hex32', help: "the router's Ed25519 enclave key, pinned when it serves HTTPS with --tls" },
                reports: { kind: 'file', help: 'a saved GET /v1/faults list instead of --router' },
                ...PASS_OPTIONS,
            },
        },
        async (a) => {
            const router = a.maybe<string>('router');
            const file = a.maybe<string>('reports');
            if ((router === undefined) === (file === undefined)) throw new UsageError('give --router <url> or --reports <file>, one of them');
            await inPasses(provider, a, async () => summarize(await submitPendingFaults(provider, await loadReports(router, a.maybe<Buffer>('router-key'), file))));
        },
    );
}
