import '@ton/test-utils';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Address, fromNano, toNano } from '@ton/core';
import { run as openEscrowScript } from '../../scripts/openEscrow';
import { run as topUpEscrowScript } from '../../scripts/topUpEscrow';
import { run as setEscrowSecretScript } from '../../scripts/setEscrowSecret';
import { run as submitChargeScript } from '../../scripts/submitCharge';
import { run as submitPayoutScript } from '../../scripts/submitPayout';
import { run as requestRefundScript } from '../../scripts/requestRefund';
import { run as withdrawRefundScript } from '../../scripts/withdrawRefund';
import { run as proxyAddStakeScript } from '../../scripts/proxyAddStake';
import { run as setProxyEndpointScript } from '../../scripts/setProxyEndpoint';
import { run as proxyWithdrawCommissionScript } from '../../scripts/proxyWithdrawCommission';
import { run as closeProxyScript } from '../../scripts/closeProxy';
import { run as providerAddStakeScript } from '../../scripts/providerAddStake';
import { run as unbondScript } from '../../scripts/unbond';
import { run as withdrawStakeScript } from '../../scripts/withdrawStake';
import { run as reportEquivocationScript } from '../../scripts/reportEquivocation';
import { run as showStateScript } from '../../scripts/showState';
import { SignedChargeJson, SignedPayoutJson } from '../../worker-reference/proxy/settlement';
import { signReceipt } from '../../worker-reference/worker/receipt';
import { Ed25519Signer } from '../../worker-reference/crypto/ed25519';
import { billableTokens, chargeAmount } from '../../wrappers/chargeAmount';
import { escrowSecretHash, EscrowState, escrowFor, parseEscrowApiKey } from '../../wrappers/JobEscrow';
import { ProxyState } from '../../wrappers/Proxy';
import { ProviderState } from '../../wrappers/Provider';
import { workerAccountFor } from '../../wrappers/WorkerAccount';
import { sha256 } from '../helpers/network';
import { advance, OpsWorld, opsWorld, PROVIDER_STAKE, reset, signedCharge, signedPayout, tokens } from './ops-fixture';

let w: OpsWorld;
let dir: string;
beforeAll(async () => {
    w = await opsWorld();
    dir = mkdtempSync(join(tmpdir(), 'cocoon-ops-'));
});
beforeEach(async () => reset(w));
// A usage error sets process.exitCode = 2; it must not outlive its test (jest would exit with it).
afterEach(() => {
    process.exitCode = undefined;
});

/** The value after `prefix` in the last line the scripts printed that starts with it. */
function printed(prefix: string): string {
    const line = [...w.ui.lines].reverse().find((l) => l.startsWith(prefix));
    if (!line) throw new Error(`nothing printed with "${prefix}":\n${w.ui.lines.join('\n')}`);
    return line.slice(prefix.length);
}

function file(name: string, content: unknown): string {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(content, null, 2));
    return path;
}

