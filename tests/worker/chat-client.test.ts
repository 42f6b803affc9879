/**
 * The client side: `cocoon-chat` and client/chat.ts against a real proxy in front of a real
 * worker (tiny model, CPU). The answer streams, sealed when asked; the client checks the work
 * receipt itself, so a host in the middle that alters the answer or its token counts is
 * caught even though the proxy's own check passed.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Address } from '@ton/core';
import { chatThroughProxy } from '../../worker-reference/client/chat';
import { chatOptionsFromArgs } from '../../worker-reference/cli/chat-args';
import { escrowSecretHash, formatEscrowApiKey, secretHashBytes } from '../../worker-reference/client/api-key';
import { sha256File } from '../../worker-reference/common/hash';
import { identityFromSeed } from '../../worker-reference/crypto/keys';
import { generateModel } from '../../worker-reference/model/generate';
import { chargedTokens, FAST_WORKER, runCli, spawnCli, Spawned, stop, tmpDir } from './helpers';

const dir = tmpDir('cocoon-chat-');
const model = path.join(dir, 'tiny.gguf');
const addr = (n: number) => new Address(0, Buffer.alloc(32, n));
const CLIENT = addr(1);
const SECRET = Buffer.alloc(32, 0xc1);
const API_KEY = formatEscrowApiKey(CLIENT, SECRET);
const WORKER_SEED = Buffer.alloc(32, 21);
const workerKey = identityFromSeed(WORKER_SEED).ed25519.publicKey.toString('hex');
const PROXY_SEED = Buffer.alloc(32, 22);
const PROXY_KEY = identityFromSeed(PROXY_SEED).ed25519.publicKey.toString('hex');

let worker: Spawned;
let proxy: Spawned;

/** A host between client and proxy that rewrites answers on the way (what TLS to the proxy prevents). */
function startTamperingRelay(target: string, tamper: (body: string) => string): Promise<{ url: string; close: () => void }> {
    const server = http.createServer(async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length')) as Record<string, string>;
        const up = await fetch(`${target}${req.url}`, { method: req.method, headers, body: req.method === 'POST' ? Buffer.concat(chunks) : undefined });
        const text = await up.text();
        res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' });
        res.end(req.url === '/v1/chat/completions' ? tamper(text) : text);
    });
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() })));
}

beforeAll(async () => {
    generateModel(model, 'tiny', 3);
    worker = await spawnCli('cocoon-worker.js', ['--model', model, '--port', '0', ...FAST_WORKER, '--key-seed', WORKER_SEED.toString('hex')]);
    const x25519 = identityFromSeed(WORKER_SEED).x25519.publicKey.toString('hex');
    const config = path.join(dir, 'proxy.json');
    fs.writeFileSync(
        config,
        JSON.stringify({
            proxyAddress: addr(100).toString(),
            keySeed: PROXY_SEED.toString('hex'),
            dataDir: path.join(dir, 'data'),
            workers: [{ name: 'gpu-1', endpoint: worker.url, ed25519Key: workerKey, x25519Key: x25519, modelHashes: [sha256File(model).toString('hex')], workerAccount: addr(200).toString() }],
            escrows: { [CLIENT.toString()]: { balance: '1000000000000', secretHash: secretHashBytes(escrowSecretHash(SECRET)).toString('hex') } },
        }),
    );
    proxy = await spawnCli('cocoon-proxy.js', ['--config', config, '--port', '0']);
}, 60_000);

afterAll(async () => {
    await stop(proxy);
    await stop(worker);
    fs.rmSync(dir, { recursive: true, force: true });
});

