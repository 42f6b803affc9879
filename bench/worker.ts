/**
 * npm run bench:worker → bench/results/worker.json
 *
 * Same model (generated tiny GGUF unless BENCH_MODEL is set), same prompts, same sampling:
 *   raw     node-llama-cpp in this process (chat wrapper + sequence.evaluate, like the worker)
 *   worker  streaming through the worker's HTTP API
 *   proxy   streaming through proxy + worker
 * tokens/s = completion tokens / wall time of the request; TTFT = time to the first content
 * chunk (raw: to the first generated token). Proxy added latency: 1-token non-streaming
 * requests straight to the worker vs through the proxy, interleaved.
 */
import { spawnCli } from '../worker-reference/launch';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Address } from '@ton/core';
import { sha256File } from '../worker-reference/common/hash';
import { identityFromSeed } from '../worker-reference/crypto/keys';
import { generateModel } from '../worker-reference/model/generate';
import { defaultCpuThreads, loadNodeLlamaCpp } from '../worker-reference/worker/llama';

const ROOT = path.resolve(__dirname, '..');
const PROMPTS = ['What is the price of a token?', 'Tell me about the network.', 'hello', 'Write a long answer about private inference on TON.', 'Why should I trust this worker?', 'Count to twenty.'];
const MAX_TOKENS = Number(process.env.BENCH_MAX_TOKENS ?? 128);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6); // 6 x 6 prompts: small samples swing by ±5 %
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 60);
const GPU = process.env.BENCH_GPU ?? 'off';

interface RunStats {
    requests: number;
    completion_tokens: number;
    tokens_per_s: number;
    ttft_ms_p50: number;
    ttft_ms_p95: number;
}

function pct(xs: number[], p: number): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const r2 = (x: number) => Math.round(x * 100) / 100;

function rssMb(pid: number): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? r2(Number(m[1]) / 1024) : 0;
}

async function streamOnce(url: string, prompt: string, headers: Record<string, string>): Promise<{ tokens: number; ms: number; ttft: number }> {
    const t0 = performance.now();
    const r = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: prompt }], max_tokens: MAX_TOKENS, temperature: 0.8, seed: 1, stream: true, stream_options: { include_usage: true } }),
    });
    if (!r.body || r.status !== 200) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let ttft = -1;
    let tokens = 0;
    for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        if (ttft < 0 && buf.includes('"content":"') && /"content":"[^"]/.test(buf)) ttft = performance.now() - t0;
        const m = /"completion_tokens":(\d+)/.exec(buf);
        if (m) tokens = Number(m[1]);
        if (buf.length > 1 << 16) buf = buf.slice(-4096);
    }
    return { tokens, ms: performance.now() - t0, ttft };
}

function summarize(rows: Array<{ tokens: number; ms: number; ttft: number }>): RunStats {
    const tokens = rows.reduce((a, r) => a + r.tokens, 0);
    const ms = rows.reduce((a, r) => a + r.ms, 0);
    return { requests: rows.length, completion_tokens: tokens, tokens_per_s: r2((tokens / ms) * 1000), ttft_ms_p50: r2(pct(rows.map((r) => r.ttft), 50)), ttft_ms_p95: r2(pct(rows.map((r) => r.ttft), 95)) };
}

