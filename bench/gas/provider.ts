/**
 * Gas of the provider ops (issue 6): register_provider, provider_add_stake, renew_provider,
 * slash_equivocation, fault_report, unbond, withdraw_stake. Each row sums the project's
 * contracts' transactions (Root, Proxy, Provider) of one op's trace.
 */
import { Address, toNano } from '@ton/core';
import { Blockchain, SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import { AllowList, attestorMap, defaultParams, modelSet, Root, rootForOwner } from '../../wrappers/Root';
import { equivocationReport, faultReportSubmission, Provider } from '../../wrappers/Provider';
import { Proxy } from '../../wrappers/Proxy';
import {
    buildAttestationCert,
    buildFaultReport,
    buildSignatureList,
    buildWorkReceipt,
    ed25519FromSeed,
    Role,
    signAttestationCert,
    signPayload,
    TcbStatusCode,
} from '../../wrappers/payloads';
import { createHash } from 'crypto';
import { gasRow, GasRow } from './measure';

const sha = (s: string): Buffer => createHash('sha256').update(s).digest();
const key = (s: string) => ed25519FromSeed(sha(s));

function must(r: SendMessageResult, what: string): SendMessageResult {
    for (const tx of r.transactions) {
        if (tx.description.type === 'generic' && tx.description.aborted) throw new Error(`${what}: a transaction failed`);
    }
    return r;
}

export async function measure(): Promise<GasRow[]> {
    const chain = await Blockchain.create();
    chain.now = 1_800_000_000;
    const gov = await chain.treasury('governance');
    const root: SandboxContract<Root> = chain.openContract(await rootForOwner(gov.address, defaultParams()));
    must(await root.send(gov.getSender(), { value: toNano('1') }, null), 'deploy root');
    const attestor = key('attestor');
    must(
        await root.send(gov.getSender(), { value: toNano('0.05') }, { $$type: 'SetAttestors', queryId: 0n, attestors: attestorMap([attestor.publicKey]), threshold: 1n }),
        'attestors',
    );
    const images = { proxy: sha('proxy image'), worker: sha('worker image'), model: sha('model file') };
    for (const [list, hash] of [
        [AllowList.proxyImage, images.proxy],
        [AllowList.workerImage, images.worker],
        [AllowList.model, images.model],
    ] as const) {
        must(
            await root.send(gov.getSender(), { value: toNano('0.05') }, {
                $$type: 'AllowListEdit', queryId: 0n, list: BigInt(list), hash: BigInt('0x' + hash.toString('hex')), allowed: true, expiresAt: 0n,
            }),
            'allow-list',
        );
    }
    const certFor = (role: Role, ed: Buffer, image: Buffer, validDays = 30) => {
        const cert = buildAttestationCert({
            root: root.address, role, imageHash: image, ed25519Key: ed, x25519Key: sha('x25519'), quoteHash: sha('quote'),
            tcbStatus: TcbStatusCode.UpToDate, validUntil: chain.now! + validDays * 86400,
        });
        return { cert, signatures: buildSignatureList([signAttestationCert(cert, attestor)]) };
    };

    const operator: SandboxContract<TreasuryContract> = await chain.treasury('operator');
    const proxyKey = key('proxy');
    const pc = certFor(Role.Proxy, proxyKey.publicKey, images.proxy);
    must(
        await root.send(operator.getSender(), { value: toNano('10.5') }, {
            $$type: 'RegisterProxy', queryId: 0n, cert: pc.cert, signatures: pc.signatures, stake: toNano('10'), endpoint: 'https://proxy.example',
        }),
        'register proxy',
    );
    const proxyAddress = await root.getProxyAddress(0n);

    const owner = await chain.treasury('provider owner');
    const workerKey = key('worker');
    const wc = certFor(Role.Worker, workerKey.publicKey, images.worker);
    const providerAddress = await root.getProviderAddress(0n);
    const ours: Address[] = [root.address, proxyAddress, providerAddress];
    const rows: GasRow[] = [];

    const reg = must(
        await root.send(owner.getSender(), { value: toNano('10.3') }, {
            $$type: 'RegisterProvider', queryId: 0n, cert: wc.cert, signatures: wc.signatures, stake: toNano('10'),
            hardware: { $$type: 'Hardware', gpuModel: 'H100', vramGiB: 80n, gpuCount: 1n }, models: modelSet([images.model]), expectedUptimeBps: 9900n,
        }),
        'register provider',
    );
    rows.push(gasRow('register_provider', reg.transactions, ours));
    const provider = chain.openContract(Provider.fromAddress(providerAddress));

    const add = must(await provider.send(owner.getSender(), { value: toNano('1.05') }, { $$type: 'ProviderAddStake', queryId: 0n, amount: toNano('1') }), 'add stake');
    rows.push(gasRow('provider_add_stake', add.transactions, ours));

    const fresh = certFor(Role.Worker, workerKey.publicKey, images.worker, 60);
    const renew = must(await provider.send(owner.getSender(), { value: toNano('0.1') }, { $$type: 'ProviderRenew', queryId: 0n, cert: fresh.cert, signatures: fresh.signatures }), 'renew provider');
    rows.push(gasRow('renew_provider', renew.transactions, ours));

    const report = signPayload(
        buildFaultReport({ provider: providerAddress, proxy: proxyAddress, reportId: 1n, reason: 1, requestId: 1n, validUntil: chain.now! + 3600 }),
        proxyKey.secretKey,
    );
    const fault = must(await chain.openContract(Proxy.fromAddress(proxyAddress)).send(operator.getSender(), { value: toNano('0.2') }, faultReportSubmission(report, 0n)), 'fault report');
    rows.push(gasRow('fault_report', fault.transactions, ours));

    const receipt = (result: string) =>
        signPayload(
            buildWorkReceipt({ proxy: proxyAddress, requestId: 1n, modelHash: images.model, tokens: { prompt: 10n, cached: 0n, completion: 20n, reasoning: 0n }, resultHash: sha(result) }),
            workerKey.secretKey,
        );
    const reporter = await chain.treasury('reporter');
    const slash = must(await provider.send(reporter.getSender(), { value: toNano('0.2') }, equivocationReport(receipt('a'), receipt('b'))), 'equivocation');
    rows.push(gasRow('slash_equivocation', slash.transactions, ours));

    chain.now = chain.now! + 86400;
    const unbond = must(await provider.send(owner.getSender(), { value: toNano('0.05') }, { $$type: 'ProviderStartUnbond', queryId: 0n }), 'unbond');
    rows.push(gasRow('unbond', unbond.transactions, ours));

    chain.now = chain.now! + 7 * 86400;
    const withdraw = must(await provider.send(owner.getSender(), { value: toNano('0.05') }, { $$type: 'ProviderWithdrawStake', queryId: 0n }), 'withdraw');
    rows.push(gasRow('withdraw_stake', withdraw.transactions, ours));
    return rows;
}
