/**
 * Root: proxy registration, renewal and deactivation (Root's side; the Proxy's own receivers
 * are specified in tests/contracts/proxy*.spec.ts). A 2-of-3 attestor network throughout.
 */
import '@ton/test-utils';
import fc from 'fast-check';
import { Address, beginCell, toNano } from '@ton/core';
import { BlockchainSnapshot, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Role, TcbStatusCode, keyToBigInt, buildSignatureList, signAttestationCert } from '../../wrappers/payloads';
import { Proxy } from '../../wrappers/Proxy';
import { Provider } from '../../wrappers/Provider';
import {
    AllowList,
    ERR_CERT_EXPIRED,
    ERR_CERT_IMAGE_MISMATCH,
    ERR_CERT_KEY_MISMATCH,
    ERR_CERT_WRONG_ROLE,
    ERR_CERT_WRONG_ROOT,
    ERR_DUPLICATE_ATTESTOR,
    ERR_BAD_ATTESTOR_SIGNATURE,
    ERR_ENDPOINT_TOO_LONG,
    ERR_IMAGE_NOT_ALLOWED,
    ERR_KEY_ALREADY_REGISTERED,
    ERR_NOT_ATTESTOR,
    ERR_NOT_ENOUGH_VALUE,
    ERR_PROXY_INACTIVE,
    ERR_REPLAYED,
    ERR_STAKE_TOO_LOW,
    ERR_TCB_STATUS_NOT_ACCEPTED,
    ERR_TOO_FEW_SIGNATURES,
    ERR_TOO_MANY_ENTRIES,
    ERR_UNKNOWN_PROXY,
    ERR_WRONG_SENDER,
    MIN_STORAGE,
    NOTIFY_OP_GAS,
    PROXY_NOTIFY_VALUE,
    REGISTRATION_GAS,
    ERR_MODEL_NOT_ALLOWED,
    attestorMap,
    modelSet,
} from '../../wrappers/Root';
import {
    Network,
    NodeKeys,
    audited,
    deployNetwork,
    expectRefused,
    makeCertificate,
    makeCertificateCell,
    randomKeyPair,
    randomNodeKeys,
    registerProxy,
    sha256,
    storageFeesOf,
} from '../helpers/network';

const DAY = 86400;
const OP_PROXY_DEPLOY = 0x50520001;
const OP_PROXY_RENEWED = 0x50520002;
const OP_PROXY_DEACTIVATED = 0x50520003;
const OP_PROXY_ENDPOINT_CHANGED = 0x50520004;
const OP_EXCESSES = 0xd53276db;

let net: Network;
let snapshot: BlockchainSnapshot;
let operator: SandboxContract<TreasuryContract>;
let stranger: SandboxContract<TreasuryContract>;
let minStake: bigint;

beforeAll(async () => {
    net = await deployNetwork({ attestorCount: 3, threshold: 2 });
    operator = await net.chain.treasury('operator');
    stranger = await net.chain.treasury('stranger');
    minStake = (await net.root.getParams()).stakes.minProxyStake;
    snapshot = net.chain.snapshot();
});

beforeEach(async () => {
    await net.chain.loadFrom(snapshot);
});

function registerBody(bundle: { cert: import('@ton/core').Cell; signatures: import('@ton/core').Cell }, stake: bigint = minStake, endpoint = 'https://p.example') {
    return { $$type: 'RegisterProxy' as const, queryId: 1n, cert: bundle.cert, signatures: bundle.signatures, stake, endpoint };
}

/** Registers a proxy (checked to succeed) and returns its keys, seqno and address. */
async function registered(keys: NodeKeys = randomNodeKeys()): Promise<{ keys: NodeKeys; seqno: bigint; address: Address }> {
    const seqno = await net.root.getProxyCount();
    const r = await registerProxy(net, operator, { keys });
    const address = await net.root.getProxyAddress(seqno);
    expect(r.result.transactions).toHaveTransaction({ from: net.root.address, to: address, deploy: true, success: true });
    return { keys, seqno, address };
}

