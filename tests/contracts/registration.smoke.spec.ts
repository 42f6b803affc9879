import '@ton/test-utils';
import { toNano } from '@ton/core';
import { Role } from '../../wrappers/payloads';
import { Proxy } from '../../wrappers/Proxy';
import { deployNetwork, makeCertificate, randomNodeKeys } from '../helpers/network';

describe('Root: proxy registration (smoke)', () => {
    it('deploys an active Proxy holding the stake for a valid certificate', async () => {
        const net = await deployNetwork();
        const operator = await net.chain.treasury('operator');
        const keys = randomNodeKeys();
        const bundle = makeCertificate(net, Role.Proxy, keys);
        const stake = toNano('10');
        const r = await net.root.send(
            operator.getSender(),
            { value: stake + toNano('0.5') },
            { $$type: 'RegisterProxy', queryId: 1n, cert: bundle.cert, signatures: bundle.signatures, stake, endpoint: 'https://proxy.example:8443' },
        );
        const proxyAddress = await net.root.getProxyAddress(0n);
        expect(r.transactions).toHaveTransaction({ from: net.root.address, to: proxyAddress, deploy: true, success: true });
        const proxy = net.chain.openContract(Proxy.fromAddress(proxyAddress));
        expect(await proxy.getState()).toBe(1n);
        expect(await proxy.getStake()).toBe(stake);
        expect(await net.root.getProxyCount()).toBe(1n);
    });
});
