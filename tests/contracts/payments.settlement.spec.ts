import '@ton/test-utils';
import { Address, toNano } from '@ton/core';
import { BlockchainTransaction } from '@ton/sandbox';
import { TokenCounts } from '../../wrappers/payloads';
import { PROXY_OP_GAS } from '../../wrappers/Proxy';
import { addTokens, billableTokens, chargeAmount, payoutAmount, workerShare, zeroTokens } from '../../wrappers/chargeAmount';
import {
    conserved,
    deployPayments,
    expectAllSuccess,
    expectEscrowHoldings,
    expectProxyHoldings,
    openEscrow,
    payerFees,
    submitCharge,
    submitPayout,
    track,
    txAddress,
    workerAccountOf,
} from '../helpers/payments';

/** A deterministic stream of request sizes (xorshift), like a day of chat completions. */
function* requests(n: number, seed = 0x2545f491): Generator<TokenCounts> {
    let x = seed;
    const next = (mod: number): bigint => {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        return BigInt((x >>> 0) % mod);
    };
    for (let i = 0; i < n; i++) {
        yield { prompt: 50n + next(2000), cached: next(1500), completion: 20n + next(800), reasoning: i % 4 === 0 ? next(600) : 0n };
    }
}

function contractFees(txs: BlockchainTransaction[], contracts: Address[]): bigint {
    return txs.filter((tx) => contracts.some((c) => c.equals(txAddress(tx)))).reduce((s, tx) => s + tx.totalFees.coins, 0n);
}

describe('Amortised settlement', () => {
    it('settles 10,000 requests with one charge and one payout, every balance exact to the nanoTON', async () => {
        const p = await deployPayments();
        const client = await p.chain.treasury('client');
        const payee = await p.chain.treasury('provider-owner');
        const providerContract = await p.chain.treasury('provider-contract');
        const deposit = toNano('200');
        const { escrow } = await openEscrow(p, client, deposit, toNano('10'));
        const account = await workerAccountOf(p, providerContract.address, payee.address);

        // Off chain: the router serves 10,000 requests through one worker and keeps the
        // cumulative counts (what it would persist), nothing touches the chain.
        let served = zeroTokens();
        let count = 0;
        for (const r of requests(10_000)) {
            served = addTokens(served, r);
            count++;
        }
        expect(count).toBe(10_000);
        const amount = chargeAmount(served, p.prices);
        const billable = billableTokens(served, p.prices);
        const fee = payoutAmount(0n, billable, p.prices);
        expect(amount).toBeLessThan(deposit);

        const everyone = [client.address, payee.address, escrow.address, account.address, p.proxy.address, p.operator.address];

        // ONE charge for all 10,000 requests (submitted by the proxy's operator).
        const charge = await conserved(p, everyone, () => submitCharge(p, p.operator, escrow, { tokens: served }));
        expectAllSuccess(charge.result);
        expect(charge.delta(escrow.address)).toBe(-amount);
        expect(charge.delta(p.proxy.address)).toBe(amount);
        expect(charge.delta(client.address)).toBe(0n);
        expect(-charge.delta(p.operator.address)).toBe(payerFees(charge.result, p.operator.address));
        expect(await escrow.getBalance()).toBe(deposit - amount);
        expect(await escrow.getCharged()).toBe(amount);
        expect(await p.proxy.getPool()).toBe(amount);
        expect(await p.proxy.getWorkersReserved()).toBe(workerShare(amount, p.prices));

        // ONE payout for the worker's share of the same 10,000 requests.
        const payout = await conserved(p, everyone, () => submitPayout(p, p.operator, account, { tokens: billable }));
        expectAllSuccess(payout.result);
        const payeeFees = payout.result.transactions.filter((tx) => txAddress(tx).equals(payee.address)).reduce((s, tx) => s + tx.totalFees.coins, 0n);
        expect(payout.delta(payee.address)).toBe(fee - payeeFees);
        expect(payout.delta(p.proxy.address)).toBe(-fee);
        expect(await p.proxy.getPool()).toBe(amount - fee);
        expect(await account.getPaidTokens()).toBe(billable);

        // The owner takes the commission: the pool minus what is still reserved for workers.
        const reservedLeft = workerShare(amount, p.prices) - fee;
        expect(await p.proxy.getWorkersReserved()).toBe(reservedLeft);
        const commission = amount - fee - reservedLeft;
        const take = await conserved(p, everyone, () =>
            track(p, p.proxy.send(p.operator.getSender(), { value: PROXY_OP_GAS }, { $$type: 'ProxyWithdrawCommission', queryId: 0n, amount: commission })),
        );
        expectAllSuccess(take.result);
        expect(take.delta(p.operator.address)).toBe(commission - payerFees(take.result, p.operator.address));
        expect(await p.proxy.getPool()).toBe(reservedLeft);
        await expectEscrowHoldings(p, escrow);
        await expectProxyHoldings(p);

        // Cost of settling all 10,000 requests on chain: the contracts' fees of two traces.
        const contracts = [escrow.address, account.address, p.proxy.address];
        const chargeCost = contractFees(charge.result.transactions, contracts);
        const payoutCost = contractFees(payout.result.transactions, contracts);
        expect(chargeCost + payoutCost).toBeLessThan(toNano('0.05'));
        process.stdout.write(
            `10,000 requests: ${served.prompt + served.cached + served.completion + served.reasoning} tokens, charge ${amount} nanoTON, ` +
                `worker fee ${fee}, settlement fees: charge ${chargeCost} + payout ${payoutCost} nanoTON\n`,
        );
    });
});
