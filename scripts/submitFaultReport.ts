import type { NetworkProvider } from '@ton/blueprint';
import { fromNano } from '@ton/core';
import { submitFaultReport } from '../ops/provider';
import { runScript } from '../ops/script';
import { readSignedFault } from '../ops/settlement-file';
import { faultReasonName } from '../wrappers/payloads';

/** Anyone (normally the proxy operator) submits a fault report the router signed to its Proxy, which routes it via Root to the Provider. */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'submitFaultReport',
            summary: "submit a fault report signed by the proxy router (the JSON of its GET /v1/faults/<id>, or of GET /v1/faults with --id); slashes the worker's Provider by the fault rate",
            options: {
                report: { kind: 'file', help: "file holding the router's fault report JSON (or the JSON itself)", required: true },
                id: { kind: 'int', help: 'report id to pick when the file is the whole GET /v1/faults list' },
                'provider-seqno': { kind: 'int', help: "the Provider's seqno at Root (default: provider_seqno from the JSON)" },
            },
        },
        async (a) => {
            const f = readSignedFault(a.one<string>('report'), a.maybe<bigint>('id'));
            const providerSeqno = a.maybe<bigint>('provider-seqno') ?? f.providerSeqno;
            if (providerSeqno === undefined) throw new Error('the report JSON has no provider_seqno: give --provider-seqno');
            provider.ui().write(`fault report #${f.report.reportId} (${faultReasonName(f.report.reason)}, request ${f.report.requestId}) against provider #${providerSeqno} ${f.report.provider.toString()}`);
            const { slashed } = await submitFaultReport(provider, { proxy: f.report.proxy, providerSeqno, report: { payload: f.payload, signature: f.signature } });
            provider.ui().write(`slashed: ${fromNano(slashed)} TON`);
        },
    );
}
