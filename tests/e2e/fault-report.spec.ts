/**
 * End to end: a worker registered as a Provider signs a receipt that overstates its tokens;
 * the proxy router (a real process, its enclave key the registered Proxy's) refuses the
 * answer, files a signed fault report, and that report, saved from GET /v1/faults/<id> and
 * submitted with `scripts/submitFaultReport`, slashes the Provider by the fault rate on the
 * sandbox: anyone → Proxy → Root → Provider, TON conserved over the whole trace.
 */
import '@ton/test-utils';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Address, fromNano, toNano } from '@ton/core';
import { SendMessageResult } from '@ton/sandbox';
import { run as submitFaultReportScript } from '../../scripts/submitFaultReport';
import { run as submitFaultReportsScript } from '../../scripts/submitFaultReports';
import { SandboxNetworkProvider } from '../../ops/sandbox-provider';
import { readSignedFault } from '../../ops/settlement-file';
import { RecordingUI } from '../../ops/ui';
import { escrowSecretHash, formatEscrowApiKey, proxyAuthHeaders, secretHashBytes } from '../../worker-reference/client/api-key';
import { identityFromSeed } from '../../worker-reference/crypto/keys';
import { SignedFaultJson } from '../../worker-reference/proxy/faults';
import { FaultReason } from '../../wrappers/payloads';
import { Provider, SLASH_GAS } from '../../wrappers/Provider';
import { Proxy } from '../../wrappers/Proxy';
import { audited, deployNetwork, registerProxy, registerWorkerProvider } from '../helpers/network';
import { startFakeWorker, FakeWorker } from '../worker/fake-worker';
import { getJson, spawnCli, Spawned, stop, tmpDir, workerHealthy, writeProxyConfig } from '../worker/helpers';

const PROXY_SEED = Buffer.alloc(32, 81);
const WORKER_SEED = Buffer.alloc(32, 82);
const CLIENT = new Address(0, Buffer.alloc(32, 5));
const CLIENT_SECRET = Buffer.alloc(32, 0xa5);

const dir = tmpDir('cocoon-fault-e2e-');
let proxyProcess: Spawned | undefined;
let worker: FakeWorker | undefined;

afterAll(async () => {
    await stop(proxyProcess);
    await worker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
});

