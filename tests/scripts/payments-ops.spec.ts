import '@ton/test-utils';
import { Address, Cell, toNano } from '@ton/core';
import {
    describeEscrow,
    AlreadySettled,
    describeProxy,
    openEscrow,
    proxyAddStake,
    setProxyEndpoint,
    proxyBeginClose,
    proxyFinishClose,
    proxyWithdrawCommission,
    requestRefund,
    setEscrowSecret,
    submitCharge,
    submitPayout,
    topUpEscrow,
    withdrawRefund,
} from '../../ops/payments';
import { billableTokens, chargeAmount, workerShare } from '../../wrappers/chargeAmount';
import { ESCROW_OPEN_VALUE, ESCROW_SET_SECRET_VALUE, escrowSecretHash, EscrowState, escrowFor, formatEscrowApiKey, parseEscrowApiKey } from '../../wrappers/JobEscrow';
import { ProxyState } from '../../wrappers/Proxy';
import { workerAccountFor } from '../../wrappers/WorkerAccount';
import { balanceOf, MIN_STORAGE, txAddress } from '../helpers/payments';
import { randomNodeKeys } from '../helpers/network';
import { advance, OpsWorld, opsWorld, refusedUnchanged, reset, signedCharge, signedPayout, tokens } from './ops-fixture';

let w: OpsWorld;
beforeAll(async () => {
    w = await opsWorld();
});
beforeEach(async () => reset(w));

/** The client's open escrow with `deposit` (stake = the minimum). */
async function opened(deposit = toNano('5')): Promise<Address> {
    return (await openEscrow(w.as.client, { proxy: w.p.proxy.address, deposit })).address;
}

async function charge(escrow: Address, t: ReturnType<typeof tokens>, validFor = 600): Promise<{ payload: Cell; signature: Buffer }> {
    return signedCharge(w, { escrow, tokens: t, validUntil: w.p.chain.now! + validFor });
}

