import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { intArg, one, onShutdown, ParsedArgs, parseArgs, runMain } from './args';
import { log } from '../common/http';
import { Ed25519Signer } from '../crypto/ed25519';
import { identityFromSeedHex } from '../crypto/keys';
import { tlsCredentials } from '../crypto/tls-link';
import { Ed25519KeyPair } from '../../wrappers/payloads';
import { fieldsNeedingRestart, loadProxyConfig, ProxyConfig } from '../proxy/config';
import type { Prices } from '../proxy/tokens';
import { EscrowReader, InMemoryEscrowReader } from '../proxy/escrow';
import { Ledger } from '../proxy/ledger';
import type { ContractReader } from '../../ops/escrow-reader';
import { DEFAULT_ESCROW_LIMITS, ProxyServer, ProxyServerOptions } from '../proxy/server';
import { ContractWatch } from '../proxy/contract-watch';

const HELP = `Usage: cocoon-proxy --config FILE --port N [--host H] [--ton-v4 URL [--escrow-rate N] [--escrow-reads N] [--admit-workers]] [--tls | --tls-cert FILE --tls-key FILE] [--drain-seconds N]

The reference proxy router: forwards OpenAI-style chat completions to its workers (chosen by
model, health and load; retried on another worker when one fails), checks every work
receipt, keeps per-escrow charges and per-worker-account payouts in a write-ahead log
(fsync before an answer completes) and serves signed cumulative charge / payout payloads.
A receipt the worker signed that fails the check is answered 502 and reported: a fault
report signed for the worker's Provider (workers[].provider / providerSeqno), served at
GET /v1/faults. Prometheus metrics at GET /metrics.

  --config FILE   JSON config: proxyAddress, keySeed, dataDir, workers[], prices, escrows
                  (with each escrow's secretHash; for a proxy without --ton-v4: tests and
                  trials), escrowCacheMs, escrowRefreshMinMs,
                  faultTtlSeconds (see docs/worker.md). A worker endpoint https://host:port
                  is reached over mutual TLS: the worker must show its configured ed25519Key
                  and the proxy shows its own enclave key (the worker's --trust-proxy); a
                  plain http:// endpoint on another host is logged as a warning and its
                  faults are not reported.
  --port N        TCP port (0 = any free port; the chosen port is printed)
  --host H        bind address (default 127.0.0.1)
  --tls           serve clients over HTTPS with a certificate carrying the proxy's Ed25519
                  enclave key (the key on its Proxy contract): clients pin that key
                  (PinnedKeyAgent as the openai client's httpAgent)
  --tls-cert FILE, --tls-key FILE
                  serve clients over HTTPS with this PEM certificate (chain) and key, e.g.
                  one a CA issued for a key made inside the enclave
  --ton-v4 URL    read clients' JobEscrows from the chain through TON's HTTP API v4 (e.g.
                  https://testnet-v4.tonhubapi.com, https://mainnet-v4.tonhubapi.com, or
                  your own node's v4 server); the Proxy contract (proxyAddress) must be
                  deployed there. Without it escrows come from the config's "escrows".
  --escrow-rate N
                  requests a minute from one source address that make the proxy read an
                  escrow from the chain for someone it has not served (an escrow it has not
                  read, or a key it would refuse; default 60, 0: no limit); more get 429
                  with Retry-After. Clients sending the right key for an escrow the proxy
                  has read are not counted
  --escrow-reads N
                  such chain reads at once (default 16); more get 429. Both limits apply
                  with --ton-v4
  --admit-workers
                  workers may join at POST /v1/workers/join (cocoon-worker --join): a join
                  signed by the worker's enclave key is admitted when the chain (--ton-v4)
                  says the key is an eligible Provider's at this Proxy's Root, with that
                  X25519 key, serving every model named; its fees go to the Provider's
                  owner. The config's workers stay as they are.
  --join-ttl N    seconds a joined worker stays listed after its last join (default 180)
  --join-rate N   joins taken a minute from one source address (default 30, 0: no limit);
                  more get 429 with Retry-After before their signature is checked. Behind
                  a reverse proxy every join comes from its address: raise it, or limit there
  --join-checks N
                  chain checks at once for joins from keys not admitted now (default 8);
                  more get 429 (a worker admitted now is never held by others' joins). A
                  key no Provider registered at Root holds is refused before that, from
                  Root's registry as read at most every 30 s
  --drain-seconds N
                  on SIGTERM/SIGINT: take no new connection and give requests in flight up
                  to N seconds to finish and be accounted (default 30; a second signal
                  stops at once)
  --help          this text

Clients authenticate with "Authorization: Bearer <JobEscrow address>:<secret hex>" (the
openai client's apiKey): the secret's SHA-256 must be the escrow's secretHash. A missing or
malformed key, an escrow with no secret set, or a wrong secret is answered 401.
SIGHUP reloads the config's workers list (new and changed entries are health-checked at once;
removed ones get no new request and finish the ones they have); other fields need a restart.
The enclave key seed comes from config.keySeed, COCOON_PROXY_KEY_SEED, or dataDir/key-seed
(created on first start).
`;