describe('Root: RegisterProxy', () => {
    it('deploys an active Proxy holding stake and keys, records it, returns the excess to the operator', async () => {
        const keys = randomNodeKeys();
        const stake = minStake + toNano('3');
        const value = stake + toNano('1');
        const proxyAddress = await net.root.getProxyAddress(0n);
        const a = await audited(net.chain, [operator.address, net.root.address, proxyAddress], async () =>
            (await registerProxy(net, operator, { keys, stake, value, endpoint: 'https://proxy.example:8443', queryId: 42n })).result,
        );
        const txs = a.result.transactions;
        expect(txs).toHaveTransaction({ from: operator.address, to: net.root.address, success: true });
        expect(txs).toHaveTransaction({ from: net.root.address, to: proxyAddress, deploy: true, success: true, op: OP_PROXY_DEPLOY });
        expect(txs).toHaveTransaction({
            from: proxyAddress,
            to: operator.address,
            op: OP_EXCESSES,
            success: true,
            body: beginCell().storeUint(OP_EXCESSES, 32).storeUint(42n, 64).endCell(),
        });

        // The Proxy holds exactly stake + its storage reserve; Root keeps nothing.
        expect(a.delta(proxyAddress)).toBe(stake + MIN_STORAGE);
        expect(a.delta(net.root.address) + storageFeesOf(a.result, net.root.address)).toBe(0n);
        // The operator paid the stake, the reserve and gas, and got the rest back.
        const cost = -a.delta(operator.address) - stake - MIN_STORAGE;
        expect(cost).toBeGreaterThan(0n);
        expect(cost).toBeLessThan(toNano('0.1'));

        const proxy = net.chain.openContract(Proxy.fromAddress(proxyAddress));
        expect(await proxy.getState()).toBe(1n);
        expect(await proxy.getStake()).toBe(stake);
        expect((await proxy.getOwner())!.equals(operator.address)).toBe(true);
        expect(await proxy.getEd25519Key()).toBe(keyToBigInt(keys.ed25519.publicKey));
        expect(await proxy.getX25519Key()).toBe(keyToBigInt(keys.x25519));
        expect(await proxy.getValidUntil()).toBe(BigInt(net.chain.now! + 30 * DAY));

        expect(await net.root.getProxyCount()).toBe(1n);
        const rec = (await net.root.getProxy(0n))!;
        expect(rec.proxy.equals(proxyAddress)).toBe(true);
        expect(rec.owner.equals(operator.address)).toBe(true);
        expect(rec.imageHash).toBe(keyToBigInt(net.proxyImage));
        expect(rec.ed25519Key).toBe(keyToBigInt(keys.ed25519.publicKey));
        expect(rec.x25519Key).toBe(keyToBigInt(keys.x25519));
        expect(rec.validUntil).toBe(BigInt(net.chain.now! + 30 * DAY));
        expect(rec.active).toBe(true);
        expect(rec.endpoint).toBe('https://proxy.example:8443');
        expect(await net.root.getProxySeqnoByKey(keyToBigInt(keys.ed25519.publicKey))).toBe(0n);
        expect(await net.root.getIsProxyActive(0n)).toBe(true);
        expect((await net.root.getProxies()).keys()).toEqual([0]);
    });

    it('accepts exactly k of n signatures, from any sender', async () => {
        const keys = randomNodeKeys();
        const bundle = makeCertificate(net, Role.Proxy, keys, { signers: [net.attestors[2], net.attestors[0]] });
        const r = await registerProxy(net, stranger, { keys, bundle });
        expect(r.result.transactions).toHaveTransaction({ from: net.root.address, to: await net.root.getProxyAddress(0n), deploy: true, success: true });
    });

    it('gives each proxy its own seqno and derived address', async () => {
        const a = await registered();
        const b = await registered();
        expect(a.seqno).toBe(0n);
        expect(b.seqno).toBe(1n);
        expect(a.address.equals(b.address)).toBe(false);
        expect((await Proxy.fromInit(net.root.address, 1n)).address.equals(b.address)).toBe(true);
        expect(await net.root.getProxyCount()).toBe(2n);
        expect((await net.root.getProxies()).keys()).toEqual([0, 1]);
        expect(await net.root.getProxySeqnoByKey(keyToBigInt(b.keys.ed25519.publicKey))).toBe(1n);
        expect(await net.root.getProxy(2n)).toBeNull();
        expect(await net.root.getIsProxyActive(2n)).toBe(false);
    });

    it('k-of-n property: any signature list registers iff its entries are distinct attestors and at least k', async () => {
        const strangers = [randomKeyPair(), randomKeyPair()];
        const signers = [...net.attestors, ...strangers]; // 0..2 attestors, 3..4 not
        await fc.assert(
            fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 5 }), async (picks) => {
                const count = await net.root.getProxyCount();
                // Entries are checked in order: the first non-attestor or repeat decides.
                let expected: bigint | null = null;
                const seen = new Set<number>();
                for (const i of picks) {
                    if (i >= 3) { expected = ERR_NOT_ATTESTOR; break; }
                    if (seen.has(i)) { expected = ERR_DUPLICATE_ATTESTOR; break; }
                    seen.add(i);
                }
                if (expected === null && seen.size < 2) expected = ERR_TOO_FEW_SIGNATURES;
                const keys = randomNodeKeys();
                const cert = makeCertificateCell(net, Role.Proxy, keys);
                const sigs = new Map<number, ReturnType<typeof signAttestationCert>>();
                const sigOf = (i: number) => sigs.get(i) ?? sigs.set(i, signAttestationCert(cert, signers[i])).get(i)!;
                const signatures = buildSignatureList(picks.map(sigOf));
                const r = await registerProxy(net, operator, { keys, bundle: { cert, signatures } });
                if (expected === null) {
                    expect(r.result.transactions).toHaveTransaction({ from: net.root.address, deploy: true, success: true });
                } else {
                    expect(r.result.transactions).toHaveTransaction({ to: net.root.address, success: false, exitCode: Number(expected) });
                    expect(await net.root.getProxyCount()).toBe(count);
                }
            }),
            { numRuns: 12, seed: 20261123 },
        );
    });

    describe('refuses, bouncing the value minus gas', () => {
        const value = () => minStake + toNano('0.5');

        it('a signature by an attestor over another certificate', async () => {
            const keys = randomNodeKeys();
            const good = makeCertificate(net, Role.Proxy, keys);
            const other = makeCertificate(net, Role.Proxy, randomNodeKeys());
            const forged = buildSignatureList([
                signAttestationCert(good.cert, net.attestors[0]),
                { attestorKey: net.attestors[1].publicKey, signature: signAttestationCert(other.cert, net.attestors[1]).signature },
            ]);
            await expectRefused(net, operator, value(), registerBody({ cert: good.cert, signatures: forged }), ERR_BAD_ATTESTOR_SIGNATURE);
        });

        it('a signature from a key that is not an attestor', async () => {
            const bundle = makeCertificate(net, Role.Proxy, randomNodeKeys(), { signers: [net.attestors[0], randomKeyPair()] });
            await expectRefused(net, operator, value(), registerBody(bundle), ERR_NOT_ATTESTOR);
        });

        it('the same attestor counted twice', async () => {
            const bundle = makeCertificate(net, Role.Proxy, randomNodeKeys(), { signers: [net.attestors[1], net.attestors[1]] });
            await expectRefused(net, operator, value(), registerBody(bundle), ERR_DUPLICATE_ATTESTOR);
        });

        it('fewer than k signatures', async () => {
            const bundle = makeCertificate(net, Role.Proxy, randomNodeKeys(), { signers: [net.attestors[0]] });
            await expectRefused(net, operator, value(), registerBody(bundle), ERR_TOO_FEW_SIGNATURES);
        });

        it('more signature entries than the bound, even when all are valid', async () => {
            const sixteen = Array.from({ length: 16 }, () => randomKeyPair());
            const r = await net.root.send(
                net.owner.getSender(),
                { value: toNano('0.05') },
                { $$type: 'SetAttestors', queryId: 0n, attestors: attestorMap(sixteen.map((k) => k.publicKey)), threshold: 2n },
            );
            expect(r.transactions).toHaveTransaction({ to: net.root.address, success: true });
            const cert = makeCertificate(net, Role.Proxy, randomNodeKeys()).cert;
            const signatures = buildSignatureList([...sixteen, randomKeyPair()].map((k) => signAttestationCert(cert, k)));
            await expectRefused(net, operator, value(), registerBody({ cert, signatures }), ERR_TOO_MANY_ENTRIES, toNano('0.1'));
            // Sixteen of them are fine.
            const ok = await registerProxy(net, operator, { bundle: makeCertificate(net, Role.Proxy, randomNodeKeys(), { signers: sixteen }) });
            expect(ok.result.transactions).toHaveTransaction({ from: net.root.address, deploy: true, success: true });
        });

        it('signatures of an attestor governance has since removed', async () => {
            const bundle = makeCertificate(net, Role.Proxy, randomNodeKeys());
            const r = await net.root.send(
                net.owner.getSender(),
                { value: toNano('0.05') },
                { $$type: 'SetAttestors', queryId: 0n, attestors: attestorMap([net.attestors[1].publicKey, net.attestors[2].publicKey]), threshold: 2n },
            );
            expect(r.transactions).toHaveTransaction({ to: net.root.address, success: true });
            await expectRefused(net, operator, value(), registerBody(bundle), ERR_NOT_ATTESTOR);
        });

        it('an expired certificate (valid-until now or earlier)', async () => {
            for (const validUntil of [net.chain.now!, net.chain.now! - 1]) {
                const bundle = makeCertificate(net, Role.Proxy, randomNodeKeys(), { validUntil });
                await expectRefused(net, operator, value(), registerBody(bundle), ERR_CERT_EXPIRED);
            }
        });

        it('an image that is not on the proxy allow-list (a worker image either)', async () => {
            for (const imageHash of [sha256('unknown image'), net.workerImage]) {
                const bundle = makeCertificate(net, Role.Proxy, randomNodeKeys(), { imageHash });
                await expectRefused(net, operator, value(), registerBody(bundle), ERR_IMAGE_NOT_ALLOWED);
            }
        });

        it('an image whose allow-list entry has expired', async () => {
            const image = sha256('short-lived image');
            const r = await net.root.send(
                net.owner.getSender(),
                { value: toNano('0.05') },
                { $$type: 'AllowListEdit', queryId: 0n, list: BigInt(AllowList.proxyImage), hash: keyToBigInt(image), allowed: true, expiresAt: BigInt(net.chain.now! + 100) },
            );
            expect(r.transactions).toHaveTransaction({ to: net.root.address, success: true });
            // Allowed before the expiry...
            const early = await registerProxy(net, operator, { bundle: makeCertificate(net, Role.Proxy, randomNodeKeys(), { imageHash: image }) });
            expect(early.result.transactions).toHaveTransaction({ from: net.root.address, deploy: true, success: true });
            // ...not from the expiry on.
            net.chain.now = net.chain.now! + 100;
            const bundle = makeCertificate(net, Role.Proxy, randomNodeKeys(), { imageHash: image });
            await expectRefused(net, operator, value(), registerBody(bundle), ERR_IMAGE_NOT_ALLOWED);
        });

        it('a worker certificate (wrong role)', async () => {
            const bundle = makeCertificate(net, Role.Worker, randomNodeKeys(), { imageHash: net.proxyImage });
            await expectRefused(net, operator, value(), registerBody(bundle), ERR_CERT_WRONG_ROLE);
        });

        it('a certificate addressed to another Root', async () => {
            const bundle = makeCertificate(net, Role.Proxy, randomNodeKeys(), { root: operator.address });
            await expectRefused(net, operator, value(), registerBody(bundle), ERR_CERT_WRONG_ROOT);
        });

        it('a TCB status outside the accepted mask', async () => {
            for (const tcbStatus of [TcbStatusCode.OutOfDate, TcbStatusCode.Revoked, 15]) {
                const bundle = makeCertificate(net, Role.Proxy, randomNodeKeys(), { tcbStatus });
                await expectRefused(net, operator, value(), registerBody(bundle), ERR_TCB_STATUS_NOT_ACCEPTED);
            }
        });

        it('a stake below the minimum', async () => {
            const bundle = makeCertificate(net, Role.Proxy, randomNodeKeys());
            await expectRefused(net, operator, value(), registerBody(bundle, minStake - 1n), ERR_STAKE_TOO_LOW);
        });

        it('a value that does not cover stake + registration gas', async () => {
            const bundle = makeCertificate(net, Role.Proxy, randomNodeKeys());
            await expectRefused(net, operator, minStake + REGISTRATION_GAS - 1n, registerBody(bundle), ERR_NOT_ENOUGH_VALUE);
        });

        it('an endpoint longer than one cell', async () => {
            const bundle = makeCertificate(net, Role.Proxy, randomNodeKeys());
            await expectRefused(net, operator, value(), registerBody(bundle, minStake, 'x'.repeat(128)), ERR_ENDPOINT_TOO_LONG);
        });

        it('a replay of a used certificate, or another certificate for a registered key', async () => {
            const keys = randomNodeKeys();
            const first = await registerProxy(net, operator, { keys });
            expect(first.result.transactions).toHaveTransaction({ from: net.root.address, deploy: true, success: true });
            await expectRefused(net, stranger, value(), registerBody(first.bundle), ERR_KEY_ALREADY_REGISTERED);
            const fresh = makeCertificate(net, Role.Proxy, keys, { validUntil: net.chain.now! + 60 * DAY });
            await expectRefused(net, operator, value(), registerBody(fresh), ERR_KEY_ALREADY_REGISTERED);
            expect(await net.root.getProxyCount()).toBe(1n);
        });
    });
});

