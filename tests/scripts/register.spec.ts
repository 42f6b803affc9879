import '@ton/test-utils';
import { toNano } from '@ton/core';
import { SandboxNetworkProvider } from '../../ops/sandbox-provider';
import { RecordingUI } from '../../ops/ui';
import { renewProvider } from '../../ops/provider';
import { certificateProblems, registerProvider, registerProxy, renewProxy } from '../../ops/register';
import { Provider } from '../../wrappers/Provider';
import { Proxy } from '../../wrappers/Proxy';
import { Role } from '../../wrappers/payloads';
import { deployNetwork, makeCertificate, randomKeyPair, randomNodeKeys, registerWorkerProvider, sha256 } from '../helpers/network';

async function setup() {
    const net = await deployNetwork();
    const operator = await net.chain.treasury('operator');
    const provider = new SandboxNetworkProvider(net.chain, operator, new RecordingUI());
    return { net, operator, provider };
}

describe('registration functions (ops/register.ts)', () => {
    it('register a proxy and a provider from certificates', async () => {
        const { net, provider } = await setup();
        const p = await registerProxy(provider, {
            root: net.root.address,
            bundle: makeCertificate(net, Role.Proxy, randomNodeKeys()),
            stake: toNano('10'),
            endpoint: 'https://proxy.example',
        });
        expect(p.seqno).toBe(0n);
        expect((await net.root.getProxy(0n))!.proxy.equals(p.address)).toBe(true);
        const w = await registerProvider(provider, {
            root: net.root.address,
            bundle: makeCertificate(net, Role.Worker, randomNodeKeys()),
            stake: toNano('10'),
            gpuModel: 'NVIDIA H100',
            vramGiB: 80,
            gpuCount: 1,
            models: [net.model],
            expectedUptimeBps: 9900,
        });
        expect((await net.root.getProvider(w.seqno))!.provider.equals(w.address)).toBe(true);
    });

    it('lists every reason Root would refuse a certificate', async () => {
        const { net, provider } = await setup();
        const bundle = makeCertificate(net, Role.Worker, randomNodeKeys(), {
            validUntil: net.chain.now! - 1,
            imageHash: sha256('unknown image'),
            signers: [randomKeyPair()],
            tcbStatus: 4,
        });
        const problems = await certificateProblems(provider, net.root.address, bundle, Role.Proxy);
        expect(problems.join('\n')).toMatch(/grants role Worker, not Proxy/);
        expect(problems.join('\n')).toMatch(/expired/);
        expect(problems.join('\n')).toMatch(/OutOfDate is not accepted/);
        expect(problems.join('\n')).toMatch(/not on Root's proxy image list/);
        expect(problems.join('\n')).toMatch(/not an attestor/);
        expect(problems.join('\n')).toMatch(/0 valid attestor signature\(s\), Root needs 1/);
    });

    it('refuses before sending: bad certificate, low stake, model not allowed, key already registered', async () => {
        const { net, provider, operator } = await setup();
        const before = await operator.getBalance();
        await expect(
            registerProxy(provider, { root: net.root.address, bundle: makeCertificate(net, Role.Proxy, randomNodeKeys(), { validUntil: 1 }), stake: toNano('10'), endpoint: 'https://proxy.example' }),
        ).rejects.toThrow(/Root would refuse this certificate:\n- certificate expired/);
        await expect(
            registerProxy(provider, { root: net.root.address, bundle: makeCertificate(net, Role.Proxy, randomNodeKeys()), stake: toNano('1'), endpoint: 'https://proxy.example' }),
        ).rejects.toThrow(/below Root's minimum proxy stake/);
        const worker = { root: net.root.address, stake: toNano('10'), gpuModel: 'x', vramGiB: 1, gpuCount: 1, expectedUptimeBps: 1 };
        await expect(
            registerProvider(provider, { ...worker, bundle: makeCertificate(net, Role.Worker, randomNodeKeys()), models: [sha256('other model')] }),
        ).rejects.toThrow(/is not on Root's model list/);
        expect(await operator.getBalance()).toBe(before);
        const keys = randomNodeKeys();
        await registerProxy(provider, { root: net.root.address, bundle: makeCertificate(net, Role.Proxy, keys), stake: toNano('10'), endpoint: 'https://proxy.example' });
        await expect(
            registerProxy(provider, { root: net.root.address, bundle: makeCertificate(net, Role.Proxy, keys), stake: toNano('10'), endpoint: 'https://proxy.example' }),
        ).rejects.toThrow(/already registered/);
    });

    it('refuses a proxy endpoint clients could not connect to, before sending', async () => {
        const { net, provider, operator } = await setup();
        const before = await operator.getBalance();
        const reg = (endpoint: string) => registerProxy(provider, { root: net.root.address, bundle: makeCertificate(net, Role.Proxy, randomNodeKeys()), stake: toNano('10'), endpoint });
        await expect(reg('proxy.example:8443')).rejects.toThrow(/endpoint no client can use: "proxy.example:8443" is not an http\(s\) URL/);
        await expect(reg('ftp://proxy.example')).rejects.toThrow(/is not an http\(s\) URL/);
        await expect(reg('https://proxy.example/v1')).rejects.toThrow(/must be a base URL, scheme:\/\/host\[:port\] with no path/);
        await expect(reg(`https://${'a'.repeat(120)}.example`)).rejects.toThrow(/at most 127 fit Root's record/);
        expect(await operator.getBalance()).toBe(before);
        expect(await net.root.getProxyCount()).toBe(0n);
    });
});

describe('renewals (ops/register.ts renewProxy, ops/provider.ts renewProvider)', () => {
    const DAY = 86400;

    it("renews a proxy's certificate: Root's record and the Proxy take the later valid-until; anyone may submit", async () => {
        const { net, provider } = await setup();
        const keys = randomNodeKeys();
        const p = await registerProxy(provider, { root: net.root.address, bundle: makeCertificate(net, Role.Proxy, keys, { validUntil: net.chain.now! + 10 * DAY }), stake: toNano('10'), endpoint: 'https://proxy.example' });
        const later = net.chain.now! + 40 * DAY;
        const stranger = new SandboxNetworkProvider(net.chain, await net.chain.treasury('stranger'), new RecordingUI());
        const before = await (await net.chain.treasury('stranger')).getBalance();
        expect(await renewProxy(stranger, { root: net.root.address, bundle: makeCertificate(net, Role.Proxy, keys, { validUntil: later }) })).toEqual({ seqno: p.seqno, validUntil: later });
        expect((await net.root.getProxy(p.seqno))!.validUntil).toBe(BigInt(later));
        expect(await net.chain.openContract(Proxy.fromAddress(p.address)).getValidUntil()).toBe(BigInt(later));
        // The submitter paid Root's gas and the notice, the rest came back.
        const cost = before - (await (await net.chain.treasury('stranger')).getBalance());
        expect(cost).toBeGreaterThan(0n);
        expect(cost).toBeLessThan(toNano('0.05'));
    });

    it('refuses a proxy renewal Root would refuse, before sending: not later, an unknown key, another image, a bad certificate', async () => {
        const { net, provider, operator } = await setup();
        const keys = randomNodeKeys();
        await registerProxy(provider, { root: net.root.address, bundle: makeCertificate(net, Role.Proxy, keys), stake: toNano('10'), endpoint: 'https://proxy.example' });
        const before = await operator.getBalance();
        const renew = (bundle: ReturnType<typeof makeCertificate>) => renewProxy(provider, { root: net.root.address, bundle });
        await expect(renew(makeCertificate(net, Role.Proxy, keys))).rejects.toThrow(/not later than proxy #0's current/);
        await expect(renew(makeCertificate(net, Role.Proxy, randomNodeKeys(), { validUntil: net.chain.now! + 60 * DAY }))).rejects.toThrow(/no proxy with this certificate's key is registered/);
        await expect(renew(makeCertificate(net, Role.Proxy, { ...keys, x25519: randomNodeKeys().x25519 }, { validUntil: net.chain.now! + 60 * DAY }))).rejects.toThrow(/binds another X25519 key/);
        await expect(renew(makeCertificate(net, Role.Proxy, keys, { validUntil: net.chain.now! + 60 * DAY, signers: [randomKeyPair()] }))).rejects.toThrow(/Root would refuse this certificate/);
        await expect(renew(makeCertificate(net, Role.Proxy, keys, { validUntil: net.chain.now! + 60 * DAY, imageHash: sha256('other proxy image') }))).rejects.toThrow(/not on Root's proxy image list/);
        expect(await operator.getBalance()).toBe(before);
    });

    it("renews a provider's certificate through its Provider (owner only), refusing what Root would refuse before sending", async () => {
        const { net, provider, operator } = await setup();
        const keys = randomNodeKeys();
        const w = await registerWorkerProvider(net, operator, keys, { validUntil: net.chain.now! + 10 * DAY });
        const contract = net.chain.openContract(Provider.fromAddress(w.address));
        const later = net.chain.now! + 40 * DAY;
        const stranger = new SandboxNetworkProvider(net.chain, await net.chain.treasury('stranger'), new RecordingUI());
        await expect(renewProvider(stranger, { provider: w.address, bundle: makeCertificate(net, Role.Worker, keys, { validUntil: later }) })).rejects.toThrow(/only the provider's owner/);
        const before = await operator.getBalance();
        await expect(renewProvider(provider, { provider: w.address, bundle: makeCertificate(net, Role.Worker, keys, { validUntil: net.chain.now! + 10 * DAY }) })).rejects.toThrow(/not later than the provider's current/);
        await expect(renewProvider(provider, { provider: w.address, bundle: makeCertificate(net, Role.Worker, randomNodeKeys(), { validUntil: later }) })).rejects.toThrow(/binds another Ed25519 key/);
        await expect(renewProvider(provider, { provider: w.address, bundle: makeCertificate(net, Role.Proxy, keys, { validUntil: later }) })).rejects.toThrow(/grants role Proxy, not Worker/);
        expect(await operator.getBalance()).toBe(before);
        expect(await renewProvider(provider, { provider: w.address, bundle: makeCertificate(net, Role.Worker, keys, { validUntil: later }) })).toEqual({ validUntil: later });
        expect(await contract.getValidUntil()).toBe(BigInt(later));
        // Past the first certificate's expiry the provider is still eligible thanks to the renewal.
        net.chain.now = net.chain.now! + 20 * DAY;
        expect(await contract.getIsEligible()).toBe(true);
    });
});
