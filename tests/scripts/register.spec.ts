import '@ton/test-utils';
import { toNano } from '@ton/core';
import { SandboxNetworkProvider } from '../../ops/sandbox-provider';
import { RecordingUI } from '../../ops/ui';
import { certificateProblems, registerProvider, registerProxy } from '../../ops/register';
import { Role } from '../../wrappers/payloads';
import { deployNetwork, makeCertificate, randomKeyPair, randomNodeKeys, sha256 } from '../helpers/network';

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