const SUMMARY = /\[tiny: (\d+) prompt tokens \((\d+) cached\), (\d+) completion \(0 reasoning\) · (answered by|sealed to) worker gpu-1 \([0-9a-f]{16}…\) · receipt #\d+ checked\]/;

describe('cocoon-chat', () => {
    it('streams the answer to stdout and says on stderr what was charged and that the receipt checked out', async () => {
        const before = await chargedTokens(proxy.url, CLIENT).catch(() => 0n);
        const r = await runCli('cocoon-chat.js', ['--proxy', proxy.url, '--api-key', API_KEY, '--prompt', 'What is TON?', '--max-tokens', '6', '--temperature', '0']);
        expect(r.stderr).toMatch(SUMMARY);
        expect(r.code).toBe(0);
        expect(r.stdout.trim().length).toBeGreaterThan(0);
        const [, prompt, cached, completion, how] = SUMMARY.exec(r.stderr) as RegExpExecArray;
        expect(how).toBe('answered by');
        expect(Number(completion)).toBe(6);
        // What the proxy charged is what the client was told, token for token.
        expect(await chargedTokens(proxy.url, CLIENT)).toBe(before + BigInt(Number(prompt) + Number(cached) + Number(completion)));
    });

    it('seals the prompt to the worker (the proxy never sees it) and opens the sealed answer', async () => {
        const secret = 'BLUEBERRY-4410 is my code';
        const r = await runCli('cocoon-chat.js', ['--proxy', proxy.url, '--seal', '--prompt', secret, '--max-tokens', '5', '--receipt'], 60_000, { env: { COCOON_API_KEY: API_KEY } });
        expect(r.code).toBe(0);
        expect(r.stderr).toMatch(SUMMARY);
        expect(SUMMARY.exec(r.stderr)?.[4]).toBe('sealed to');
        expect(r.stdout.trim().length).toBeGreaterThan(0);
        expect(JSON.parse(r.stderr.slice(r.stderr.indexOf('{')))).toMatchObject({ worker_key: workerKey });
        expect(proxy.stderr()).not.toContain('BLUEBERRY');
        expect(worker.stderr()).not.toContain('BLUEBERRY');
    });

    it('asks for JSON of a schema with --json-schema (sealed too), and fails with the worker\'s reason for a keyword it cannot enforce', async () => {
        const schemaFile = path.join(dir, 'weather.json');
        fs.writeFileSync(schemaFile, JSON.stringify({ type: 'object', properties: { sunny: { type: 'boolean' }, sky: { type: 'string', enum: ['clear', 'cloudy'] } }, required: ['sunny', 'sky'], additionalProperties: false }));
        for (const seal of [[], ['--seal']]) {
            const r = await runCli('cocoon-chat.js', ['--proxy', proxy.url, '--api-key', API_KEY, '--prompt', 'Weather?', '--max-tokens', '40', '--json-schema', schemaFile, ...seal]);
            expect(r.stderr).toMatch(SUMMARY);
            expect(r.code).toBe(0);
            const v = JSON.parse(r.stdout) as { sunny: unknown; sky: unknown };
            expect(typeof v.sunny).toBe('boolean');
            expect(['clear', 'cloudy']).toContain(v.sky);
        }
        fs.writeFileSync(schemaFile, JSON.stringify({ type: 'object', properties: { code: { type: 'string', pattern: '^[A-Z]+$' } } }));
        const refused = await runCli('cocoon-chat.js', ['--proxy', proxy.url, '--api-key', API_KEY, '--prompt', 'Code?', '--json-schema', schemaFile]);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(/keyword "pattern" at \/properties\/code is not supported/);
        const json = await runCli('cocoon-chat.js', ['--proxy', proxy.url, '--api-key', API_KEY, '--prompt', 'Anything', '--max-tokens', '8', '--json']);
        expect(json.code).toBe(0);
        expect(json.stdout.startsWith('{')).toBe(true);
    });

    it('prints each token\'s log-probability and alternatives with --logprobs N, the sealed answer\'s too', async () => {
        for (const seal of [[], ['--seal']]) {
            const r = await runCli('cocoon-chat.js', ['--proxy', proxy.url, '--api-key', API_KEY, '--prompt', 'What is TON?', '--max-tokens', '6', '--temperature', '0', '--logprobs', '2', ...seal]);
            expect(r.code).toBe(0);
            expect(r.stderr).toMatch(SUMMARY);
            const lines = r.stderr.split('\n').filter((l) => l.startsWith('"'));
            expect(lines).toHaveLength(6);
            const rows = lines.map((l) => l.split('\t'));
            // The tokens add up to the answer printed; each has its log-probability and two alternatives.
            expect(rows.map((c) => JSON.parse(c[0]) as string).join('')).toBe(r.stdout.replace(/\n$/, ''));
            for (const c of rows) {
                expect(Number(c[1])).toBeLessThanOrEqual(0);
                expect(c.slice(2)).toHaveLength(2);
                expect(c[2]).toBe(`${c[0]} ${c[1]}`); // greedy: the chosen token is the likeliest
            }
        }
    });

    it('reads the prompt from standard input, with a system message', async () => {
        const r = await runCli('cocoon-chat.js', ['--proxy', proxy.url, '--api-key', API_KEY, '--system', 'Be brief.', '--max-tokens', '3'], 60_000, { input: 'Tell me about the network.\n' });
        expect(r.code).toBe(0);
        expect(r.stderr).toMatch(SUMMARY);
    });

    it("fails with the proxy's reason (exit 1) for a wrong secret or a model nobody serves", async () => {
        const wrong = await runCli('cocoon-chat.js', ['--proxy', proxy.url, '--api-key', formatEscrowApiKey(CLIENT, Buffer.alloc(32, 0xee)), '--prompt', 'hi']);
        expect(wrong.code).toBe(1);
        expect(wrong.stderr).toMatch(/error: the proxy answered HTTP 401: /);
        const gone = await runCli('cocoon-chat.js', ['--proxy', proxy.url, '--api-key', API_KEY, '--model', 'gamma', '--prompt', 'hi']);
        expect(gone.code).toBe(1);
        expect(gone.stderr).toMatch(/error: the proxy answered HTTP 404: The model `gamma` is not served/);
    });

    it('pins the TLS connection to the proxy enclave key with --proxy-key, and refuses a proxy showing another key', async () => {
        const config = path.join(dir, 'proxy.json');
        const tlsConfig = path.join(dir, 'proxy-tls.json');
        fs.writeFileSync(tlsConfig, JSON.stringify({ ...JSON.parse(fs.readFileSync(config, 'utf8')), dataDir: path.join(dir, 'data-tls') }));
        const secure = await spawnCli('cocoon-proxy.js', ['--config', tlsConfig, '--port', '0', '--tls']);
        try {
            expect(secure.url).toMatch(/^https:/);
            const ok = await runCli('cocoon-chat.js', ['--proxy', secure.url, '--proxy-key', PROXY_KEY, '--api-key', API_KEY, '--prompt', 'hi', '--max-tokens', '2']);
            expect(ok.stderr).toMatch(SUMMARY);
            expect(ok.code).toBe(0);
            const other = identityFromSeed(Buffer.alloc(32, 98)).ed25519.publicKey.toString('hex');
            const refused = await runCli('cocoon-chat.js', ['--proxy', secure.url, '--proxy-key', other, '--api-key', API_KEY, '--prompt', 'hi']);
            expect(refused.code).toBe(1);
            expect(refused.stderr).toMatch(new RegExp(`error: .*${PROXY_KEY}.*${other}|error: .*${other}.*${PROXY_KEY}`));
        } finally {
            await stop(secure);
        }
    });

    it('refuses bad arguments before sending anything (exit 2), and prints --help', async () => {
        const parse = (args: string[], stdin = '') => () => chatOptionsFromArgs(args, {}, () => stdin);
        const url = proxy.url;
        expect(parse(['--prompt', 'hi'])).toThrow(/give --proxy URL, or --ton-v4 URL and --root ADDRESS/);
        expect(parse(['--proxy', 'proxy.example', '--api-key', API_KEY, '--prompt', 'hi'])).toThrow(/--proxy must be http:\/\/host:port or https:\/\/host:port/);
        const root = `0:${'11'.repeat(32)}`;
        expect(parse(['--ton-v4', 'http://x', '--root', root, '--api-key', API_KEY, '--proxy-key', 'ab'.repeat(32), '--prompt', 'hi'])).toThrow(/--proxy-key goes with --proxy/);
        expect(parse(['--ton-v4', 'http://x', '--root', root, '--api-key', API_KEY, '--prompt', 'hi'])().options.proxy).toBeUndefined();
        expect(parse(['--proxy', url, '--prompt', 'hi'])).toThrow(/give the API key with --api-key or COCOON_API_KEY/);
        expect(parse(['--proxy', url, '--api-key', 'not-a-key', '--prompt', 'hi'])).toThrow(/key/);
        expect(parse(['--proxy', url, '--api-key', API_KEY, '--proxy-key', 'ab'.repeat(32), '--prompt', 'hi'])).toThrow(/the --proxy URL must be https:\/\//);
        expect(parse(['--proxy', url, '--api-key', API_KEY, '--proxy-key', 'abc', '--prompt', 'hi'])).toThrow(/--proxy-key must be 64 hex characters/);
        expect(parse(['--proxy', url, '--api-key', API_KEY, '--temperature', 'hot', '--prompt', 'hi'])).toThrow(/--temperature must be a number from 0 to 2/);
        expect(parse(['--proxy', url, '--api-key', API_KEY, '--max-tokens', '0', '--prompt', 'hi'])).toThrow(/--max-tokens must be an integer/);
        expect(parse(['--proxy', url, '--api-key', API_KEY, '--root', 'EQ'])).toThrow(/--ton-v4 and --root go together/);
        expect(parse(['--proxy', url, '--api-key', API_KEY, '--ton-v4', 'http://x', '--root', 'nowhere', '--prompt', 'hi'])).toThrow(/--root is not a TON address/);
        expect(parse(['--proxy', url, '--api-key', API_KEY], ' \n')).toThrow(/the prompt is empty/);
        expect(parse(['--proxy', url, '--api-key', API_KEY, '--max_tokens', '5', '--prompt', 'hi'])).toThrow(/unknown option --max_tokens \(see --help\)/);
        expect(parse(['--proxy', url, '--api-key', API_KEY, '--seal=yes', '--prompt', 'hi'])).toThrow(/--seal takes no value/);
        expect(parse(['--proxy', url, '--api-key', API_KEY, '--json', '--json-schema', 'x.json', '--prompt', 'hi'])).toThrow(/--json and --json-schema FILE are two ways/);
        expect(parse(['--proxy', url, '--api-key', API_KEY, '--logprobs', '21', '--prompt', 'hi'])).toThrow(/--logprobs must be an integer in \[0, 20\]/);
        expect(parse(['--proxy', url, '--api-key', API_KEY, '--json-schema', path.join(dir, 'absent.json'), '--prompt', 'hi'])).toThrow(/--json-schema .*absent\.json: ENOENT/);
        fs.writeFileSync(path.join(dir, 'list.json'), '[1]');
        expect(parse(['--proxy', url, '--api-key', API_KEY, '--json-schema', path.join(dir, 'list.json'), '--prompt', 'hi'])).toThrow(/not a JSON schema object/);
        const ok = chatOptionsFromArgs(['--proxy', url, '--system', 'Be brief.', '--seal', '--receipt', '--stop', 'x', '--stop', 'y'], { COCOON_API_KEY: API_KEY }, () => 'from stdin');
        expect(ok.printReceipt).toBe(true);
        expect(ok.options).toMatchObject({ apiKey: API_KEY, seal: true, maxTokens: 256, stop: ['x', 'y'], messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'from stdin' }] });
        // The command itself: a usage error exits 2 (nothing sent); --help prints the usage.
        const r = await runCli('cocoon-chat.js', ['--proxy', url, '--api-key', API_KEY]);
        expect(r.stderr).toMatch(/error: the prompt is empty/);
        expect(r.code).toBe(2);
        const help = await runCli('cocoon-chat.js', ['--help']);
        expect(help.code).toBe(0);
        expect(help.stdout).toMatch(/Usage: cocoon-chat \(--proxy URL \| --ton-v4 URL --root ADDRESS\)/);
    });
});