function proxySeed(configSeed: string | undefined, dataDir: string): string {
    const given = configSeed ?? process.env.COCOON_PROXY_KEY_SEED;
    if (given) return given;
    const file = path.join(dataDir, 'key-seed');
    if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
    fs.mkdirSync(dataDir, { recursive: true });
    const seed = crypto.randomBytes(32).toString('hex');
    fs.writeFileSync(file, seed + '\n', { mode: 0o600 });
    return seed;
}

/** The client-facing TLS of --tls or --tls-cert/--tls-key, or none. */
function clientTls(args: ParsedArgs, enclaveKey: Ed25519KeyPair): { credentials: { key: string; cert: string }; what: string } | undefined {
    const certFile = one(args, 'tls-cert');
    const keyFile = one(args, 'tls-key');
    if (args.switches.has('tls')) {
        if (certFile !== undefined || keyFile !== undefined) throw new Error('--tls (the enclave key certificate) and --tls-cert/--tls-key exclude each other');
        return { credentials: tlsCredentials(enclaveKey, 'cocoon-proxy'), what: 'enclave key (clients pin it)' };
    }
    if (certFile === undefined && keyFile === undefined) return undefined;
    if (certFile === undefined || keyFile === undefined) throw new Error('--tls-cert and --tls-key go together');
    const read = (file: string, what: string) => {
        try {
            return fs.readFileSync(file, 'utf8');
        } catch (e) {
            throw new Error(`${what} ${file} cannot be read: ${e instanceof Error ? e.message : String(e)}`);
        }
    };
    const credentials = { cert: read(certFile, '--tls-cert'), key: read(keyFile, '--tls-key') };
    try {
        tls.createSecureContext(credentials);
    } catch (e) {
        throw new Error(`--tls-cert/--tls-key: not a PEM certificate and its key (${e instanceof Error ? e.message : String(e)})`);
    }
    return { credentials, what: `certificate ${certFile}` };
}

/**
 * What the Proxy contract says about this router: its key must be the one this router signs
 * with (escrows and worker accounts take nothing else), and its prices are the router's. A
 * config that gives other prices is refused: the router would admit requests the escrows'
 * balances do not cover, or promise workers other fees.
 */
async function checkAgainstChain(chain: ContractReader, config: ProxyConfig, key: Buffer): Promise<Prices> {
    const { Proxy } = await import('../../wrappers/Proxy');
    const contract = chain.open(Proxy.fromAddress(config.proxyAddress));
    const registered = (await contract.getEd25519Key()).toString(16).padStart(64, '0');
    if (registered !== key.toString('hex'))
        throw new Error(`this router's enclave key ${key.toString('hex')} is not the Proxy contract's (${registered}): escrows would refuse every charge it signs; start it with the key seed the Proxy was registered with`);
    const onChain = await contract.getPrices();
    const fields = ['pricePerToken', 'workerFeePerToken', 'promptMultiplier', 'cachedMultiplier', 'completionMultiplier', 'reasoningMultiplier'] as const;
    const differ = fields.filter((f) => onChain[f] !== config.prices[f]);
    if (config.pricesGiven && differ.length > 0)
        throw new Error(`the config's prices differ from the Proxy contract's (${differ.map((f) => `${f} ${config.prices[f]} ≠ ${onChain[f]}`).join(', ')}): remove "prices" from the config, with --ton-v4 they are read from the chain`);
    return onChain;
}

