/**
 * Root: deployment and governance (params, allow-lists, attestors, owner, treasury).
 * Every governance op answers Excesses to the owner and leaves Root's balance as it was.
 */
import '@ton/test-utils';
import { beginCell, toNano } from '@ton/core';
import { BlockchainSnapshot, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Role, keyToBigInt } from '../../wrappers/payloads';
import {
    AllowList,
    ERR_BAD_PARAMS,
    ERR_BAD_THRESHOLD,
    ERR_EXPIRED,
    ERR_INSUFFICIENT_FUNDS,
    ERR_NOT_ATTESTOR,
    ERR_NOT_ENOUGH_VALUE,
    ERR_STAKE_TOO_LOW,
    ERR_TOO_MANY_ENTRIES,
    ERR_TREASURY_TOO_LOW,
    ERR_UNKNOWN_LIST,
    ERR_WRONG_SENDER,
    Params,
    OP_GAS,
    TREASURY_DEPOSIT_GAS,
    attestorMap,
    defaultParams,
    rootForOwner,
} from '../../wrappers/Root';
import { Network, RootMessage, audited, feesOf, deployNetwork, expectRefused, makeCertificate, randomKeyPair, randomNodeKeys, registerProxy, sha256, storageFeesOf } from '../helpers/network';

const OP_EXCESSES = 0xd53276db;

let net: Network;
let snapshot: BlockchainSnapshot;
let stranger: SandboxContract<TreasuryContract>;

beforeAll(async () => {
    net = await deployNetwork({ attestorCount: 3, threshold: 2 });
    stranger = await net.chain.treasury('stranger');
    snapshot = net.chain.snapshot();
});

beforeEach(async () => {
    await net.chain.loadFrom(snapshot);
});

/** Sends a governance op from `from`, checks success, Excesses{queryId} back, Root's balance unchanged. */
async function govern(body: RootMessage, from: SandboxContract<TreasuryContract> = net.owner, value: bigint = toNano('0.05'), maxCost: bigint = toNano('0.02')) {
    const a = await audited(net.chain, [from.address, net.root.address], () => net.root.send(from.getSender(), { value }, body));
    expect(a.result.transactions).toHaveTransaction({ from: from.address, to: net.root.address, success: true });
    expect(a.result.transactions).toHaveTransaction({
        from: net.root.address,
        to: from.address,
        success: true,
        body: beginCell().storeUint(OP_EXCESSES, 32).storeUint(99n, 64).endCell(),
    });
    expect(a.delta(net.root.address) + storageFeesOf(a.result, net.root.address)).toBe(0n);
    expect(-a.delta(from.address)).toBeLessThan(maxCost);
    return a;
}

const hashOf = (s: string) => keyToBigInt(sha256(s));

describe('Root: deployment', () => {
    it('starts with its owner, params, empty lists, no attestors and no proxies', async () => {
        const chain = net.chain;
        const owner = await chain.treasury('fresh owner');
        const root = chain.openContract(await rootForOwner(owner.address));
        const r = await root.send(owner.getSender(), { value: toNano('1') }, null);
        expect(r.transactions).toHaveTransaction({ to: root.address, deploy: true, success: true });
        expect((await root.getOwner()).equals(owner.address)).toBe(true);
        expect(await root.getParams()).toEqual(defaultParams());
        expect(await root.getThreshold()).toBe(0n);
        expect(await root.getAttestorCount()).toBe(0n);
        expect(await root.getProxyCount()).toBe(0n);
        expect(await root.getProviderCount()).toBe(0n);
        expect(await root.getTreasury()).toBe(0n);
        expect((await root.getProxyImages()).size).toBe(0);
        expect((await chain.getContract(root.address)).balance).toBeGreaterThan(toNano('0.99'));
    });

    it('accepts no certificate before governance sets attestors', async () => {
        const owner = await net.chain.treasury('fresh owner');
        const root = net.chain.openContract(await rootForOwner(owner.address));
        await root.send(owner.getSender(), { value: toNano('1') }, null);
        await root.send(
            owner.getSender(),
            { value: toNano('0.05') },
            { $$type: 'AllowListEdit', queryId: 0n, list: 1n, hash: keyToBigInt(net.proxyImage), allowed: true, expiresAt: 0n },
        );
        const bundle = makeCertificate({ ...net, root }, Role.Proxy, randomNodeKeys());
        const r = await registerProxy({ ...net, root }, stranger, { bundle });
        expect(r.result.transactions).toHaveTransaction({ from: stranger.address, to: root.address, success: false, exitCode: Number(ERR_NOT_ATTESTOR) });
    });

    it('keeps plain transfers as gas balance, not treasury', async () => {
        const a = await audited(net.chain, [stranger.address, net.root.address], () => stranger.send({ to: net.root.address, value: toNano('2') }));
        expect(a.result.transactions).toHaveTransaction({ from: stranger.address, to: net.root.address, success: true });
        expect(a.delta(net.root.address)).toBeGreaterThan(toNano('1.99'));
        expect(await net.root.getTreasury()).toBe(0n);
    });
});

