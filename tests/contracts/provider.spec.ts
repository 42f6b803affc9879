/**
 * Provider: registration, stake, models / hardware / certificate updates, unbonding and
 * withdrawal, jail, and slashing on evidence (equivocation, fault reports routed
 * Proxy -> Root -> Provider). Every path that moves TON is checked for conservation; every
 * refusal for its exit code and for the sender's refund (minus what the chain burnt).
 */
import '@ton/test-utils';
import { Address, Cell, toNano } from '@ton/core';
import { BlockchainSnapshot, BlockchainTransaction, SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import { Role, SignedPayload, signPayload } from '../../wrappers/payloads';
import { AllowList, defaultParams, modelSet, Params } from '../../wrappers/Root';
import {
    equivocationReport,
    faultReportSubmission,
    Provider,
    ProviderState,
    ERR_WRONG_SENDER,
    ERR_NOT_ENOUGH_VALUE,
    ERR_BAD_SIGNATURE,
    ERR_EXPIRED,
    ERR_WRONG_TARGET,
    ERR_REPLAYED,
    ERR_STAKE_TOO_LOW,
    ERR_MODEL_NOT_ALLOWED,
    ERR_KEY_ALREADY_REGISTERED,
    ERR_UNKNOWN_PROXY,
    ERR_UNKNOWN_PROVIDER,
    ERR_NOT_ATTESTOR,
    ERR_IMAGE_NOT_ALLOWED,
    ERR_CERT_KEY_MISMATCH,
    ERR_PROXY_NOT_ACTIVE,
    ERR_PROVIDER_NOT_ACTIVE,
    ERR_PROVIDER_EXITED,
    ERR_STILL_JAILED,
    ERR_NOT_JAILED,
    ERR_NOT_UNBONDING,
    ERR_UNBOND_NOT_OVER,
    ERR_RECEIPTS_NOT_SAME_REQUEST,
    ERR_RECEIPTS_SAME_RESULT,
    ERR_EVIDENCE_STORE_FULL,
    ERR_FAULT_RATE_LIMIT,
    ERR_FAULT_CAP_REACHED,
    ERR_BAD_UPTIME,
    ERR_ZERO_AMOUNT,
    ERR_BAD_MODEL_COUNT,
} from '../../wrappers/Provider';
import { makeCertificate, randomKeyPair, randomNodeKeys, sha256 } from '../helpers/network';
import {
    accounts,
    balanceOf,
    conserved,
    deployProviderNet,
    ProviderNet,
    registerProvider,
    signedFault,
    signedReceipt,
    STAKE,
    traceFees,
} from './provider.fixture';

const DAY = 86400;
const bps = (x: bigint, b: bigint): bigint => (x * b) / 10000n;
const hashInt = (b: Buffer): bigint => BigInt('0x' + b.toString('hex'));

/** Storage fees the trace collected on `address` (its balance shrinks by them, not by the op). */
function storageFeesOn(txs: BlockchainTransaction[], address: Address): bigint {
    let sum = 0n;
    for (const tx of txs) {
        const a = Address.parseRaw(`0:${tx.address.toString(16).padStart(64, '0')}`);
        if (!a.equals(address) || tx.description.type !== 'generic') continue;
        sum += tx.description.storagePhase?.storageFeesCollected ?? 0n;
    }
    return sum;
}

/**
 * Runs a refused op and checks that nothing moved but fees: TON is conserved, every other
 * account changed only by its storage fees, and `payer` (the sender, or who a bounce pays)
 * lost exactly the fees the trace burnt elsewhere.
 */
async function refunded(n: ProviderNet, payer: SandboxContract<TreasuryContract>, op: () => Promise<SendMessageResult>): Promise<SendMessageResult> {
    const all = accounts(n);
    const before = new Map<string, bigint>();
    for (const a of all) before.set(a.toString(), await balanceOf(n.chain, a));
    const r = await conserved(n, op);
    let othersStorage = 0n;
    for (const a of all) {
        if (a.equals(payer.address)) continue;
        const s = storageFeesOn(r.transactions, a);
        othersStorage += s;
        expect(await balanceOf(n.chain, a)).toBe(before.get(a.toString())! - s);
    }
    expect(before.get(payer.address.toString())! - (await balanceOf(n.chain, payer.address))).toBe(traceFees(r.transactions) - othersStorage);
    return r;
}

describe('Provider', () => {
    let n: ProviderNet;
    let clean: BlockchainSnapshot;

    beforeAll(async () => {
        n = await deployProviderNet();
        clean = n.chain.snapshot();
    });
    beforeEach(async () => {
        await n.chain.loadFrom(clean);
    });

    // ------------------------------------------------------------------ helpers
    const ownerSend = (value: bigint, msg: Parameters<SandboxContract<Provider>['send']>[2]) =>
        n.provider.send(n.providerOwner.getSender(), { value }, msg);
    const addStake = (amount: bigint, value = amount + toNano('0.05'), who = n.providerOwner) =>
        n.provider.send(who.getSender(), { value }, { $$type: 'ProviderAddStake', queryId: 1n, amount });
    const startUnbond = (who = n.providerOwner) => n.provider.send(who.getSender(), { value: toNano('0.05') }, { $$type: 'ProviderStartUnbond', queryId: 2n });
    const withdraw = (who = n.providerOwner) => n.provider.send(who.getSender(), { value: toNano('0.05') }, { $$type: 'ProviderWithdrawStake', queryId: 3n });
    const equivocate = (a: SignedPayload, b: SignedPayload, value = toNano('0.2'), who = n.reporter) =>
        n.provider.send(who.getSender(), { value }, equivocationReport(a, b, 4n));
    const receipts = (requestId: bigint, key = n.workerKeys.ed25519): [SignedPayload, SignedPayload] => [
        signedReceipt(key, n.proxy.address, requestId, 'answer A'),
        signedReceipt(key, n.proxy.address, requestId, 'answer B'),
    ];
    const validFor = (s: number) => n.chain.now! + s;
    const fault = (reportId: bigint, opts: { key?: typeof n.proxyKeys.ed25519; provider?: Address; proxy?: Address; validUntil?: number } = {}) =>
        signedFault(opts.key ?? n.proxyKeys.ed25519, opts.provider ?? n.provider.address, opts.proxy ?? n.proxy.address, reportId, opts.validUntil ?? validFor(3600));
    const submitFault = (report: SignedPayload, who = n.operator, providerSeqno = 0n, value = toNano('0.2')) =>
        n.proxy.send(who.getSender(), { value }, faultReportSubmission(report, providerSeqno, 5n));
    const state = () => n.provider.getState();
    const stake = () => n.provider.getStake();

    // ================================================================== registration

    describe('registration through Root', () => {
        it('deploys an active Provider holding exactly the stake plus its storage reserve', async () => {
            const owner = await n.chain.treasury('second owner');
            const addr = await n.root.getProviderAddress(1n);
            const r = await conserved(n, () => registerProvider(n, owner, randomNodeKeys()), [...accounts(n), owner.address, addr]);
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: addr, deploy: true, success: true });
            expect(r.transactions).toHaveTransaction({ from: addr, to: owner.address, op: 0xd53276db });
            const p = n.chain.openContract(Provider.fromAddress(addr));
            expect(await p.getState()).toBe(ProviderState.active);
            expect(await p.getStake()).toBe(STAKE);
            expect(await balanceOf(n.chain, addr)).toBe(STAKE + toNano('0.05'));
            expect(await p.getIsEligible()).toBe(true);
            expect((await p.getHardware())?.gpuModel).toBe('H100');
            expect(await p.getServesModel(hashInt(n.model))).toBe(true);
        });

        it('refuses a stake below the minimum and refunds the value minus gas', async () => {
            const owner = await n.chain.treasury('low staker');
            const r = await conserved(n, () => registerProvider(n, owner, randomNodeKeys(), { stake: toNano('9') }), [...accounts(n), owner.address]);
            expect(r.transactions).toHaveTransaction({ from: owner.address, to: n.root.address, success: false, exitCode: Number(ERR_STAKE_TOO_LOW) });
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: owner.address, inMessageBounced: true });
            expect(await n.root.getProviderCount()).toBe(1n);
        });

        it('refuses a model that is not on the allow-list', async () => {
            const owner = await n.chain.treasury('bad model');
            const r = await registerProvider(n, owner, randomNodeKeys(), { models: [n.model, sha256('unknown model')] });
            expect(r.transactions).toHaveTransaction({ to: n.root.address, success: false, exitCode: Number(ERR_MODEL_NOT_ALLOWED) });
            expect(await n.root.getProviderCount()).toBe(1n);
        });

        it('refuses a value that does not cover stake + registration gas', async () => {
            const r = await registerProvider(n, n.stranger, randomNodeKeys(), { value: STAKE + toNano('0.1') });
            expect(r.transactions).toHaveTransaction({ to: n.root.address, success: false, exitCode: Number(ERR_NOT_ENOUGH_VALUE) });
        });

        it('refuses a worker key that is already registered', async () => {
            const r = await registerProvider(n, n.stranger, n.workerKeys);
            expect(r.transactions).toHaveTransaction({ to: n.root.address, success: false, exitCode: Number(ERR_KEY_ALREADY_REGISTERED) });
        });

        it('accepts ProviderDeploy only from Root', async () => {
            const p = await Provider.fromInit(n.root.address, 9n);
            const c = n.chain.openContract(p);
            const r = await c.send(n.stranger.getSender(), { value: toNano('1') }, {
                $$type: 'ProviderDeploy',
                queryId: 0n,
                owner: n.stranger.address,
                cert: { $$type: 'CertInfo', role: 2n, imageHash: 0n, ed25519Key: 1n, x25519Key: 0n, quoteHash: 0n, tcbStatus: 0n, validUntil: 0n },
                stake: toNano('0.5'),
                hardware: { $$type: 'Hardware', gpuModel: 'x', vramGiB: 1n, gpuCount: 1n },
                models: modelSet([n.model]),
                expectedUptimeBps: 0n,
                params: defaultParams(),
            });
            expect(r.transactions).toHaveTransaction({ to: c.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
        });
    });

    // ================================================================== stake

    describe('adding stake', () => {
        it('the owner adds stake; the contract keeps stake + reserve and returns the rest', async () => {
            const r = await conserved(n, () => addStake(toNano('5'), toNano('6')));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.provider.address, to: n.providerOwner.address, op: 0xd53276db });
            expect(await stake()).toBe(STAKE + toNano('5'));
            expect(await balanceOf(n.chain, n.provider.address)).toBe(STAKE + toNano('5') + toNano('0.05'));
        });

        it('refuses anyone but the owner', async () => {
            const r = await refunded(n, n.stranger, () => addStake(toNano('1'), toNano('1.1'), n.stranger));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
            expect(await stake()).toBe(STAKE);
        });

        it('refuses a value that does not cover amount + gas', async () => {
            const r = await refunded(n, n.providerOwner, () => addStake(toNano('1'), toNano('1.01')));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_NOT_ENOUGH_VALUE) });
        });

        it('refuses a zero amount', async () => {
            const r = await refunded(n, n.providerOwner, () => addStake(0n, toNano('0.05')));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_ZERO_AMOUNT) });
        });

        it('refuses while unbonding', async () => {
            await startUnbond();
            const r = await refunded(n, n.providerOwner, () => addStake(toNano('1')));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_PROVIDER_NOT_ACTIVE) });
        });
    });

    // ================================================================== hardware

    describe('updating hardware facts', () => {
        const hw = { $$type: 'Hardware' as const, gpuModel: 'H200', vramGiB: 141n, gpuCount: 8n };

        it('the owner replaces hardware and expected uptime', async () => {
            const r = await conserved(n, () => ownerSend(toNano('0.05'), { $$type: 'ProviderUpdateHardware', queryId: 1n, hardware: hw, expectedUptimeBps: 9500n }));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: true });
            const h = await n.provider.getHardware();
            expect([h?.gpuModel, h?.vramGiB, h?.gpuCount]).toEqual(['H200', 141n, 8n]);
            expect(await n.provider.getExpectedUptimeBps()).toBe(9500n);
        });

        it('refuses anyone but the owner', async () => {
            const r = await refunded(n, n.stranger, () =>
                n.provider.send(n.stranger.getSender(), { value: toNano('0.05') }, { $$type: 'ProviderUpdateHardware', queryId: 1n, hardware: hw, expectedUptimeBps: 1n }),
            );
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
        });

        it('refuses an uptime above 100 %', async () => {
            const r = await refunded(n, n.providerOwner, () => ownerSend(toNano('0.05'), { $$type: 'ProviderUpdateHardware', queryId: 1n, hardware: hw, expectedUptimeBps: 10001n }));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_BAD_UPTIME) });
        });
    });

    // ================================================================== models (round trip)

    describe('updating served models (Provider -> Root check -> Provider)', () => {
        const model2 = sha256('second model');
        const allow = async (hash: Buffer, allowed = true) => {
            const r = await n.root.send(n.owner.getSender(), { value: toNano('0.05') }, {
                $$type: 'AllowListEdit', queryId: 0n, list: BigInt(AllowList.model), hash: hashInt(hash), allowed, expiresAt: 0n,
            });
            expect(r.transactions).toHaveTransaction({ to: n.root.address, success: true });
        };
        const update = (models: Buffer[], who = n.providerOwner) =>
            n.provider.send(who.getSender(), { value: toNano('0.1') }, { $$type: 'ProviderUpdateModels', queryId: 9n, models: modelSet(models) });

        it('replaces the models once Root confirms every one is allowed', async () => {
            await allow(model2);
            const r = await conserved(n, () => update([n.model, model2]));
            expect(r.transactions).toHaveTransaction({ from: n.provider.address, to: n.root.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.provider.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.provider.address, to: n.providerOwner.address, op: 0xd53276db });
            expect(await n.provider.getServesModel(hashInt(model2))).toBe(true);
        });

        it('keeps the old models and refunds the owner when a model is not allowed', async () => {
            const r = await refunded(n, n.providerOwner, () => update([model2]));
            expect(r.transactions).toHaveTransaction({ from: n.provider.address, to: n.root.address, success: false, exitCode: Number(ERR_MODEL_NOT_ALLOWED) });
            expect(r.transactions).toHaveTransaction({ from: n.provider.address, to: n.providerOwner.address, op: 0xd53276db });
            expect(await n.provider.getServesModel(hashInt(model2))).toBe(false);
            expect(await n.provider.getServesModel(hashInt(n.model))).toBe(true);
        });

        it('checks the allow-list again: a model governance removed is refused', async () => {
            await allow(n.model, false);
            const r = await update([n.model]);
            expect(r.transactions).toHaveTransaction({ to: n.root.address, success: false, exitCode: Number(ERR_MODEL_NOT_ALLOWED) });
        });

        it('refuses an empty model set', async () => {
            const r = await refunded(n, n.providerOwner, () => update([]));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_BAD_MODEL_COUNT) });
        });

        it('refuses anyone but the owner', async () => {
            const r = await refunded(n, n.stranger, () => update([n.model], n.stranger));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
        });

        it('Root answers a model check only to the registered Provider of that seqno', async () => {
            const r = await refunded(n, n.stranger, () =>
                n.root.send(n.stranger.getSender(), { value: toNano('0.1') }, { $$type: 'CheckProviderModels', queryId: 0n, providerSeqno: 0n, models: modelSet([n.model]) }),
            );
            expect(r.transactions).toHaveTransaction({ to: n.root.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
            const r2 = await n.root.send(n.stranger.getSender(), { value: toNano('0.1') }, { $$type: 'CheckProviderModels', queryId: 0n, providerSeqno: 7n, models: modelSet([n.model]) });
            expect(r2.transactions).toHaveTransaction({ to: n.root.address, success: false, exitCode: Number(ERR_UNKNOWN_PROVIDER) });
        });

        it('the Provider takes an approval only from Root', async () => {
            const r = await refunded(n, n.stranger, () =>
                n.provider.send(n.stranger.getSender(), { value: toNano('0.1') }, { $$type: 'ProviderModelsApproved', queryId: 0n, models: modelSet([model2]) }),
            );
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
        });
    });

    // ================================================================== certificate renewal

    describe('renewing the certificate (Provider -> Root RenewProvider -> Provider)', () => {
        const renew = (cert: { cert: Cell; signatures: Cell }, who = n.providerOwner) =>
            n.provider.send(who.getSender(), { value: toNano('0.1') }, { $$type: 'ProviderRenew', queryId: 3n, cert: cert.cert, signatures: cert.signatures });

        it('extends valid-until after Root checks the fresh certificate', async () => {
            const until = validFor(60 * DAY);
            const r = await conserved(n, () => renew(makeCertificate(n, Role.Worker, n.workerKeys, { validUntil: until })));
            expect(r.transactions).toHaveTransaction({ from: n.provider.address, to: n.root.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.provider.address, success: true });
            expect(await n.provider.getValidUntil()).toBe(BigInt(until));
        });

        it('lets the certificate lapse (not eligible) until renewed', async () => {
            n.chain.now = validFor(31 * DAY);
            expect(await n.provider.getIsEligible()).toBe(false);
            await renew(makeCertificate(n, Role.Worker, n.workerKeys, { validUntil: validFor(30 * DAY) }));
            expect(await n.provider.getIsEligible()).toBe(true);
        });

        it('refuses a certificate that is not newer than the current one', async () => {
            const current = Number(await n.provider.getValidUntil());
            const r = await refunded(n, n.providerOwner, () => renew(makeCertificate(n, Role.Worker, n.workerKeys, { validUntil: current })));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_REPLAYED) });
        });

        it('refuses a certificate for another worker key', async () => {
            const r = await refunded(n, n.providerOwner, () => renew(makeCertificate(n, Role.Worker, randomNodeKeys(), { validUntil: validFor(60 * DAY) })));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_CERT_KEY_MISMATCH) });
        });

        it('a certificate not signed by an attestor bounces from Root and the owner is refunded', async () => {
            const forged = makeCertificate(n, Role.Worker, n.workerKeys, { validUntil: validFor(60 * DAY), signers: [randomKeyPair()] });
            const before = await n.provider.getValidUntil();
            const r = await refunded(n, n.providerOwner, () => renew(forged));
            expect(r.transactions).toHaveTransaction({ from: n.provider.address, to: n.root.address, success: false, exitCode: Number(ERR_NOT_ATTESTOR) });
            expect(r.transactions).toHaveTransaction({ from: n.provider.address, to: n.providerOwner.address, op: 0xd53276db });
            expect(await n.provider.getValidUntil()).toBe(before);
        });

        it('refuses a worker image governance removed from the allow-list', async () => {
            await n.root.send(n.owner.getSender(), { value: toNano('0.05') }, {
                $$type: 'AllowListEdit', queryId: 0n, list: BigInt(AllowList.workerImage), hash: hashInt(n.workerImage), allowed: false, expiresAt: 0n,
            });
            const r = await renew(makeCertificate(n, Role.Worker, n.workerKeys, { validUntil: validFor(60 * DAY) }));
            expect(r.transactions).toHaveTransaction({ to: n.root.address, success: false, exitCode: Number(ERR_IMAGE_NOT_ALLOWED) });
        });

        it('Root takes RenewProvider only from the registered Provider; the Provider takes ProviderRenewed only from Root', async () => {
            const c = makeCertificate(n, Role.Worker, n.workerKeys, { validUntil: validFor(60 * DAY) });
            const r = await refunded(n, n.stranger, () =>
                n.root.send(n.stranger.getSender(), { value: toNano('0.1') }, { $$type: 'RenewProvider', queryId: 0n, providerSeqno: 0n, cert: c.cert, signatures: c.signatures }),
            );
            expect(r.transactions).toHaveTransaction({ to: n.root.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
            const r2 = await refunded(n, n.stranger, () =>
                n.provider.send(n.stranger.getSender(), { value: toNano('0.1') }, {
                    $$type: 'ProviderRenewed', queryId: 0n, imageHash: 0n, quoteHash: 0n, tcbStatus: 0n, validUntil: BigInt(validFor(99 * DAY)),
                }),
            );
            expect(r2.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
        });
    });

    // ================================================================== unbonding and withdrawal

    describe('unbonding and withdrawal', () => {
        it('active -> unbonding -> (delay) -> exited: the owner gets the whole stake, the contract keeps its reserve', async () => {
            await conserved(n, () => startUnbond());
            expect(await state()).toBe(ProviderState.unbonding);
            expect(await n.provider.getUnbondAt()).toBe(BigInt(validFor(7 * DAY)));
            expect(await n.provider.getIsEligible()).toBe(false);
            n.chain.now = validFor(7 * DAY);
            const ownerBefore = await balanceOf(n.chain, n.providerOwner.address);
            const r = await conserved(n, () => withdraw());
            expect(r.transactions).toHaveTransaction({ from: n.provider.address, to: n.providerOwner.address, op: 0x50560022, success: true });
            expect(await state()).toBe(ProviderState.exited);
            expect(await stake()).toBe(0n);
            // The owner gained the stake minus the fees of the trace.
            expect((await balanceOf(n.chain, n.providerOwner.address)) - ownerBefore).toBeGreaterThan(STAKE - toNano('0.05'));
            // What rent has not eaten of the 0.05 TON reserve stays (a week of rent is ~0.0013 TON).
            const left = await balanceOf(n.chain, n.provider.address);
            expect(left).toBeLessThanOrEqual(toNano('0.05'));
            expect(left).toBeGreaterThan(toNano('0.045'));
        });

        it('refuses to withdraw before the unbonding delay', async () => {
            await startUnbond();
            n.chain.now = validFor(7 * DAY - 1);
            const r = await refunded(n, n.providerOwner, () => withdraw());
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_UNBOND_NOT_OVER) });
            expect(await stake()).toBe(STAKE);
        });

        it('refuses to withdraw without unbonding', async () => {
            const r = await refunded(n, n.providerOwner, () => withdraw());
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_NOT_UNBONDING) });
        });

        it('refuses unbond and withdrawal from anyone but the owner', async () => {
            const r = await refunded(n, n.stranger, () => startUnbond(n.stranger));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
            await startUnbond();
            n.chain.now = validFor(8 * DAY);
            const r2 = await refunded(n, n.stranger, () => withdraw(n.stranger));
            expect(r2.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
        });

        it('refuses to unbond twice', async () => {
            await startUnbond();
            const r = await refunded(n, n.providerOwner, () => startUnbond());
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_PROVIDER_NOT_ACTIVE) });
        });

        it('an exited provider takes no stake, no updates and no evidence', async () => {
            await startUnbond();
            n.chain.now = validFor(7 * DAY);
            await withdraw();
            const r1 = await refunded(n, n.providerOwner, () => addStake(toNano('1')));
            expect(r1.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_PROVIDER_NOT_ACTIVE) });
            const r2 = await refunded(n, n.providerOwner, () => startUnbond());
            expect(r2.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_PROVIDER_NOT_ACTIVE) });
            const r3 = await refunded(n, n.reporter, () => equivocate(...receipts(1n)));
            expect(r3.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_PROVIDER_EXITED) });
        });
    });

    // ================================================================== equivocation

    describe('slashing 1: equivocation', () => {
        it('slashes the set share, pays the bounty to the reporter, the rest to the treasury, and jails', async () => {
            const p = defaultParams().slashing;
            const slash = bps(STAKE, p.equivocationSlashBps);
            const bounty = bps(slash, p.bountyBps);
            const reporterBefore = await balanceOf(n.chain, n.reporter.address);
            const r = await conserved(n, () => equivocate(...receipts(42n)));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.provider.address, to: n.root.address, op: 0x50560040, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.provider.address, to: n.reporter.address, op: 0x50560021 });
            expect(await stake()).toBe(STAKE - slash);
            expect(await n.root.getTreasury()).toBe(slash - bounty);
            expect(await state()).toBe(ProviderState.jailed);
            expect(await n.provider.getJailedUntil()).toBe(BigInt(validFor(DAY)));
            expect(await n.provider.getIsEquivocationRecorded(n.proxy.address, 42n)).toBe(true);
            // Reporter: + bounty, - the fees of the whole trace except storage on others.
            const gained = (await balanceOf(n.chain, n.reporter.address)) - reporterBefore;
            expect(gained).toBeLessThan(bounty);
            expect(gained).toBeGreaterThan(bounty - toNano('0.05'));
            // The provider keeps exactly the rest of the stake and its reserve.
            expect(await balanceOf(n.chain, n.provider.address)).toBeLessThanOrEqual(STAKE - slash + toNano('0.05'));
            expect(await balanceOf(n.chain, n.provider.address)).toBeGreaterThan(STAKE - slash + toNano('0.049'));
        });

        it('refuses a forged signature', async () => {
            const [a, b] = receipts(1n);
            const forged = { payload: b.payload, signature: Buffer.from(a.signature) };
            const r = await refunded(n, n.reporter, () => equivocate(a, forged));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_BAD_SIGNATURE) });
            expect(await stake()).toBe(STAKE);
        });

        it('refuses receipts signed by another key', async () => {
            const r = await refunded(n, n.reporter, () => equivocate(...receipts(1n, randomKeyPair())));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_BAD_SIGNATURE) });
            const [a] = receipts(1n);
            const [, b] = receipts(1n, randomKeyPair());
            const r2 = await refunded(n, n.reporter, () => equivocate(a, b));
            expect(r2.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_BAD_SIGNATURE) });
        });

        it('refuses identical result hashes (even if other fields differ)', async () => {
            const k = n.workerKeys.ed25519;
            const a = signedReceipt(k, n.proxy.address, 1n, 'same');
            const b = signedReceipt(k, n.proxy.address, 1n, 'same', sha256('other model'));
            const r = await refunded(n, n.reporter, () => equivocate(a, b));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_RECEIPTS_SAME_RESULT) });
        });

        it('refuses receipts for different request ids or different proxies', async () => {
            const k = n.workerKeys.ed25519;
            const r = await refunded(n, n.reporter, () => equivocate(signedReceipt(k, n.proxy.address, 1n, 'a'), signedReceipt(k, n.proxy.address, 2n, 'b')));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_RECEIPTS_NOT_SAME_REQUEST) });
            const r2 = await refunded(n, n.reporter, () => equivocate(signedReceipt(k, n.proxy.address, 1n, 'a'), signedReceipt(k, n.root.address, 1n, 'b')));
            expect(r2.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_RECEIPTS_NOT_SAME_REQUEST) });
        });

        it('refuses a payload that is not a work receipt', async () => {
            const k = n.workerKeys.ed25519;
            const f = signPayload(fault(1n).payload, k.secretKey);
            const r = await refunded(n, n.reporter, () => equivocate(f, signedReceipt(k, n.proxy.address, 1n, 'b')));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: 129 });
        });

        it('the same evidence cannot slash twice: same (proxy, request id), in any order or with a third answer', async () => {
            const [a, b] = receipts(7n);
            await equivocate(a, b);
            const after = await stake();
            const c = signedReceipt(n.workerKeys.ed25519, n.proxy.address, 7n, 'answer C');
            for (const [x, y] of [[a, b], [b, a], [a, c]] as const) {
                const r = await refunded(n, n.reporter, () => equivocate(x, y));
                expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_REPLAYED) });
            }
            expect(await stake()).toBe(after);
        });

        it('new evidence slashes again and re-jails; the record is bounded', async () => {
            await equivocate(...receipts(1n));
            n.chain.now = validFor(3600);
            await equivocate(...receipts(2n));
            expect(await n.provider.getEquivocationCount()).toBe(2n);
            expect(await n.provider.getJailedUntil()).toBe(BigInt(validFor(DAY)));
            for (let i = 3n; i <= 32n; i++) await equivocate(...receipts(i));
            expect(await n.provider.getEquivocationCount()).toBe(32n);
            const r = await refunded(n, n.reporter, () => equivocate(...receipts(33n)));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_EVIDENCE_STORE_FULL) });
        });

        it('refuses too little gas', async () => {
            const r = await refunded(n, n.reporter, () => equivocate(...receipts(1n), toNano('0.05')));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_NOT_ENOUGH_VALUE) });
        });

        it('still applies during unbonding: the provider is jailed and must unbond again after the jail period', async () => {
            await startUnbond();
            await equivocate(...receipts(1n));
            expect(await state()).toBe(ProviderState.jailed);
            n.chain.now = validFor(7 * DAY);
            const r = await withdraw();
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_NOT_UNBONDING) });
        });
    });

    // ================================================================== jail

    describe('jail', () => {
        beforeEach(async () => {
            await equivocate(...receipts(1n));
        });

        it('a jailed provider cannot unbond before the jail period ends, and can after', async () => {
            n.chain.now = validFor(DAY - 1);
            const r = await refunded(n, n.providerOwner, () => startUnbond());
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_STILL_JAILED) });
            n.chain.now = validFor(1);
            const r2 = await conserved(n, () => startUnbond());
            expect(r2.transactions).toHaveTransaction({ to: n.provider.address, success: true });
            expect(await state()).toBe(ProviderState.unbonding);
        });

        it('a jailed provider may add stake but is not eligible for work', async () => {
            expect(await n.provider.getIsEligible()).toBe(false);
            const r = await conserved(n, () => addStake(toNano('5')));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: true });
        });

        it('governance unjails through Root', async () => {
            const r = await conserved(n, () => n.root.send(n.owner.getSender(), { value: toNano('0.1') }, { $$type: 'UnjailProvider', queryId: 1n, providerSeqno: 0n }));
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.provider.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.provider.address, to: n.owner.address, op: 0xd53276db });
            expect(await state()).toBe(ProviderState.active);
        });

        it('only governance may unjail; the Provider takes ProviderUnjail only from Root', async () => {
            const r = await refunded(n, n.providerOwner, () =>
                n.root.send(n.providerOwner.getSender(), { value: toNano('0.1') }, { $$type: 'UnjailProvider', queryId: 1n, providerSeqno: 0n }),
            );
            expect(r.transactions).toHaveTransaction({ to: n.root.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
            const r2 = await refunded(n, n.providerOwner, () =>
                n.provider.send(n.providerOwner.getSender(), { value: toNano('0.1') }, { $$type: 'ProviderUnjail', queryId: 1n, excessesTo: n.providerOwner.address }),
            );
            expect(r2.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
            expect(await state()).toBe(ProviderState.jailed);
        });

        it('unjailing a provider that is not jailed bounces and governance is refunded', async () => {
            await n.root.send(n.owner.getSender(), { value: toNano('0.1') }, { $$type: 'UnjailProvider', queryId: 1n, providerSeqno: 0n });
            const r = await refunded(n, n.owner, () => n.root.send(n.owner.getSender(), { value: toNano('0.1') }, { $$type: 'UnjailProvider', queryId: 2n, providerSeqno: 0n }));
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.provider.address, success: false, exitCode: Number(ERR_NOT_JAILED) });
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.owner.address, op: 0xd53276db });
            const r2 = await n.root.send(n.owner.getSender(), { value: toNano('0.1') }, { $$type: 'UnjailProvider', queryId: 2n, providerSeqno: 5n });
            expect(r2.transactions).toHaveTransaction({ to: n.root.address, success: false, exitCode: Number(ERR_UNKNOWN_PROVIDER) });
        });
    });

    // ================================================================== fault reports

    describe('slashing 2: fault reports (anyone -> Proxy -> Root -> Provider)', () => {
        const p = defaultParams().slashing;
        const oneSlash = bps(STAKE, p.faultSlashBps);

        it('a report signed by an active proxy slashes a small share into the treasury', async () => {
            const r = await conserved(n, () => submitFault(fault(1n), n.stranger));
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.root.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.provider.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.provider.address, to: n.root.address, op: 0x50560040, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.provider.address, to: n.stranger.address, op: 0xd53276db });
            expect(await stake()).toBe(STAKE - oneSlash);
            expect(await n.root.getTreasury()).toBe(oneSlash);
            expect(await state()).toBe(ProviderState.active);
            expect(await n.provider.getLastFaultReportId(0n)).toBe(1n);
        });

        it('refuses a forged signature or one by another key at the Proxy', async () => {
            const good = fault(1n);
            const forged = { payload: fault(2n).payload, signature: good.signature };
            const r = await refunded(n, n.stranger, () => submitFault(forged, n.stranger));
            expect(r.transactions).toHaveTransaction({ to: n.proxy.address, success: false, exitCode: Number(ERR_BAD_SIGNATURE) });
            const r2 = await refunded(n, n.stranger, () => submitFault(fault(1n, { key: randomKeyPair() }), n.stranger));
            expect(r2.transactions).toHaveTransaction({ to: n.proxy.address, success: false, exitCode: Number(ERR_BAD_SIGNATURE) });
        });

        it('refuses a report naming another proxy, or an expired one', async () => {
            const r = await refunded(n, n.stranger, () => submitFault(fault(1n, { proxy: n.root.address }), n.stranger));
            expect(r.transactions).toHaveTransaction({ to: n.proxy.address, success: false, exitCode: Number(ERR_WRONG_TARGET) });
            const r2 = await refunded(n, n.stranger, () => submitFault(fault(1n, { validUntil: n.chain.now! }), n.stranger));
            expect(r2.transactions).toHaveTransaction({ to: n.proxy.address, success: false, exitCode: Number(ERR_EXPIRED) });
        });

        it('refuses a report whose provider is not the registered Provider of the given seqno', async () => {
            const r = await refunded(n, n.operator, () => submitFault(fault(1n, { provider: n.stranger.address })));
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.root.address, success: false, exitCode: Number(ERR_WRONG_TARGET) });
            const r2 = await refunded(n, n.operator, () => submitFault(fault(1n), n.operator, 3n));
            expect(r2.transactions).toHaveTransaction({ from: n.proxy.address, to: n.root.address, success: false, exitCode: Number(ERR_UNKNOWN_PROVIDER) });
            // Root's refusal bounces to the Proxy, which hands the value to its operator.
            expect(r2.transactions).toHaveTransaction({ from: n.proxy.address, to: n.operator.address, op: 0xd53276db });
            expect(await stake()).toBe(STAKE);
        });

        it('report ids never count twice: a replayed or older id is refused and the value goes to the proxy operator', async () => {
            await submitFault(fault(5n));
            for (const id of [5n, 4n]) {
                const r = await refunded(n, n.operator, () => submitFault(fault(id)));
                expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.provider.address, success: false, exitCode: Number(ERR_REPLAYED) });
                expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.operator.address, op: 0xd53276db });
            }
            expect(await stake()).toBe(STAKE - oneSlash);
        });

        it('at most faultReportsPerPeriod reports per period; a new period starts afresh', async () => {
            for (let i = 1n; i <= p.faultReportsPerPeriod; i++) {
                const r = await submitFault(fault(i));
                expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: true });
            }
            const r = await refunded(n, n.operator, () => submitFault(fault(100n)));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_FAULT_RATE_LIMIT) });
            expect(await stake()).toBe(STAKE - oneSlash * p.faultReportsPerPeriod);
            n.chain.now = validFor(Number(p.faultPeriod));
            const r2 = await submitFault(fault(101n));
            expect(r2.transactions).toHaveTransaction({ to: n.provider.address, success: true });
            expect((await n.provider.getFaultWindow()).reports).toBe(1n);
        });

        it('refuses a non-registered contract at Root and any sender but Root at the Provider', async () => {
            const route = {
                $$type: 'RouteFaultReport' as const, queryId: 0n, proxySeqno: 0n, providerSeqno: 0n, provider: n.provider.address,
                reportId: 1n, reason: 1n, requestId: 1n, excessesTo: n.stranger.address,
            };
            const r = await refunded(n, n.stranger, () => n.root.send(n.stranger.getSender(), { value: toNano('0.2') }, route));
            expect(r.transactions).toHaveTransaction({ to: n.root.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
            const r2 = await refunded(n, n.stranger, () => n.root.send(n.stranger.getSender(), { value: toNano('0.2') }, { ...route, proxySeqno: 9n }));
            expect(r2.transactions).toHaveTransaction({ to: n.root.address, success: false, exitCode: Number(ERR_UNKNOWN_PROXY) });
            const r3 = await refunded(n, n.stranger, () =>
                n.provider.send(n.stranger.getSender(), { value: toNano('0.2') }, {
                    $$type: 'ProviderFaultReport', queryId: 0n, proxySeqno: 0n, reportId: 1n, reason: 1n, requestId: 1n, excessesTo: n.stranger.address,
                }),
            );
            expect(r3.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
            expect(await stake()).toBe(STAKE);
        });

        it('refuses a report of a proxy governance deactivated (Root) and of one whose certificate expired (Proxy)', async () => {
            await n.root.send(n.owner.getSender(), { value: toNano('0.1') }, { $$type: 'DeactivateProxy', queryId: 0n, seqno: 0n });
            const r = await submitFault(fault(1n));
            // Whichever hop sees the deactivation first refuses it; the Provider never runs.
            expect(r.transactions).toHaveTransaction({ success: false, exitCode: Number(ERR_PROXY_NOT_ACTIVE) });
            expect(r.transactions).not.toHaveTransaction({ to: n.provider.address });
            expect(await stake()).toBe(STAKE);

            await n.chain.loadFrom(clean);
            n.chain.now = validFor(31 * DAY);
            const r2 = await refunded(n, n.operator, () => submitFault(fault(1n)));
            expect(r2.transactions).toHaveTransaction({ to: n.proxy.address, success: false, exitCode: Number(ERR_PROXY_NOT_ACTIVE) });
        });

        it('a deactivated proxy refused at Root: the value returns to the proxy operator', async () => {
            await n.root.send(n.owner.getSender(), { value: toNano('0.1') }, { $$type: 'DeactivateProxy', queryId: 0n, seqno: 0n });
            const r = await submitFault(fault(1n));
            const rootTx = r.transactions.find((t) => t.inMessage?.info.src instanceof Address && t.inMessage.info.src.equals(n.proxy.address));
            if (rootTx) {
                // The Proxy forwarded it (it has not seen the deactivation): Root refuses and the bounce pays the operator.
                expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.root.address, success: false, exitCode: Number(ERR_PROXY_NOT_ACTIVE) });
                expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.operator.address, op: 0xd53276db });
            } else {
                expect(r.transactions).toHaveTransaction({ to: n.proxy.address, success: false, exitCode: Number(ERR_PROXY_NOT_ACTIVE) });
            }
        });

        it('refuses too little gas', async () => {
            const r = await refunded(n, n.operator, () => submitFault(fault(1n), n.operator, 0n, toNano('0.05')));
            expect(r.transactions).toHaveTransaction({ to: n.proxy.address, success: false, exitCode: Number(ERR_NOT_ENOUGH_VALUE) });
        });

        it('applies while unbonding and refuses once the provider exited', async () => {
            await startUnbond();
            const r = await submitFault(fault(1n));
            expect(r.transactions).toHaveTransaction({ to: n.provider.address, success: true });
            expect(await stake()).toBe(STAKE - oneSlash);
            n.chain.now = validFor(7 * DAY);
            await withdraw();
            const r2 = await refunded(n, n.operator, () => submitFault(fault(2n)));
            expect(r2.transactions).toHaveTransaction({ to: n.provider.address, success: false, exitCode: Number(ERR_PROVIDER_EXITED) });
        });
    });

    describe('fault-report cap per period', () => {
        // 10 reports allowed but at most 1.2 % of the stake: 0.5 %, 0.5 %, then 0.2 %, then refused.
        const params: Params = defaultParams();
        params.slashing = { ...params.slashing, faultReportsPerPeriod: 10n, faultCapBps: 120n, faultSlashBps: 50n };
        let m: ProviderNet;
        beforeAll(async () => {
            m = await deployProviderNet({ params });
        });

        it('slashes at most faultCapBps of the period-start stake, the last slash partially', async () => {
            const f = (id: bigint) => signedFault(m.proxyKeys.ed25519, m.provider.address, m.proxy.address, id, m.chain.now! + 3600);
            const submit = (id: bigint) => m.proxy.send(m.operator.getSender(), { value: toNano('0.2') }, faultReportSubmission(f(id), 0n));
            for (const id of [1n, 2n, 3n]) await submit(id);
            expect(await m.provider.getStake()).toBe(STAKE - bps(STAKE, 120n));
            expect(await m.root.getTreasury()).toBe(bps(STAKE, 120n));
            const r = await conserved(m, () => submit(4n));
            expect(r.transactions).toHaveTransaction({ to: m.provider.address, success: false, exitCode: Number(ERR_FAULT_CAP_REACHED) });
            expect(await m.provider.getStake()).toBe(STAKE - bps(STAKE, 120n));
        });
    });

    // ================================================================== treasury credits

    describe('Root treasury credits', () => {
        it('credit only from the registered Provider of that seqno', async () => {
            const r = await refunded(n, n.stranger, () =>
                n.root.send(n.stranger.getSender(), { value: toNano('1') }, { $$type: 'CreditTreasury', queryId: 0n, providerSeqno: 0n, amount: toNano('0.5') }),
            );
            expect(r.transactions).toHaveTransaction({ to: n.root.address, success: false, exitCode: Number(ERR_WRONG_SENDER) });
            const r2 = await refunded(n, n.stranger, () =>
                n.root.send(n.stranger.getSender(), { value: toNano('1') }, { $$type: 'CreditTreasury', queryId: 0n, providerSeqno: 4n, amount: toNano('0.5') }),
            );
            expect(r2.transactions).toHaveTransaction({ to: n.root.address, success: false, exitCode: Number(ERR_UNKNOWN_PROVIDER) });
            expect(await n.root.getTreasury()).toBe(0n);
        });

        it('governance can withdraw what slashing credited', async () => {
            await equivocate(...receipts(1n));
            const t = await n.root.getTreasury();
            const r = await conserved(n, () =>
                n.root.send(n.owner.getSender(), { value: toNano('0.05') }, { $$type: 'WithdrawTreasury', queryId: 0n, amount: t, to: n.owner.address }),
            );
            expect(r.transactions).toHaveTransaction({ to: n.root.address, success: true });
            expect(await n.root.getTreasury()).toBe(0n);
        });
    });
});