describe('Root: RenewProxy', () => {
    function renewBody(seqno: bigint, bundle: { cert: import('@ton/core').Cell; signatures: import('@ton/core').Cell }) {
        return { $$type: 'RenewProxy' as const, queryId: 5n, seqno, cert: bundle.cert, signatures: bundle.signatures };
    }

    it('extends valid-until, tells the Proxy, and returns the rest to the sender (anyone may submit)', async () => {
        const p = await registered();
        net.chain.now = net.chain.now! + 20 * DAY;
        const validUntil = net.chain.now! + 30 * DAY;
        const bundle = makeCertificate(net, Role.Proxy, p.keys, { validUntil, tcbStatus: TcbStatusCode.UpToDate });
        const value = toNano('0.3');
        const a = await audited(net.chain, [stranger.address, net.root.address, p.address, operator.address], () =>
            net.root.send(stranger.getSender(), { value }, renewBody(p.seqno, bundle)),
        );
        // The Proxy takes the notice and passes what is left of its value to its operator.
        expect(a.result.transactions).toHaveTransaction({ from: net.root.address, to: p.address, success: true });
        expect(a.result.transactions).toHaveTransaction({ from: p.address, to: operator.address });
        const txs = a.result.transactions;
        expect(txs).toHaveTransaction({ from: stranger.address, to: net.root.address, success: true });
        // The notification carries the new validity, the quote hash and the TCB status.
        expect(txs).toHaveTransaction({
            from: net.root.address,
            to: p.address,
            op: OP_PROXY_RENEWED,
            value: (v) => v! > 0n && v! <= PROXY_NOTIFY_VALUE,
            body: beginCell()
                .storeUint(OP_PROXY_RENEWED, 32)
                .storeUint(5n, 64)
                .storeUint(validUntil, 32)
                .storeBuffer(sha256('quote of ' + p.keys.ed25519.publicKey.toString('hex')))
                .storeUint(TcbStatusCode.UpToDate, 8)
                .endCell(),
        });
        expect(txs).toHaveTransaction({ from: net.root.address, to: stranger.address, op: OP_EXCESSES, success: true });
        // Root ends with exactly the balance it had; the sender paid the notification and gas.
        expect(a.delta(net.root.address) + storageFeesOf(a.result, net.root.address)).toBe(0n);
        const cost = -a.delta(stranger.address);
        expect(cost).toBeGreaterThan(PROXY_NOTIFY_VALUE);
        expect(cost).toBeLessThan(PROXY_NOTIFY_VALUE + toNano('0.05'));

        const rec = (await net.root.getProxy(p.seqno))!;
        expect(rec.validUntil).toBe(BigInt(validUntil));
        expect(rec.active).toBe(true);
        // Past the old expiry, the proxy is still active thanks to the renewal.
        net.chain.now = net.chain.now! + 15 * DAY;
        expect(await net.root.getIsProxyActive(p.seqno)).toBe(true);
    });

    it('a proxy whose certificate ran out without renewal is no longer active', async () => {
        const p = await registered();
        net.chain.now = net.chain.now! + 30 * DAY;
        expect(await net.root.getIsProxyActive(p.seqno)).toBe(false);
    });

    describe('refuses, bouncing the value minus gas', () => {
        const value = toNano('0.3');
        let p: { keys: NodeKeys; seqno: bigint; address: Address };
        const later = () => net.chain.now! + 60 * DAY;

        beforeEach(async () => {
            p = await registered();
        });

        it('an unknown seqno', async () => {
            const bundle = makeCertificate(net, Role.Proxy, p.keys, { validUntil: later() });
            await expectRefused(net, operator, value, renewBody(9n, bundle), ERR_UNKNOWN_PROXY);
        });

        it('a valid-until that is older than or equal to the current one (replay)', async () => {
            for (const validUntil of [net.chain.now! + 30 * DAY, net.chain.now! + 10 * DAY]) {
                const bundle = makeCertificate(net, Role.Proxy, p.keys, { validUntil });
                await expectRefused(net, operator, value, renewBody(p.seqno, bundle), ERR_REPLAYED);
            }
        });

        it('a certificate for another key pair (either key)', async () => {
            const other = randomNodeKeys();
            await expectRefused(net, operator, value, renewBody(p.seqno, makeCertificate(net, Role.Proxy, other, { validUntil: later() })), ERR_CERT_KEY_MISMATCH);
            const newX = { ed25519: p.keys.ed25519, x25519: other.x25519 };
            await expectRefused(net, operator, value, renewBody(p.seqno, makeCertificate(net, Role.Proxy, newX, { validUntil: later() })), ERR_CERT_KEY_MISMATCH);
        });

        it('a certificate for another (allowed) image', async () => {
            const image2 = sha256('proxy image v2');
            const r = await net.root.send(
                net.owner.getSender(),
                { value: toNano('0.05') },
                { $$type: 'AllowListEdit', queryId: 0n, list: BigInt(AllowList.proxyImage), hash: keyToBigInt(image2), allowed: true, expiresAt: 0n },
            );
            expect(r.transactions).toHaveTransaction({ to: net.root.address, success: true });
            const bundle = makeCertificate(net, Role.Proxy, p.keys, { validUntil: later(), imageHash: image2 });
            await expectRefused(net, operator, value, renewBody(p.seqno, bundle), ERR_CERT_IMAGE_MISMATCH);
        });

        it('an image governance has removed from the list since', async () => {
            const r = await net.root.send(
                net.owner.getSender(),
                { value: toNano('0.05') },
                { $$type: 'AllowListEdit', queryId: 0n, list: BigInt(AllowList.proxyImage), hash: keyToBigInt(net.proxyImage), allowed: false, expiresAt: 0n },
            );
            expect(r.transactions).toHaveTransaction({ to: net.root.address, success: true });
            const bundle = makeCertificate(net, Role.Proxy, p.keys, { validUntil: later() });
            await expectRefused(net, operator, value, renewBody(p.seqno, bundle), ERR_IMAGE_NOT_ALLOWED);
        });

        it('bad, foreign, duplicate or too few signatures', async () => {
            const cert = makeCertificate(net, Role.Proxy, p.keys, { validUntil: later() }).cert;
            const other = makeCertificate(net, Role.Proxy, p.keys, { validUntil: later() + 1 }).cert;
            const [a0, a1] = net.attestors;
            const cases: [import('@ton/core').Cell, bigint][] = [
                [buildSignatureList([signAttestationCert(cert, a0), { attestorKey: a1.publicKey, signature: signAttestationCert(other, a1).signature }]), ERR_BAD_ATTESTOR_SIGNATURE],
                [buildSignatureList([signAttestationCert(cert, a0), signAttestationCert(cert, randomKeyPair())]), ERR_NOT_ATTESTOR],
                [buildSignatureList([signAttestationCert(cert, a0), signAttestationCert(cert, a0)]), ERR_DUPLICATE_ATTESTOR],
                [buildSignatureList([signAttestationCert(cert, a1)]), ERR_TOO_FEW_SIGNATURES],
            ];
            for (const [signatures, code] of cases) await expectRefused(net, operator, value, renewBody(p.seqno, { cert, signatures }), code);
        });

        it('an expired certificate, a worker certificate, another Root, a TCB status not accepted', async () => {
            await expectRefused(net, operator, value, renewBody(p.seqno, makeCertificate(net, Role.Proxy, p.keys, { validUntil: net.chain.now! })), ERR_CERT_EXPIRED);
            await expectRefused(
                net,
                operator,
                value,
                renewBody(p.seqno, makeCertificate(net, Role.Worker, p.keys, { validUntil: later(), imageHash: net.proxyImage })),
                ERR_CERT_WRONG_ROLE,
            );
            await expectRefused(net, operator, value, renewBody(p.seqno, makeCertificate(net, Role.Proxy, p.keys, { validUntil: later(), root: stranger.address })), ERR_CERT_WRONG_ROOT);
            await expectRefused(
                net,
                operator,
                value,
                renewBody(p.seqno, makeCertificate(net, Role.Proxy, p.keys, { validUntil: later(), tcbStatus: TcbStatusCode.OutOfDate })),
                ERR_TCB_STATUS_NOT_ACCEPTED,
            );
        });

        it('too little value', async () => {
            const bundle = makeCertificate(net, Role.Proxy, p.keys, { validUntil: later() });
            await expectRefused(net, operator, NOTIFY_OP_GAS - 1n, renewBody(p.seqno, bundle), ERR_NOT_ENOUGH_VALUE);
        });

        it('a proxy governance has deactivated', async () => {
            const d = await net.root.send(net.owner.getSender(), { value: toNano('0.1') }, { $$type: 'DeactivateProxy', queryId: 0n, seqno: p.seqno });
            expect(d.transactions).toHaveTransaction({ from: net.owner.address, to: net.root.address, success: true });
            const bundle = makeCertificate(net, Role.Proxy, p.keys, { validUntil: later() });
            await expectRefused(net, operator, value, renewBody(p.seqno, bundle), ERR_PROXY_INACTIVE);
        });
    });
});