describe('Root: SetParams', () => {
    function withChange(change: (p: Params) => void): Params {
        const p = defaultParams();
        change(p);
        return p;
    }

    it('replaces the params; new registrations use them', async () => {
        const p = withChange((x) => {
            x.stakes.minProxyStake = toNano('20');
            x.prices.pricePerToken = 2000n;
            x.tcbStatusMask = 0b11n;
        });
        await govern({ $$type: 'SetParams', queryId: 99n, params: p });
        expect(await net.root.getParams()).toEqual(p);
        const operator = await net.chain.treasury('operator');
        const low = await registerProxy(net, operator, { stake: toNano('10') });
        expect(low.result.transactions).toHaveTransaction({ to: net.root.address, success: false, exitCode: Number(ERR_STAKE_TOO_LOW) });
        // SWHardeningNeeded (code 1) is accepted now.
        const ok = await registerProxy(net, operator, { stake: toNano('20'), bundle: makeCertificate(net, Role.Proxy, randomNodeKeys(), { tcbStatus: 1 }) });
        expect(ok.result.transactions).toHaveTransaction({ from: net.root.address, deploy: true, success: true });
    });

    it('refuses a sender other than governance', async () => {
        await expectRefused(net, stranger, toNano('0.05'), { $$type: 'SetParams', queryId: 0n, params: defaultParams() }, ERR_WRONG_SENDER);
    });

    const invalid: [string, (p: Params) => void][] = [
        ['a worker fee above the price', (p) => (p.prices.workerFeePerToken = p.prices.pricePerToken + 1n)],
        ['a zero price per token', (p) => ((p.prices.pricePerToken = 0n), (p.prices.workerFeePerToken = 0n))],
        ['a zero minimum proxy stake', (p) => (p.stakes.minProxyStake = 0n)],
        ['a zero minimum provider stake', (p) => (p.stakes.minProviderStake = 0n)],
        ['a zero minimum client stake', (p) => (p.stakes.minClientStake = 0n)],
        ['a proxy close delay shorter than the client close delay', (p) => (p.stakes.proxyCloseDelay = p.stakes.clientCloseDelay - 1n)],
        ['an equivocation slash above 100 %', (p) => (p.slashing.equivocationSlashBps = 10001n)],
        ['a bounty above 100 %', (p) => (p.slashing.bountyBps = 10001n)],
        ['a fault slash above its cap', (p) => (p.slashing.faultSlashBps = p.slashing.faultCapBps + 1n)],
        ['a fault cap above 100 %', (p) => ((p.slashing.faultCapBps = 10001n), (p.slashing.faultSlashBps = 10001n))],
        ['an empty TCB status mask', (p) => (p.tcbStatusMask = 0n)],
        ['a TCB status mask with unknown statuses', (p) => (p.tcbStatusMask = 0b10000001n)],
    ];
    it.each(invalid)('refuses %s', async (_name, change) => {
        await expectRefused(net, net.owner, toNano('0.05'), { $$type: 'SetParams', queryId: 0n, params: withChange(change) }, ERR_BAD_PARAMS);
    });
});

