/**
 * Starting the worker / proxy CLIs as child processes (node-llama-cpp is an ES module and a
 * bad model may abort its process, so the worker always runs in its own). Used by the demo,
 * the benchmarks and the tests.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';

export const BIN = path.join(__dirname, 'bin');

export interface Spawned {
    proc: ChildProcess;
    port: number;
    info: Record<string, unknown>;
    stderr: () => string;
    url: string;
}

/** Runs a CLI of worker-reference/bin and waits for its `{"event":"listening"}` line (or its exit). */
export function spawnCli(bin: string, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<Spawned> {
    return new Promise((resolve, reject) => {
        const proc = spawn(process.execPath, [path.join(BIN, bin), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
        let out = '';
        let err = '';
        proc.stderr?.on('data', (c: Buffer) => {
            err += c.toString();
        });
        const timer = setTimeout(() => {
            proc.kill('SIGKILL');
            reject(new Error(`${bin} did not start in ${timeoutMs} ms:\n${err}`));
        }, timeoutMs);
        proc.stdout?.on('data', (c: Buffer) => {
            out += c.toString();
            const line = out.split('\n').find((l) => l.includes('"event":"listening"'));
            if (line) {
                clearTimeout(timer);
                const info = JSON.parse(line) as Record<string, unknown>;
                const port = info.port as number;
                resolve({ proc, port, info, stderr: () => err, url: `${info.tls === true ? 'https' : 'http'}://127.0.0.1:${port}` });
            }
        });
        proc.on('exit', (code, signal) => {
            clearTimeout(timer);
            reject(new Error(`${bin} exited (${signal ?? code}) before listening:\n${err}`));
        });
    });
}

/** Stops a spawned CLI and waits for it to exit. */
export async function stop(s: Spawned | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!s || s.proc.exitCode !== null || s.proc.signalCode !== null) return;
    const exited = new Promise((r) => s.proc.once('exit', r));
    s.proc.kill(signal);
    await exited;
}
