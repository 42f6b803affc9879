/**
 * Root: code changes by governance. SetChildCode changes the code of proxies and providers
 * registered from then on (existing ones keep theirs); UpgradeRoot swaps Root's own code
 * and keeps its data. The "new code" is a test-only Tolk contract (tests/fixtures/upgraded.tolk)
 * with getters no Cocoon contract has.
 */
import '@ton/test-utils';
import { Address, Cell, toNano } from '@ton/core';
import { BlockchainSnapshot, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { runTolkCompiler } from '@ton/tolk-js';
import { readFileSync } from 'fs';
import { join } from 'path';
import { Role } from '../../wrappers/payloads';
import { Proxy } from '../../wrappers/Proxy';
import { Provider } from '../../wrappers/Provider';
import { ChildKind, ERR_UNKNOWN_CHILD_KIND, ERR_WRONG_SENDER, modelSet } from '../../wrappers/Root';
import { Network, deployNetwork, expectRefused, makeCertificate, randomNodeKeys, registerProxy, audited, storageFeesOf } from '../helpers/network';

const UPGRADE_MARKER = 0x55504752n;

let net: Network;
let snapshot: BlockchainSnapshot;
let operator: SandboxContract<TreasuryContract>;
let newCode: Cell;

async function compileFixture(): Promise<Cell> {
    const dir = join(__dirname, '..', 'fixtures');
    const r = await runTolkCompiler({ entrypointFileName: 'upgraded.tolk', fsReadCallback: (p) => readFileSync(join(dir, p), 'utf8') });
    if (r.status !== 'ok') throw new Error(`tolk: ${r.message}`);
    return Cell.fromBase64(r.codeBoc64);
}

async function codeOf(address: Address): Promise<Cell> {
    const s = (await net.chain.getContract(address)).accountState;
    if (s?.type !== 'active' || !s.state.code) throw new Error('not active');
    return s.state.code;
}

beforeAll(async () => {
    newCode = await compileFixture();
    net = await deployNetwork({ attestorCount: 1, threshold: 1 });
    operator = await net.chain.treasury('operator');
    snapshot = net.chain.snapshot();
});

beforeEach(async () => {
    await net.chain.loadFrom(snapshot);
});

describe('Root: SetChildCode', () => {
    it('new proxies get the new code at the address the getter derives; existing ones keep theirs', async () => {
        const old = await registerProxy(net, operator);
        const oldAddress = await net.root.getProxyAddress(0n);
        expect(old.result.transactions).toHaveTransaction({ to: oldAddress, deploy: true, success: true });
        const builtIn = (await Proxy.fromInit(net.root.address, 0n)).init!.code;
        expect((await net.root.getChildCode(BigInt(ChildKind.proxy))).equals(builtIn)).toBe(true);

        const a = await audited(net.chain, [net.owner.address, net.root.address], () =>
            net.root.send(net.owner.getSender(), { value: toNano('0.05') }, { $$type: 'SetChildCode', queryId: 1n, kind: BigInt(ChildKind.proxy), code: newCode }),
        );
        expect(a.result.transactions).toHaveTransaction({ from: net.root.address, to: net.owner.address, success: true });
        expect(a.delta(net.root.address) + storageFeesOf(a.result, net.root.address)).toBe(0n);
        expect((await net.root.getChildCode(BigInt(ChildKind.proxy))).equals(newCode)).toBe(true);

        // The next address is derived from the new code (same data: root + seqno).
        const next = await net.root.getProxyAddress(1n);
        expect(next.equals((await Proxy.fromInit(net.root.address, 1n)).address)).toBe(false);
        const r = await registerProxy(net, operator);
        expect(r.result.transactions).toHaveTransaction({ from: net.root.address, to: next, deploy: true, success: true });
        expect((await codeOf(next)).equals(newCode)).toBe(true);
        expect((await net.chain.runGetMethod(next, 'upgrade_marker')).stackReader.readBigNumber()).toBe(UPGRADE_MARKER);
        expect((await net.root.getProxy(1n))!.proxy.equals(next)).toBe(true);
        // The proxy registered before keeps the built-in code.
        expect((await codeOf(oldAddress)).equals(builtIn)).toBe(true);
        // Provider code is separate and unchanged.
        expect((await net.root.getChildCode(BigInt(ChildKind.provider))).equals((await Provider.fromInit(net.root.address, 0n)).init!.code)).toBe(true);
    });

    it('new providers get the new code', async () => {
        const s = await net.root.send(net.owner.getSender(), { value: toNano('0.05') }, { $$type: 'SetChildCode', queryId: 1n, kind: BigInt(ChildKind.provider), code: newCode });
        expect(s.transactions).toHaveTransaction({ to: net.root.address, success: true });
        const bundle = makeCertificate(net, Role.Worker, randomNodeKeys());
        const stake = (await net.root.getParams()).stakes.minProviderStake;
        const r = await net.root.send(
            operator.getSender(),
            { value: stake + toNano('0.5') },
            {
                $$type: 'RegisterProvider',
                queryId: 0n,
                cert: bundle.cert,
                signatures: bundle.signatures,
                stake,
                hardware: { $$type: 'Hardware', gpuModel: 'H100', vramGiB: 80n, gpuCount: 1n },
                models: modelSet([net.model]),
                expectedUptimeBps: 9900n,
            },
        );
        const addr = await net.root.getProviderAddress(0n);
        expect(r.transactions).toHaveTransaction({ from: net.root.address, to: addr, deploy: true, success: true });
        expect((await codeOf(addr)).equals(newCode)).toBe(true);
    });

    it('refuses a sender other than governance', async () => {
        await expectRefused(net, operator, toNano('0.05'), { $$type: 'SetChildCode', queryId: 0n, kind: 1n, code: newCode }, ERR_WRONG_SENDER);
    });

    it('refuses an unknown child kind', async () => {
        await expectRefused(net, net.owner, toNano('0.05'), { $$type: 'SetChildCode', queryId: 0n, kind: 3n, code: newCode }, ERR_UNKNOWN_CHILD_KIND);
    });
});

describe('Root: UpgradeRoot', () => {
    it('swaps Root code (setCode) and keeps its data', async () => {
        const oldCode = await codeOf(net.root.address);
        const dataBefore = (await net.chain.getContract(net.root.address)).accountState;
        const a = await audited(net.chain, [net.owner.address, net.root.address], () =>
            net.root.send(net.owner.getSender(), { value: toNano('0.05') }, { $$type: 'UpgradeRoot', queryId: 1n, code: newCode }),
        );
        expect(a.result.transactions).toHaveTransaction({ from: net.owner.address, to: net.root.address, success: true });
        expect(a.result.transactions).toHaveTransaction({ from: net.root.address, to: net.owner.address, success: true });
        expect(a.delta(net.root.address) + storageFeesOf(a.result, net.root.address)).toBe(0n);

        const code = await codeOf(net.root.address);
        expect(code.equals(oldCode)).toBe(false);
        expect(code.equals(newCode)).toBe(true);
        // Only the new code answers this getter; the data it reads is Root's, untouched.
        expect((await net.chain.runGetMethod(net.root.address, 'upgrade_marker')).stackReader.readBigNumber()).toBe(UPGRADE_MARKER);
        const first = (await net.chain.runGetMethod(net.root.address, 'first_address')).stackReader.readAddress();
        expect(first.equals(net.owner.address)).toBe(true);
        const dataAfter = (await net.chain.getContract(net.root.address)).accountState;
        if (dataBefore?.type !== 'active' || dataAfter?.type !== 'active') throw new Error('not active');
        expect(dataAfter.state.data!.equals(dataBefore.state.data!)).toBe(true);
        // The old code's getters are gone.
        await expect(net.root.getProxyCount()).rejects.toThrow();
    });

    it('refuses a sender other than governance', async () => {
        await expectRefused(net, operator, toNano('0.05'), { $$type: 'UpgradeRoot', queryId: 0n, code: newCode }, ERR_WRONG_SENDER);
        expect(await net.root.getProxyCount()).toBe(0n);
    });
});

