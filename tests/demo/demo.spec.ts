/**
 * `npm run demo` end to end: the whole network on the embedded chain with real llama.cpp
 * inference, run as a user runs it (its own process), checked by what it prints and its exit code.
 */
import { spawnSync } from 'child_process';
import { join } from 'path';

const ROOT = join(__dirname, '..', '..');

describe('npm run demo', () => {
    it('runs the whole flow and ends with conservation holding, gas, tokens and throughput', () => {
        // The contracts are compiled by `npm test` before jest starts; run the demo's entry directly.
        const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', join(ROOT, 'demo', 'run.ts')], {
            cwd: ROOT,
            encoding: 'utf8',
            timeout: 240_000,
            env: { ...process.env, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
        });
        const out = `${r.stdout}\n${r.stderr}`;
        if (r.status !== 0) throw new Error(`demo exited ${r.status ?? r.signal}:\n${out.slice(-6000)}`);
        expect(r.stdout).toMatch(/TEST ATTESTATION/);
        expect(r.stdout).toMatch(/proxy quote: UpToDate/);
        expect(r.stdout).toMatch(/without an escrow the proxy refuses the client \(HTTP 402\)/);
        expect(r.stdout).toMatch(/the worker joined: the proxy checked on chain that its key is Provider #0/);
        expect(r.stdout).toMatch(/the client found its proxy on chain from its escrow: Proxy #0 at http:\/\/127\.0\.0\.1:\d+, active/);
        expect(r.stdout).toMatch(/the escrow address alone, or with a wrong secret, is refused \(HTTP 401\)/);
        expect(r.stdout).toMatch(/6 sealed requests, \d+ completion tokens/);
        expect(r.stdout).toMatch(/charge: [\d.]+ TON moved/);
        expect(r.stdout).toMatch(/payout: [\d.]+ TON from the Proxy's pool/);
        expect(r.stdout).toMatch(/refund: [\d.]+ TON back to the client/);
        expect(r.stdout).toMatch(/slashed [\d.]+ TON/);
        expect(r.stdout).toMatch(/conservation: .* holds to the nanoTON/);
        expect(r.stdout).toMatch(/gas per operation/);
        expect(r.stdout).toMatch(/charge \(all requests\)\s+\d+\s+\d+/);
        expect(r.stdout).toMatch(/completion tokens\/s through proxy \+ worker/);
        expect(r.stdout).toMatch(/demo finished in/);
    }, 300_000);
});
