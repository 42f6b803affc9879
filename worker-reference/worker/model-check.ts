/**
 * Decides whether a GGUF may be handed to llama.cpp in this process: first the header checks
 * (missing hyper-parameters abort the process inside llama.cpp), then optionally a trial load
 * in a child process, so even an unknown fatal error only kills the child.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { readGgufHeader } from '../gguf/reader';
import { ModelFacts, validateGgufHeader } from '../gguf/validate';

export type ModelCheck = { ok: true; facts: ModelFacts } | { ok: false; reason: string };

export function checkModelHeader(file: string): ModelCheck {
    try {
        const { problems, facts } = validateGgufHeader(readGgufHeader(file));
        if (problems.length > 0 || !facts) return { ok: false, reason: problems.slice(0, 5).join('; ') };
        return { ok: true, facts };
    } catch (e) {
        return { ok: false, reason: e instanceof Error ? e.message : String(e) };
    }
}

/** Loads the model in a throw-away child process (CPU, no context); resolves to a failure reason or null. */
export function probeLoadInChild(file: string, timeoutMs: number): Promise<string | null> {
    const script = path.join(__dirname, 'probe-load.mjs');
    return new Promise((resolve) => {
        const child = spawn(process.execPath, [script, file], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => {
            if (stderr.length < 4000) stderr += c.toString();
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.on('exit', (code, signal) => {
            clearTimeout(timer);
            if (code === 0) resolve(null);
            else {
                const last = stderr.trim().split('\n').filter(Boolean).slice(-2).join(' | ');
                resolve(`trial load failed (${signal ?? `exit ${code}`})${last ? ': ' + last : ''}`);
            }
        });
    });
}
