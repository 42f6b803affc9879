/**
 * `npm run bench`: runs bench:gas, bench:verify and bench:worker one after the other (each
 * writes bench/results/<name>.json), then writes bench/README.md with their tables.
 * `--summary-only` rewrites bench/README.md from the committed results without measuring.
 */
import { spawnSync } from 'child_process';
import { existsSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';

const ROOT = join(__dirname, '..');
const RESULTS = join(__dirname, 'results');

type Json = Record<string, unknown>;

function read(name: string): Json | undefined {
    const f = join(RESULTS, `${name}.json`);
    return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as Json) : undefined;
}

function mdTable(rows: Array<Record<string, string | number>>): string {
    if (rows.length === 0) return '(no rows)';
    const cols = Object.keys(rows[0]);
    return [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${cols.map((c) => String(r[c] ?? '')).join(' | ')} |`)].join('\n');
}

function get(o: unknown, path: string): unknown {
    return path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Json)[k] : undefined), o);
}

function summary(): string {
    const out: string[] = [
        '# Benchmarks',
        '',
        'Written by `npm run bench` from `bench/results/*.json` (committed, so every change shows its effect).',
        'Figures come from the machine that ran the bench (see each file\'s `machine`); compare runs on the same machine.',
    ];
    const gas = read('gas') as unknown as Array<{ op: string; txs: number; gasUsed: number; totalFees: number }> | undefined;
    if (gas) {
        out.push('', '## Gas per operation (`bench/results/gas.json`)', '', 'Summed over the project\'s own contract transactions of each operation (not the sending wallet\'s).', '');
        out.push(mdTable(gas.map((g) => ({ op: g.op, txs: g.txs, gas: g.gasUsed, 'fees (TON)': (g.totalFees / 1e9).toFixed(6) }))));
    }
    const v = read('verify');
    if (v) {
        out.push('', '## Quote verification (`bench/results/verify.json`)', '', `Input: ${String(v.input ?? '')}`, '');
        const rows: Array<Record<string, string | number>> = [];
        for (const k of ['ours', 'rawWasm', 'rawJs', 'rawBothBuilds']) {
            const r = get(v, `warmMs.${k}`) as Json | undefined;
            if (r) rows.push({ verifier: k, runs: Number(r.runs), 'median ms': Number(r.median), 'p95 ms': Number(r.p95) });
        }
        out.push(mdTable(rows), '');
        out.push(`Overhead of ours over both raw builds: ${String(get(v, 'warmMs.overheadVsRawBothPct'))} %. Cold CLI (fresh process): ${String(get(v, 'coldCliMs.median'))} ms median.`);
    }
    const w = read('worker');
    if (w) {
        out.push(
            '',
            '## Inference (`bench/results/worker.json`)',
            '',
            `Raw node-llama-cpp, the worker API (SSE), proxy + worker (SSE) and the same over the proxy's mutual-TLS link to its worker, taking turns (see docs/worker.md "Benchmark"). tokens/s counts the whole request (TTFT included); decode tokens/s the tokens after the first over the time after it. Machine: ${String(get(w, 'machine.note'))}.`,
        );
        for (const run of (w.runs as Json[] | undefined) ?? [w]) {
            out.push('', `### ${String(get(run, 'model.generated') || get(run, 'model.file'))}`, '', `Backend ${String(run.backend)}, ${String(run.threads)} thread(s), max_tokens ${String(run.max_tokens)}, ${String(run.rounds)} rounds of ${String(run.prompts)} prompts per path.`, '');
            const rows: Array<Record<string, string | number>> = [];
            for (const k of ['raw_node_llama_cpp', 'worker_api', 'raw_node_llama_cpp_proxy_phase', 'proxy_and_worker', 'proxy_tls_link_and_worker']) {
                const r = run[k] as Json | undefined;
                if (r)
                    rows.push({
                        path: k,
                        'tokens/s': Number(r.tokens_per_s),
                        'ratio to raw': r.ratio_to_raw === undefined ? 1 : Number(r.ratio_to_raw),
                        'decode tokens/s': Number(r.decode_tokens_per_s),
                        'decode ratio': r.decode_ratio_to_raw === undefined ? 1 : Number(r.decode_ratio_to_raw),
                        'TTFT p50 ms': Number(r.ttft_ms_p50),
                        'TTFT p95 ms': Number(r.ttft_ms_p95),
                    });
            }
            out.push(mdTable(rows), '');
            out.push(
                `Proxy added latency (1-token requests): p50 ${String(get(run, 'proxy_added_latency_ms.added_p50'))} ms, p95 ${String(get(run, 'proxy_added_latency_ms.added_p95'))} ms; with the TLS link p50 ${String(get(run, 'proxy_added_latency_ms.tls_link_added_p50'))} ms, p95 ${String(get(run, 'proxy_added_latency_ms.tls_link_added_p95'))} ms; a bare Node.js relay on the same machine adds p50 ${String(get(run, 'proxy_added_latency_ms.bare_relay_added_p50'))} ms. RSS MB: ${JSON.stringify(run.rss_mb)}.`,
            );
            const cpu = get(run, 'proxy_added_latency_ms.cpu_ms_per_request') as Json | undefined;
            if (cpu && typeof cpu === 'object')
                out.push(
                    '',
                    `CPU per 1-token request (all threads of each process): proxy ${String(cpu.proxy)} ms, proxy with the TLS link ${String(cpu.proxy_tls_link)} ms, bare relay ${String(cpu.bare_relay)} ms, the worker answering straight ${String(cpu.worker_direct)} ms.`,
                );
            const gpu = run.gpu as Json | undefined;
            if (gpu) out.push('', `GPU: ${JSON.stringify(gpu)}`);
        }
    }
    return out.join('\n') + '\n';
}

function main(): void {
    if (!process.argv.includes('--summary-only')) {
        for (const name of ['bench:gas', 'bench:verify', 'bench:worker']) {
            console.log(`\n=== npm run ${name}`);
            const r = spawnSync('npm', ['run', '--silent', name], { cwd: ROOT, stdio: 'inherit' });
            if (r.status !== 0) {
                console.error(`${name} failed (exit ${r.status ?? r.signal})`);
                process.exit(1);
            }
        }
    }
    writeFileSync(join(__dirname, 'README.md'), summary());
    console.log(`\nwrote ${join(__dirname, 'README.md')}`);
}

main();
