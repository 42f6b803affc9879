import '@ton/test-utils';
import { Address, beginCell, Cell, toNano } from '@ton/core';
import { BlockchainTransaction, internal, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { buildChargePayload, signPayload } from '../../wrappers/payloads';
import { PROXY_OP_GAS } from '../../wrappers/Proxy';
import { signedPayout, storePayoutConfirmed, storeWorkerPayout, WORKER_PAYOUT_VALUE, WorkerAccount } from '../../wrappers/WorkerAccount';
import { chargeAmount, payoutAmount, workerShare } from '../../wrappers/chargeAmount';
import { randomNodeKeys } from '../helpers/network';
import {
    balanceOf,
    conserved,
    deployPayments,
    expectAllSuccess,
    expectProxyHoldings,
    expectRefused,
    MIN_STORAGE,
    openEscrow,
    payerFees,
    PaymentsNet,
    restore,
    save,
    Saved,
    storageFees,
    submitCharge,
    submitPayout,
    tokens,
    track,
    workerAccountOf,
} from '../helpers/payments';

describe('WorkerAccount', () => {
    let p: PaymentsNet;
    let providerContract: SandboxContract<TreasuryContract>; // stands for the Provider contract's address
    let payee: SandboxContract<TreasuryContract>; // the provider's owner
    let stranger: SandboxContract<TreasuryContract>;
    let account: SandboxContract<WorkerAccount>;
    let funded: Saved; // the Proxy's pool holds one charge
    let pool: bigint;
    const all = (): Address[] => [p.operator.address, payee.address, stranger.address, account.address, p.proxy.address];

    beforeAll(async () => {
        p = await deployPayments();
        providerContract = await p.chain.treasury('provider-contract');
        payee = await p.chain.treasury('provider-owner');
        stranger = await p.chain.treasury('stranger');
        const client = await p.chain.treasury('client');
        const { escrow } = await openEscrow(p, client, toNano('10'), toNano('1'));
        const t = tokens(2_000_000, 0, 1_000_000, 0); // 4,000,000 weighted tokens -> 4 TON
        await submitCharge(p, p.operator, escrow, { tokens: t });
        pool = chargeAmount(t, p.prices);
        expect(await p.proxy.getPool()).toBe(pool);
        account = await workerAccountOf(p, providerContract.address, payee.address);
        funded = save(p);
    });
    beforeEach(() => restore(p, funded));

    it('is derived by the Proxy by initOf (proxy, provider, payee)', async () => {
        expect((await p.proxy.getWorkerAccountAddress(providerContract.address, payee.address)).equals(account.address)).toBe(true);
    });

    it('pays increase x workerFeePerToken to the payee, advances its counter, returns the excess to the submitter', async () => {
        const n = 1_000_000n;
        const fee = payoutAmount(0n, n, p.prices);
        const { result, delta } = await conserved(p, all(), () => submitPayout(p, p.operator, account, { tokens: n }, { value: toNano('0.5') }));
        expectAllSuccess(result);
        expect(await account.getPaidTokens()).toBe(n);
        expect(await account.getPendingTokens()).toBe(0n);
        // The payee receives exactly the fee (its wallet pays its own small receive fee).
        expect(delta(payee.address)).toBe(fee - feesOnly(result, payee.address));
        expect(delta(p.proxy.address)).toBe(-fee);
        expect(await p.proxy.getPool()).toBe(pool - fee);
        expect(await p.proxy.getWorkersReserved()).toBe(workerShare(pool, p.prices) - fee);
        // A first payout leaves the storage reserve in the new account; the rest came back.
        expect(delta(account.address)).toBe(MIN_STORAGE);
        expect(-delta(p.operator.address)).toBe(MIN_STORAGE + payerFees(result, p.operator.address) - feesOnly(result, payee.address));
        await expectProxyHoldings(p);

        // The next payout pays only the increase.
        const n2 = 1_500_000n;
        const r2 = await conserved(p, all(), () => submitPayout(p, stranger, account, { tokens: n2 }));
        expectAllSuccess(r2.result);
        expect(r2.delta(p.proxy.address)).toBe(-payoutAmount(n, n2, p.prices));
        expect(r2.delta(account.address)).toBe(0n);
        expect(await account.getPaidTokens()).toBe(n2);
    });

    it('never pays twice: an equal or older cumulative value is refused', async () => {
        await submitPayout(p, p.operator, account, { tokens: 1000n });
        await expectRefused(p, all(), p.operator.address, account.address, 106, () => submitPayout(p, p.operator, account, { tokens: 1000n }));
        await expectRefused(p, all(), p.operator.address, account.address, 106, () => submitPayout(p, p.operator, account, { tokens: 999n }));
    });

    it('refuses a payout signed by another proxy key at the Proxy; the counter stays, the submitter is refunded', async () => {
        await submitPayout(p, p.operator, account, { tokens: 1000n });
        const { result, delta } = await conserved(p, all(), () => submitPayout(p, stranger, account, { tokens: 5000n }, { signer: randomNodeKeys() }));
        expect(result.transactions).toHaveTransaction({ from: account.address, to: p.proxy.address, exitCode: 103, success: false });
        expect(await account.getPaidTokens()).toBe(1000n);
        expect(await account.getPendingTokens()).toBe(0n);
        expect(delta(p.proxy.address)).toBe(0n);
        expect(delta(account.address)).toBe(0n);
        expect(-delta(stranger.address)).toBe(payerFees(result, stranger.address));
    });

    it('refuses a payout addressed to another worker account (the payee cannot be swapped)', async () => {
        const other = await workerAccountOf(p, providerContract.address, stranger.address);
        // Signed for the real account, submitted to the stranger's account.
        const signed = signedPayout({ workerAccount: account.address, tokens: 1000n, validUntil: p.chain.now! + 60 }, p.proxyKeys.ed25519);
        await expectRefused(p, [...all(), other.address], stranger.address, other.address, 105, () =>
            track(p, other.send(stranger.getSender(), { value: WORKER_PAYOUT_VALUE + MIN_STORAGE }, signed)),
        );
    });

    it('refuses an expired payout, too little value, and a payload of another kind', async () => {
        await submitPayout(p, p.operator, account, { tokens: 1n });
        await expectRefused(p, all(), p.operator.address, account.address, 104, () => submitPayout(p, p.operator, account, { tokens: 1000n, validUntil: p.chain.now! - 1 }));
        await expectRefused(p, all(), p.operator.address, account.address, 101, () => submitPayout(p, p.operator, account, { tokens: 1000n }, { value: WORKER_PAYOUT_VALUE - 1n }));
        const charge = signPayload(buildChargePayload({ escrow: account.address, tokens: tokens(1, 1, 1, 1), validUntil: p.chain.now! + 60 }), p.proxyKeys.ed25519.secretKey);
        await expectRefused(p, all(), p.operator.address, account.address, 108, () =>
            track(p, account.send(p.operator.getSender(), { value: WORKER_PAYOUT_VALUE }, { $$type: 'WorkerPayout', queryId: 0n, payload: charge.payload, signature: charge.signature })),
        );
    });

    it('fails cleanly when the pool is short, and the same payload succeeds once the pool is funded', async () => {
        const tooMany = pool / p.prices.workerFeePerToken + 1n;
        const { result, delta } = await conserved(p, all(), () => submitPayout(p, p.operator, account, { tokens: tooMany }));
        expect(result.transactions).toHaveTransaction({ from: account.address, to: p.proxy.address, exitCode: 306, success: false });
        expect(await account.getPaidTokens()).toBe(0n);
        expect(await account.getPendingTokens()).toBe(0n);
        expect(delta(p.proxy.address)).toBe(0n);
        expect(delta(payee.address)).toBe(0n);
        // More charges arrive; the very same signed cumulative value now pays.
        const client2 = await p.chain.treasury('client-2');
        const { escrow } = await openEscrow(p, client2, toNano('5'), toNano('1'));
        await submitCharge(p, p.operator, escrow, { tokens: tokens(1000, 0, 0, 0) });
        const r = await submitPayout(p, p.operator, account, { tokens: tooMany });
        expectAllSuccess(r);
        expect(await account.getPaidTokens()).toBe(tooMany);
    });

    it('allows one payout in flight at a time', async () => {
        await submitPayout(p, p.operator, account, { tokens: 1n });
        const first = signedPayout({ workerAccount: account.address, tokens: 100n, validUntil: p.chain.now! + 60 }, p.proxyKeys.ed25519);
        const iter = await p.chain.sendMessageIter(
            internal({ from: p.operator.address, to: account.address, value: WORKER_PAYOUT_VALUE, body: bodyOf(first) }),
        );
        await iter.next(); // the WorkerAccount has sent its request; the Proxy has not answered yet
        expect(await account.getPendingTokens()).toBe(100n);
        // A second payout reaches the account before the Proxy's confirmation does.
        const again = signedPayout({ workerAccount: account.address, tokens: 200n, validUntil: p.chain.now! + 60 }, p.proxyKeys.ed25519);
        const second = await p.chain.sendMessage(internal({ from: stranger.address, to: account.address, value: WORKER_PAYOUT_VALUE, body: bodyOf(again) }));
        expect(second.transactions).toHaveTransaction({ from: stranger.address, to: account.address, exitCode: 600, success: false });
        for (let r = await iter.next(); !r.done; r = await iter.next()) {
            /* run the first payout to the end */
        }
        expect(await account.getPaidTokens()).toBe(100n);
        expect(await account.getPendingTokens()).toBe(0n);
    });

    it('refuses a confirmation that does not come from its Proxy', async () => {
        await submitPayout(p, p.operator, account, { tokens: 1n });
        await expectRefused(p, all(), stranger.address, account.address, 100, () =>
            track(p, account.send(stranger.getSender(), { value: toNano('0.05') }, { $$type: 'PayoutConfirmed', queryId: 0n, tokens: 10n, amount: 1n })),
        );
        expect(await account.getPaidTokens()).toBe(1n);
    });

    it('refuses a confirmation from its Proxy when no payout (or another one) is in flight', async () => {
        await submitPayout(p, p.operator, account, { tokens: 10n });
        const body = beginCell().store(storePayoutConfirmed({ $$type: 'PayoutConfirmed', queryId: 0n, tokens: 20n, amount: 1n })).endCell();
        const r = await p.chain.sendMessage(internal({ from: p.proxy.address, to: account.address, value: toNano('0.05'), body }));
        expect(r.transactions).toHaveTransaction({ from: p.proxy.address, to: account.address, exitCode: 601, success: false });
        expect(await account.getPaidTokens()).toBe(10n);
    });

    it('is refused by a closed Proxy; the submitter gets its value back', async () => {
        await track(p, p.proxy.send(p.operator.getSender(), { value: PROXY_OP_GAS }, { $$type: 'ProxyBeginClose', queryId: 0n }));
        p.chain.now = p.chain.now! + Number(p.params.stakes.proxyCloseDelay + p.params.stakes.clientCloseDelay);
        expectAllSuccess(await track(p, p.proxy.send(p.operator.getSender(), { value: PROXY_OP_GAS }, { $$type: 'ProxyFinishClose', queryId: 0n })));
        const { result, delta } = await conserved(p, all(), () => submitPayout(p, stranger, account, { tokens: 1000n }));
        expect(result.transactions).toHaveTransaction({ from: account.address, to: p.proxy.address, exitCode: 301, success: false });
        expect(await account.getPaidTokens()).toBe(0n);
        expect(delta(account.address)).toBe(MIN_STORAGE);
        // The submitter paid the new account's storage reserve and fees, nothing else.
        expect(-delta(stranger.address)).toBe(MIN_STORAGE + payerFees(result, stranger.address));
        expect(delta(p.proxy.address)).toBe(-storageFees(result.transactions, p.proxy.address));
        expect(await balanceOf(p, p.proxy.address)).toBeLessThanOrEqual(MIN_STORAGE);
    });
});

function txOn(tx: { address: bigint }, a: Address): boolean {
    return Address.parseRaw(`0:${tx.address.toString(16).padStart(64, '0')}`).equals(a);
}

/** Fees `a` paid from its own balance in the trace (a payee wallet's receive fee). */
function feesOnly(result: { transactions: BlockchainTransaction[] }, a: Address): bigint {
    return result.transactions.filter((tx) => txOn(tx, a)).reduce((s, tx) => s + tx.totalFees.coins, 0n);
}

function bodyOf(msg: ReturnType<typeof signedPayout>): Cell {
    return beginCell().store(storeWorkerPayout(msg)).endCell();
}