describe('Root: AllowListEdit', () => {
    const lists = [
        ['proxy images', AllowList.proxyImage],
        ['worker images', AllowList.workerImage],
        ['models', AllowList.model],
    ] as const;

    it.each(lists)('adds and removes %s; getters answer "allowed now"', async (_name, list) => {
        const h = hashOf('entry ' + list);
        expect(await net.root.getIsAllowed(BigInt(list), h)).toBe(false);
        await govern({ $$type: 'AllowListEdit', queryId: 99n, list: BigInt(list), hash: h, allowed: true, expiresAt: 0n });
        expect(await net.root.getIsAllowed(BigInt(list), h)).toBe(true);
        expect(await net.root.getAllowListEntry(BigInt(list), h)).toBe(0n);
        // Only on that list.
        for (const [, other] of lists) if (other !== list) expect(await net.root.getIsAllowed(BigInt(other), h)).toBe(false);
        await govern({ $$type: 'AllowListEdit', queryId: 99n, list: BigInt(list), hash: h, allowed: false, expiresAt: 0n });
        expect(await net.root.getIsAllowed(BigInt(list), h)).toBe(false);
        expect(await net.root.getAllowListEntry(BigInt(list), h)).toBeNull();
    });

    it('an entry with an expiry is allowed until then, not from then on', async () => {
        const h = hashOf('expiring model');
        const expiresAt = net.chain.now! + 3600;
        await govern({ $$type: 'AllowListEdit', queryId: 99n, list: BigInt(AllowList.model), hash: h, allowed: true, expiresAt: BigInt(expiresAt) });
        expect(await net.root.getAllowListEntry(BigInt(AllowList.model), h)).toBe(BigInt(expiresAt));
        net.chain.now = expiresAt - 1;
        expect(await net.root.getIsAllowed(BigInt(AllowList.model), h)).toBe(true);
        net.chain.now = expiresAt;
        expect(await net.root.getIsAllowed(BigInt(AllowList.model), h)).toBe(false);
        expect((await net.root.getAllowedModels()).get(h)).toBe(expiresAt);
    });

    it('the list getters return the whole lists', async () => {
        expect((await net.root.getProxyImages()).keys()).toEqual([keyToBigInt(net.proxyImage)]);
        expect((await net.root.getWorkerImages()).keys()).toEqual([keyToBigInt(net.workerImage)]);
        expect((await net.root.getAllowedModels()).keys()).toEqual([keyToBigInt(net.model)]);
        expect(await net.root.getIsAllowed(9n, keyToBigInt(net.model))).toBe(false);
    });

    it('refuses a sender other than governance', async () => {
        await expectRefused(net, stranger, toNano('0.05'), { $$type: 'AllowListEdit', queryId: 0n, list: 1n, hash: 1n, allowed: true, expiresAt: 0n }, ERR_WRONG_SENDER);
    });

    it('refuses an unknown list', async () => {
        await expectRefused(net, net.owner, toNano('0.05'), { $$type: 'AllowListEdit', queryId: 0n, list: 4n, hash: 1n, allowed: true, expiresAt: 0n }, ERR_UNKNOWN_LIST);
    });

    it('refuses an addition that has already expired', async () => {
        await expectRefused(
            net,
            net.owner,
            toNano('0.05'),
            { $$type: 'AllowListEdit', queryId: 0n, list: 1n, hash: 1n, allowed: true, expiresAt: BigInt(net.chain.now!) },
            ERR_EXPIRED,
        );
    });
});

describe('Root: SetAttestors', () => {
    it('replaces the attestor set and the threshold (k <= n)', async () => {
        const keys = Array.from({ length: 4 }, () => randomKeyPair());
        await govern({ $$type: 'SetAttestors', queryId: 99n, attestors: attestorMap(keys.map((k) => k.publicKey)), threshold: 4n });
        expect(await net.root.getThreshold()).toBe(4n);
        expect(await net.root.getAttestorCount()).toBe(4n);
        expect(await net.root.getIsAttestor(keyToBigInt(keys[3].publicKey))).toBe(true);
        expect(await net.root.getIsAttestor(keyToBigInt(net.attestors[0].publicKey))).toBe(false);
        expect((await net.root.getAttestors()).keys().sort()).toEqual(keys.map((k) => keyToBigInt(k.publicKey)).sort());
        // The new set signs; the old one no longer does.
        const operator = await net.chain.treasury('operator');
        const ok = await registerProxy(net, operator, { bundle: makeCertificate(net, Role.Proxy, randomNodeKeys(), { signers: keys }) });
        expect(ok.result.transactions).toHaveTransaction({ from: net.root.address, deploy: true, success: true });
    });

    it('accepts the maximum of 16 attestors with k = 1', async () => {
        const keys = Array.from({ length: 16 }, () => randomKeyPair());
        await govern({ $$type: 'SetAttestors', queryId: 99n, attestors: attestorMap(keys.map((k) => k.publicKey)), threshold: 1n }, net.owner, toNano('0.1'), toNano('0.05'));
        expect(await net.root.getAttestorCount()).toBe(16n);
    });

    it('refuses a sender other than governance', async () => {
        await expectRefused(
            net,
            stranger,
            toNano('0.05'),
            { $$type: 'SetAttestors', queryId: 0n, attestors: attestorMap([randomKeyPair().publicKey]), threshold: 1n },
            ERR_WRONG_SENDER,
        );
    });

    it('refuses k = 0, k > n, and an empty set', async () => {
        const two = attestorMap([randomKeyPair().publicKey, randomKeyPair().publicKey]);
        await expectRefused(net, net.owner, toNano('0.05'), { $$type: 'SetAttestors', queryId: 0n, attestors: two, threshold: 0n }, ERR_BAD_THRESHOLD);
        await expectRefused(net, net.owner, toNano('0.05'), { $$type: 'SetAttestors', queryId: 0n, attestors: two, threshold: 3n }, ERR_BAD_THRESHOLD);
        await expectRefused(net, net.owner, toNano('0.05'), { $$type: 'SetAttestors', queryId: 0n, attestors: attestorMap([]), threshold: 1n }, ERR_BAD_THRESHOLD);
    });

    it('refuses more than 16 attestors', async () => {
        const keys = Array.from({ length: 17 }, () => randomKeyPair().publicKey);
        await expectRefused(net, net.owner, toNano('0.05'), { $$type: 'SetAttestors', queryId: 0n, attestors: attestorMap(keys), threshold: 1n }, ERR_TOO_MANY_ENTRIES);
    });
});