describe('Root: DeactivateProxy', () => {
    it('marks the proxy inactive at once, tells the Proxy, returns the rest to governance', async () => {
        const p = await registered();
        const value = toNano('0.2');
        const a = await audited(net.chain, [net.owner.address, net.root.address, p.address], () =>
            net.root.send(net.owner.getSender(), { value }, { $$type: 'DeactivateProxy', queryId: 11n, seqno: p.seqno }),
        );
        const txs = a.result.transactions;
        expect(txs).toHaveTransaction({ from: net.owner.address, to: net.root.address, success: true });
        expect(txs).toHaveTransaction({
            from: net.root.address,
            to: p.address,
            op: OP_PROXY_DEACTIVATED,
            value: (v) => v! > 0n && v! <= PROXY_NOTIFY_VALUE,
            body: beginCell().storeUint(OP_PROXY_DEACTIVATED, 32).storeUint(11n, 64).endCell(),
        });
        expect(txs).toHaveTransaction({ from: net.root.address, to: net.owner.address, op: OP_EXCESSES, success: true });
        // The Proxy takes the notice and returns what is left of its value to Root (a plain transfer).
        expect(txs).toHaveTransaction({ from: net.root.address, to: p.address, success: true });
        const returned = txs
            .filter((t) => t.inMessage?.info.src && t.inMessage.info.src instanceof Address && t.inMessage.info.src.equals(p.address) && t.inMessage.info.dest instanceof Address && t.inMessage.info.dest.equals(net.root.address))
            .reduce((sum, t) => sum + (t.inMessage!.info.type === 'internal' ? t.inMessage!.info.value.coins : 0n), 0n);
        expect(returned).toBeGreaterThan(0n);
        expect(returned).toBeLessThan(PROXY_NOTIFY_VALUE);
        // Root keeps what came back, less the gas of taking it in.
        const gained = a.delta(net.root.address) + storageFeesOf(a.result, net.root.address);
        expect(gained).toBeGreaterThan(0n);
        expect(gained).toBeLessThanOrEqual(returned);
        const cost = -a.delta(net.owner.address);
        expect(cost).toBeGreaterThan(PROXY_NOTIFY_VALUE);
        expect(cost).toBeLessThan(PROXY_NOTIFY_VALUE + toNano('0.05'));

        expect((await net.root.getProxy(p.seqno))!.active).toBe(false);
        expect(await net.root.getIsProxyActive(p.seqno)).toBe(false);
        // Other proxies are untouched; the key stays taken.
        const q = await registered();
        expect(await net.root.getIsProxyActive(q.seqno)).toBe(true);
        await expectRefused(net, operator, minStake + toNano('0.5'), registerBody(makeCertificate(net, Role.Proxy, p.keys, { validUntil: net.chain.now! + 40 * DAY })), ERR_KEY_ALREADY_REGISTERED);
    });

    describe('refuses, bouncing the value minus gas', () => {
        it('a sender other than governance', async () => {
            const p = await registered();
            await expectRefused(net, operator, toNano('0.2'), { $$type: 'DeactivateProxy', queryId: 0n, seqno: p.seqno }, ERR_WRONG_SENDER);
        });

        it('an unknown proxy', async () => {
            await registered();
            await expectRefused(net, net.owner, toNano('0.2'), { $$type: 'DeactivateProxy', queryId: 0n, seqno: 1n }, ERR_UNKNOWN_PROXY);
        });

        it('a proxy that is already inactive', async () => {
            const p = await registered();
            const d = await net.root.send(net.owner.getSender(), { value: toNano('0.1') }, { $$type: 'DeactivateProxy', queryId: 0n, seqno: p.seqno });
            expect(d.transactions).toHaveTransaction({ from: net.owner.address, to: net.root.address, success: true });
            await expectRefused(net, net.owner, toNano('0.2'), { $$type: 'DeactivateProxy', queryId: 0n, seqno: p.seqno }, ERR_PROXY_INACTIVE);
        });

        it('too little value', async () => {
            const p = await registered();
            await expectRefused(net, net.owner, NOTIFY_OP_GAS - 1n, { $$type: 'DeactivateProxy', queryId: 0n, seqno: p.seqno }, ERR_NOT_ENOUGH_VALUE);
        });
    });
});


