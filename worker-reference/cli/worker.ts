import * as path from 'node:path';
import { Address } from '@ton/core';
import { intArg, one, onShutdown, ParsedArgs, parseArgs, runMain } from './args';
import { ChainProxies, FollowedProxy } from '../worker/chain-proxies';
import { log } from '../common/http';
import { sha256File } from '../common/hash';
import { identityFromSeedHex } from '../crypto/keys';
import { tlsCredentials } from '../crypto/tls-link';
import { ModelEngine } from '../worker/engine';
import { defaultCpuThreads, GpuChoice, openLlama } from '../worker/llama';
import { checkModelHeader, probeLoadInChild } from '../worker/model-check';
import { ClaimedRequestIds, DEFAULT_MAX_PROXIES } from '../worker/request-ids';
import { ProxyJoins } from '../worker/join';
import { WorkerServer, WorkerTlsOptions } from '../worker/server';

const HELP = `Usage: cocoon-worker --model FILE [--model ID=FILE ...] --port N [options]

Serves GGUF models with llama.cpp (node-llama-cpp) behind an OpenAI-compatible API
(GET /v1/models, POST /v1/chat/completions, GET /v1/worker, GET /health, and Prometheus
metrics at GET /metrics). Every answer
carries a work receipt signed with the worker's Ed25519 key; sealed requests are decrypted
with its X25519 key and answered encrypted to the client's key.

  --model FILE|ID=FILE  a GGUF to serve (repeatable); the id defaults to the file name
                        without .gguf. A file that fails validation is refused and logged;
                        the worker serves the others and exits only if none is usable.
  --port N              TCP port (0 = any free port; the chosen port is printed)
  --host H              bind address (default 127.0.0.1)
  --gpu auto|cuda|off   auto: CUDA when its build loads, else CPU (default); cuda: CUDA or
                        fail; off: CPU only. The choice is logged at start.
  --threads N           CPU threads (default: core count - 1, at least 1)
  --parallel N          concurrent requests per model (context sequences, default 4)
  --max-queue N         requests waiting for a sequence before 429 (default 16)
  --context N           context tokens per sequence (default 2048, capped by the model)
  --max-tokens N        default max_tokens when a request gives none (default 512)
  --max-body N          largest request body in bytes (default 1048576)
  --key-seed HEX        32-byte hex seed of the enclave keys (default: fresh random keys;
                        also read from COCOON_WORKER_KEY_SEED)
  --proxy-address ADDR  proxy address put in receipts of requests without x-cocoon-proxy
  --tls                 serve HTTPS: TLS 1.3 with a certificate carrying the Ed25519
                        enclave key, which proxies pin (https:// endpoints in their config)
  --trust-proxy ADDR=KEY  only this proxy may request completions (repeatable; implies
                        --tls): ADDR its Proxy contract address, KEY its hex Ed25519 enclave
                        key, which its connection must present as TLS client certificate.
                        Receipts then name that proxy. Others get 403.
  --join URL            join the proxy at URL (repeatable; it must be one of --trust-proxy,
                        and start with --admit-workers): every --join-every seconds the
                        worker sends it a join signed by its enclave key naming its endpoint,
                        keys and models; the proxy checks them on chain (an eligible
                        Provider with these keys, serving these models) and routes to it
  --join-proxy ADDRESS  serve and join the Proxy contract at ADDRESS, found on chain
                        (repeatable; needs --ton-v4 and --root): it must be an active Proxy
                        registered at that Root; its key is trusted as --trust-proxy would
                        and its registered endpoint joined as --join would
  --ton-v4 URL, --root ADDRESS
                        TON's HTTP API v4 and the network's Root: needed for --join-proxy;
                        with them each --trust-proxy is checked on chain too (an active
                        Proxy registered at that Root, holding KEY) and followed
  --chain-check-every N
                        seconds between reads of the --join-proxy and --trust-proxy
                        contracts (default 600): a Proxy no longer active is no longer
                        served or joined, a moved endpoint is joined where it is now
  --public-url URL      https://host:port the proxies reach this worker at (default
                        https://<--host>:<port>; required when --host is 0.0.0.0 or ::)
  --join-every N        seconds between joins (default 60; a proxy drops a worker that has
                        not joined for its --join-ttl, 180 s by default)
  --data-dir DIR        where the (proxy, request id) pairs this key answered are kept, so
                        no restart can sign a second receipt for one (default
                        .cocoon-data/worker-<first 16 hex of the Ed25519 key>; without
                        --key-seed and --data-dir the key is new, so they stay in memory).
                        One worker per directory; a damaged file refuses to start.
  --max-proxies N       proxy addresses whose request ids are kept, at most (default 1000):
                        a request naming one more gets 403. Bounds --data-dir and memory of
                        a worker without --trust-proxy or --join, which serves whoever names
                        a proxy in x-cocoon-proxy; no proxy's ids are ever forgotten
  --drain-seconds N     on SIGTERM/SIGINT: take no new connection and give requests in flight
                        up to N seconds to finish, receipt included (default 30; a second
                        signal stops at once)
  --no-probe            skip the trial load of each model in a child process
  --help                this text
`;