describe('payments and provider scripts on the embedded sandbox', () => {
    it('a client, the proxy operator and the worker owner settle and close through the scripts', async () => {
        const { p, client, gpuOwner } = w;
        const proxy = p.proxy.address.toString();
        await openEscrowScript(w.as.client, ['--proxy', proxy, '--deposit', '3']);
        const escrow = Address.parse(printed('escrow: '));
        expect(escrow.equals((await escrowFor(p.proxy.address, client.address)).address)).toBe(true);
        await topUpEscrowScript(w.as.client, ['--escrow', escrow.toString(), '--amount', '1.5']);
        const e = p.chain.openContract(await escrowFor(p.proxy.address, client.address));
        expect(await e.getBalance()).toBe(toNano('4.5'));

        // The router's GET /v1/settlement/charge/<escrow> answer, saved to a file.
        const t = tokens(40_000, 10_000, 20_000, 0);
        const validUntil = p.chain.now! + 600;
        const c = signedCharge(w, { escrow, tokens: t, validUntil });
        const chargeJson: SignedChargeJson = {
            escrow: escrow.toString(),
            tokens: { prompt: '40000', cached: '10000', completion: '20000', reasoning: '0' },
            cost_nanoton: chargeAmount(t, p.prices).toString(),
            valid_until: validUntil,
            payload: c.payload.toBoc().toString('base64'),
            signature: c.signature.toString('base64'),
            proxy_key: p.proxyKeys.ed25519.publicKey.toString('hex'),
        };
        await submitChargeScript(w.as.operator, ['--charge', file('charge.json', chargeJson)]);
        expect(printed('charged: ')).toBe(`${fromNano(chargeAmount(t, p.prices))} TON`);
        expect(await e.getCharged()).toBe(chargeAmount(t, p.prices));

        // The router's GET /v1/settlement/payout/<account> answer; the payee defaults to the Provider's owner.
        const account = (await workerAccountFor(p.proxy.address, w.provider.address, gpuOwner.address)).address;
        const payoutTokens = billableTokens(t, p.prices);
        const po = signedPayout(w, { workerAccount: account, tokens: payoutTokens, validUntil });
        const payoutJson: SignedPayoutJson = {
            worker_account: account.toString(),
            tokens: payoutTokens.toString(),
            tokens_by_kind: chargeJson.tokens,
            fee_nanoton: (payoutTokens * p.prices.workerFeePerToken).toString(),
            valid_until: validUntil,
            payload: po.payload.toBoc().toString('base64'),
            signature: po.signature.toString('base64'),
            proxy_key: chargeJson.proxy_key,
        };
        await submitPayoutScript(w.as.gpuOwner, ['--payout', file('payout.json', payoutJson), '--proxy', proxy, '--provider', w.provider.address.toString()]);
        expect(printed('paid: ')).toBe(`${fromNano(payoutTokens * p.prices.workerFeePerToken)} TON to ${gpuOwner.address.toString()}`);

        const commission = await p.proxy.getCommission();
        await proxyWithdrawCommissionScript(w.as.operator, ['--proxy', proxy]);
        expect(printed('withdrawn: ')).toBe(`${fromNano(commission)} TON`);
        const stake = await p.proxy.getStake();
        await proxyAddStakeScript(w.as.operator, ['--proxy', proxy, '--amount', '1']);
        expect(await p.proxy.getStake()).toBe(stake + toNano('1'));
        await setProxyEndpointScript(w.as.operator, ['--proxy', proxy, '--endpoint', 'https://moved.example:8443']);
        expect(await p.proxy.getEndpoint()).toBe('https://moved.example:8443');

        await requestRefundScript(w.as.client, ['--escrow', escrow.toString()]);
        expect(Number(printed('unlock at: '))).toBe(p.chain.now! + Number(p.params.stakes.clientCloseDelay));
        advance(w, p.params.stakes.clientCloseDelay);
        const owed = await e.getBalance();
        await withdrawRefundScript(w.as.client, ['--escrow', escrow.toString()]);
        expect(printed('refunded: ')).toBe(`${fromNano(owed)} TON`);
        expect(await e.getState()).toBe(EscrowState.closed);

        await closeProxyScript(w.as.operator, ['--proxy', proxy]);
        expect(await p.proxy.getState()).toBe(ProxyState.closing);
        advance(w, p.params.stakes.proxyCloseDelay + p.params.stakes.clientCloseDelay);
        await closeProxyScript(w.as.operator, ['--proxy', proxy, '--finish']);
        expect(await p.proxy.getState()).toBe(ProxyState.closed);
        expect(process.exitCode).toBeUndefined();
    });

    it('openEscrow and setEscrowSecret hand over the API key once (printed, or only to --key-file); the escrow holds its hash', async () => {
        const { p, client } = w;
        const e = p.chain.openContract(await escrowFor(p.proxy.address, client.address));
        await openEscrowScript(w.as.client, ['--proxy', p.proxy.address.toString(), '--deposit', '2']);
        const key = printed('api key: ');
        const { escrow, secret } = parseEscrowApiKey(key);
        expect(escrow.equals(e.address)).toBe(true);
        expect(await e.getSecretHash()).toBe(escrowSecretHash(secret));
        // Printed once, clearly, and nowhere else.
        const hex = secret.toString('hex');
        expect(w.ui.lines.filter((l) => l.includes(hex))).toEqual([`api key: ${key}`]);
        expect(w.ui.lines.join('\n')).toMatch(/Shown only this once/);

        // Rotation to a fresh secret written to a file only the owner reads; nothing printed.
        const file = join(dir, 'rotated.key');
        await setEscrowSecretScript(w.as.client, ['--escrow', e.address.toString(), '--key-file', file]);
        const saved = readFileSync(file, 'utf8').trim();
        expect(statSync(file).mode & 0o777).toBe(0o600);
        const next = parseEscrowApiKey(saved);
        expect(next.escrow.equals(e.address)).toBe(true);
        expect(await e.getSecretHash()).toBe(escrowSecretHash(next.secret));
        expect(w.ui.lines.join('\n')).not.toContain(next.secret.toString('hex'));
        expect(printed('API key written to ')).toContain(file);

        // The client's own secret, printed once; then revoked.
        const chosen = Buffer.alloc(32, 0x77);
        await setEscrowSecretScript(w.as.client, ['--escrow', e.address.toString(), '--secret', chosen.toString('hex')]);
        expect(printed('api key: ')).toBe(`${e.address.toString()}:${chosen.toString('hex')}`);
        expect(await e.getSecretHash()).toBe(escrowSecretHash(chosen));
        await setEscrowSecretScript(w.as.client, ['--escrow', e.address.toString(), '--revoke']);
        expect(printed('revoked: ')).toContain(e.address.toString());
        expect(await e.getSecretHash()).toBe(0n);
        expect(process.exitCode).toBeUndefined();
    });

    it('openEscrow and setEscrowSecret refuse an existing key file and conflicting options before sending anything', async () => {
        const { p, client } = w;
        const taken = file('taken.key', 'old key');
        const before = await client.getBalance();
        await expect(openEscrowScript(w.as.client, ['--proxy', p.proxy.address.toString(), '--deposit', '2', '--key-file', taken])).rejects.toThrow(/already exists/);
        expect(await client.getBalance()).toBe(before);
        expect(readFileSync(taken, 'utf8')).toBe(JSON.stringify('old key', null, 2));
        await openEscrowScript(w.as.client, ['--proxy', p.proxy.address.toString(), '--deposit', '2', '--secret', 'abcd']);
        expect(process.exitCode).toBe(2);
        expect(w.ui.lines.at(-1)).toMatch(/--secret: expected 32 bytes of hex/);
        process.exitCode = undefined;
        const fresh = join(dir, 'never-written.key');
        await openEscrowScript(w.as.client, ['--proxy', p.proxy.address.toString(), '--deposit', '2', '--key-file', fresh]);
        const escrow = parseEscrowApiKey(readFileSync(fresh, 'utf8').trim()).escrow.toString();
        const mid = await client.getBalance();
        await setEscrowSecretScript(w.as.client, ['--escrow', escrow, '--revoke', '--secret', Buffer.alloc(32, 1).toString('hex')]);
        expect(process.exitCode).toBe(2);
        expect(w.ui.lines.at(-1)).toMatch(/--revoke sets no secret/);
        process.exitCode = undefined;
        await expect(setEscrowSecretScript(w.as.client, ['--escrow', escrow, '--key-file', fresh])).rejects.toThrow(/already exists/);
        await expect(setEscrowSecretScript(w.as.stranger, ['--escrow', escrow])).rejects.toThrow(/only the escrow's client/);
        await setEscrowSecretScript(w.as.client, ['--escrow', escrow, '--now']);
        expect(w.ui.lines.at(-1)).toMatch(/unknown option --now/);
        process.exitCode = undefined;
        expect(await client.getBalance()).toBe(mid);
    });

    it('the worker owner stakes, a reporter slashes with two worker receipts, the owner unbonds and withdraws', async () => {
        const { p, provider } = w;
        const at = provider.address.toString();
        await providerAddStakeScript(w.as.gpuOwner, ['--provider', at, '--amount', '2']);
        expect(await provider.getStake()).toBe(PROVIDER_STAKE + toNano('2'));

        // Two receipts the worker signed for one request with different answers: one as the bare
        // `receipt` object, one inside the response that carried it.
        const signer = new Ed25519Signer(w.workerKeys.ed25519);
        const usage = { prompt: 12, cached: 0, completion: 7, reasoning: 0 };
        const one = signReceipt({ proxy: p.proxy.address, requestId: 42n, modelHash: p.model, usage, resultHash: sha256('forty-two') }, signer);
        const two = signReceipt({ proxy: p.proxy.address, requestId: 42n, modelHash: p.model, usage, resultHash: sha256('forty-three') }, signer);
        const response = { id: 'chatcmpl-42', object: 'chat.completion', choices: [], receipt: two };
        await reportEquivocationScript(w.as.stranger, ['--provider', at, '--first', file('r1.json', one), '--second', file('r2.json', response)]);
        const slashed = ((PROVIDER_STAKE + toNano('2')) * p.params.slashing.equivocationSlashBps) / 10000n;
        expect(printed('slashed: ')).toBe(`${fromNano(slashed)} TON, bounty: ${fromNano((slashed * p.params.slashing.bountyBps) / 10000n)} TON`);
        expect(await provider.getState()).toBe(ProviderState.jailed);

        advance(w, p.params.stakes.jailPeriod);
        await unbondScript(w.as.gpuOwner, ['--provider', at]);
        expect(await provider.getState()).toBe(ProviderState.unbonding);
        advance(w, p.params.stakes.unbondDelay);
        const left = await provider.getStake();
        await withdrawStakeScript(w.as.gpuOwner, ['--provider', at]);
        expect(printed('withdrawn: ')).toBe(`${fromNano(left)} TON`);
        expect(await provider.getState()).toBe(ProviderState.exited);
    });

    it('showState detects Root, Proxy, Provider and JobEscrow, or takes --kind', async () => {
        const { p } = w;
        const escrow = (await escrowFor(p.proxy.address, w.client.address)).address;
        await openEscrowScript(w.as.client, ['--proxy', p.proxy.address.toString(), '--deposit', '2']);
        for (const [address, title] of [
            [p.root.address, 'Root '],
            [p.proxy.address, 'Proxy '],
            [w.provider.address, 'Provider '],
            [escrow, 'JobEscrow '],
        ] as const) {
            w.ui.lines.length = 0;
            await showStateScript(w.as.stranger, ['--address', address.toString()]);
            expect(w.ui.lines.join('\n')).toContain(`${title}${address.toString()}`);
        }
        w.ui.lines.length = 0;
        await showStateScript(w.as.stranger, ['--address', p.proxy.address.toString(), '--kind', 'proxy']);
        expect(w.ui.lines.join('\n')).toContain('pool / workers reserved / commission');
        await expect(showStateScript(w.as.stranger, ['--address', w.client.address.toString()])).rejects.toThrow(/is not a Root, Proxy, Provider or JobEscrow/);
        await showStateScript(w.as.stranger, ['--address', p.proxy.address.toString(), '--kind', 'wallet']);
        expect(process.exitCode).toBe(2);
        expect(w.ui.lines.at(-1)).toMatch(/--kind must be one of root, proxy, provider, escrow/);
    });

    it('--help prints usage; malformed arguments and files are refused with nothing sent', async () => {
        const { p, client } = w;
        const operatorWallet = p.operator;
        for (const [script, name] of [
            [openEscrowScript, 'openEscrow'],
            [setEscrowSecretScript, 'setEscrowSecret'],
            [submitChargeScript, 'submitCharge'],
            [submitPayoutScript, 'submitPayout'],
            [closeProxyScript, 'closeProxy'],
            [reportEquivocationScript, 'reportEquivocation'],
            [showStateScript, 'showState'],
        ] as const) {
            await script(w.as.client, ['--help']);
            expect(w.ui.lines.at(-1)).toMatch(new RegExp(`^${name}: [^]*usage: npx blueprint run ${name}`));
        }
        const before = await client.getBalance();
        await openEscrowScript(w.as.client, ['--proxy', p.proxy.address.toString()]);
        expect(process.exitCode).toBe(2);
        expect(w.ui.lines.at(-1)).toMatch(/missing --deposit/);
        process.exitCode = undefined;
        await topUpEscrowScript(w.as.client, ['--escrow', 'not-an-address', '--amount', '1']);
        expect(w.ui.lines.at(-1)).toMatch(/--escrow: "not-an-address" is not a TON address/);
        process.exitCode = undefined;
        await requestRefundScript(w.as.client, ['--escrow', p.proxy.address.toString(), '--now']);
        expect(w.ui.lines.at(-1)).toMatch(/unknown option --now/);
        expect(process.exitCode).toBe(2);
        expect(await client.getBalance()).toBe(before);

        const opBefore = await operatorWallet.getBalance();
        await expect(submitChargeScript(w.as.operator, ['--charge', '{"payload": 1}'])).rejects.toThrow(/charge: missing "payload"/);
        await expect(submitChargeScript(w.as.operator, ['--charge', file('bad.json', { payload: 'AAAA', signature: 'x' })])).rejects.toThrow(/charge: the payload is not a base64 BOC/);
        const po = signedPayout(w, { workerAccount: p.proxy.address, tokens: 1n, validUntil: p.chain.now! + 60 });
        const asCharge = { payload: po.payload.toBoc().toString('base64'), signature: po.signature.toString('base64') };
        await expect(submitChargeScript(w.as.operator, ['--charge', file('payout-as-charge.json', asCharge)])).rejects.toThrow(/charge: not a charge/);
        await expect(reportEquivocationScript(w.as.operator, ['--provider', w.provider.address.toString(), '--first', file('nothing.json', {}), '--second', '{}'])).rejects.toThrow(/first receipt: missing "boc"/);
        expect(await operatorWallet.getBalance()).toBe(opBefore);
    });
});
