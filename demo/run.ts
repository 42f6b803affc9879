/**
 * `npm run demo`: the whole Cocoon network end to end on the embedded sandbox chain.
 *
 *  1. a sandbox chain; governance deploys Root, sets the attestor, allow-lists the images and the model
 *  2. TEST attestation: a test CA mints TDX quotes for a proxy and a worker (their keys bound in
 *     REPORTDATA); the verifier checks them; the attestor signs certificates; the GPU owner
 *     registers with stake
 *  3. the proxy router (HTTP on localhost, escrows read from the chain) starts and registers its
 *     URL with stake; the reference worker (child process, llama.cpp, a generated tiny GGUF)
 *     joins it, admitted because the chain says its key is the registered Provider's
 *  4. a client opens an escrow (storing the hash of its API secret), finds its proxy on chain
 *     from the escrow alone, and sends sealed, streamed prompts with its API key; the bare
 *     escrow address is refused
 *  5. one charge and one payout settle every request; the client closes and is refunded; a
 *     (simulated) equivocating worker is reported and slashed
 *  6. a summary: balances before/after with conservation, gas per transaction, tokens by kind,
 *     tokens/s, requests settled per on-chain transaction
 *
 * Exits non-zero when any step or check fails.
 */
import { Address, fromNano, toNano } from '@ton/core';
import { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { createHash, randomBytes } from 'crypto';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { SandboxNetworkProvider } from '../ops/sandbox-provider';
import { ConsoleUI } from '../ops/ui';
import { deployRoot, editAllowList, setAttestors, setParams, table } from '../ops/root';
import { registerProvider, registerProxy } from '../ops/register';
import { ChainEscrowReader } from '../ops/escrow-reader';
import { openEscrow, requestRefund, submitCharge, submitPayout, withdrawRefund } from '../ops/payments';
import { reportEquivocation } from '../ops/provider';
import { attest } from '../verifier/attest';
import { TestCa } from '../verifier/testca';
import { reportDataForKeys } from '../verifier/key-binding';
import { decodeTdReport, imageHash } from '../verifier/report';
import { parseQuote } from '../verifier/quote';
import { generateModel } from '../worker-reference/model/generate';
import { sha256File } from '../worker-reference/common/hash';
import { identityFromSeed, NodeIdentity } from '../worker-reference/crypto/keys';
import { Ed25519Signer } from '../worker-reference/crypto/ed25519';
import { spawnCli, Spawned, stop } from '../worker-reference/launch';
import { parseProxyConfig } from '../worker-reference/proxy/config';
import { Ledger } from '../worker-reference/proxy/ledger';
import { ProxyServer } from '../worker-reference/proxy/server';
import { chainJoinChecks } from '../worker-reference/proxy/admissions';
import type { WorkerState } from '../worker-reference/proxy/registry';
import { ChainCheck } from '../worker-reference/client/chain-check';
import { chatThroughProxy, ChatOutcome } from '../worker-reference/client/chat';
import { apiKeyMatches, formatEscrowApiKey, generateEscrowSecret, proxyAuthHeaders } from '../worker-reference/client/api-key';
import { AllowList, defaultParams } from '../wrappers/Root';
import { Proxy } from '../wrappers/Proxy';
import { JobEscrow } from '../wrappers/JobEscrow';
import { workerAccountFor } from '../wrappers/WorkerAccount';
import { Provider } from '../wrappers/Provider';
import { buildWorkReceipt, parseWorkReceipt, Role, signPayload, SignedPayload, TokenCounts } from '../wrappers/payloads';
import { Cell } from '@ton/core';
import { Journal } from './journal';

const PROMPTS = [
    'What does a confidential VM protect?',
    'Explain attestation in one sentence.',
    'Why settle many requests with one transaction?',
    'Name a use of private inference.',
    'What is a work receipt?',
    'How does a client get its money back?',
];
const MAX_TOKENS = 48;

let stepNo = 0;
function step(journal: Journal, title: string): void {
    stepNo += 1;
    journal.step(title);
    console.log(`\n[${stepNo}] ${title}`);
}

function say(line: string): void {
    console.log(`    ${line}`);
}

function hex(b: Buffer): string {
    return b.toString('hex');
}

/** Measurement registers of a demo image: MRTD from its name, the rest fixed. */
function mrTdOf(name: string): Buffer {
    return createHash('sha384').update(`cocoon demo image: ${name}`).digest();
}

/** One sealed, streamed chat completion through the proxy with the client's API key, its receipt checked. */
function askSealed(proxyUrl: string, apiKey: string, prompt: string, chain: ChainCheck): Promise<ChatOutcome> {
    return chatThroughProxy({ proxy: proxyUrl, apiKey, model: 'tiny', seal: true, messages: [{ role: 'user', content: prompt }], maxTokens: MAX_TOKENS, temperature: 0.7, chain });
}

/** Waits (up to 20 s) until the worker named `name` has joined `proxy` and passed a health check. */
async function joinedWorker(proxy: ProxyServer, name: string): Promise<WorkerState> {
    const t0 = performance.now();
    for (;;) {
        const w = proxy.registry.workers.find((x) => x.config.name === name && x.healthy);
        if (w) return w;
        if (performance.now() - t0 > 20_000) throw new Error(`the worker did not join the proxy as ${name} within 20 s`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

async function getJson<T>(url: string): Promise<T> {
    const r = await fetch(url);
    if (r.status !== 200) throw new Error(`GET ${url}: HTTP ${r.status} ${await r.text()}`);
    return (await r.json()) as T;
}

async function main(): Promise<void> {
    const started = performance.now();
    const work = mkdtempSync(join(tmpdir(), 'cocoon-demo-'));
    let worker: Spawned | undefined;
    let proxyServer: ProxyServer | undefined;
    try {
        const chain = await Blockchain.create();
        chain.now = Math.floor(Date.now() / 1000);
        const journal = new Journal(chain);
        const ui = new ConsoleUI((l) => say(l));
        const wallets: Record<string, SandboxContract<TreasuryContract>> = {};
        for (const name of ['governance', 'proxy operator', 'GPU owner', 'client', 'watcher']) {
            wallets[name] = await chain.treasury(name);
            await journal.openAccount(wallets[name].address);
        }
        const as = (name: string) => new SandboxNetworkProvider(chain, wallets[name], ui, journal.record);
        const gov = as('governance');

        // ------------------------------------------------------------------ 1
        step(journal, 'Governance deploys Root, sets the attestor, allow-lists images and the model');
        journal.step('deploy Root');
        const root = await deployRoot(gov, { owner: wallets.governance.address });
        const attestor = identityFromSeed(randomBytes(32)).ed25519;
        journal.step('set attestors');
        await setAttestors(gov, root.address, [attestor.publicKey], 1);
        // Demo prices, high enough that settlement shows in the balances: 0.0001 TON per token,
        // 0.00008 of it to the worker.
        const params = defaultParams();
        params.prices = { ...params.prices, pricePerToken: 100_000n, workerFeePerToken: 80_000n };
        journal.step('set params');
        await setParams(gov, root.address, params);
        say(`price 0.0001 TON per token (x multiplier per kind), worker fee 0.00008 TON per billable token`);
        const modelFile = join(work, 'tiny.gguf');
        const model = generateModel(modelFile, 'tiny', 7);
        const modelHash = sha256File(modelFile);
        say(`model: generated tiny GGUF (${model.parameters.toLocaleString()} parameters, ${model.bytes.toLocaleString()} bytes), SHA-256 ${hex(modelHash)}`);
        const ca = new TestCa({ now: chain.now });
        const proxyMrTd = mrTdOf('proxy v1');
        const workerMrTd = mrTdOf('worker v1');
        const proxyImage = imageHash(decodeTdReport(parseQuote(ca.mintQuote({ mrTd: proxyMrTd })).body));
        const workerImage = imageHash(decodeTdReport(parseQuote(ca.mintQuote({ mrTd: workerMrTd })).body));
        journal.step('allow-list (3 entries)');
        await editAllowList(gov, root.address, AllowList.proxyImage, proxyImage, true);
        await editAllowList(gov, root.address, AllowList.workerImage, workerImage, true);
        await editAllowList(gov, root.address, AllowList.model, modelHash, true);

        // ------------------------------------------------------------------ 2
        step(journal, 'TEST ATTESTATION (test CA, not Intel): mint TDX quotes, verify, certify; the GPU owner registers with stake');
        const proxyId = identityFromSeed(randomBytes(32));
        const workerSeed = randomBytes(32);
        const workerId = identityFromSeed(workerSeed);
        const certify = (id: NodeIdentity, mrTd: Buffer, role: Role) => {
            const quote = ca.mintQuote({ mrTd, reportData: reportDataForKeys(id.ed25519.publicKey, id.x25519.publicKey) });
            const a = attest({
                quote,
                collateral: ca.collateral(),
                now: chain.now!,
                rootCa: ca.rootDer,
                root: root.address,
                role,
                ed25519Key: id.ed25519.publicKey,
                x25519Key: id.x25519.publicKey,
                attestors: [attestor],
            });
            say(`${Role[role].toLowerCase()} quote: ${a.result.tcbStatus}, image ${hex(a.result.imageHash!)}, keys bound, decided by ${a.result.decidedBy.join(' + ')}`);
            return a.certificate;
        };
        const proxyCertificate = certify(proxyId, proxyMrTd, Role.Proxy);
        journal.step('register provider (+ deploy Provider)');
        const providerReg = await registerProvider(as('GPU owner'), {
            root: root.address,
            bundle: certify(workerId, workerMrTd, Role.Worker),
            stake: toNano('20'),
            gpuModel: 'CPU (demo)',
            vramGiB: 0,
            gpuCount: 0,
            models: [modelHash],
            expectedUptimeBps: 9900,
        });
        const providerContract = chain.openContract(Provider.fromAddress(providerReg.address));

        // ------------------------------------------------------------------ 3
        step(journal, 'Start the proxy router and register its URL; the reference worker (llama.cpp) joins it, checked on chain');
        // The proxy runs at the address its registration will deploy, and registers the URL it listens at.
        const proxyAddress = await root.getProxyAddress(await root.getProxyCount());
        const p = params.prices; // the Proxy takes Root's params when it is deployed
        const config = parseProxyConfig(
            {
                proxyAddress: proxyAddress.toString(),
                dataDir: join(work, 'proxy-data'),
                prices: {
                    pricePerToken: p.pricePerToken.toString(),
                    workerFeePerToken: p.workerFeePerToken.toString(),
                    promptMultiplier: p.promptMultiplier.toString(),
                    cachedMultiplier: p.cachedMultiplier.toString(),
                    completionMultiplier: p.completionMultiplier.toString(),
                    reasoningMultiplier: p.reasoningMultiplier.toString(),
                },
                // No worker listed: the worker joins, and the chain says whether it may.
                workers: [],
            },
            work,
        );
        const ledger = Ledger.open(config.dataDir);
        proxyServer = new ProxyServer({
            config,
            signer: new Ed25519Signer(proxyId.ed25519),
            escrows: new ChainEscrowReader(as('watcher'), proxyAddress),
            ledger,
            admit: { ...chainJoinChecks(proxyAddress, as('watcher')), ttlMs: 180_000 },
        });
        const proxyPort = await proxyServer.start(0);
        const proxyUrl = `http://127.0.0.1:${proxyPort}`;
        say(`proxy router listening on ${proxyUrl}, escrows read from the chain, workers admitted when they join`);
        journal.step('register proxy (+ deploy Proxy)');
        const proxyReg = await registerProxy(as('proxy operator'), { root: root.address, bundle: proxyCertificate, stake: toNano('20'), endpoint: proxyUrl });
        if (!proxyReg.address.equals(proxyAddress)) throw new Error(`the Proxy was deployed at ${proxyReg.address.toString()}, not at ${proxyAddress.toString()}`);
        const proxyContract = chain.openContract(Proxy.fromAddress(proxyReg.address));
        if ((await proxyContract.getPrices()).pricePerToken !== p.pricePerToken) throw new Error("the Proxy's prices are not the ones the router charges");
        say(`the proxy registered with stake as Proxy #${proxyReg.seqno}, endpoint ${proxyUrl} (an operator registers its public https URL; clients pin its key)`);
        worker = await spawnCli('cocoon-worker.js', [
            '--model', `tiny=${modelFile}`, '--port', '0', '--gpu', 'auto', '--key-seed', hex(workerSeed), '--data-dir', join(work, 'worker-data'),
            // Only this proxy, proving its enclave key in TLS, may ask for completions; the worker joins it.
            '--trust-proxy', `${proxyAddress.toString()}=${hex(proxyId.ed25519.publicKey)}`, '--join', proxyUrl,
        ]);
        say(`worker listening on ${worker.url} (${String(worker.info.backend ?? 'backend in its log')}); the proxy link is mutual TLS pinned to both enclave keys`);
        const backendLine = worker.stderr().split('\n').find((l) => /backend|gpu|cuda|cpu/i.test(l));
        if (backendLine) say(`worker log: ${backendLine.trim().slice(0, 160)}`);
        const joined = await joinedWorker(proxyServer, 'provider-0');
        const workerAccount = (await workerAccountFor(proxyAddress, providerReg.address, wallets['GPU owner'].address)).address;
        if (!joined.config.workerAccount.equals(workerAccount) || !joined.config.provider?.address.equals(providerReg.address))
            throw new Error("the joined worker is not paid to its Provider owner's WorkerAccount");
        say(`the worker joined: the proxy checked on chain that its key is Provider #${providerReg.seqno}'s (eligible, same X25519 key, serving the model) and pays the GPU owner's WorkerAccount`);

        // ------------------------------------------------------------------ 4
        step(journal, 'A client opens an escrow, finds its proxy on chain, and sends sealed, streamed prompts through it');
        const client = as('client');
        const chat = (apiKey: string) =>
            fetch(`${proxyUrl}/v1/chat/completions`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', ...proxyAuthHeaders(apiKey) },
                body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
            });
        const refused = await chat(formatEscrowApiKey(wallets.client.address, generateEscrowSecret()));
        if (refused.status !== 402) throw new Error(`a client without an escrow got HTTP ${refused.status}, expected 402`);
        say('without an escrow the proxy refuses the client (HTTP 402), as it must');
        journal.step('open escrow (+ handshake)');
        // The escrow stores only the SHA-256 of the client's API secret; the client keeps the key.
        const escrow = await openEscrow(client, { proxy: proxyReg.address, deposit: toNano('5'), stake: toNano('1') });
        const escrowContract = chain.openContract(JobEscrow.fromAddress(escrow.address));
        if (!apiKeyMatches(escrow.apiKey, await escrowContract.getSecretHash())) throw new Error("the escrow does not hold the hash of the client's API secret");
        say(`the client's API key is "<escrow address>:<secret>"; the escrow holds only the secret's SHA-256`);
        const bare = await chat(escrow.address.toString());
        const wrong = await chat(formatEscrowApiKey(escrow.address, generateEscrowSecret()));
        if (bare.status !== 401 || wrong.status !== 401) throw new Error(`the escrow's address alone got HTTP ${bare.status}, a wrong secret HTTP ${wrong.status}; expected 401 for both`);
        say('the escrow address alone, or with a wrong secret, is refused (HTTP 401): nobody else can spend this escrow');
        const totals: TokenCounts = { prompt: 0n, cached: 0n, completion: 0n, reasoning: 0n };
        let lastReceipt: ChatOutcome['receipt'] | undefined;
        // The client checks on chain what the proxy lists: the worker it seals to and the one that signs are the registered Provider.
        const onChain = new ChainCheck(as('client'), root.address);
        // All the client needs is its API key and Root's address: the proxy comes from the escrow.
        const found = await onChain.proxyForEscrow(escrow.address);
        if (found.endpoint !== proxyUrl || !found.key.equals(proxyId.ed25519.publicKey)) throw new Error(`the chain names the proxy at ${found.endpoint}, not ${proxyUrl}`);
        say(`the client found its proxy on chain from its escrow: Proxy #${found.seqno} at ${found.endpoint}, active, holding the key the escrow takes charges from`);
        const t0 = performance.now();
        for (const prompt of PROMPTS) {
            const a = await askSealed(found.endpoint, escrow.apiKey, prompt, onChain);
            if (!a.onChain?.provider.equals(providerReg.address)) throw new Error('the receipt was signed by another worker than the one registered');
            totals.prompt += a.tokens.prompt - a.tokens.cached;
            totals.cached += a.tokens.cached;
            totals.completion += a.tokens.completion - a.tokens.reasoning;
            totals.reasoning += a.tokens.reasoning;
            lastReceipt = a.receipt;
            say(`"${prompt}" → ${JSON.stringify(a.text.slice(0, 60))}${a.text.length > 60 ? '…' : ''} (${a.tokens.completion} tokens, receipt #${a.requestId} checked)`);
        }
        say(`the client checked every receipt (signed by the worker key, hashing the sealed answer it received, counting the tokens it was told) and, on chain, that the key it sealed to and the signer are Provider ${providerReg.address.toString()}'s, eligible and serving the model`);
        const inferenceSeconds = (performance.now() - t0) / 1000;
        const completionTokens = Number(totals.completion + totals.reasoning);
        say(`${PROMPTS.length} sealed requests, ${completionTokens} completion tokens in ${inferenceSeconds.toFixed(2)} s (${(completionTokens / inferenceSeconds).toFixed(0)} tokens/s end to end)`);

        // ------------------------------------------------------------------ 5
        step(journal, 'Settle: one charge and one payout for every request; the client closes and is refunded');
        type Signed = { payload: string; signature: string };
        const charge = await getJson<Signed & { cost_nanoton: string }>(`${proxyUrl}/v1/settlement/charge/${escrow.address.toString()}`);
        journal.step('charge (all requests)');
        const charged = await submitCharge(as('proxy operator'), {
            escrow: escrow.address,
            payload: Cell.fromBoc(Buffer.from(charge.payload, 'base64'))[0],
            signature: Buffer.from(charge.signature, 'base64'),
        });
        say(`charge: ${fromNano(charged.charged)} TON moved from the escrow to the Proxy`);
        if (charged.charged.toString() !== charge.cost_nanoton) throw new Error(`the escrow charged ${charged.charged}, the router expected ${charge.cost_nanoton}`);
        const payout = await getJson<Signed & { fee_nanoton: string }>(`${proxyUrl}/v1/settlement/payout/${workerAccount.toString()}`);
        journal.step('payout (all requests)');
        const paid = await submitPayout(as('proxy operator'), {
            workerAccount,
            proxy: proxyReg.address,
            provider: providerReg.address,
            payee: wallets['GPU owner'].address,
            payload: Cell.fromBoc(Buffer.from(payout.payload, 'base64'))[0],
            signature: Buffer.from(payout.signature, 'base64'),
        });
        say(`payout: ${fromNano(paid.paid)} TON from the Proxy's pool to the GPU owner`);
        if (paid.paid.toString() !== payout.fee_nanoton) throw new Error(`the payout paid ${paid.paid}, the router expected ${payout.fee_nanoton}`);
        journal.step('request refund');
        const closing = await requestRefund(client, { escrow: escrow.address });
        chain.now = closing.unlockAt + 1;
        say(`time passes: the client close delay ends at ${new Date(closing.unlockAt * 1000).toISOString()}`);
        journal.step('withdraw refund');
        const refund = await withdrawRefund(client, { escrow: escrow.address });
        say(`refund: ${fromNano(refund.refunded)} TON back to the client`);

        step(journal, 'A (simulated) misbehaving worker signs two different answers for one request: anyone reports it');
        if (!lastReceipt) throw new Error('no receipt to build evidence from');
        const honest: SignedPayload = { payload: Cell.fromBoc(Buffer.from(lastReceipt.boc, 'base64'))[0], signature: Buffer.from(lastReceipt.signature, 'base64') };
        const forged = signPayload(buildWorkReceipt({ ...parseWorkReceipt(honest.payload), resultHash: randomBytes(32) }), workerId.ed25519.secretKey);
        const stakeBefore = await providerContract.getStake();
        journal.step('report equivocation (slash)');
        const slash = await reportEquivocation(as('watcher'), { provider: providerReg.address, first: honest, second: forged });
        say(`slashed ${fromNano(slash.slashed)} TON of ${fromNano(stakeBefore)} TON stake; bounty ${fromNano(slash.bounty)} TON to the reporter; provider state ${await providerContract.getState()} (3 = jailed)`);

        // ------------------------------------------------------------------ 6
        step(journal, 'Summary');
        const failed = journal.failedTransactions;
        if (failed.length > 0) throw new Error(`failed transactions:\n${failed.join('\n')}`);
        const named: Array<[string, Address]> = [
            ...Object.entries(wallets).map(([n, w]) => [n, w.address] as [string, Address]),
            ['Root', root.address],
            ['Proxy contract', proxyReg.address],
            ['Provider contract', providerReg.address],
            ['JobEscrow', escrow.address],
            ['WorkerAccount', workerAccount],
        ];
        const balances = await journal.balances();
        console.log('\nbalances (TON)');
        console.log(
            table(
                named.map(([n, a]) => {
                    const before = journal.openingBalance(a);
                    const after = balances.get(a.toRawString()) ?? 0n;
                    return { account: n, before: fromNano(before), after: fromNano(after), change: (after >= before ? '+' : '') + fromNano(after - before) };
                }),
            ),
        );
        const gap = await journal.conservationGap();
        console.log(`\nconservation: TON in = balances + fees (${fromNano(journal.totalFees)} TON in fees): ${gap === 0n ? 'holds to the nanoTON' : `OFF BY ${gap} nanoTON`}`);
        if (gap !== 0n) throw new Error(`TON is not conserved: off by ${gap} nanoTON`);
        console.log('\ngas per operation (every transaction it caused: wallet and contracts)');
        console.log(table(journal.gas.map((g) => ({ operation: g.step, txs: String(g.txs), gas: g.gasUsed.toString(), fees_TON: fromNano(g.fees) }))));
        console.log('\ntokens served by kind');
        console.log(table([{ prompt: totals.prompt.toString(), cached: totals.cached.toString(), completion: totals.completion.toString(), reasoning: totals.reasoning.toString() }]));
        console.log(`\nthroughput: ${(completionTokens / inferenceSeconds).toFixed(0)} completion tokens/s through proxy + worker (sealed, streamed)`);
        console.log(`settlement: ${PROMPTS.length} requests settled by 1 charge + 1 payout = ${(PROMPTS.length / 2).toFixed(1)} requests per on-chain transaction (any number settle the same way)`);
        console.log(`\ndemo finished in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } finally {
        if (proxyServer) await proxyServer.close();
        await stop(worker);
        rmSync(work, { recursive: true, force: true });
    }
}

main().then(
    () => process.exit(0),
    (e: unknown) => {
        console.error(`\ndemo FAILED: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
        process.exit(1);
    },
);