/** The claimed request ids: in `dataDir`, or the key's default directory; in memory for a fresh random key. */
function openRequestIds(dataDir: string | undefined, ed25519: Buffer, seed: string | undefined, maxProxies: number): ClaimedRequestIds {
    if (dataDir === undefined && seed === undefined) {
        log('worker', 'request ids kept in memory: the key is fresh (no --key-seed), so it signed nothing before this start');
        return ClaimedRequestIds.inMemory({ maxProxies });
    }
    const dir = path.resolve(dataDir ?? path.join('.cocoon-data', `worker-${ed25519.toString('hex').slice(0, 16)}`));
    const t0 = performance.now();
    const ids = ClaimedRequestIds.open(dir, { maxProxies });
    log('worker', 'request ids recovered', { dir, ...ids.stats, ms: Math.round(performance.now() - t0) });
    return ids;
}

/**
 * The proxies followed on chain (--ton-v4, --root): those of `--join-proxy ADDRESS` (active,
 * registered at that Root under their key, with the endpoint they registered) and those of
 * `--trust-proxy ADDR=KEY` (the same, holding KEY). Null without --ton-v4 and --root.
 */
async function proxiesFromChain(args: ParsedArgs, trusted: Map<string, Address>): Promise<ChainProxies | null> {
    const wanted = args.values.get('join-proxy') ?? [];
    const tonV4 = one(args, 'ton-v4');
    const rootText = one(args, 'root');
    if (tonV4 === undefined && rootText === undefined) {
        if (wanted.length > 0) throw new Error("--join-proxy finds the proxy on chain: give --ton-v4 URL and --root ADDRESS (the network's Root)");
        return null;
    }
    if (tonV4 === undefined || rootText === undefined) throw new Error('--ton-v4 and --root go together');
    if (wanted.length === 0 && trusted.size === 0) throw new Error('--ton-v4 and --root are read for --join-proxy and --trust-proxy: give one, or leave them out');
    if (!/^https?:\/\/[^/]+/.test(tonV4)) throw new Error(`--ton-v4 must be an http(s) URL, got "${tonV4}"`);
    const parse = (text: string, what: string) => {
        try {
            return Address.parse(text);
        } catch {
            throw new Error(`${what} ${text} is not a TON address`);
        }
    };
    const root = parse(rootText, '--root');
    // One entry per Proxy: a --trust-proxy entry also given to --join-proxy is joined, and its key checked.
    const followed: FollowedProxy[] = [...trusted].map(([key, address]) => ({ address, key, join: false }));
    for (const w of wanted) {
        const address = parse(w, '--join-proxy');
        const known = followed.find((f) => f.address.equals(address));
        if (known) known.join = true;
        else followed.push({ address, join: true });
    }
    // Loaded only here: the contract wrappers and @ton/ton are heavy for a worker that does not read the chain.
    const [{ ChainCheck, ChainRefusal }, { tonV4Reader }] = await Promise.all([import('../client/chain-check'), import('../../ops/escrow-reader')]);
    const proxies = new ChainProxies({ chain: new ChainCheck(tonV4Reader(tonV4), root), proxies: followed, trusted, isRefusal: (e) => e instanceof ChainRefusal });
    await proxies.start();
    return proxies;
}

