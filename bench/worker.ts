/**
 * npm run bench:worker → bench/results/worker.json
 *
 * Per model (generated `tiny` and `small` GGUFs, or BENCH_SIZES=tiny,small,1b, or the file
 * BENCH_MODEL), same prompts, same sampling:
 *   raw     node-llama-cpp in this process (chat wrapper, prompt prefix reuse, sequence.evaluateWithMetadata: as the worker drives it)
 *   worker  streaming through the worker's HTTP API
 *   proxy   streaming through proxy + worker
 *   proxy_tls  the same through a proxy whose link to its worker is mutual TLS (https://
 *              endpoint, worker --trust-proxy): what the authenticated link costs
 * Two phases, each with raw measured again: raw vs worker, then raw vs the two proxy paths.
 * In a phase the paths take turns in blocks of one request per prompt (balanced orders, each
 * block after one unmeasured request), each request with a prompt of its own (no path finds
 * its prompt in a KV cache). tokens/s = completion tokens / wall time of the
 * requests; TTFT = time to the first content chunk (raw: to the first generated token).
 * Proxy added latency: 1-token non-streaming requests straight to a worker vs through a proxy
 * (plain and TLS link) and a bare relay, interleaved. Every path has a worker process of its
 * own (same model, same flags), so each is exactly as busy and as warm as the others. The client is a keep-alive node:http agent.
 */
import { spawnCli, Spawned, stop } from '../worker-reference/launch';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Address } from '@ton/core';
import { sha256File } from '../worker-reference/common/hash';
import { identityFromSeed } from '../worker-reference/crypto/keys';
import { escrowSecretHash, formatEscrowApiKey, generateEscrowSecret, proxyAuthHeaders, secretHashBytes } from '../worker-reference/client/api-key';
import { generateModel, ModelSize, progressInTenths } from '../worker-reference/model/generate';
import { defaultCpuThreads, loadNodeLlamaCpp } from '../worker-reference/worker/llama';
import { reuseCommonPrefix } from '../worker-reference/worker/engine';

const ROOT = path.resolve(__dirname, '..');
const PROMPTS = ['What is the price of a token?', 'Tell me about the network.', 'hello', 'Write a long answer about private inference on TON.', 'Why should I trust this worker?', 'Count to twenty.'];
const MAX_TOKENS = Number(process.env.BENCH_MAX_TOKENS ?? 128);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12); // 12 x 6 prompts per path: smaller samples swing by ±5 % here
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 200);
const LATENCY_BLOCK = 10;
const GPU = process.env.BENCH_GPU ?? 'off';

/**
 * Orders of n paths in which each path follows every other one equally often (a balanced
 * Latin square, Williams 1949): first row 0, 1, n-1, 2, n-2, …, then each row + 1 mod n;
 * for odd n the rows reversed as well.
 */
export function balancedOrders(n: number): number[][] {
    const first: number[] = [];
    for (let i = 0, lo = 1, hi = n - 1; i < n; i++) first.push(i === 0 ? 0 : i % 2 === 1 ? lo++ : hi--);
    const rows = Array.from({ length: n }, (_, r) => first.map((x) => (x + r) % n));
    return n % 2 === 0 ? rows : [...rows, ...rows.map((row) => [...row].reverse())];
}

interface Row {
    tokens: number;
    ms: number;
    ttft: number;
}

interface RunStats {
    requests: number;
    completion_tokens: number;
    /** completion tokens / whole request time (TTFT included) */
    tokens_per_s: number;
    /** tokens after the first / time after the first: the streaming rate, without per-request setup */
    decode_tokens_per_s: number;
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

/** CPU time a process has used so far, all its threads (Linux: the first field of each thread's schedstat under /proc/PID/task, ns on CPU). */
function cpuMs(pid: number): number {
    let ns = 0;
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) ns += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1e6;
}

const agent = new http.Agent({ keepAlive: true });

/**
 * One POST through a keep-alive node:http agent. The benchmark's client is kept minimal so
 * the figures measure the worker and the proxy, not a client library (undici's fetch costs
 * about 1 ms more per request here); tests/worker checks the official `openai` client.
 */