describe('Root: governance ops need OP_GAS', () => {
    const ops: [string, () => RootMessage][] = [
        ['SetParams', () => ({ $$type: 'SetParams', queryId: 0n, params: defaultParams() })],
        ['AllowListEdit', () => ({ $$type: 'AllowListEdit', queryId: 0n, list: 1n, hash: 1n, allowed: true, expiresAt: 0n })],
        ['SetAttestors', () => ({ $$type: 'SetAttestors', queryId: 0n, attestors: attestorMap([randomKeyPair().publicKey]), threshold: 1n })],
        ['SetChildCode', () => ({ $$type: 'SetChildCode', queryId: 0n, kind: 1n, code: beginCell().endCell() })],
        ['UpgradeRoot', () => ({ $$type: 'UpgradeRoot', queryId: 0n, code: beginCell().endCell() })],
        ['SetOwner', () => ({ $$type: 'SetOwner', queryId: 0n, newOwner: stranger.address })],
        ['DeactivateProxy', () => ({ $$type: 'DeactivateProxy', queryId: 0n, seqno: 0n })],
        ['WithdrawTreasury', () => ({ $$type: 'WithdrawTreasury', queryId: 0n, amount: 0n, to: stranger.address })],
    ];
    it.each(ops)('%s refuses a value below OP_GAS', async (_name, body) => {
        await expectRefused(net, net.owner, OP_GAS - 1n, body(), ERR_NOT_ENOUGH_VALUE);
    });
});

describe('Root: SetOwner', () => {
    it('hands governance to a new owner (any address, e.g. a multisig)', async () => {
        const next = await net.chain.treasury('multisig');
        await govern({ $$type: 'SetOwner', queryId: 99n, newOwner: next.address });
        expect((await net.root.getOwner()).equals(next.address)).toBe(true);
        await govern({ $$type: 'AllowListEdit', queryId: 99n, list: 3n, hash: 5n, allowed: true, expiresAt: 0n }, next);
        await expectRefused(net, net.owner, toNano('0.05'), { $$type: 'AllowListEdit', queryId: 0n, list: 3n, hash: 6n, allowed: true, expiresAt: 0n }, ERR_WRONG_SENDER);
    });

    it('refuses a sender other than governance', async () => {
        await expectRefused(net, stranger, toNano('0.05'), { $$type: 'SetOwner', queryId: 0n, newOwner: stranger.address }, ERR_WRONG_SENDER);
    });
});