describe('Root: SetProxyEndpoint', () => {
    const body = (seqno: bigint, endpoint: string) => ({ $$type: 'SetProxyEndpoint' as const, queryId: 9n, seqno, endpoint });

    it("the operator moves the endpoint: Root's record and the Proxy change, the rest returns to the operator", async () => {
        const p = await registered();
        const proxy = net.chain.openContract(Proxy.fromAddress(p.address));
        const value = toNano('0.2');
        const a = await audited(net.chain, [operator.address, net.root.address, p.address], () => net.root.send(operator.getSender(), { value }, body(p.seqno, 'https://moved.example:8443')));
        const txs = a.result.transactions;
        expect(txs).toHaveTransaction({ from: operator.address, to: net.root.address, success: true });
        expect(txs).toHaveTransaction({
            from: net.root.address,
            to: p.address,
            op: OP_PROXY_ENDPOINT_CHANGED,
            success: true,
            value: (v) => v! > 0n && v! <= PROXY_NOTIFY_VALUE,
            body: beginCell().storeUint(OP_PROXY_ENDPOINT_CHANGED, 32).storeUint(9n, 64).storeStringRefTail('https://moved.example:8443').endCell(),
        });
        expect(txs).toHaveTransaction({ from: net.root.address, to: operator.address, op: OP_EXCESSES, success: true });
        // The Proxy passes what is left of the notice's value to its operator.
        expect(txs).toHaveTransaction({ from: p.address, to: operator.address, op: OP_EXCESSES, success: true });
        // Root and the Proxy end with the balance they had (less rent): the operator paid the gas.
        expect(a.delta(net.root.address) + storageFeesOf(a.result, net.root.address)).toBe(0n);
        expect(a.delta(p.address) + storageFeesOf(a.result, p.address)).toBe(0n);
        const cost = -a.delta(operator.address);
        expect(cost).toBeGreaterThan(0n);
        expect(cost).toBeLessThan(toNano('0.05'));

        expect((await net.root.getProxy(p.seqno))!.endpoint).toBe('https://moved.example:8443');
        expect(await proxy.getEndpoint()).toBe('https://moved.example:8443');
        expect(await net.root.getIsProxyActive(p.seqno)).toBe(true);
    });

    describe('refuses, bouncing the value minus gas', () => {
        it('a sender other than the proxy\'s operator (governance included)', async () => {
            const p = await registered();
            await expectRefused(net, stranger, toNano('0.2'), body(p.seqno, 'https://evil.example'), ERR_WRONG_SENDER);
            await expectRefused(net, net.owner, toNano('0.2'), body(p.seqno, 'https://evil.example'), ERR_WRONG_SENDER);
        });

        it('an unknown seqno', async () => {
            await registered();
            await expectRefused(net, operator, toNano('0.2'), body(1n, 'https://p.example'), ERR_UNKNOWN_PROXY);
        });

        it('a proxy governance has deactivated', async () => {
            const p = await registered();
            const d = await net.root.send(net.owner.getSender(), { value: toNano('0.1') }, { $$type: 'DeactivateProxy', queryId: 0n, seqno: p.seqno });
            expect(d.transactions).toHaveTransaction({ from: net.owner.address, to: net.root.address, success: true });
            await expectRefused(net, operator, toNano('0.2'), body(p.seqno, 'https://moved.example'), ERR_PROXY_INACTIVE);
        });

        it('an endpoint longer than one cell', async () => {
            const p = await registered();
            await expectRefused(net, operator, toNano('0.2'), body(p.seqno, 'https://' + 'a'.repeat(200)), ERR_ENDPOINT_TOO_LONG);
        });

        it('too little value', async () => {
            const p = await registered();
            await expectRefused(net, operator, NOTIFY_OP_GAS - 1n, body(p.seqno, 'https://moved.example'), ERR_NOT_ENOUGH_VALUE);
        });
    });
});

