import type { NetworkProvider } from '@ton/blueprint';
import { fromNano } from '@ton/core';
import { RouterClient } from '../ops/router-client';
import { inPasses, PASS_OPTIONS, runScript } from '../ops/script';
import { settleFromRouter, SettlePass } from '../ops/settle';

function summarize(pass: SettlePass): string[] {
    const sum = (xs: Array<{ amount: bigint }>) => fromNano(xs.reduce((a, x) => a + x.amount, 0n));
    const lines = [
        `${pass.charged.length} charged (${sum(pass.charged)} TON into the Proxy), ${pass.paid.length} paid out (${sum(pass.paid)} TON to workers), ${pass.upToDate} up to date, ${pass.skipped.length} skipped`,
    ];
    for (const c of pass.charged) lines.push(`  charged ${c.escrow.toString()}: ${fromNano(c.amount)} TON`);
    for (const p of pass.paid) lines.push(`  paid ${p.workerAccount.toString()}: ${fromNano(p.amount)} TON`);
    for (const s of pass.skipped) lines.push(`  skipped ${s.address.toString()}: ${s.why}`);
    return lines;
}

/**
 * Settles everything a proxy router signed that the chain has not taken: each escrow's latest
 * cumulative charge, then each worker account's latest cumulative payout; with --every, keeps
 * doing so.
 */
export async function run(provider: NetworkProvider, args: string[]): Promise<void> {
    await runScript(
        provider,
        args,
        {
            name: 'settle',
            summary:
                "submit every escrow's latest signed charge and every worker account's latest signed payout that the chain has not taken yet, charges first (the chain is the state: nothing is kept locally; repeat any time)",
            options: {
                router: { kind: 'string', help: 'the router base URL (reads GET /v1/settlement, /v1/workers and the signed payloads)', required: true },
                'router-key': { kind: 'hex32', help: "the router's Ed25519 enclave key, pinned when it serves HTTPS with --tls" },
                ...PASS_OPTIONS,
            },
        },
        async (a) => {
            const router = new RouterClient(a.one<string>('router'), a.maybe<Buffer>('router-key'));
            try {
                await inPasses(provider, a, async () => summarize(await settleFromRouter(provider, router)));
            } finally {
                router.close();
            }
        },
    );
}