describe('ops/payments: the client, settlement and the proxy operator on the sandbox', () => {
    it('a whole escrow life: open, top up, charge, payout, commission, refund — figures match the getters and balances', async () => {
        const { p, client, gpuOwner } = w;
        const clientBefore = await client.getBalance();
        const escrowAddress = await opened(toNano('5'));
        expect(escrowAddress.equals((await escrowFor(p.proxy.address, client.address)).address)).toBe(true);
        const escrow = p.chain.openContract(await escrowFor(p.proxy.address, client.address));
        expect(await escrow.getState()).toBe(EscrowState.open);
        expect(await escrow.getBalance()).toBe(toNano('5'));
        expect(await escrow.getStake()).toBe(p.params.stakes.minClientStake);
        const spent = clientBefore - (await client.getBalance());
        // the escrow holds deposit + storage reserve; the client paid that plus fees, the rest of the open value came back
        const held = await balanceOf(p, escrowAddress);
        expect(held).toBe(toNano('5') + MIN_STORAGE);
        expect(spent).toBeGreaterThan(held);
        expect(spent - held).toBeLessThan(ESCROW_OPEN_VALUE);

        await topUpEscrow(w.as.client, { escrow: escrowAddress, amount: toNano('2') });
        expect(await escrow.getBalance()).toBe(toNano('7'));

        // The proxy operator settles a cumulative charge.
        const t = tokens(100_000, 20_000, 50_000, 5_000);
        const expected = chargeAmount(t, p.prices);
        expect(expected).toBeGreaterThan(0n);
        const c = await charge(escrowAddress, t);
        const poolBefore = await p.proxy.getPool();
        const { charged } = await submitCharge(w.as.operator, { escrow: escrowAddress, ...c });
        expect(charged).toBe(expected);
        expect(await escrow.getBalance()).toBe(toNano('7') - expected);
        expect((await p.proxy.getPool()) - poolBefore).toBe(expected);
        expect(await p.proxy.getWorkersReserved()).toBe(workerShare(expected, p.prices));

        // A payout submitted by the operator: the payee (gpu owner) receives exactly `paid`.
        const account = await workerAccountFor(p.proxy.address, w.provider.address, gpuOwner.address);
        const payoutTokens = billableTokens(t, p.prices) / 2n;
        const po = signedPayout(w, { workerAccount: account.address, tokens: payoutTokens, validUntil: p.chain.now! + 600 });
        const payeeBefore = await gpuOwner.getBalance();
        const { paid } = await submitPayout(w.as.operator, { workerAccount: account.address, proxy: p.proxy.address, provider: w.provider.address, payee: gpuOwner.address, ...po });
        expect(paid).toBe(payoutTokens * p.prices.workerFeePerToken);
        // The payee's wallet got exactly `paid`, less the fee of its own incoming transaction.
        const payeeTxs = w.as.operator.sender().lastSendResult!.transactions.filter((tx) => txAddress(tx).equals(gpuOwner.address));
        expect(payeeTxs).toHaveLength(1);
        expect((await gpuOwner.getBalance()) - payeeBefore).toBe(paid - payeeTxs[0].totalFees.coins);
        expect(await p.chain.openContract(account).getPaidTokens()).toBe(payoutTokens);

        // Commission: all of the pool above the workers' reserved fees.
        const available = await p.proxy.getCommission();
        expect(available).toBeGreaterThan(0n);
        const opBefore = await p.operator.getBalance();
        const { withdrawn } = await proxyWithdrawCommission(w.as.operator, { proxy: p.proxy.address });
        expect(withdrawn).toBe(available);
        expect(await p.proxy.getPool()).toBe(await p.proxy.getWorkersReserved());
        const gained = (await p.operator.getBalance()) - opBefore;
        expect(gained).toBeLessThan(withdrawn);
        expect(gained).toBeGreaterThan(withdrawn - toNano('0.02'));

        // Refund: request, wait out the client close delay, withdraw.
        const { unlockAt } = await requestRefund(w.as.client, { escrow: escrowAddress });
        expect(unlockAt).toBe(p.chain.now! + Number(p.params.stakes.clientCloseDelay));
        await refusedUnchanged(client, () => withdrawRefund(w.as.client, { escrow: escrowAddress }), /the close delay ends at/);
        advance(w, p.params.stakes.clientCloseDelay);
        const owed = await escrow.getBalance();
        const c0 = await client.getBalance();
        const { refunded } = await withdrawRefund(w.as.client, { escrow: escrowAddress });
        expect(refunded).toBe(owed);
        expect(await escrow.getState()).toBe(EscrowState.closed);
        const back = (await client.getBalance()) - c0;
        expect(back).toBeLessThan(refunded);
        expect(back).toBeGreaterThan(refunded - toNano('0.035'));
        expect(await p.proxy.getOpenEscrows()).toBe(0n);

        const text = await describeEscrow(w.as.stranger, escrowAddress);
        expect(text).toContain('closed');
        expect(text).toContain(`${t.prompt} / ${t.cached} / ${t.completion} / ${t.reasoning}`);
    });

    it('the proxy operator adds stake, begins closing and finishes once obligations have timed out', async () => {
        const { p } = w;
        const before = await p.proxy.getStake();
        await proxyAddStake(w.as.operator, { proxy: p.proxy.address, amount: toNano('3') });
        expect(await p.proxy.getStake()).toBe(before + toNano('3'));

        // An open escrow is an obligation: finishing waits for it, or for the client close delay after unlock.
        await opened();
        const { unlockAt } = await proxyBeginClose(w.as.operator, { proxy: p.proxy.address });
        expect(unlockAt).toBe(p.chain.now! + Number(p.params.stakes.proxyCloseDelay));
        expect(await p.proxy.getState()).toBe(ProxyState.closing);
        await refusedUnchanged(p.operator, () => proxyFinishClose(w.as.operator, { proxy: p.proxy.address }), /the close delay ends at/);
        advance(w, p.params.stakes.proxyCloseDelay);
        await refusedUnchanged(p.operator, () => proxyFinishClose(w.as.operator, { proxy: p.proxy.address }), /obligations outstanding \(1 open escrow/);
        advance(w, p.params.stakes.clientCloseDelay);
        const held = (await p.proxy.getStake()) + (await p.proxy.getPool());
        const opBefore = await p.operator.getBalance();
        await proxyFinishClose(w.as.operator, { proxy: p.proxy.address });
        expect(await p.proxy.getState()).toBe(ProxyState.closed);
        const gained = (await p.operator.getBalance()) - opBefore;
        expect(gained).toBeGreaterThan(held - toNano('0.02'));
        expect(gained).toBeLessThanOrEqual(held + toNano('0.05'));
        expect(await describeProxy(w.as.stranger, p.proxy.address)).toContain('closed');
    });

    it('the proxy operator moves its endpoint: Root\'s record and the Proxy agree; refusals send nothing', async () => {
        const { p, stranger } = w;
        const seqno = await p.proxy.getSeqno();
        await setProxyEndpoint(w.as.operator, { proxy: p.proxy.address, endpoint: 'https://moved.example:8443' });
        expect(await p.proxy.getEndpoint()).toBe('https://moved.example:8443');
        expect((await p.root.getProxy(seqno))!.endpoint).toBe('https://moved.example:8443');
        await refusedUnchanged(p.operator, () => setProxyEndpoint(w.as.operator, { proxy: p.proxy.address, endpoint: 'https://moved.example:8443' }), /the endpoint is already https:\/\/moved.example:8443/);
        await refusedUnchanged(p.operator, () => setProxyEndpoint(w.as.operator, { proxy: p.proxy.address, endpoint: 'moved.example' }), /not an endpoint clients can use: "moved.example" is not a URL/);
        await refusedUnchanged(stranger, () => setProxyEndpoint(w.as.stranger, { proxy: p.proxy.address, endpoint: 'https://evil.example' }), /only the proxy's operator/);
        const d = await p.root.send(p.owner.getSender(), { value: toNano('0.1') }, { $$type: 'DeactivateProxy', queryId: 0n, seqno });
        expect(d.transactions).toHaveTransaction({ to: p.root.address, success: true });
        await refusedUnchanged(p.operator, () => setProxyEndpoint(w.as.operator, { proxy: p.proxy.address, endpoint: 'https://third.example' }), /deactivated by governance/);
    });

    it('refuses bad client operations before sending anything', async () => {
        const { p, client, stranger } = w;
        const nowhere = (await escrowFor(p.proxy.address, stranger.address)).address;
        await refusedUnchanged(client, () => openEscrow(w.as.client, { proxy: nowhere, deposit: toNano('5') }), /Proxy .* is not a deployed contract/);
        await refusedUnchanged(client, () => openEscrow(w.as.client, { proxy: p.proxy.address, deposit: toNano('5'), stake: toNano('0.5') }), /below the network's minimum client stake/);
        await refusedUnchanged(client, () => openEscrow(w.as.client, { proxy: p.proxy.address, deposit: toNano('1'), stake: toNano('2') }), /the deposit must cover the stake/);
        const escrow = await opened();
        await refusedUnchanged(client, () => openEscrow(w.as.client, { proxy: p.proxy.address, deposit: toNano('5') }), /already open; top it up instead/);
        await refusedUnchanged(client, () => topUpEscrow(w.as.client, { escrow, amount: 0n }), /the amount must be positive/);
        await refusedUnchanged(stranger, () => topUpEscrow(w.as.stranger, { escrow, amount: toNano('1') }), /only the escrow's client/);
        await refusedUnchanged(stranger, () => requestRefund(w.as.stranger, { escrow }), /only the escrow's client/);
        await refusedUnchanged(client, () => withdrawRefund(w.as.client, { escrow }), /request the refund first/);
        await requestRefund(w.as.client, { escrow });
        await refusedUnchanged(client, () => requestRefund(w.as.client, { escrow }), /only an open escrow can be closed/);
        await refusedUnchanged(client, () => topUpEscrow(w.as.client, { escrow, amount: toNano('1') }), /only an open escrow takes top-ups/);
    });

    it("the client's API secret: openEscrow makes one (or takes the client's), setEscrowSecret rotates and revokes it, the getter confirms", async () => {
        const { p, client } = w;
        const a = await openEscrow(w.as.client, { proxy: p.proxy.address, deposit: toNano('3') });
        const escrow = p.chain.openContract(await escrowFor(p.proxy.address, client.address));
        expect(a.secret.length).toBe(32);
        expect(await escrow.getSecretHash()).toBe(escrowSecretHash(a.secret));
        expect(a.apiKey).toBe(formatEscrowApiKey(a.address, a.secret));
        expect(parseEscrowApiKey(a.apiKey).escrow.equals(a.address)).toBe(true);
        // The ops functions never write the secret out (the script decides whether to print it).
        expect(w.ui.lines.join('\n')).not.toContain(a.secret.toString('hex'));

        const chosen = Buffer.alloc(32, 0x33);
        const before = await client.getBalance();
        const rotated = await setEscrowSecret(w.as.client, { escrow: a.address, secret: chosen });
        expect(rotated).toEqual({ secret: chosen, apiKey: formatEscrowApiKey(a.address, chosen) });
        expect(await escrow.getSecretHash()).toBe(escrowSecretHash(chosen));
        // The client paid only gas; the escrow's balance did not move.
        const spent = before - (await client.getBalance());
        expect(spent).toBeGreaterThan(0n);
        expect(spent).toBeLessThan(ESCROW_SET_SECRET_VALUE);
        expect(await escrow.getBalance()).toBe(toNano('3'));
        const fresh = await setEscrowSecret(w.as.client, { escrow: a.address });
        expect(fresh!.secret).not.toEqual(chosen);
        expect(await escrow.getSecretHash()).toBe(escrowSecretHash(fresh!.secret));
        expect(await setEscrowSecret(w.as.client, { escrow: a.address, revoke: true })).toBeNull();
        expect(await escrow.getSecretHash()).toBe(0n);
        expect(await describeEscrow(w.as.stranger, a.address)).toMatch(/API secret hash \(SHA-256\)\s+\|?\s*none set/);
        expect(w.ui.lines.join('\n')).not.toContain(fresh!.secret.toString('hex'));

        // A re-open after the refund takes the client's own secret.
        await requestRefund(w.as.client, { escrow: a.address });
        advance(w, p.params.stakes.clientCloseDelay);
        await withdrawRefund(w.as.client, { escrow: a.address });
        const again = await openEscrow(w.as.client, { proxy: p.proxy.address, deposit: toNano('2'), secret: chosen });
        expect(again.secret).toEqual(chosen);
        expect(await escrow.getSecretHash()).toBe(escrowSecretHash(chosen));
        expect(await describeEscrow(w.as.stranger, a.address)).toContain(escrowSecretHash(chosen).toString(16).padStart(64, '0'));
    });

    it('refuses API secret changes the escrow would refuse or that change nothing, before sending anything', async () => {
        const { p, client, stranger } = w;
        const nowhere = (await escrowFor(p.proxy.address, stranger.address)).address;
        await refusedUnchanged(stranger, () => setEscrowSecret(w.as.stranger, { escrow: nowhere }), /JobEscrow .* is not a deployed contract/);
        const chosen = Buffer.alloc(32, 0x44);
        const { address } = await openEscrow(w.as.client, { proxy: p.proxy.address, deposit: toNano('2'), secret: chosen });
        await refusedUnchanged(stranger, () => setEscrowSecret(w.as.stranger, { escrow: address }), /only the escrow's client/);
        await refusedUnchanged(client, () => setEscrowSecret(w.as.client, { escrow: address, secret: chosen }), /already holds this secret/);
        await refusedUnchanged(client, () => setEscrowSecret(w.as.client, { escrow: address, secret: chosen, revoke: true }), /new secret or revoke, not both/);
        await setEscrowSecret(w.as.client, { escrow: address, revoke: true });
        await refusedUnchanged(client, () => setEscrowSecret(w.as.client, { escrow: address, revoke: true }), /nothing to revoke/);
        // An escrow whose first open the Proxy refused stays NEW: it is opened again, with a secret, instead.
        const low = (await escrowFor(p.proxy.address, stranger.address)).address;
        await p.chain.openContract(await escrowFor(p.proxy.address, stranger.address)).send(
            stranger.getSender(),
            { value: toNano('2') + ESCROW_OPEN_VALUE },
            { $$type: 'EscrowOpen', queryId: 0n, deposit: toNano('2'), stake: 1n, secretHash: 0n },
        );
        expect(await p.chain.openContract(await escrowFor(p.proxy.address, stranger.address)).getState()).toBe(EscrowState.new);
        await refusedUnchanged(stranger, () => setEscrowSecret(w.as.stranger, { escrow: low }), /never opened/);
    });

    it('refuses charges the escrow or the proxy would refuse, before sending anything', async () => {
        const { p } = w;
        const op = p.operator;
        const escrow = await opened(toNano('2'));
        const other = (await openEscrow(w.as.stranger, { proxy: p.proxy.address, deposit: toNano('2') })).address;
        const t = tokens(1000, 0, 500, 0);
        const forged = signedCharge(w, { escrow, tokens: t, validUntil: p.chain.now! + 600 }, randomNodeKeys().ed25519);
        await refusedUnchanged(op, () => submitCharge(w.as.operator, { escrow, ...forged }), /not the proxy enclave key's/);
        await refusedUnchanged(op, () => submitCharge(w.as.operator, { escrow: other, ...signedCharge(w, { escrow, tokens: t, validUntil: p.chain.now! + 600 }) }), /addressed to escrow/);
        await refusedUnchanged(op, () => submitCharge(w.as.operator, { escrow, ...signedCharge(w, { escrow, tokens: t, validUntil: p.chain.now! - 1 }) }), /this charge expired/);
        await refusedUnchanged(op, () => submitCharge(w.as.operator, { escrow, ...signedCharge(w, { escrow, tokens: tokens(0, 0, 10 ** 12, 0), validUntil: p.chain.now! + 600 }) }), /above the client's balance/);
        const good = await charge(escrow, t);
        await submitCharge(w.as.operator, { escrow, ...good });
        await refusedUnchanged(op, () => submitCharge(w.as.operator, { escrow, ...good }), /nothing to charge: the escrow already accepted these counts/);
        await expect(submitCharge(w.as.operator, { escrow, ...good })).rejects.toBeInstanceOf(AlreadySettled);
        await refusedUnchanged(op, () => submitCharge(w.as.operator, { escrow, ...signedCharge(w, { escrow, tokens: tokens(2000, 0, 400, 0), validUntil: p.chain.now! + 600 }) }), /stale charge/);
        // After the client's close window, a charge is no longer honoured.
        await requestRefund(w.as.client, { escrow });
        advance(w, p.params.stakes.clientCloseDelay);
        await refusedUnchanged(op, () => submitCharge(w.as.operator, { escrow, ...signedCharge(w, { escrow, tokens: tokens(2000, 0, 600, 0), validUntil: p.chain.now! + 600 }) }), /close window ended/);
    });

    it('refuses payouts the WorkerAccount or the proxy would refuse, and proxy operations by others', async () => {
        const { p, gpuOwner, stranger } = w;
        const account = (await workerAccountFor(p.proxy.address, w.provider.address, gpuOwner.address)).address;
        const base = { workerAccount: account, proxy: p.proxy.address, provider: w.provider.address, payee: gpuOwner.address };
        const payout = (n: bigint, key = p.proxyKeys.ed25519) => signedPayout(w, { workerAccount: account, tokens: n, validUntil: p.chain.now! + 600 }, key);
        await refusedUnchanged(gpuOwner, () => submitPayout(w.as.gpuOwner, { ...base, ...payout(10n, randomNodeKeys().ed25519) }), /not the proxy enclave key's/);
        await refusedUnchanged(gpuOwner, () => submitPayout(w.as.gpuOwner, { ...base, payee: stranger.address, ...payout(10n) }), /not the one of this \(proxy, provider, payee\)/);
        await refusedUnchanged(gpuOwner, () => submitPayout(w.as.gpuOwner, { ...base, ...payout(10n) }), /pool cannot pay/);
        // Fill the pool with a charge, pay 10 tokens, then the same payload is stale.
        const escrow = await opened();
        await submitCharge(w.as.operator, { escrow, ...(await charge(escrow, tokens(10_000, 0, 10_000, 0))) });
        const ten = payout(10n);
        const held = await balanceOf(p, account);
        expect(held).toBe(0n);
        await submitPayout(w.as.gpuOwner, { ...base, ...ten });
        await refusedUnchanged(gpuOwner, () => submitPayout(w.as.gpuOwner, { ...base, ...ten }), /stale payout: 10 tokens, already paid up to 10/);
        await expect(submitPayout(w.as.gpuOwner, { ...base, ...ten })).rejects.toBeInstanceOf(AlreadySettled);

        await refusedUnchanged(stranger, () => proxyAddStake(w.as.stranger, { proxy: p.proxy.address, amount: toNano('1') }), /only the proxy's operator/);
        await refusedUnchanged(p.operator, () => proxyAddStake(w.as.operator, { proxy: p.proxy.address, amount: 0n }), /the amount must be positive/);
        const available = await p.proxy.getCommission();
        await refusedUnchanged(p.operator, () => proxyWithdrawCommission(w.as.operator, { proxy: p.proxy.address, amount: available + 1n }), /commission is above the workers' reserved fees/);
        await refusedUnchanged(stranger, () => proxyWithdrawCommission(w.as.stranger, { proxy: p.proxy.address }), /only the proxy's operator/);
        await refusedUnchanged(stranger, () => proxyBeginClose(w.as.stranger, { proxy: p.proxy.address }), /only the proxy's operator/);
        await refusedUnchanged(p.operator, () => proxyFinishClose(w.as.operator, { proxy: p.proxy.address }), /begin closing first/);
    });
});