describe('Root: RegisterProvider (Root side)', () => {
    let minProviderStake: bigint;
    beforeEach(async () => {
        minProviderStake = (await net.root.getParams()).stakes.minProviderStake;
    });

    function providerBody(bundle: { cert: import('@ton/core').Cell; signatures: import('@ton/core').Cell }, opts: { stake?: bigint; models?: Buffer[] } = {}) {
        return {
            $$type: 'RegisterProvider' as const,
            queryId: 3n,
            cert: bundle.cert,
            signatures: bundle.signatures,
            stake: opts.stake ?? minProviderStake,
            hardware: { $$type: 'Hardware' as const, gpuModel: 'NVIDIA H100', vramGiB: 80n, gpuCount: 1n },
            models: modelSet(opts.models ?? [net.model]),
            expectedUptimeBps: 9900n,
        };
    }

    it('deploys a Provider holding the stake, records it, returns the excess to the owner', async () => {
        const keys = randomNodeKeys();
        const bundle = makeCertificate(net, Role.Worker, keys);
        const address = await net.root.getProviderAddress(0n);
        const a = await audited(net.chain, [operator.address, net.root.address, address], () =>
            net.root.send(operator.getSender(), { value: minProviderStake + toNano('1') }, providerBody(bundle)),
        );
        expect(a.result.transactions).toHaveTransaction({ from: net.root.address, to: address, deploy: true, success: true });
        expect(a.result.transactions).toHaveTransaction({ from: address, to: operator.address, op: OP_EXCESSES, success: true });
        expect(a.delta(address)).toBe(minProviderStake + MIN_STORAGE);
        expect(a.delta(net.root.address) + storageFeesOf(a.result, net.root.address)).toBe(0n);
        expect(-a.delta(operator.address) - minProviderStake - MIN_STORAGE).toBeLessThan(toNano('0.08'));
        const provider = net.chain.openContract(Provider.fromAddress(address));
        expect(await provider.getState()).toBe(1n);
        expect(await provider.getStake()).toBe(minProviderStake);
        expect(await provider.getEd25519Key()).toBe(keyToBigInt(keys.ed25519.publicKey));
        const rec = (await net.root.getProvider(0n))!;
        expect(rec.provider.equals(address)).toBe(true);
        expect(rec.owner.equals(operator.address)).toBe(true);
        expect(await net.root.getProviderCount()).toBe(1n);
        expect(await net.root.getProviderSeqnoByKey(keyToBigInt(keys.ed25519.publicKey))).toBe(0n);
        expect((await net.root.getProviders()).keys()).toEqual([0]);
    });

    describe('refuses, bouncing the value minus gas', () => {
        const value = () => minProviderStake + toNano('0.5');

        it('a model that is not on the list, or no model at all', async () => {
            await expectRefused(net, operator, value(), providerBody(makeCertificate(net, Role.Worker, randomNodeKeys()), { models: [net.model, sha256('other model')] }), ERR_MODEL_NOT_ALLOWED);
            await expectRefused(net, operator, value(), providerBody(makeCertificate(net, Role.Worker, randomNodeKeys()), { models: [] }), ERR_TOO_MANY_ENTRIES);
        });

        it('more than 16 models, even when all are allowed', async () => {
            const many = Array.from({ length: 17 }, (_, i) => sha256('model ' + i));
            for (const m of many) {
                const r = await net.root.send(
                    net.owner.getSender(),
                    { value: toNano('0.05') },
                    { $$type: 'AllowListEdit', queryId: 0n, list: BigInt(AllowList.model), hash: keyToBigInt(m), allowed: true, expiresAt: 0n },
                );
                expect(r.transactions).toHaveTransaction({ to: net.root.address, success: true });
            }
            await expectRefused(net, operator, value(), providerBody(makeCertificate(net, Role.Worker, randomNodeKeys()), { models: many }), ERR_TOO_MANY_ENTRIES);
        });

        it('a proxy certificate, or a proxy image', async () => {
            await expectRefused(net, operator, value(), providerBody(makeCertificate(net, Role.Proxy, randomNodeKeys(), { imageHash: net.workerImage })), ERR_CERT_WRONG_ROLE);
            await expectRefused(net, operator, value(), providerBody(makeCertificate(net, Role.Worker, randomNodeKeys(), { imageHash: net.proxyImage })), ERR_IMAGE_NOT_ALLOWED);
        });

        it('too few signatures, or an expired certificate', async () => {
            await expectRefused(net, operator, value(), providerBody(makeCertificate(net, Role.Worker, randomNodeKeys(), { signers: [net.attestors[0]] })), ERR_TOO_FEW_SIGNATURES);
            await expectRefused(net, operator, value(), providerBody(makeCertificate(net, Role.Worker, randomNodeKeys(), { validUntil: net.chain.now! })), ERR_CERT_EXPIRED);
        });

        it('too little stake or value', async () => {
            const bundle = makeCertificate(net, Role.Worker, randomNodeKeys());
            await expectRefused(net, operator, value(), providerBody(bundle, { stake: minProviderStake - 1n }), ERR_STAKE_TOO_LOW);
            await expectRefused(net, operator, minProviderStake + REGISTRATION_GAS - 1n, providerBody(bundle), ERR_NOT_ENOUGH_VALUE);
        });

        it('a replay of a used certificate', async () => {
            const bundle = makeCertificate(net, Role.Worker, randomNodeKeys());
            const first = await net.root.send(operator.getSender(), { value: value() }, providerBody(bundle));
            expect(first.transactions).toHaveTransaction({ from: net.root.address, deploy: true, success: true });
            await expectRefused(net, stranger, value(), providerBody(bundle), ERR_KEY_ALREADY_REGISTERED);
        });
    });
});