/** `--trust-proxy ADDR=KEY` values → key hex → Proxy address. */
function trustedProxies(specs: string[]): Map<string, Address> {
    const out = new Map<string, Address>();
    for (const spec of specs) {
        const m = /^([^=]+)=([0-9a-fA-F]{64})$/.exec(spec);
        if (!m) throw new Error(`--trust-proxy ${spec}: expected <Proxy contract address>=<64 hex chars of its Ed25519 enclave key>`);
        let address: Address;
        try {
            address = Address.parse(m[1]);
        } catch {
            throw new Error(`--trust-proxy ${spec}: ${m[1]} is not a TON address`);
        }
        const key = m[2].toLowerCase();
        if (out.has(key) && !out.get(key)?.equals(address)) throw new Error(`--trust-proxy: key ${key} is given for two proxy addresses`);
        out.set(key, address);
    }
    return out;
}

runMain(async () => {
    const argv = process.argv.slice(2);
    if (argv.includes('--help') || argv.includes('-h')) {
        process.stdout.write(HELP);
        return;
    }
    const args = parseArgs(argv, ['help', 'no-probe', 'tls'], HELP);
    const modelArgs = args.values.get('model') ?? [];
    if (modelArgs.length === 0) throw new Error('--model FILE is required (see --help)');
    const port = intArg(args, 'port', 8080, 0, 65535);
    const gpu = (one(args, 'gpu', 'auto') ?? 'auto') as GpuChoice;
    if (!['auto', 'cuda', 'off'].includes(gpu)) throw new Error('--gpu must be auto, cuda or off');
    const threads = intArg(args, 'threads', defaultCpuThreads(), 1, 256);
    const parallel = intArg(args, 'parallel', 4, 1, 64);
    const maxQueue = intArg(args, 'max-queue', 16, 0, 100000);
    const contextSize = intArg(args, 'context', 2048, 64, 1 << 20);
    const defaultMaxTokens = intArg(args, 'max-tokens', 512, 1, 1 << 20);
    const maxBodyBytes = intArg(args, 'max-body', 1 << 20, 1024, 1 << 30);
    const drainSeconds = intArg(args, 'drain-seconds', 30, 0, 86400);
    const identity = identityFromSeedHex(one(args, 'key-seed') ?? process.env.COCOON_WORKER_KEY_SEED);
    const proxyArg = one(args, 'proxy-address');
    const defaultProxy = proxyArg ? Address.parse(proxyArg) : new Address(0, Buffer.alloc(32));
    const trusted = trustedProxies(args.values.get('trust-proxy') ?? []);
    const staticJoins = args.values.get('join') ?? [];
    for (const u of staticJoins) if (!/^https?:\/\/[^/]+\/?$/.test(u)) throw new Error(`--join ${u}: expected the proxy's base URL, https://host:port`);
    const chainCheckEvery = intArg(args, 'chain-check-every', 600, 1, 86400);
    const chainProxies = await proxiesFromChain(args, trusted);
    const joinUrls = [...staticJoins, ...(chainProxies?.endpoints ?? [])];
    const tls: WorkerTlsOptions | undefined =
        args.switches.has('tls') || trusted.size > 0 ? { credentials: tlsCredentials(identity.ed25519, 'cocoon-worker'), trustedProxies: trusted, restricted: trusted.size > 0 } : undefined;
    if (joinUrls.length > 0 && trusted.size === 0) throw new Error('--join needs --trust-proxy ADDR=KEY for each proxy it joins (a worker serves only the proxies it trusts)');
    const joinEvery = intArg(args, 'join-every', 60, 1, 86400);
    const host = one(args, 'host', '127.0.0.1') ?? '127.0.0.1';
    const publicUrl = one(args, 'public-url');
    if (publicUrl !== undefined && !/^https:\/\/[^/]+\/?$/.test(publicUrl)) throw new Error(`--public-url ${publicUrl}: expected https://host:port (proxies reach joined workers over mutual TLS)`);
    if (joinUrls.length > 0 && publicUrl === undefined && (host === '0.0.0.0' || host === '::'))
        throw new Error(`--join with --host ${host}: give --public-url https://<address proxies reach>:<port>`);
    const requestIds = openRequestIds(one(args, 'data-dir'), identity.ed25519.publicKey, one(args, 'key-seed') ?? process.env.COCOON_WORKER_KEY_SEED, intArg(args, 'max-proxies', DEFAULT_MAX_PROXIES, 1, 1_000_000));

    log('worker', 'starting', { ed25519: identity.ed25519.publicKey.toString('hex'), x25519: identity.x25519.publicKey.toString('hex') });
    const backend = await openLlama(gpu, threads);
    log('worker', `backend ${backend.backend}`, { reason: backend.reason, threads: backend.backend === 'cpu' ? threads : 'n/a' });

    const engines: ModelEngine[] = [];
    for (const spec of modelArgs) {
        const eq = spec.indexOf('=');
        const file = path.resolve(eq > 0 ? spec.slice(eq + 1) : spec);
        const id = eq > 0 ? spec.slice(0, eq) : path.basename(file).replace(/\.gguf$/i, '');
        const check = checkModelHeader(file);
        if (!check.ok) {
            log('worker', 'model refused', { id, file, reason: check.reason });
            continue;
        }
        if (!args.switches.has('no-probe')) {
            const failure = await probeLoadInChild(file, 120_000);
            if (failure) {
                log('worker', 'model refused', { id, file, reason: failure });
                continue;
            }
        }
        const t0 = performance.now();
        const hash = sha256File(file);
        const engine = await ModelEngine.load(backend.llama, { id, file, hash, contextSize, parallel, maxQueue, threads, defaultMaxTokens });
        engines.push(engine);
        log('worker', 'model loaded', {
            id,
            sha256: hash.toString('hex'),
            arch: check.facts.architecture,
            layers: check.facts.blockCount,
            context: engine.contextSize,
            parallel,
            chat_wrapper: engine.chatWrapper.wrapperName,
            ms: Math.round(performance.now() - t0),
        });
    }
    if (engines.length === 0) throw new Error('no usable model: every --model was refused (see the log above)');

    const server = new WorkerServer({ engines, identity, backend: backend.backend, defaultProxy, maxBodyBytes, requestIds, tls });
    const bound = await server.listen(port, host);
    log('worker', 'listening', {
        url: `${tls ? 'https' : 'http'}://${one(args, 'host', '127.0.0.1')}:${bound}`,
        tls: tls ? (trusted.size > 0 ? `mutual, ${trusted.size} trusted prox${trusted.size === 1 ? 'y' : 'ies'}` : 'server key only, any client') : 'off',
    });
    process.stdout.write(
        JSON.stringify({ event: 'listening', port: bound, tls: tls !== undefined, ed25519: identity.ed25519.publicKey.toString('hex'), x25519: identity.x25519.publicKey.toString('hex'), backend: backend.backend }) + '\n',
    );
    let joins: ProxyJoins | undefined;
    if (joinUrls.length > 0) {
        const endpoint = (publicUrl ?? `https://${host.includes(':') ? `[${host}]` : host}:${bound}`).replace(/\/+$/, '');
        joins = new ProxyJoins({ proxies: joinUrls, trusted, identity, endpoint, models: engines.map((e) => e.options.hash), everyMs: joinEvery * 1000 });
        await joins.start();
        const j = joins;
        server.metrics.watchJoins(() => j.status());
    }
    // Follow the chain (a deactivated Proxy is no longer served, a moved endpoint is joined where it is now).
    const chainTimer = chainProxies
        ? setInterval(() => {
              void chainProxies.sync().then((changed) => {
                  if (changed) joins?.setTargets([...staticJoins, ...chainProxies.endpoints]);
              });
          }, chainCheckEvery * 1000)
        : undefined;
    chainTimer?.unref();
    onShutdown('worker', async () => {
        if (chainTimer) clearInterval(chainTimer);
        joins?.stop();
        log('worker', 'shutting down: no new connections, requests in flight finish', { in_flight: server.inFlight, drain_seconds: drainSeconds });
        const { cut } = await server.close(drainSeconds * 1000);
        await requestIds.close();
        log('worker', cut ? 'stopped: the drain deadline cut requests still in flight' : 'stopped: every request finished');
    });
});