function post(url: string, body: unknown, headers: Record<string, string>, onData: (text: string) => void): Promise<number> {
    return new Promise((resolve, reject) => {
        const u = new URL(`${url}/v1/chat/completions`);
        const payload = JSON.stringify(body);
        const req = http.request(
            { hostname: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)), ...headers } },
            (res) => {
                res.setEncoding('utf8');
                res.on('data', onData);
                res.on('end', () => resolve(res.statusCode ?? 0));
                res.on('error', reject);
            },
        );
        req.on('error', reject);
        req.end(payload);
    });
}

async function streamOnce(url: string, prompt: string, headers: Record<string, string>): Promise<Row> {
    const t0 = performance.now();
    let ttft = -1;
    let tokens = 0;
    let tail = '';
    let body = '';
    const status = await post(
        url,
        { model: 'bench', messages: [{ role: 'user', content: prompt }], max_tokens: MAX_TOKENS, temperature: 0.8, seed: 1, stream: true, stream_options: { include_usage: true } },
        headers,
        (text) => {
            if (ttft < 0 && /"content":"[^"]/.test(text)) ttft = performance.now() - t0;
            const m = /"completion_tokens":(\d+)/.exec(tail + text);
            if (m) tokens = Number(m[1]);
            tail = text.slice(-64); // a match may straddle two reads
            if (body.length < 4096) body += text;
        },
    );
    if (status !== 200) throw new Error(`HTTP ${status}: ${body}`);
    return { tokens, ms: performance.now() - t0, ttft };
}

/** A 1-token non-streaming request; returns its wall time. */
async function minimalRequest(url: string, headers: Record<string, string>): Promise<number> {
    const t0 = performance.now();
    let body = '';
    const status = await post(url, { model: 'bench', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }, headers, (text) => {
        body += text;
    });
    if (status !== 200) throw new Error(`HTTP ${status}: ${body}`);
    return performance.now() - t0;
}

function summarize(rows: Row[]): RunStats {
    const tokens = rows.reduce((a, r) => a + r.tokens, 0);
    const ms = rows.reduce((a, r) => a + r.ms, 0);
    const decodeTokens = rows.reduce((a, r) => a + r.tokens - 1, 0);
    const decodeMs = rows.reduce((a, r) => a + r.ms - r.ttft, 0);
    return { requests: rows.length, completion_tokens: tokens, tokens_per_s: r2((tokens / ms) * 1000), decode_tokens_per_s: r2((decodeTokens / decodeMs) * 1000), ttft_ms_p50: r2(pct(rows.map((r) => r.ttft), 50)), ttft_ms_p95: r2(pct(rows.map((r) => r.ttft), 95)) };
}

/** bench/passthrough.ts in its own process, as the proxy runs in its own. */
function startRelay(target: string): Promise<{ proc: ChildProcess; url: string }> {
    return new Promise((resolve, reject) => {
        const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'passthrough.ts'), target], { stdio: ['ignore', 'pipe', 'inherit'] });
        proc.once('error', reject);
        proc.once('exit', (code) => reject(new Error(`bench relay exited (${code})`)));
        proc.stdout?.once('data', (c: Buffer) => resolve({ proc, url: `http://127.0.0.1:${(JSON.parse(c.toString()) as { port: number }).port}` }));
    });
}