describe('client/chat.ts: the client checks the receipt itself', () => {
    const ask = (url: string) => chatThroughProxy({ proxy: url, apiKey: API_KEY, messages: [{ role: 'user', content: 'Count to three.' }], maxTokens: 8, temperature: 0 });

    it('accepts what the proxy forwards untouched', async () => {
        const relay = await startTamperingRelay(proxy.url, (body) => body);
        try {
            const a = await ask(relay.url);
            expect(a.tokens.completion).toBe(8n);
            expect(a.worker.ed25519_public_key).toBe(workerKey);
        } finally {
            relay.close();
        }
    });

    it('refuses an answer altered on the way: its result hash no longer matches', async () => {
        const relay = await startTamperingRelay(proxy.url, (body) => body.replace(/"content":"([^"\\])/, (_m, c: string) => `"content":"${c === 'Z' ? 'Y' : 'Z'}`));
        try {
            await expect(ask(relay.url)).rejects.toThrow(/receipt result hash does not match the answer/);
        } finally {
            relay.close();
        }
    });

    it('refuses token counts altered on the way', async () => {
        const relay = await startTamperingRelay(proxy.url, (body) => body.replace(/"completion_tokens":(\d+)/, (_m, n: string) => `"completion_tokens":${Number(n) - 1}`));
        try {
            await expect(ask(relay.url)).rejects.toThrow(/receipt completion tokens 8 differ from usage 7/);
        } finally {
            relay.close();
        }
    });

    it('refuses a receipt whose signature no worker the proxy lists made (a renamed signer is no matter: the signature decides)', async () => {
        const stranger = identityFromSeed(Buffer.alloc(32, 99)).ed25519.publicKey.toString('hex');
        const renamed = await startTamperingRelay(proxy.url, (body) => body.replace(/"worker_key":"[0-9a-f]{64}"/, `"worker_key":"${stranger}"`));
        const forged = await startTamperingRelay(proxy.url, (body) => body.replace(/"signature":"[^"]+"/, `"signature":"${Buffer.alloc(64, 7).toString('base64')}"`));
        try {
            expect((await ask(renamed.url)).worker.ed25519_public_key).toBe(workerKey);
            await expect(ask(forged.url)).rejects.toThrow(/bad receipt: no worker the proxy lists for tiny signed it \(receipt signature does not verify with the worker key\)/);
        } finally {
            renamed.close();
            forged.close();
        }
    });
});
