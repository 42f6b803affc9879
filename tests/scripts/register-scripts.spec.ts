import '@ton/test-utils';
import { mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { randomBytes } from 'crypto';
import { SandboxNetworkProvider } from '../../ops/sandbox-provider';
import { RecordingUI } from '../../ops/ui';
import { editAllowList } from '../../ops/root';
import { run as registerProxyScript } from '../../scripts/registerProxy';
import { run as registerProviderScript } from '../../scripts/registerProvider';
import { run as renewProxyScript } from '../../scripts/renewProxy';
import { run as renewProviderScript } from '../../scripts/renewProvider';
import { Provider } from '../../wrappers/Provider';
import { TestCa } from '../../verifier/testca';
import { reportDataForKeys } from '../../verifier/key-binding';
import { decodeTdReport, imageHash } from '../../verifier/report';
import { parseQuote } from '../../verifier/quote';
import { ed25519FromSeed, packCertificateBundle, Role } from '../../wrappers/payloads';
import { AllowList } from '../../wrappers/Root';
import { deployNetwork, makeCertificate, randomKeyPair, randomNodeKeys } from '../helpers/network';

async function setup() {
    const net = await deployNetwork();
    const ca = new TestCa({ now: net.chain.now });
    const ui = new RecordingUI();
    const governance = new SandboxNetworkProvider(net.chain, net.owner, ui);
    const operatorWallet = await net.chain.treasury('operator');
    const dir = mkdtempSync(join(tmpdir(), 'cocoon-register-'));
    return { net, ca, ui, governance, operator: governance.as(operatorWallet), operatorWallet, dir };
}

describe('registerProxy / registerProvider scripts', () => {
    afterEach(() => {
        process.exitCode = undefined;
    });

    it('registerProxy verifies a quote, signs the certificate with the attestor key and registers', async () => {
        const { net, ca, ui, governance, operator, dir } = await setup();
        const seed = randomBytes(32);
        // This network's single attestor is the key in the file.
        const attestor = ed25519FromSeed(seed);
        const { setAttestors } = await import('../../ops/root');
        await setAttestors(governance, net.root.address, [attestor.publicKey], 1);
        const ed = randomKeyPair();
        const x = randomBytes(32);
        const quote = ca.mintQuote({ mrTd: randomBytes(48), reportData: reportDataForKeys(ed.publicKey, x) });
        await editAllowList(governance, net.root.address, AllowList.proxyImage, imageHash(decodeTdReport(parseQuote(quote).body)), true);
        writeFileSync(join(dir, 'quote.hex'), quote.toString('hex'));
        writeFileSync(join(dir, 'collateral.json'), JSON.stringify(ca.collateral()));
        writeFileSync(join(dir, 'attestor.key'), seed.toString('hex'));
        writeFileSync(join(dir, 'root.der'), ca.rootDer);
        await registerProxyScript(operator, [
            '--root', net.root.address.toString(),
            '--quote', join(dir, 'quote.hex'),
            '--collateral', join(dir, 'collateral.json'),
            '--attestor-key', join(dir, 'attestor.key'),
            '--root-ca', join(dir, 'root.der'),
            '--ed25519', ed.publicKey.toString('hex'),
            '--x25519', x.toString('hex'),
            '--stake', '10',
            '--endpoint', 'https://proxy.example',
        ]);
        expect(ui.lines.join('\n')).toMatch(/quote verified: TCB UpToDate/);
        expect(await net.root.getProxyCount()).toBe(1n);
    });

    it('registerProvider registers from a certificate file', async () => {
        const { net, operator, dir } = await setup();
        const file = join(dir, 'cert.b64');
        writeFileSync(file, packCertificateBundle(makeCertificate(net, Role.Worker, randomNodeKeys())).toBoc().toString('base64'));
        await registerProviderScript(operator, [
            '--root', net.root.address.toString(), '--certificate', file, '--stake', '10',
            '--model', net.model.toString('hex'), '--gpu-model', 'H100', '--vram-gib', '80',
        ]);
        expect(await net.root.getProviderCount()).toBe(1n);
    });

    it('renewProxy and renewProvider renew from certificate files and print the new validity', async () => {
        const { net, operator, ui, dir } = await setup();
        const write = (name: string, bundle: ReturnType<typeof makeCertificate>) => {
            const file = join(dir, name);
            writeFileSync(file, packCertificateBundle(bundle).toBoc().toString('base64'));
            return file;
        };
        const proxyKeys = randomNodeKeys();
        const workerKeys = randomNodeKeys();
        const root = ['--root', net.root.address.toString()];
        await registerProxyScript(operator, [...root, '--certificate', write('p1.b64', makeCertificate(net, Role.Proxy, proxyKeys)), '--stake', '10', '--endpoint', 'https://proxy.example']);
        await registerProviderScript(operator, [...root, '--certificate', write('w1.b64', makeCertificate(net, Role.Worker, workerKeys)), '--stake', '10', '--model', net.model.toString('hex'), '--gpu-model', 'H100', '--vram-gib', '80']);
        const later = net.chain.now! + 90 * 86400;
        await renewProxyScript(operator, [...root, '--certificate', write('p2.b64', makeCertificate(net, Role.Proxy, proxyKeys, { validUntil: later }))]);
        expect(ui.lines.at(-1)).toBe(`valid until: ${new Date(later * 1000).toISOString()}`);
        expect((await net.root.getProxy(0n))!.validUntil).toBe(BigInt(later));
        const providerAddress = (await net.root.getProvider(0n))!.provider;
        await renewProviderScript(operator, ['--provider', providerAddress.toString(), '--certificate', write('w2.b64', makeCertificate(net, Role.Worker, workerKeys, { validUntil: later }))]);
        expect(ui.lines.at(-1)).toBe(`valid until: ${new Date(later * 1000).toISOString()}`);
        expect(await net.chain.openContract(Provider.fromAddress(providerAddress)).getValidUntil()).toBe(BigInt(later));
    });

    it('refuses a quote that does not verify, with the reason, before sending anything', async () => {
        const { net, operator, operatorWallet, dir } = await setup();
        writeFileSync(join(dir, 'garbage.bin'), randomBytes(700));
        writeFileSync(join(dir, 'collateral.json'), '{}');
        writeFileSync(join(dir, 'attestor.key'), randomBytes(32).toString('hex'));
        const before = await operatorWallet.getBalance();
        await expect(
            registerProxyScript(operator, [
                '--root', net.root.address.toString(), '--quote', join(dir, 'garbage.bin'), '--collateral', join(dir, 'collateral.json'),
                '--attestor-key', join(dir, 'attestor.key'), '--ed25519', randomBytes(32).toString('hex'), '--x25519', randomBytes(32).toString('hex'),
                '--stake', '10', '--endpoint', 'https://proxy.example',
            ]),
        ).rejects.toThrow(/quote rejected: /);
        expect(await operatorWallet.getBalance()).toBe(before);
    });

    it('needs exactly one certificate source', async () => {
        const { net, operator, ui } = await setup();
        await registerProxyScript(operator, ['--root', net.root.address.toString(), '--stake', '10', '--endpoint', 'https://proxy.example']);
        expect(process.exitCode).toBe(2);
        expect(ui.lines.at(-1)).toMatch(/give either --certificate or --quote/);
    });

    it('refuses an endpoint that is not a base http(s) URL before verifying anything', async () => {
        const { net, operator, ui } = await setup();
        await registerProxyScript(operator, ['--root', net.root.address.toString(), '--stake', '10', '--endpoint', 'proxy.example']);
        expect(process.exitCode).toBe(2);
        expect(ui.lines.at(-1)).toMatch(/--endpoint: "proxy.example" is not a URL: give the base URL clients connect to/);
    });
});