/** Raw, worker and proxy on one model; `dir` is a scratch directory of this run. */
async function benchModel(model: string, generated: string | false, dir: string): Promise<Record<string, unknown>> {
    const threads = Number(process.env.BENCH_THREADS ?? defaultCpuThreads());
    const hash = sha256File(model).toString('hex');
    console.error(`model ${model} sha256=${hash} threads=${threads} gpu=${GPU}`);

    // --- raw node-llama-cpp in this process
    const lib = await loadNodeLlamaCpp();
    const llama = await lib.getLlama(GPU === 'off' ? { gpu: false, build: 'never', maxThreads: threads, logLevel: lib.LlamaLogLevel.error } : { gpu: 'cuda', build: 'never', logLevel: lib.LlamaLogLevel.error });
    const gpu = GPU === 'off' ? undefined : { backend: llama.gpu, devices: await llama.getGpuDeviceNames() };
    const lm = await llama.loadModel({ modelPath: model });
    const ctx = await lm.createContext({ contextSize: 2048, sequences: 1, threads });
    const wrapper = lib.resolveChatWrapper(lm) ?? new lib.GeneralChatWrapper();
    const seq = ctx.getSequence();
    /** One request straight on node-llama-cpp, the way the worker drives it (chat template, evaluateWithMetadata). */
    const rawOnce = async (prompt: string): Promise<Row> => {
        const t0 = performance.now();
        const tokens = wrapper.generateContextState({ chatHistory: [{ type: 'user', text: prompt }, { type: 'model', response: [] }] }).contextText.tokenize(lm.tokenizer);
        // The worker reuses the KV state of the prompt prefix it shares with the last request (the
        // chat template's start, ~9 tokens here): raw does the same, so the API is not flattered.
        const reused = await reuseCommonPrefix(seq, tokens);
        let n = 0;
        let ttft = -1;
        for await (const { token } of seq.evaluateWithMetadata(tokens.slice(reused), {}, { temperature: 0.8, seed: 1, yieldEogToken: true })) {
            if (ttft < 0) ttft = performance.now() - t0;
            n++;
            if (lm.isEogToken(token) || n >= MAX_TOKENS) break;
        }
        return { tokens: n, ms: performance.now() - t0, ttft };
    };

    // --- worker and proxy processes: one worker per path, so every worker process is as busy
    // (and as warm) as every other; a worker serving two paths would answer each faster.
    const spawned: Spawned[] = [];
    const startWorker = async (n: number, extra: string[] = []) => {
        const seed = Buffer.alloc(32, n);
        const w = await spawnCli('cocoon-worker.js', ['--model', `bench=${model}`, '--port', '0', '--gpu', GPU, '--threads', String(threads), '--parallel', '1', '--no-probe', '--key-seed', seed.toString('hex'), '--data-dir', path.join(dir, `worker-${n}`), ...extra]);
        spawned.push(w);
        return { ...w, key: identityFromSeed(seed).ed25519.publicKey };
    };
    const escrow = new Address(0, Buffer.alloc(32, 1));
    // The client's API secret: the proxy's config holds only its hash, as the escrow on chain would.
    const secret = generateEscrowSecret();
    const startProxy = async (n: number, w: { url: string; key: Buffer }) => {
        const config = path.join(dir, `proxy-${n}.json`);
        fs.writeFileSync(
            config,
            JSON.stringify({
                proxyAddress: new Address(0, Buffer.alloc(32, n)).toString(),
                keySeed: Buffer.alloc(32, n).toString('hex'),
                dataDir: path.join(dir, `proxy-${n}`),
                workers: [{ name: 'w', endpoint: w.url, ed25519Key: w.key.toString('hex'), modelHashes: [hash], workerAccount: new Address(0, Buffer.alloc(32, 2)).toString() }],
                escrows: { [escrow.toString()]: { balance: '1000000000000000', secretHash: secretHashBytes(escrowSecretHash(secret)).toString('hex') } },
            }),
        );
        const p = await spawnCli('cocoon-proxy.js', ['--config', config, '--port', '0']);
        spawned.push(p);
        return p;
    };
    const direct = await startWorker(7);
    const proxy = await startProxy(100, await startWorker(8));
    // The authenticated link: a worker that serves only this proxy, over mutual TLS.
    const proxyTls = await startProxy(101, await startWorker(9, ['--trust-proxy', `${new Address(0, Buffer.alloc(32, 101)).toString()}=${identityFromSeed(Buffer.alloc(32, 101)).ed25519.publicKey.toString('hex')}`]));
    const relayed = await startWorker(10);
    const relay = await startRelay(relayed.url);
    const wurl = direct.url;
    const purl = proxy.url;
    const turl = proxyTls.url;
    const auth = proxyAuthHeaders(formatEscrowApiKey(escrow, secret));
    try {
        // Two phases, each against raw measured in the same phase: the worker API alone, then
        // the proxy paths (plain and TLS link). A proxy's requests leave work behind them (its
        // fsync'ed ledger among it) that would otherwise land on the API's requests too.
        // In a phase the paths take turns in blocks (one request per prompt) so each sees the
        // same machine: on a shared machine, load that comes and goes would otherwise land on
        // one path and not the others. A process that sat idle answers its next request slower
        // (caches, scheduling): each block starts with one unmeasured request, and the block
        // orders form a balanced Latin square (each path follows every other equally often).
        // Round 0 warms up.
        let request = 0;
        const phase = async (once: Array<(prompt: string) => Promise<Row>>, name: string): Promise<Row[][]> => {
            const rows = once.map((): Row[] => []);
            const orders = balancedOrders(once.length);
            for (let round = 0; round < ROUNDS + 1; round++) {
                for (const k of orders[round % orders.length]) {
                    // A tag in front makes every request's prompt its own: the worker reuses the KV
                    // cache of a shared prefix (reported as cached tokens), and a path would
                    // otherwise find its prompt cached by an earlier request while raw evaluates
                    // it whole.
                    await once[k](`[${request++}] ${PROMPTS[0]}`);
                    for (const prompt of PROMPTS) {
                        const row = await once[k](`[${request++}] ${prompt}`);
                        if (round > 0) rows[k].push(row);
                    }
                }
                console.error(`${name}: round ${round}/${ROUNDS} done`);
            }
            return rows;
        };
        const [rawRows, workerRows] = await phase([rawOnce, (prompt) => streamOnce(wurl, prompt, {})], 'worker API');
        const [rawRows2, proxyRows, tlsRows] = await phase([rawOnce, (prompt) => streamOnce(purl, prompt, auth), (prompt) => streamOnce(turl, prompt, auth)], 'proxy');
        // Proxy added latency on minimal requests (1 token, non-streaming), against the same
        // requests straight to a worker and through a bare relay (calibration): in blocks of
        // LATENCY_BLOCK requests per path, each after one unmeasured request, in balanced orders.
        const straight: number[] = [];
        const via: number[] = [];
        const viaTls: number[] = [];
        const viaRelay: number[] = [];
        const latencyPaths: Array<[number[], string, Record<string, string>]> = [
            [straight, wurl, {}],
            [via, purl, auth],
            [viaTls, turl, auth],
            [viaRelay, relay.url, {}],
        ];
        const orders = balancedOrders(latencyPaths.length);
        // CPU the proxies and the relay use over the phase, per request they relayed: their own
        // work, apart from the machine's scheduling (which the wall-clock figures include).
        const relays = { proxy: proxy.proc.pid as number, proxy_tls_link: proxyTls.proc.pid as number, bare_relay: relay.proc.pid as number, worker_direct: direct.proc.pid as number };
        const cpuBefore = Object.fromEntries(Object.entries(relays).map(([k, pid]) => [k, cpuMs(pid)]));
        let perPath = 0;
        for (let b = 0; b * LATENCY_BLOCK < LATENCY_SAMPLES; b++)
            for (const k of orders[b % orders.length]) {
                const [samples, url, headers] = latencyPaths[k];
                await minimalRequest(url, headers);
                for (let i = 0; i < LATENCY_BLOCK; i++) samples.push(await minimalRequest(url, headers));
                if (k === 0) perPath += LATENCY_BLOCK + 1;
            }
        const cpuPerRequest = Object.fromEntries(Object.entries(relays).map(([k, pid]) => [k, r2((cpuMs(pid) - cpuBefore[k]) / perPath)]));
        const benchRss = rssMb(process.pid);
        const raw = summarize(rawRows);
        const api = summarize(workerRows);
        const raw2 = summarize(rawRows2);
        const prox = summarize(proxyRows);
        const proxTls = summarize(tlsRows);
        return {
            model: { file: path.basename(model), sha256: hash, generated },
            backend: GPU === 'off' ? 'cpu' : 'cuda',
            ...(gpu ? { gpu } : {}),
            threads,
            max_tokens: MAX_TOKENS,
            prompts: PROMPTS.length,
            rounds: ROUNDS,
            raw_node_llama_cpp: raw,
            worker_api: { ...api, ratio_to_raw: r2(api.tokens_per_s / raw.tokens_per_s), decode_ratio_to_raw: r2(api.decode_tokens_per_s / raw.decode_tokens_per_s) },
            /** raw again, in the proxy phase: the proxy paths' ratios are to this one */
            raw_node_llama_cpp_proxy_phase: raw2,
            proxy_and_worker: { ...prox, ratio_to_raw: r2(prox.tokens_per_s / raw2.tokens_per_s), decode_ratio_to_raw: r2(prox.decode_tokens_per_s / raw2.decode_tokens_per_s) },
            proxy_tls_link_and_worker: { ...proxTls, ratio_to_raw: r2(proxTls.tokens_per_s / raw2.tokens_per_s), decode_ratio_to_raw: r2(proxTls.decode_tokens_per_s / raw2.decode_tokens_per_s) },
            proxy_added_latency_ms: {
                samples: straight.length,
                direct_p50: r2(pct(straight, 50)),
                direct_p95: r2(pct(straight, 95)),
                via_proxy_p50: r2(pct(via, 50)),
                via_proxy_p95: r2(pct(via, 95)),
                added_p50: r2(pct(via, 50) - pct(straight, 50)),
                added_p95: r2(pct(via, 95) - pct(straight, 95)),
                via_proxy_tls_link_p50: r2(pct(viaTls, 50)),
                via_proxy_tls_link_p95: r2(pct(viaTls, 95)),
                tls_link_added_p50: r2(pct(viaTls, 50) - pct(straight, 50)),
                tls_link_added_p95: r2(pct(viaTls, 95) - pct(straight, 95)),
                bare_relay_added_p50: r2(pct(viaRelay, 50) - pct(straight, 50)),
                bare_relay_added_p95: r2(pct(viaRelay, 95) - pct(straight, 95)),
                /** CPU ms per request of each process over this phase (every path sent as many): the proxies' and the relay's own work, and the worker's answering straight */
                cpu_ms_per_request: cpuPerRequest,
            },
            rss_mb: { bench_process_with_raw_model: benchRss, worker: rssMb(direct.proc.pid as number), proxy: rssMb(proxy.proc.pid as number), proxy_tls_link: rssMb(proxyTls.proc.pid as number) },
        };
    } finally {
        for (const p of spawned) await stop(p);
        relay.proc.kill('SIGTERM');
        await ctx.dispose();
        await lm.dispose();
    }
}

