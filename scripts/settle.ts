import type { NetworkProvider } from '@ton/blueprint';
import { fromNano } from '@ton/core';
import { UsageError } from '../ops/args';
import { RouterClient } from '../ops/router-client';
import { runScript } from '../ops/script';
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
                every: { kind: 'int', help: 'seconds between passes: keep settling (stop with Ctrl-C)' },
                passes: { kind: 'int', help: 'with --every, stop after this many passes' },
            },
        },
        async (a) => {
            const every = a.maybe<bigint>('every');
            const passes = a.maybe<bigint>('passes');
            if (every !== undefined && every < 0n) throw new UsageError('--every must be at least 0 seconds');
            if (passes !== undefined && (every === undefined || passes < 1n)) throw new UsageError('--passes needs --every and at least 1');
            const router = new RouterClient(a.one<string>('router'), a.maybe<Buffer>('router-key'));
            try {
                for (let n = 1n; ; n++) {
                    for (const line of summarize(await settleFromRouter(provider, router))) provider.ui().write(line);
                    if (every === undefined || (passes !== undefined && n >= passes)) return;
                    await new Promise((r) => setTimeout(r, Number(every) * 1000));
                }
            } finally {
                router.close();
            }
        },
    );
}