describe('fault report end to end: bad receipt → proxy router → script → Provider slashed', () => {
    it('slashes faultSlashBps of the stake, credits the treasury, conserves TON, counts a report once; the submitter sends what the chain lacks in id order and defers past the period limit', async () => {
        const net = await deployNetwork();
        // The router signs valid-until = its wall clock + faultTtlSeconds; the sandbox keeps its
        // own time (ahead of the wall clock): the TTL covers the gap plus three days.
        const wall = Math.floor(Date.now() / 1000);
        if (wall > net.chain.now!) net.chain.now = wall;
        const faultTtlSeconds = net.chain.now! - wall + 3 * 86400;
        const ui = new RecordingUI();
        const operator = await net.chain.treasury('operator');
        const gpuOwner = await net.chain.treasury('gpu owner');
        const asOperator = new SandboxNetworkProvider(net.chain, operator, ui);

        // A Proxy whose enclave key is the router's, and a Provider whose worker key is the liar's.
        const proxyId = identityFromSeed(PROXY_SEED);
        const workerId = identityFromSeed(WORKER_SEED);
        await registerProxy(net, operator, { keys: { ed25519: proxyId.ed25519, x25519: proxyId.x25519.publicKey } });
        const proxy = net.chain.openContract(Proxy.fromAddress(await net.root.getProxyAddress(0n)));
        const reg = await registerWorkerProvider(net, gpuOwner, { ed25519: workerId.ed25519, x25519: workerId.x25519.publicKey });
        const provider = net.chain.openContract(Provider.fromAddress(reg.address));

        worker = await startFakeWorker({ key: workerId.ed25519, modelId: 'tiny', modelHash: net.model, lie: 'counts' });
        const config = writeProxyConfig(dir, proxy.address, PROXY_SEED, {
            faultTtlSeconds,
            healthIntervalMs: 100,
            workers: [
                {
                    name: 'gpu-1',
                    endpoint: worker.url,
                    ed25519Key: workerId.ed25519.publicKey.toString('hex'),
                    modelHashes: [net.model.toString('hex')],
                    workerAccount: gpuOwner.address.toString(),
                    provider: reg.address.toString(),
                    providerSeqno: Number(reg.seqno),
                },
            ],
            escrows: { [CLIENT.toString()]: { balance: '1000000000000', secretHash: secretHashBytes(escrowSecretHash(CLIENT_SECRET)).toString('hex') } },
        });
        proxyProcess = await spawnCli('cocoon-proxy.js', ['--config', config, '--port', '0']);

        // The client is refused and not charged; the router has filed the report.
        const url = proxyProcess.url;
        const chat = () =>
            fetch(`${url}/v1/chat/completions`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', ...proxyAuthHeaders(formatEscrowApiKey(CLIENT, CLIENT_SECRET)) },
                body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }),
            });
        expect((await chat()).status).toBe(502);
        const list = (await getJson(`${proxyProcess.url}/v1/faults`)) as { faults: SignedFaultJson[] };
        expect(list.faults).toHaveLength(1);
        const reportFile = path.join(dir, 'fault.json');
        fs.writeFileSync(reportFile, JSON.stringify(await getJson(`${proxyProcess.url}/v1/faults/${list.faults[0].report_id}`)));
        const filed = readSignedFault(reportFile);
        expect(filed.providerSeqno).toBe(reg.seqno);
        expect(filed.report.reason).toBe(FaultReason.WrongCounts);
        expect(filed.report.provider.equals(reg.address)).toBe(true);
        expect(filed.report.proxy.equals(proxy.address)).toBe(true);

        // The operator submits it through the script.
        const params = await net.root.getParams();
        const stake = await provider.getStake();
        const treasury = await net.root.getTreasury();
        const a = await audited(net.chain, [operator.address, proxy.address, net.root.address, provider.address], async () => {
            await submitFaultReportScript(asOperator, ['--report', reportFile]);
            return asOperator.sender().lastSendResult as SendMessageResult;
        });
        const slash = (stake * params.slashing.faultSlashBps) / 10000n;
        expect(slash).toBeGreaterThan(0n);
        expect(await provider.getStake()).toBe(stake - slash);
        expect(await provider.getSlashedTotal()).toBe(slash);
        expect((await net.root.getTreasury()) - treasury).toBe(slash);
        expect(await provider.getLastFaultReportId(await proxy.getSeqno())).toBe(filed.report.reportId);
        expect(ui.lines).toContain(`slashed: ${fromNano(slash)} TON`);
        // The submitter pays only gas; the Provider loses exactly the slash; Root gains at least it.
        expect(-a.delta(operator.address)).toBeGreaterThan(0n);
        expect(-a.delta(operator.address)).toBeLessThan(SLASH_GAS);
        expect(-a.delta(provider.address)).toBeGreaterThanOrEqual(slash);
        expect(a.delta(net.root.address)).toBeGreaterThanOrEqual(slash - toNano('0.01'));

        // The same report counts once: refused before anything is sent.
        const before = await operator.getBalance();
        await expect(submitFaultReportScript(asOperator, ['--report', reportFile])).rejects.toThrow(/is not above the last one from this proxy/);
        expect(await operator.getBalance()).toBe(before);

        // --help prints the usage and sends nothing.
        await submitFaultReportScript(asOperator, ['--help']);
        expect(ui.lines.join('\n')).toMatch(/usage: npx blueprint run submitFaultReport/);
        expect(await operator.getBalance()).toBe(before);

        // The operator's submitter reads the router's whole list and submits what the chain
        // lacks, in id order, until the Provider's reports for this period are used up
        // (faultReportsPerPeriod = 4: the one above and three more); the fifth waits.
        for (let i = 0; i < 4; i++) {
            await workerHealthy(url, 'gpu-1'); // a failed receipt made it unhealthy until its next check
            expect((await chat()).status).toBe(502);
        }
        const ids = ((await getJson(`${url}/v1/faults`)) as { faults: SignedFaultJson[] }).faults.map((f) => BigInt(f.report_id));
        expect(ids).toHaveLength(5);
        ui.lines.length = 0;
        // Every transaction of every submission it makes counts in the audit.
        const sent: SendMessageResult[] = [];
        const asSubmitter = new SandboxNetworkProvider(net.chain, operator, ui, (r) => sent.push(r));
        const b = await audited(net.chain, [operator.address, proxy.address, net.root.address, provider.address], async () => {
            await submitFaultReportsScript(asSubmitter, ['--router', url]);
            return { transactions: sent.flatMap((r) => r.transactions), events: [] } as unknown as SendMessageResult;
        });
        expect(sent).toHaveLength(3);
        expect(ui.lines).toContain(`3 submitted (${fromNano(-b.delta(provider.address))} TON slashed), 1 already on chain, 1 deferred, 0 refused`);
        expect(ui.lines.join('\n')).toMatch(new RegExp(`#${ids[4]} deferred: 4 report\\(s\\) already slashed this period \\(the limit\\)`));
        expect(await provider.getLastFaultReportId(await proxy.getSeqno())).toBe(ids[3]);
        const params2 = await net.root.getParams();
        expect(params2.slashing.faultReportsPerPeriod).toBe(4n);

        // Nothing new: a pass sends nothing.
        const idle = await operator.getBalance();
        ui.lines.length = 0;
        await submitFaultReportsScript(asOperator, ['--router', url]);
        expect(ui.lines[0]).toBe('0 submitted (0 TON slashed), 4 already on chain, 1 deferred, 0 refused');
        expect(await operator.getBalance()).toBe(idle);

        // The next period: the deferred report goes through.
        net.chain.now! += Number(params2.slashing.faultPeriod) + 1;
        ui.lines.length = 0;
        const stakeBefore = await provider.getStake();
        await submitFaultReportsScript(asOperator, ['--router', url, '--every', '0', '--passes', '2']);
        expect(ui.lines).toContainEqual(expect.stringMatching(/^1 submitted \(.* TON slashed\), 4 already on chain, 0 deferred, 0 refused$/));
        expect(ui.lines).toContain('0 submitted (0 TON slashed), 5 already on chain, 0 deferred, 0 refused');
        expect(await provider.getLastFaultReportId(await proxy.getSeqno())).toBe(ids[4]);
        expect(await provider.getStake()).toBe(stakeBefore - (stakeBefore * params.slashing.faultSlashBps) / 10000n);

        // Usage errors send nothing.
        ui.lines.length = 0;
        await submitFaultReportsScript(asOperator, []);
        await submitFaultReportsScript(asOperator, ['--router', url, '--passes', '2']);
        expect(ui.lines.join('\n')).toMatch(/give --router <url> or --reports <file>, one of them/);
        expect(ui.lines.join('\n')).toMatch(/--passes needs --every/);
        expect(process.exitCode).toBe(2);
        process.exitCode = undefined; // a usage error's exit code must not outlive its test
    });
});