const SIZE_NOTES: Record<ModelSize, string> = {
    tiny: 'tiny, seed 1 (64-wide, 2 layers): ~0.3 ms a token on CPU, so per-request costs weigh most',
    small: 'small, seed 1 (256-wide, 4 layers): ~1.5 ms a token on CPU',
    '1b': '1b, seed 1 (2048-wide, 16 layers, F16): for GPUs',
};

async function main(): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cocoon-bench-'));
    try {
        const models: Array<{ file: string; generated: string | false }> = [];
        if (process.env.BENCH_MODEL) models.push({ file: process.env.BENCH_MODEL, generated: false });
        else
            for (const size of (process.env.BENCH_SIZES ?? 'tiny,small').split(',') as ModelSize[]) {
                if (!(size in SIZE_NOTES)) throw new Error(`BENCH_SIZES: unknown size ${size} (tiny, small, 1b)`);
                const file = path.join(dir, `bench-${size}.gguf`);
                generateModel(file, size, 1, progressInTenths((line) => console.error(`writing ${size} model: ${line}`)));
                models.push({ file, generated: SIZE_NOTES[size] });
            }
        const runs: Array<Record<string, unknown>> = [];
        for (const [i, m] of models.entries()) {
            console.error(`--- model ${i + 1}/${models.length}`);
            runs.push(await benchModel(m.file, m.generated, fs.mkdtempSync(path.join(dir, 'run-'))));
        }
        const result = {
            date: new Date().toISOString(),
            machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? 'unknown', node: process.version, note: process.env.BENCH_NOTE ?? 'a worker process per path; two phases (raw vs worker API, raw vs the proxy paths); in a phase paths take turns in blocks (one unmeasured request first) in balanced orders; a prompt of its own per request' },
            runs,
        };
        const out = path.join(ROOT, 'bench', 'results', 'worker.json');
        fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
        console.log(JSON.stringify(result, null, 2));
    } finally {
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
