/**
 * End to end: a TDX quote minted by the test CA → verified → certificate signed by the
 * attestor (`attest`) → RegisterProxy / RegisterProvider accepted by Root on the sandbox.
 */
import '@ton/test-utils';
import { toNano } from '@ton/core';
import { randomBytes } from 'crypto';
import { TestCa } from '../../verifier/testca';
import { attest, AttestationRejected } from '../../verifier/attest';
import { imageHash, decodeTdReport } from '../../verifier/report';
import { parseQuote } from '../../verifier/quote';
import { reportDataForKeys } from '../../verifier/key-binding';
import { Role, keyToBigInt } from '../../wrappers/payloads';
import { Proxy } from '../../wrappers/Proxy';
import { AllowList } from '../../wrappers/Root';
import { SandboxNetworkProvider } from '../../ops/sandbox-provider';
import { RecordingUI } from '../../ops/ui';
import { editAllowList } from '../../ops/root';
import { registerProvider, registerProxy } from '../../ops/register';
import { deployNetwork, randomKeyPair, sha256 } from '../helpers/network';

async function setup() {
    const net = await deployNetwork();
    const ca = new TestCa({ now: net.chain.now });
    const governance = new SandboxNetworkProvider(net.chain, net.owner, new RecordingUI());
    const operator = governance.as(await net.chain.treasury('operator'));
    return { net, ca, governance, operator };
}

function mintFor(ca: TestCa, ed25519: Buffer, x25519: Buffer, mrTd: Buffer): Buffer {
    return ca.mintQuote({ mrTd, reportData: reportDataForKeys(ed25519, x25519) });
}

describe('attestation end to end: minted quote → verify → certificate → Root', () => {
    it('registers a proxy whose Proxy contract records the quote hash and keys', async () => {
        const { net, ca, governance, operator } = await setup();
        const ed = randomKeyPair();
        const x = randomBytes(32);
        const quote = mintFor(ca, ed.publicKey, x, randomBytes(48));
        const image = imageHash(decodeTdReport(parseQuote(quote).body));
        await editAllowList(governance, net.root.address, AllowList.proxyImage, image, true);

        const { certificate, result } = attest({
            quote,
            collateral: ca.collateral(),
            now: net.chain.now!,
            rootCa: ca.rootDer,
            root: net.root.address,
            role: Role.Proxy,
            ed25519Key: ed.publicKey,
            x25519Key: x,
            attestors: net.attestors,
        });
        expect(result.ok).toBe(true);
        const { address } = await registerProxy(operator, { root: net.root.address, bundle: certificate, stake: toNano('10'), endpoint: 'https://p.example' });
        const proxy = net.chain.openContract(Proxy.fromAddress(address));
        expect(await proxy.getEd25519Key()).toBe(keyToBigInt(ed.publicKey));
        expect(await proxy.getX25519Key()).toBe(keyToBigInt(x));
        const record = await net.root.getProxy(0n);
        expect(record!.imageHash).toBe(keyToBigInt(image));
        expect(sha256(quote).toString('hex')).toBe(result.quoteHash.toString('hex'));
    });

    it('registers a provider from a worker quote', async () => {
        const { net, ca, governance, operator } = await setup();
        const ed = randomKeyPair();
        const x = randomBytes(32);
        const quote = mintFor(ca, ed.publicKey, x, randomBytes(48));
        await editAllowList(governance, net.root.address, AllowList.workerImage, imageHash(decodeTdReport(parseQuote(quote).body)), true);
        const { certificate } = attest({
            quote, collateral: ca.collateral(), now: net.chain.now!, rootCa: ca.rootDer, root: net.root.address,
            role: Role.Worker, ed25519Key: ed.publicKey, x25519Key: x, attestors: net.attestors,
        });
        const w = await registerProvider(operator, {
            root: net.root.address, bundle: certificate, stake: toNano('10'), gpuModel: 'test GPU', vramGiB: 24, gpuCount: 1, models: [net.model], expectedUptimeBps: 9900,
        });
        expect((await net.root.getProvider(w.seqno))!.provider.equals(w.address)).toBe(true);
    });

    it('issues no certificate for a quote bound to other keys', async () => {
        const { net, ca } = await setup();
        const ed = randomKeyPair();
        const quote = mintFor(ca, ed.publicKey, randomBytes(32), randomBytes(48));
        expect(() =>
            attest({
                quote, collateral: ca.collateral(), now: net.chain.now!, rootCa: ca.rootDer, root: net.root.address,
                role: Role.Proxy, ed25519Key: ed.publicKey, x25519Key: randomBytes(32), attestors: net.attestors,
            }),
        ).toThrow(AttestationRejected);
    });

    it('Root refuses a certificate whose image governance has not allowed', async () => {
        const { net, ca, operator } = await setup();
        const ed = randomKeyPair();
        const x = randomBytes(32);
        const { certificate } = attest({
            quote: mintFor(ca, ed.publicKey, x, randomBytes(48)), collateral: ca.collateral(), now: net.chain.now!, rootCa: ca.rootDer,
            root: net.root.address, role: Role.Proxy, ed25519Key: ed.publicKey, x25519Key: x, attestors: net.attestors,
        });
        await expect(registerProxy(operator, { root: net.root.address, bundle: certificate, stake: toNano('10'), endpoint: 'https://p.example' })).rejects.toThrow(
            /not on Root's proxy image list/,
        );
    });
});