describe('Root: treasury', () => {
    async function deposit(amount: bigint) {
        const a = await audited(net.chain, [stranger.address, net.root.address], () =>
            net.root.send(stranger.getSender(), { value: amount }, { $$type: 'TreasuryDeposit', queryId: 0n }),
        );
        expect(a.result.transactions).toHaveTransaction({ from: stranger.address, to: net.root.address, success: true });
        return a;
    }

    it('TreasuryDeposit credits the value minus the deposit gas; Root holds it', async () => {
        const a = await deposit(toNano('3'));
        expect(await net.root.getTreasury()).toBe(toNano('3') - TREASURY_DEPOSIT_GAS);
        // Root's balance grew by the deposit minus its own fees, never less than the credit.
        expect(a.delta(net.root.address)).toBeGreaterThanOrEqual(toNano('3') - TREASURY_DEPOSIT_GAS);
        await deposit(toNano('1'));
        expect(await net.root.getTreasury()).toBe(toNano('4') - 2n * TREASURY_DEPOSIT_GAS);
    });

    it('TreasuryDeposit refuses a value that does not cover its gas', async () => {
        await expectRefused(net, stranger, TREASURY_DEPOSIT_GAS, { $$type: 'TreasuryDeposit', queryId: 0n }, ERR_NOT_ENOUGH_VALUE);
    });

    it('WithdrawTreasury pays exactly the amount to the recipient and the rest back to governance', async () => {
        await deposit(toNano('3'));
        const to = await net.chain.treasury('grants');
        const amount = toNano('1.5');
        const treasury = await net.root.getTreasury();
        const a = await audited(net.chain, [net.owner.address, net.root.address, to.address], () =>
            net.root.send(net.owner.getSender(), { value: toNano('0.1') }, { $$type: 'WithdrawTreasury', queryId: 3n, amount, to: to.address }),
        );
        expect(a.result.transactions).toHaveTransaction({ from: net.owner.address, to: net.root.address, success: true });
        expect(a.result.transactions).toHaveTransaction({ from: net.root.address, to: to.address, value: amount, success: true });
        expect(a.result.transactions).toHaveTransaction({ from: net.root.address, to: net.owner.address, op: OP_EXCESSES, success: true });
        expect(await net.root.getTreasury()).toBe(treasury - amount);
        expect(a.delta(net.root.address) + storageFeesOf(a.result, net.root.address)).toBe(-amount);
        expect(a.delta(to.address) + feesOf(a.result, to.address)).toBe(amount);
        expect(-a.delta(net.owner.address)).toBeLessThan(toNano('0.02'));
    });

    it('WithdrawTreasury is bounded by the treasury counter, not by Root balance', async () => {
        await deposit(toNano('1'));
        // Root holds ~2 TON of gas balance, but only the treasury may be withdrawn.
        const treasury = await net.root.getTreasury();
        await expectRefused(net, net.owner, toNano('0.1'), { $$type: 'WithdrawTreasury', queryId: 0n, amount: treasury + 1n, to: net.owner.address }, ERR_TREASURY_TOO_LOW);
        const withdrawAll = await net.root.send(net.owner.getSender(), { value: toNano('0.1') }, { $$type: 'WithdrawTreasury', queryId: 0n, amount: treasury, to: net.owner.address });
        expect(withdrawAll.transactions).toHaveTransaction({ from: net.root.address, to: net.owner.address, value: treasury, success: true });
        expect(await net.root.getTreasury()).toBe(0n);
        await expectRefused(net, net.owner, toNano('0.1'), { $$type: 'WithdrawTreasury', queryId: 0n, amount: 1n, to: net.owner.address }, ERR_TREASURY_TOO_LOW);
    });

    it('WithdrawTreasury refuses a sender other than governance', async () => {
        await deposit(toNano('1'));
        await expectRefused(net, stranger, toNano('0.1'), { $$type: 'WithdrawTreasury', queryId: 0n, amount: 1n, to: stranger.address }, ERR_WRONG_SENDER);
    });

    it('WithdrawTreasury never takes Root below its storage reserve', async () => {
        // A Root whose whole balance is treasury (no gas balance above the reserve).
        const owner = await net.chain.treasury('thin owner');
        const root = net.chain.openContract(await rootForOwner(owner.address));
        await root.send(owner.getSender(), { value: toNano('0.01') }, null);
        const d = await root.send(owner.getSender(), { value: toNano('1') }, { $$type: 'TreasuryDeposit', queryId: 0n });
        expect(d.transactions).toHaveTransaction({ to: root.address, success: true });
        const treasury = await root.getTreasury();
        const r = await root.send(owner.getSender(), { value: toNano('0.1') }, { $$type: 'WithdrawTreasury', queryId: 0n, amount: treasury, to: owner.address });
        expect(r.transactions).toHaveTransaction({ from: owner.address, to: root.address, success: false, exitCode: Number(ERR_INSUFFICIENT_FUNDS) });
        expect(await root.getTreasury()).toBe(treasury);
    });
});