async function main(): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cocoon-bench-'));
    const model = process.env.BENCH_MODEL ?? path.join(dir, 'bench.gguf');
    if (!process.env.BENCH_MODEL) generateModel(model, 'tiny', 1);
    const threads = Number(process.env.BENCH_THREADS ?? defaultCpuThreads());
    const hash = sha256File(model).toString('hex');
    console.error(`model ${model} sha256=${hash} threads=${threads} gpu=${GPU}`);

    // --- raw node-llama-cpp in this process
    const lib = await loadNodeLlamaCpp();
    const llama = await lib.getLlama(GPU === 'off' ? { gpu: false, build: 'never', maxThreads: threads, logLevel: lib.LlamaLogLevel.error } : { gpu: 'cuda', build: 'never', logLevel: lib.LlamaLogLevel.error });
    const lm = await llama.loadModel({ modelPath: model });
    const ctx = await lm.createContext({ contextSize: 2048, sequences: 1, threads });
    const wrapper = lib.resolveChatWrapper(lm) ?? new lib.GeneralChatWrapper();
    const seq = ctx.getSequence();
    const rawRows: Array<{ tokens: number; ms: number; ttft: number }> = [];
    for (let round = 0; round < ROUNDS + 1; round++) {
        for (const prompt of PROMPTS) {
            const t0 = performance.now();
            const tokens = wrapper.generateContextState({ chatHistory: [{ type: 'user', text: prompt }, { type: 'model', response: [] }] }).contextText.tokenize(lm.tokenizer);
            await seq.clearHistory();
            let n = 0;
            let ttft = -1;
            for await (const t of seq.evaluate(tokens, { temperature: 0.8, seed: 1, yieldEogToken: true })) {
                if (ttft < 0) ttft = performance.now() - t0;
                n++;
                if (lm.isEogToken(t) || n >= MAX_TOKENS) break;
            }
            if (round > 0) rawRows.push({ tokens: n, ms: performance.now() - t0, ttft }); // round 0 warms up
        }
    }
    const benchRssBefore = rssMb(process.pid);
    await ctx.dispose();
    await lm.dispose();

    // --- worker and proxy processes
    const workerSeed = Buffer.alloc(32, 7);
    const worker = await spawnCli('cocoon-worker.js', ['--model', `bench=${model}`, '--port', '0', '--gpu', GPU, '--threads', String(threads), '--parallel', '1', '--no-probe', '--key-seed', workerSeed.toString('hex'), '--data-dir', path.join(dir, 'worker-data')]);
    const wid = identityFromSeed(workerSeed);
    const escrow = new Address(0, Buffer.alloc(32, 1));
    const config = path.join(dir, 'proxy.json');
    fs.writeFileSync(
        config,
        JSON.stringify({
            proxyAddress: new Address(0, Buffer.alloc(32, 100)).toString(),
            keySeed: Buffer.alloc(32, 50).toString('hex'),
            dataDir: path.join(dir, 'proxy-data'),
            workers: [{ name: 'w', endpoint: `http://127.0.0.1:${worker.port}`, ed25519Key: wid.ed25519.publicKey.toString('hex'), modelHashes: [hash], workerAccount: new Address(0, Buffer.alloc(32, 2)).toString() }],
            escrows: { [escrow.toString()]: { balance: '1000000000000000' } },
        }),
    );
    const proxy = await spawnCli('cocoon-proxy.js', ['--config', config, '--port', '0']);
    const wurl = `http://127.0.0.1:${worker.port}`;
    const purl = `http://127.0.0.1:${proxy.port}`;
    const auth = { authorization: `Bearer ${escrow.toString()}` };
    try {
        const workerRows: Array<{ tokens: number; ms: number; ttft: number }> = [];
        const proxyRows: Array<{ tokens: number; ms: number; ttft: number }> = [];
        for (let round = 0; round < ROUNDS + 1; round++) {
            for (const prompt of PROMPTS) {
                const a = await streamOnce(wurl, prompt, {});
                const b = await streamOnce(purl, prompt, auth);
                if (round > 0) {
                    workerRows.push(a);
                    proxyRows.push(b);
                }
            }
        }
        // Proxy added latency on minimal requests (1 token, non-streaming), interleaved.
        const direct: number[] = [];
        const via: number[] = [];
        const one = async (url: string, headers: Record<string, string>) => {
            const t0 = performance.now();
            const r = await fetch(`${url}/v1/chat/completions`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', ...headers },
                body: JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }),
            });
            await r.arrayBuffer();
            if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
            return performance.now() - t0;
        };
        for (let i = 0; i < 10; i++) {
            await one(wurl, {});
            await one(purl, auth);
        }
        for (let i = 0; i < LATENCY_SAMPLES; i++) {
            direct.push(await one(wurl, {}));
            via.push(await one(purl, auth));
        }
        const raw = summarize(rawRows);
        const api = summarize(workerRows);
        const prox = summarize(proxyRows);
        const result = {
            date: new Date().toISOString(),
            machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? 'unknown', node: process.version, note: 'shared CPU: other jobs were running; numbers are noisy' },
            model: { file: path.basename(model), sha256: hash, generated: process.env.BENCH_MODEL ? false : 'tiny, seed 1 (64-wide, 2 layers)' },
            backend: GPU === 'off' ? 'cpu' : 'cuda',
            threads,
            max_tokens: MAX_TOKENS,
            prompts: PROMPTS.length,
            rounds: ROUNDS,
            raw_node_llama_cpp: raw,
            worker_api: { ...api, ratio_to_raw: r2(api.tokens_per_s / raw.tokens_per_s) },
            proxy_and_worker: { ...prox, ratio_to_raw: r2(prox.tokens_per_s / raw.tokens_per_s) },
            proxy_added_latency_ms: {
                samples: LATENCY_SAMPLES,
                direct_p50: r2(pct(direct, 50)),
                direct_p95: r2(pct(direct, 95)),
                via_proxy_p50: r2(pct(via, 50)),
                via_proxy_p95: r2(pct(via, 95)),
                added_p50: r2(pct(via, 50) - pct(direct, 50)),
                added_p95: r2(pct(via, 95) - pct(direct, 95)),
            },
            rss_mb: { bench_process_with_raw_model: benchRssBefore, worker: rssMb(worker.proc.pid as number), proxy: rssMb(proxy.proc.pid as number) },
        };
        const out = path.join(ROOT, 'bench', 'results', 'worker.json');
        fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
        console.log(JSON.stringify(result, null, 2));
    } finally {
        worker.proc.kill('SIGTERM');
        proxy.proc.kill('SIGTERM');
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().then(
    () => process.exit(0),
    (e: unknown) => {
        console.error(e);
        process.exit(1);
    },
);
