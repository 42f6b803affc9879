/**
 * Stopping the worker and the proxy router: SIGTERM takes no new connection and lets requests
 * in flight finish (receipt and accounting included) within --drain-seconds; a deadline of 0
 * cuts them; a second signal stops at once. Real processes, the small generated model (long
 * enough answers to stop in the middle of one).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { Address, Cell } from '@ton/core';
import { parseChargePayload } from '../../wrappers/payloads';
import { escrowSecretHash, formatEscrowApiKey, proxyAuthHeaders, secretHashBytes } from '../../worker-reference/client/api-key';
import { sha256File } from '../../worker-reference/common/hash';
import { identityFromSeed } from '../../worker-reference/crypto/keys';
import { generateModel } from '../../worker-reference/model/generate';
import { FAST_WORKER, getJson, spawnCli, Spawned, stop, tmpDir } from './helpers';

const dir = tmpDir('cocoon-shutdown-');
const model = path.join(dir, 'small.gguf');
const ESCROW = new Address(0, Buffer.alloc(32, 1));
const SECRET = Buffer.alloc(32, 0xa1);
const MAX_TOKENS = 600;
const spawned: Spawned[] = [];

beforeAll(() => generateModel(model, 'small', 1));
afterAll(async () => {
    for (const s of spawned) await stop(s, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
});

async function startWorker(seed: number, drainSeconds: number): Promise<Spawned> {
    const w = await spawnCli('cocoon-worker.js', [...FAST_WORKER, '--model', `small=${model}`, '--port', '0', '--key-seed', Buffer.alloc(32, seed).toString('hex'), '--data-dir', path.join(dir, `w${seed}`), '--drain-seconds', String(drainSeconds)]);
    spawned.push(w);
    return w;
}

/** A long streamed answer; `started` resolves at its first bytes, `done` with the whole body. */
function longStream(url: string, headers: Record<string, string> = {}): { started: Promise<void>; done: Promise<string> } {
    let onStart: () => void = () => undefined;
    const started = new Promise<void>((r) => (onStart = r));
    const done = new Promise<string>((resolve, reject) => {
        const body = JSON.stringify({ model: 'small', messages: [{ role: 'user', content: 'Write a long answer.' }], max_tokens: MAX_TOKENS, temperature: 0.8, seed: 1, stream: true, stream_options: { include_usage: true } });
        const u = new URL(`${url}/v1/chat/completions`);
        const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => {
                text += c;
                onStart();
            });
            res.on('end', () => resolve(text));
            res.on('error', () => resolve(text));
            res.on('aborted', () => resolve(text));
        });
        req.on('error', reject);
        req.end(body);
    });
    return { started, done };
}

function exited(s: Spawned): Promise<number | null> {
    return s.proc.exitCode !== null ? Promise.resolve(s.proc.exitCode) : new Promise((r) => s.proc.once('exit', (code) => r(code)));
}

/** Resolves once `port` refuses connections (the server stopped listening). */
async function refusing(port: number): Promise<void> {
    for (let i = 0; i < 200; i++) {
        const refused = await new Promise<boolean>((r) => {
            const c = net.connect(port, '127.0.0.1');
            c.once('connect', () => {
                c.destroy();
                r(false);
            });
            c.once('error', () => r(true));
        });
        if (refused) return;
        await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`port ${port} still takes connections`);
}

describe('worker shutdown', () => {
    it('SIGTERM: takes no new connection, finishes the answer in flight with its receipt, exits 0', async () => {
        const w = await startWorker(31, 30);
        const s = longStream(w.url);
        await s.started;
        w.proc.kill('SIGTERM');
        await refusing(w.port);
        expect(w.proc.exitCode).toBeNull(); // still answering
        const text = await s.done;
        expect(text).toMatch(/"receipt":/);
        expect(text).toMatch(new RegExp(`"completion_tokens":${MAX_TOKENS}`));
        expect(text.trim().endsWith('data: [DONE]')).toBe(true);
        expect(await exited(w)).toBe(0);
        expect(w.stderr()).toMatch(/shutting down: no new connections, requests in flight finish in_flight=1 drain_seconds=30/);
        expect(w.stderr()).toMatch(/stopped: every request finished/);
    });

    it('--drain-seconds 0 cuts the answer in flight (no receipt is sent)', async () => {
        const w = await startWorker(32, 0);
        const s = longStream(w.url);
        await s.started;
        w.proc.kill('SIGTERM');
        const text = await s.done;
        expect(text).not.toMatch(/\[DONE\]/);
        expect(text).not.toMatch(/"receipt":/);
        expect(await exited(w)).toBe(0);
        expect(w.stderr()).toMatch(/stopped: the drain deadline cut requests still in flight/);
    });

    it('a second signal stops at once', async () => {
        const w = await startWorker(33, 30);
        const s = longStream(w.url);
        await s.started;
        w.proc.kill('SIGTERM');
        await refusing(w.port);
        w.proc.kill('SIGTERM');
        expect(await exited(w)).toBe(1);
        expect(await s.done).not.toMatch(/\[DONE\]/);
        expect(w.stderr()).toMatch(/SIGTERM again: stopping now/);
    });
});

describe('proxy shutdown', () => {
    it('SIGTERM: the stream in flight finishes and is accounted, so the restarted router charges it', async () => {
        const w = await startWorker(34, 30);
        const config = path.join(dir, 'proxy.json');
        fs.writeFileSync(
            config,
            JSON.stringify({
                proxyAddress: new Address(0, Buffer.alloc(32, 100)).toString(),
                keySeed: Buffer.alloc(32, 50).toString('hex'),
                dataDir: path.join(dir, 'proxy-data'),
                workers: [{ name: 'w', endpoint: w.url, ed25519Key: identityFromSeed(Buffer.alloc(32, 34)).ed25519.publicKey.toString('hex'), modelHashes: [sha256File(model).toString('hex')], workerAccount: new Address(0, Buffer.alloc(32, 2)).toString() }],
                escrows: { [ESCROW.toString()]: { balance: '1000000000000000', secretHash: secretHashBytes(escrowSecretHash(SECRET)).toString('hex') } },
            }),
        );
        const p = await spawnCli('cocoon-proxy.js', ['--config', config, '--port', '0', '--drain-seconds', '30']);
        spawned.push(p);
        const s = longStream(p.url, proxyAuthHeaders(formatEscrowApiKey(ESCROW, SECRET)));
        await s.started;
        p.proc.kill('SIGTERM');
        await refusing(p.port);
        const text = await s.done;
        expect(text.trim().endsWith('data: [DONE]')).toBe(true);
        expect(await exited(p)).toBe(0);
        expect(p.stderr()).toMatch(/shutting down: no new connections, requests in flight finish and are accounted in_flight=1/);

        const again = await spawnCli('cocoon-proxy.js', ['--config', config, '--port', '0']);
        spawned.push(again);
        const charge = (await getJson(`${again.url}/v1/settlement/charge/${ESCROW.toString()}`)) as { payload: string };
        expect(parseChargePayload(Cell.fromBoc(Buffer.from(charge.payload, 'base64'))[0]).tokens.completion).toBe(BigInt(MAX_TOKENS));
    });
});
