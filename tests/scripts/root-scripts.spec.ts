import '@ton/test-utils';
import { Blockchain } from '@ton/sandbox';
import { Address, toNano } from '@ton/core';
import { SandboxNetworkProvider } from '../../ops/sandbox-provider';
import { RecordingUI } from '../../ops/ui';
import { run as deployRootScript } from '../../scripts/deployRoot';
import { run as setAttestorsScript } from '../../scripts/setAttestors';
import { run as allowListScript } from '../../scripts/allowList';
import { run as showRootScript } from '../../scripts/showRoot';
import { run as setParamsScript } from '../../scripts/setParams';
import { Root } from '../../wrappers/Root';
import { AllowList } from '../../wrappers/Root';
import { keyToBigInt } from '../../wrappers/payloads';
import { randomKeyPair, sha256 } from '../helpers/network';

async function setup() {
    const chain = await Blockchain.create();
    const gov = await chain.treasury('governance');
    const stranger = await chain.treasury('stranger');
    const ui = new RecordingUI();
    const provider = new SandboxNetworkProvider(chain, gov, ui);
    await deployRootScript(provider, []);
    const line = ui.lines.find((l) => l.startsWith('Root: '));
    if (!line) throw new Error('deployRoot printed no address: ' + ui.lines.join('\n'));
    const root = Address.parse(line.slice('Root: '.length));
    return { chain, gov, stranger, ui, provider, root, opened: chain.openContract(Root.fromAddress(root)) };
}

describe('operator scripts (Root) on the embedded sandbox', () => {
    afterEach(() => {
        process.exitCode = undefined;
    });

    it('deployRoot deploys a Root owned by the sending wallet', async () => {
        const { opened, gov } = await setup();
        expect((await opened.getOwner()).equals(gov.address)).toBe(true);
    });

    it('setAttestors and allowList change Root and confirm the effect', async () => {
        const { provider, root, opened, ui } = await setup();
        const a = randomKeyPair();
        const b = randomKeyPair();
        await setAttestorsScript(provider, ['--root', root.toString(), '--attestor', a.publicKey.toString('hex'), '--attestor', b.publicKey.toString('hex'), '--threshold', '2']);
        expect(await opened.getThreshold()).toBe(2n);
        expect(await opened.getIsAttestor(keyToBigInt(b.publicKey))).toBe(true);
        const model = sha256('a model');
        await allowListScript(provider, ['--root', root.toString(), '--list', 'model', '--hash', model.toString('hex')]);
        expect(await opened.getIsAllowed(BigInt(AllowList.model), keyToBigInt(model))).toBe(true);
        await allowListScript(provider, [`root=${root.toString()}`, 'list=model', `hash=${model.toString('hex')}`, '--remove']);
        expect(await opened.getIsAllowed(BigInt(AllowList.model), keyToBigInt(model))).toBe(false);
        expect(ui.lines.filter((l) => l.startsWith('confirmed:')).length).toBeGreaterThanOrEqual(3);
        await showRootScript(provider, ['--root', root.toString()]);
        expect(ui.lines.join('\n')).toContain(b.publicKey.toString('hex'));
    });

    it('setParams changes the named params and keeps the others', async () => {
        const { provider, root, opened } = await setup();
        const before = await opened.getParams();
        await setParamsScript(provider, ['--root', root.toString(), '--price-per-token', '2000', '--min-client-stake', '2.5', '--bounty-bps', '500']);
        const after = await opened.getParams();
        expect(after.prices.pricePerToken).toBe(2000n);
        expect(after.stakes.minClientStake).toBe(2_500_000_000n);
        expect(after.slashing.bountyBps).toBe(500n);
        expect(after.prices.workerFeePerToken).toBe(before.prices.workerFeePerToken);
        expect(after.stakes.unbondDelay).toBe(before.stakes.unbondDelay);
        await expect(setParamsScript(provider, ['--root', root.toString(), '--worker-fee-per-token', '5000'])).rejects.toThrow(/worker fee per token cannot exceed/);
        await expect(setParamsScript(provider, ['--root', root.toString()])).rejects.toThrow(/name at least one param/);
    });

    it('refuses a non-owner before sending anything', async () => {
        const { provider, root, stranger } = await setup();
        const before = await stranger.getBalance();
        await expect(
            setAttestorsScript(provider.as(stranger), ['--root', root.toString(), '--attestor', randomKeyPair().publicKey.toString('hex')]),
        ).rejects.toThrow(/only Root's owner/);
        expect(await stranger.getBalance()).toBe(before);
    });

    it('rejects malformed input with exit code 2 and a message, sending nothing', async () => {
        const { provider, root, ui, gov } = await setup();
        const before = await gov.getBalance();
        await allowListScript(provider, ['--root', root.toString(), '--list', 'model', '--hash', 'abc']);
        expect(process.exitCode).toBe(2);
        expect(ui.lines.at(-1)).toMatch(/--hash: expected 32 bytes of hex/);
        await allowListScript(provider, ['--root', root.toString(), '--list', 'gpu', '--hash', sha256('x').toString('hex')]);
        expect(ui.lines.at(-1)).toMatch(/--list must be one of/);
        await expect(
            setAttestorsScript(provider, ['--root', root.toString(), '--attestor', randomKeyPair().publicKey.toString('hex'), '--threshold', '2']),
        ).rejects.toThrow(/threshold must be between 1 and 1/);
        expect(await gov.getBalance()).toBe(before);
    });

    it('prints usage for --help', async () => {
        const { provider, ui } = await setup();
        await allowListScript(provider, ['--help']);
        expect(ui.lines.at(-1)).toMatch(/usage: npx blueprint run allowList/);
    });
});
