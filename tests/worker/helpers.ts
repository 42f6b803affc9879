/** Spawning the real CLIs (child processes: node-llama-cpp is ESM and may abort on bad input). */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export { BIN, spawnCli, stop } from '../../worker-reference/launch';
export type { Spawned } from '../../worker-reference/launch';
import { BIN } from '../../worker-reference/launch';

export function tmpDir(prefix: string): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Runs a CLI to completion. */
export function runCli(bin: string, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const proc = spawn(process.execPath, [path.join(BIN, bin), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

export async function getJson(url: string): Promise<Record<string, unknown>> {
    const r = await fetch(url);
    if (r.status !== 200) throw new Error(`GET ${url}: HTTP ${r.status}`);
    return (await r.json()) as Record<string, unknown>;
}

/** Worker CLI flags for tests: CPU, no trial load (tested separately), one thread per process. */
export const FAST_WORKER = ['--gpu', 'off', '--no-probe', '--threads', '1'];
