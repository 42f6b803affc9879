/**
 * npm run bench:verify → bench/results/verify.json
 *
 * Warm: median / p95 ms per verification (≥ 200 runs each, same process) of
 *   - ours: verifyQuote (our checks + WASM build + JS build + policy),
 *   - raw WASM build (js_verify), raw JS build (QuoteVerifier.verify), and both raw builds
 *     back to back (the baseline a two-build cross-check cannot go below).
 * Cold: wall time of `cocoon-verify verify` as a fresh process.
 * RSS: after 10,000 verifications (sampled every 1,000; must stay flat).
 * Input: the real TDX fixture when ../shared is present, else a minted quote.
 * Env: BENCH_RUNS (warm runs, default 200), BENCH_RSS_RUNS (default 10000).
 */
import { spawnSync } from 'child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'fs';
import os from 'os';
import path from 'path';
import { QuoteVerifier } from '@phala/dcap-qvl';
import { verifyQuote } from '../verifier/verify';
import { parseCollateral } from '../verifier/collateral';
import { certFromDerOrPem } from '../verifier/pki';
import { INTEL_SGX_ROOT_CA_PEM } from '../verifier/intel-root';
import { wasmBuildFor } from '../verifier/wasm-build';
import { TestCa } from '../verifier/testca';

const ROOT = path.resolve(__dirname, '..');
const FIX = path.resolve(ROOT, '..', 'shared', 'fixtures', 'dcap');
const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const RSS_RUNS = Number(process.env.BENCH_RSS_RUNS ?? 10000);

function stats(ms: number[]): { runs: number; median: number; p95: number; mean: number } {
    const s = [...ms].sort((a, b) => a - b);
    const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))];
    const r = (x: number): number => Math.round(x * 100) / 100;
    return { runs: s.length, median: r(q(0.5)), p95: r(q(0.95)), mean: r(s.reduce((a, b) => a + b, 0) / s.length) };
}

function time(n: number, f: () => void): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
        const t = process.hrtime.bigint();
        f();
        out.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return out;
}

function main(): void {
    let quote: Buffer;
    let collateral: unknown;
    let now: number;
    let rootDer: Buffer;
    let input: string;
    const tmp = path.join(os.tmpdir(), `cocoon-bench-${process.pid}`);
    mkdirSync(tmp, { recursive: true });
    const intelRoot = certFromDerOrPem(INTEL_SGX_ROOT_CA_PEM).der;
    const cliExtra: string[] = [];
    if (existsSync(path.join(FIX, 'tdx_quote.bin'))) {
        quote = readFileSync(path.join(FIX, 'tdx_quote.bin'));
        collateral = JSON.parse(readFileSync(path.join(FIX, 'tdx_quote_collateral.json'), 'utf8'));
        now = 1751624191;
        rootDer = intelRoot;
        input = 'real TDX fixture (../shared/fixtures/dcap/tdx_quote.bin)';
    } else {
        const ca = new TestCa();
        quote = ca.mintQuote();
        collateral = ca.collateral();
        now = ca.now;
        rootDer = ca.rootDer;
        input = 'minted TDX v4 quote (test CA)';
        writeFileSync(path.join(tmp, 'root.der'), rootDer);
        cliExtra.push('--root-ca', path.join(tmp, 'root.der'));
    }
    writeFileSync(path.join(tmp, 'q.bin'), quote);
    writeFileSync(path.join(tmp, 'c.json'), JSON.stringify(collateral));
    const col = parseCollateral(collateral);
    const wasm = wasmBuildFor(rootDer, intelRoot);
    const js = QuoteVerifier.newWithRootCa(rootDer);
    const opts = { now, rootCa: rootDer };
    const check = verifyQuote(quote, collateral, opts);
    if (!check.ok) throw new Error(`bench input does not verify: ${check.error}`);

    // Warm-up, then interleave nothing: each phase runs on its own.
    time(20, () => verifyQuote(quote, collateral, opts));
    const raw = {
        wasm: stats(time(RUNS, () => wasm.js_verify(quote, col, BigInt(now)))),
        js: stats(time(RUNS, () => js.verify(quote, col, now))),
        both: stats(time(RUNS, () => {
            wasm.js_verify(quote, col, BigInt(now));
            js.verify(quote, col, now);
        })),
    };
    const ours = stats(time(RUNS, () => verifyQuote(quote, collateral, opts)));

    const cold: number[] = [];
    for (let i = 0; i < 5; i++) {
        const t = Date.now();
        const r = spawnSync(process.execPath, [path.join(ROOT, 'verifier', 'bin', 'cocoon-verify.js'), 'verify', '--quote', path.join(tmp, 'q.bin'), '--collateral', path.join(tmp, 'c.json'), '--now', String(now), '--json', ...cliExtra], { encoding: 'utf8' });
        cold.push(Date.now() - t);
        if (r.status !== 0) throw new Error(`CLI failed: ${r.stderr}`);
    }

    const rss: { verifications: number; rssMiB: number }[] = [];
    const mib = (): number => Math.round((process.memoryUsage().rss / 1048576) * 10) / 10;
    rss.push({ verifications: 0, rssMiB: mib() });
    const step = Math.max(1, Math.floor(RSS_RUNS / 10));
    const t0 = Date.now();
    for (let i = 1; i <= RSS_RUNS; i++) {
        if (!verifyQuote(quote, collateral, opts).ok) throw new Error('verification failed during the RSS run');
        if (i % step === 0) {
            rss.push({ verifications: i, rssMiB: mib() });
            process.stderr.write(`rss run: ${i}/${RSS_RUNS}, ${mib()} MiB\n`);
        }
    }
    const out = {
        date: new Date().toISOString(),
        machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavg1: os.loadavg()[0] },
        note: 'shared 2-core machine with other jobs running: absolute figures are noisy; compare within one run',
        input,
        warmMs: {
            ours,
            rawWasm: raw.wasm,
            rawJs: raw.js,
            rawBothBuilds: raw.both,
            overheadVsRawBothPct: Math.round(((ours.median - raw.both.median) / raw.both.median) * 1000) / 10,
        },
        coldCliMs: { runs: cold.length, median: stats(cold).median, all: cold },
        rss: { afterVerifications: RSS_RUNS, samples: rss, growthMiBAfterFirstSample: Math.round((rss[rss.length - 1].rssMiB - rss[1].rssMiB) * 10) / 10, seconds: Math.round((Date.now() - t0) / 1000) },
    };
    mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(path.join(ROOT, 'bench', 'results', 'verify.json'), JSON.stringify(out, null, 2) + '\n');
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main();