/** Where clients' escrows are read: the chain (--ton-v4, whose reader is `chain`) or the config. */
async function escrowSource(tonV4: string | undefined, config: ProxyConfig): Promise<{ reader: EscrowReader; what: string; chain?: ContractReader }> {
    if (tonV4 === undefined) return { reader: InMemoryEscrowReader.fromJson(config.escrows), what: 'config (no --ton-v4)' };
    if (!/^https?:\/\/[^/]+/.test(tonV4)) throw new Error(`--ton-v4 must be an http(s) URL, got "${tonV4}"`);
    if (config.escrows !== undefined) throw new Error('the config lists escrows, but with --ton-v4 they are read from the chain: remove "escrows" from the config');
    // Loaded only here: the contract wrappers and @ton/ton are heavy for a proxy that does not read the chain.
    const { ChainEscrowReader, tonV4Reader } = await import('../../ops/escrow-reader');
    const chain = tonV4Reader(tonV4);
    let deployed: boolean;
    try {
        deployed = await chain.isContractDeployed(config.proxyAddress);
    } catch (e) {
        throw new Error(`--ton-v4 ${tonV4} could not be read: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!deployed) throw new Error(`the Proxy contract ${config.proxyAddress.toString()} (proxyAddress) is not deployed on the chain ${tonV4} serves`);
    return { reader: new ChainEscrowReader(chain, config.proxyAddress), what: `chain via ${tonV4}`, chain };
}

runMain(async () => {
    const argv = process.argv.slice(2);
    if (argv.includes('--help') || argv.includes('-h')) {
        process.stdout.write(HELP);
        return;
    }
    const args = parseArgs(argv, ['help', 'tls', 'admit-workers'], HELP);
    const configFile = one(args, 'config');
    if (!configFile) throw new Error('--config FILE is required (see --help)');
    const port = intArg(args, 'port', 8000, 0, 65535);
    const host = one(args, 'host', '127.0.0.1') ?? '127.0.0.1';
    const drainSeconds = intArg(args, 'drain-seconds', 30, 0, 86400);
    const loaded = loadProxyConfig(configFile);
    const identity = identityFromSeedHex(proxySeed(loaded.keySeedHex, loaded.dataDir));
    const tls = clientTls(args, identity.ed25519);
    const t0 = performance.now();
    const ledger = Ledger.open(loaded.dataDir);
    log('proxy', 'ledger recovered', {
        dir: loaded.dataDir,
        records: ledger.recordCount,
        requests: ledger.requestCount,
        escrows: ledger.escrows.length,
        fault_reports: ledger.faults.length,
        ms: Math.round(performance.now() - t0),
    });
    const joinTtl = intArg(args, 'join-ttl', 180, 1, 86400);
    const escrows = await escrowSource(one(args, 'ton-v4'), loaded);
    // With the chain: this router holds the Proxy's key, and prices as its escrows and worker accounts do.
    const config = escrows.chain ? { ...loaded, prices: await checkAgainstChain(escrows.chain, loaded, identity.ed25519.publicKey) } : loaded;
    let admit: ProxyServerOptions['admit'];
    if (args.switches.has('admit-workers')) {
        if (!escrows.chain) throw new Error('--admit-workers checks joining workers on chain: it needs --ton-v4');
        const { chainJoinChecks, DEFAULT_JOIN_LIMITS } = await import('../proxy/admissions');
        const limits = { perSourcePerMinute: intArg(args, 'join-rate', DEFAULT_JOIN_LIMITS.perSourcePerMinute, 0, 1_000_000), chainChecks: intArg(args, 'join-checks', DEFAULT_JOIN_LIMITS.chainChecks, 1, 10_000) };
        admit = { ...chainJoinChecks(config.proxyAddress, escrows.chain), ttlMs: joinTtl * 1000, limits };
    }
    const escrowLimits = escrows.chain
        ? { perSourcePerMinute: intArg(args, 'escrow-rate', DEFAULT_ESCROW_LIMITS.perSourcePerMinute, 0, 1_000_000), atOnce: intArg(args, 'escrow-reads', DEFAULT_ESCROW_LIMITS.atOnce, 1, 10_000) }
        : undefined;
    const server = new ProxyServer({ config, signer: new Ed25519Signer(identity.ed25519), escrows: escrows.reader, ledger, tls: tls?.credentials, admit, escrowLimits });
    let watch: ContractWatch | undefined;
    if (escrows.chain) {
        const [{ Proxy, ProxyState }, { Root }] = await Promise.all([import('../../wrappers/Proxy'), import('../../wrappers/Root')]);
        const chain = escrows.chain;
        const contract = chain.open(Proxy.fromAddress(config.proxyAddress));
        const root = chain.open(Root.fromAddress(await contract.getRoot()));
        const seqno = await contract.getSeqno();
        watch = new ContractWatch(
            // Active as clients judge it (Root's isProxyActive, on the chain's clock) and not closing.
            async () => ({ validUntil: Number(await contract.getValidUntil()), active: (await root.getIsProxyActive(seqno)) && (await contract.getState()) === ProxyState.active }),
            { everyMs: 600_000, warnSeconds: 7 * 86400 },
        );
        await watch.start();
        server.metrics.watchContract(() => watch?.latest);
    }
    const bound = await server.start(port, host);
    log('proxy', 'listening', {
        url: `${tls ? 'https' : 'http'}://${host}:${bound}`,
        tls: tls?.what ?? 'off',
        proxy: config.proxyAddress.toString(),
        key: identity.ed25519.publicKey.toString('hex'),
        workers: config.workers.length,
        escrows: escrows.what,
        prices: escrows.chain ? 'the Proxy contract' : loaded.pricesGiven ? 'config' : 'defaults (no prices in the config)',
        joins: admit ? `admitted, TTL ${joinTtl} s, ${admit.limits?.perSourcePerMinute || 'unlimited'} a minute per source, ${admit.limits?.chainChecks} chain checks at once` : 'off',
    });
    process.stdout.write(JSON.stringify({ event: 'listening', port: bound, tls: tls !== undefined, ed25519: identity.ed25519.publicKey.toString('hex') }) + '\n');
    // SIGHUP: read the config again and take its workers list (added, changed, removed); other
    // fields need a restart. A config that does not parse changes nothing.
    process.on('SIGHUP', () => {
        let reloaded: ProxyConfig;
        try {
            reloaded = loadProxyConfig(configFile);
        } catch (e) {
            log('proxy', 'SIGHUP: config not reloaded, the running one stays', { error: e instanceof Error ? e.message : String(e) });
            return;
        }
        const restart = fieldsNeedingRestart(loaded, reloaded);
        if (restart.length > 0) log('proxy', 'SIGHUP: these config fields changed but apply only after a restart', { fields: restart.join(',') });
        void server.replaceConfigWorkers(reloaded.workers).then((c) =>
            log('proxy', 'SIGHUP: workers reloaded', { added: c.added.join(',') || '-', changed: c.changed.join(',') || '-', removed: c.removed.join(',') || '-', kept: c.kept.length }),
        );
    });
    onShutdown('proxy', async () => {
        watch?.stop();
        log('proxy', 'shutting down: no new connections, requests in flight finish and are accounted', { in_flight: server.inFlight, drain_seconds: drainSeconds });
        const { cut } = await server.close(drainSeconds * 1000);
        log('proxy', cut ? 'stopped: the drain deadline cut requests still in flight (not charged)' : 'stopped: every request finished');
    });
});
