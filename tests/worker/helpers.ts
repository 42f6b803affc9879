/** Spawning the real CLIs (child processes: node-llama-cpp is ESM and may abort on bad input). */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Address, Cell } from '@ton/core';
import { parseChargePayload } from '../../wrappers/payloads';

export const ROOT = path.resolve(__dirname, '..', '..');
export { BIN, spawnCli, stop } from '../../worker-reference/launch';
export type { Spawned } from '../../worker-reference/launch';
import { BIN } from '../../worker-reference/launch';
import { requestModule } from '../../worker-reference/proxy/registry';

export function tmpDir(prefix: string): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Runs a CLI to completion (`input`: its standard input, else none; `env`: added to this process's). */
export function runCli(
    bin: string,
    args: string[],
    timeoutMs = 60_000,
    o: { input?: string; env?: Record<string, string> } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const proc = spawn(process.execPath, [path.join(BIN, bin), ...args], { stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
        if (o.input !== undefined) proc.stdin?.end(o.input);
        let stdout = '';
        let stderr = '';
        proc.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
        proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
        const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
        proc.on('exit', (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal, stdout, stderr });
        });
    });
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as Record<string, unknown>, headers: r.headers };
}

export async function getJson(url: string): Promise<Record<string, unknown>> {
    const r = await fetch(url);
    if (r.status !== 200) throw new Error(`GET ${url}: HTTP ${r.status}`);
    return (await r.json()) as Record<string, unknown>;
}

/** Worker CLI flags for tests: CPU, no trial load (tested separately), one thread per process. */
export const FAST_WORKER = ['--gpu', 'off', '--no-probe', '--threads', '1'];

/** A TCP relay that records every byte passing through it (a host in the middle). */
export interface RecordingRelay {
    port: number;
    /** What went through, both directions, in arrival order; empty it to start over. */
    bytes: Buffer[];
    close(): void;
}

export function startRecordingRelay(target: number): Promise<RecordingRelay> {
    const bytes: Buffer[] = [];
    const server = net.createServer((c) => {
        const up = net.connect(target, '127.0.0.1');
        c.on('data', (d) => bytes.push(Buffer.from(d)));
        up.on('data', (d) => bytes.push(Buffer.from(d)));
        c.pipe(up);
        up.pipe(c);
        c.on('error', () => up.destroy());
        up.on('error', () => c.destroy());
    });
    return new Promise((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as net.AddressInfo).port, bytes, close: () => server.close() })),
    );
}

/**
 * Resolves once the proxy at `proxyUrl` reports worker `name` healthy (a failed receipt makes a
 * worker unhealthy until its next health check), or unhealthy with `healthy: false`.
 */
export async function workerHealthy(proxyUrl: string, name: string, o: { healthy?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const want = o.healthy ?? true;
    const t0 = Date.now();
    for (;;) {
        const ws = (await getJson(`${proxyUrl}/v1/workers`)).workers as Array<{ name: string; healthy: boolean }>;
        if (ws.find((w) => w.name === name)?.healthy === want) return;
        if (Date.now() - t0 > (o.timeoutMs ?? 5000)) throw new Error(`${name} did not become ${want ? 'healthy' : 'unhealthy'}`);
        await new Promise((r) => setTimeout(r, 50));
    }
}

/** All tokens the proxy at `proxyUrl` has charged `escrow` so far, read from its signed cumulative charge. */
export async function chargedTokens(proxyUrl: string, escrow: Address): Promise<bigint> {
    const c = (await getJson(`${proxyUrl}/v1/settlement/charge/${escrow.toString()}`)) as { payload: string };
    const t = parseChargePayload(Cell.fromBoc(Buffer.from(c.payload, 'base64'))[0]).tokens;
    return t.prompt + t.cached + t.completion + t.reasoning;
}

/**
 * The sum of the samples of metric `name` whose labels include `labels`, read from the
 * Prometheus text at `url` (GET /metrics); 0 when none matches.
 */
/** Writes `<dir>/proxy.json` for a cocoon-proxy process: its Proxy contract, its key seed, its data in `<dir>/proxy-data`, plus `rest`; returns the file. */
export function writeProxyConfig(dir: string, proxy: Address, keySeed: Buffer, rest: Record<string, unknown>): string {
    const file = path.join(dir, 'proxy.json');
    fs.writeFileSync(file, JSON.stringify({ proxyAddress: proxy.toString(), keySeed: keySeed.toString('hex'), dataDir: path.join(dir, 'proxy-data'), ...rest }));
    return file;
}

export async function metric(url: string, name: string, labels: Record<string, string> = {}, agent?: http.Agent): Promise<number> {
    const text = await new Promise<string>((resolve, reject) => {
        requestModule(url)
            .get(`${url}/metrics`, { agent }, (res) => {
                const chunks: Buffer[] = [];
                res.on('data', (c: Buffer) => chunks.push(c));
                res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`GET ${url}/metrics: HTTP ${res.statusCode}`))));
            })
            .on('error', reject);
    });
    let sum = 0;
    for (const line of text.split('\n')) {
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
        if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
    }
    return sum;
}
