import '@ton/test-utils';
import { Address, beginCell, toNano } from '@ton/core';
import { SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Role } from '../../wrappers/payloads';
import { Proxy, PROXY_OP_GAS, ProxyState } from '../../wrappers/Proxy';
import { ESCROW_FINISH_VALUE, ESCROW_OP_GAS, JobEscrow } from '../../wrappers/JobEscrow';
import { chargeAmount, workerShare } from '../../wrappers/chargeAmount';
import { makeCertificate } from '../helpers/network';
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
    PROXY_STAKE,
    restore,
    save,
    storageFees,
    Saved,
    submitCharge,
    tokens,
    track,
} from '../helpers/payments';

describe('Proxy', () => {
    let p: PaymentsNet;
    let stranger: SandboxContract<TreasuryContract>;
    let client: SandboxContract<TreasuryContract>;
    let fresh: Saved;
    const all = (): Address[] => [p.operator.address, stranger.address, p.proxy.address, p.root.address, p.owner.address];
    const ownerSend = (msg: Parameters<SandboxContract<Proxy>['send']>[2], value = PROXY_OP_GAS, from?: SandboxContract<TreasuryContract>) =>
        track(p, p.proxy.send((from ?? p.operator).getSender(), { value }, msg));
    const closeDelay = (): number => Number(p.params.stakes.proxyCloseDelay);
    const clientDelay = (): number => Number(p.params.stakes.clientCloseDelay);

    beforeAll(async () => {
        p = await deployPayments();
        stranger = await p.chain.treasury('stranger');
        client = await p.chain.treasury('client');
        fresh = save(p);
    });
    beforeEach(() => restore(p, fresh));

    describe('stake', () => {
        it('holds the registration stake and the storage reserve, nothing more', async () => {
            expect(await p.proxy.getState()).toBe(ProxyState.active);
            expect(await p.proxy.getStake()).toBe(PROXY_STAKE);
            await expectProxyHoldings(p);
        });

        it('lets the owner add stake; the gas excess returns', async () => {
            const add = toNano('3');
            const { result, delta } = await conserved(p, all(), () => ownerSend({ $$type: 'ProxyAddStake', queryId: 0n, amount: add }, add + toNano('1')));
            expectAllSuccess(result);
            expect(await p.proxy.getStake()).toBe(PROXY_STAKE + add);
            expect(delta(p.proxy.address)).toBe(add);
            expect(-delta(p.operator.address)).toBe(add + payerFees(result, p.operator.address));
            await expectProxyHoldings(p);
        });

        it('refuses stake from another sender, with too little value, of zero, or once closing', async () => {
            await expectRefused(p, all(), stranger.address, p.proxy.address, 100, () => ownerSend({ $$type: 'ProxyAddStake', queryId: 0n, amount: 1n }, toNano('1'), stranger));
            await expectRefused(p, all(), p.operator.address, p.proxy.address, 101, () => ownerSend({ $$type: 'ProxyAddStake', queryId: 0n, amount: toNano('1') }, toNano('1')));
            await expectRefused(p, all(), p.operator.address, p.proxy.address, 110, () => ownerSend({ $$type: 'ProxyAddStake', queryId: 0n, amount: 0n }));
            await ownerSend({ $$type: 'ProxyBeginClose', queryId: 0n });
            await expectRefused(p, all(), p.operator.address, p.proxy.address, 300, () => ownerSend({ $$type: 'ProxyAddStake', queryId: 0n, amount: 1n }, toNano('1')));
        });
    });

    describe('close', () => {
        it('begins closing; a second begin is refused; so is another sender', async () => {
            await expectRefused(p, all(), stranger.address, p.proxy.address, 100, () => ownerSend({ $$type: 'ProxyBeginClose', queryId: 0n }, PROXY_OP_GAS, stranger));
            const r = await conserved(p, all(), () => ownerSend({ $$type: 'ProxyBeginClose', queryId: 0n }));
            expectAllSuccess(r.result);
            expect(await p.proxy.getState()).toBe(ProxyState.closing);
            expect(await p.proxy.getUnlockAt()).toBe(BigInt(p.chain.now! + closeDelay()));
            await expectRefused(p, all(), p.operator.address, p.proxy.address, 300, () => ownerSend({ $$type: 'ProxyBeginClose', queryId: 0n }));
        });

        it('returns the stake only after the close delay', async () => {
            await expectRefused(p, all(), p.operator.address, p.proxy.address, 309, () => ownerSend({ $$type: 'ProxyFinishClose', queryId: 0n }));
            await ownerSend({ $$type: 'ProxyBeginClose', queryId: 0n });
            p.chain.now = p.chain.now! + closeDelay() - 1;
            await expectRefused(p, all(), p.operator.address, p.proxy.address, 107, () => ownerSend({ $$type: 'ProxyFinishClose', queryId: 0n }));
            p.chain.now = p.chain.now! + 1;
            await expectRefused(p, all(), stranger.address, p.proxy.address, 100, () => ownerSend({ $$type: 'ProxyFinishClose', queryId: 0n }, PROXY_OP_GAS, stranger));
            const held = await balanceOf(p, p.proxy.address);
            const { result, delta } = await conserved(p, all(), () => ownerSend({ $$type: 'ProxyFinishClose', queryId: 0n }));
            expectAllSuccess(result);
            expect(await p.proxy.getState()).toBe(ProxyState.closed);
            expect(await p.proxy.getStake()).toBe(0n);
            // The owner got everything above the storage reserve: the stake (less rent).
            expect(await balanceOf(p, p.proxy.address)).toBe(MIN_STORAGE);
            expect(delta(p.operator.address)).toBe(held - storageFees(result.transactions, p.proxy.address) - MIN_STORAGE - payerFees(result, p.operator.address));
            expect(held - MIN_STORAGE).toBeGreaterThan(PROXY_STAKE - toNano('0.001'));
            // A closed proxy cannot be closed twice.
            await expectRefused(p, all(), p.operator.address, p.proxy.address, 309, () => ownerSend({ $$type: 'ProxyFinishClose', queryId: 0n }));
        });

        it('waits for open escrows and reserved worker fees until a further client close delay has passed', async () => {
            const { escrow } = await openEscrow(p, client, toNano('5'), toNano('1'));
            const t = tokens(100_000, 0, 0, 0);
            await submitCharge(p, p.operator, escrow, { tokens: t });
            await ownerSend({ $$type: 'ProxyBeginClose', queryId: 0n });
            // Charges are still honoured while closing (service already given).
            const t2 = tokens(200_000, 0, 0, 0);
            expectAllSuccess(await submitCharge(p, p.operator, escrow, { tokens: t2 }));
            expect(await p.proxy.getPool()).toBe(chargeAmount(t2, p.prices));
            p.chain.now = p.chain.now! + closeDelay();
            const accts = [...all(), client.address, escrow.address];
            await expectRefused(p, accts, p.operator.address, p.proxy.address, 303, () => ownerSend({ $$type: 'ProxyFinishClose', queryId: 0n }));
            p.chain.now = p.chain.now! + clientDelay();
            const held = await balanceOf(p, p.proxy.address);
            const { result, delta } = await conserved(p, accts, () => ownerSend({ $$type: 'ProxyFinishClose', queryId: 0n }));
            expectAllSuccess(result);
            // Stake and the whole pool (the workers' share timed out) go to the owner.
            expect(delta(p.operator.address)).toBe(held - storageFees(result.transactions, p.proxy.address) - MIN_STORAGE - payerFees(result, p.operator.address));
            expect(held - MIN_STORAGE).toBeGreaterThan(PROXY_STAKE + chargeAmount(t2, p.prices) - toNano('0.001'));
            // Later charges bounce back into the escrow: the client keeps its money.
            const before = await escrow.getBalance();
            const r = await submitCharge(p, p.operator, escrow, { tokens: tokens(300_000, 0, 0, 0) });
            expect(r.transactions).toHaveTransaction({ from: escrow.address, to: p.proxy.address, exitCode: 301, success: false });
            expect(await escrow.getBalance()).toBe(before);
        });

        it('closes as soon as the delay ends when every escrow is settled and every worker fee paid', async () => {
            const { escrow } = await openEscrow(p, client, toNano('5'), toNano('1'));
            await ownerSend({ $$type: 'ProxyBeginClose', queryId: 0n });
            await track(p, escrow.send(client.getSender(), { value: ESCROW_OP_GAS }, { $$type: 'EscrowRequestClose', queryId: 0n }));
            p.chain.now = p.chain.now! + clientDelay();
            await track(p, escrow.send(client.getSender(), { value: ESCROW_FINISH_VALUE }, { $$type: 'EscrowFinishClose', queryId: 0n }));
            expect(await p.proxy.getOpenEscrows()).toBe(0n);
            p.chain.now = p.chain.now! + closeDelay();
            const r = await ownerSend({ $$type: 'ProxyFinishClose', queryId: 0n });
            expectAllSuccess(r);
            expect(await p.proxy.getState()).toBe(ProxyState.closed);
        });
    });

    describe('commission', () => {
        it('lets the owner withdraw the pool above the workers\' reserved share, never more', async () => {
            const { escrow } = await openEscrow(p, client, toNano('5'), toNano('1'));
            const t = tokens(1_000_000, 50_000, 200_000, 10_000);
            await submitCharge(p, p.operator, escrow, { tokens: t });
            const amount = chargeAmount(t, p.prices);
            const commission = amount - workerShare(amount, p.prices);
            expect(await p.proxy.getCommission()).toBe(commission);
            await expectRefused(p, all(), p.operator.address, p.proxy.address, 307, () => ownerSend({ $$type: 'ProxyWithdrawCommission', queryId: 0n, amount: commission + 1n }));
            await expectRefused(p, all(), stranger.address, p.proxy.address, 100, () => ownerSend({ $$type: 'ProxyWithdrawCommission', queryId: 0n, amount: 1n }, PROXY_OP_GAS, stranger));
            await expectRefused(p, all(), p.operator.address, p.proxy.address, 110, () => ownerSend({ $$type: 'ProxyWithdrawCommission', queryId: 0n, amount: 0n }));
            const { result, delta } = await conserved(p, all(), () => ownerSend({ $$type: 'ProxyWithdrawCommission', queryId: 0n, amount: commission }));
            expectAllSuccess(result);
            expect(delta(p.operator.address)).toBe(commission - payerFees(result, p.operator.address));
            expect(delta(p.proxy.address)).toBe(-commission);
            expect(await p.proxy.getPool()).toBe(workerShare(amount, p.prices));
            expect(await p.proxy.getCommission()).toBe(0n);
            await expectProxyHoldings(p);
        });

        it('refuses a commission withdrawal once closed', async () => {
            await ownerSend({ $$type: 'ProxyBeginClose', queryId: 0n });
            p.chain.now = p.chain.now! + closeDelay();
            await ownerSend({ $$type: 'ProxyFinishClose', queryId: 0n });
            await expectRefused(p, all(), p.operator.address, p.proxy.address, 301, () => ownerSend({ $$type: 'ProxyWithdrawCommission', queryId: 0n, amount: 1n }));
        });
    });

    describe('Root notices', () => {
        it('takes a renewal from Root (new valid-until, quote hash); the renewal gas goes to the operator', async () => {
            const later = p.chain.now! + 90 * 86400;
            const bundle = makeCertificate(p, Role.Proxy, p.proxyKeys, { validUntil: later });
            const { result, delta } = await conserved(p, all(), () =>
                track(p, p.root.send(p.operator.getSender(), { value: toNano('0.2') }, { $$type: 'RenewProxy', queryId: 0n, seqno: 0n, cert: bundle.cert, signatures: bundle.signatures })),
            );
            expectAllSuccess(result);
            expect(await p.proxy.getValidUntil()).toBe(BigInt(later));
            expect(delta(p.proxy.address)).toBe(0n);
            expect(-delta(p.operator.address)).toBe(payerFees(result, p.operator.address));
        });

        it('takes a renewal even once closed, so the renewal gas never strands in it', async () => {
            await ownerSend({ $$type: 'ProxyBeginClose', queryId: 0n });
            p.chain.now = p.chain.now! + closeDelay();
            expectAllSuccess(await ownerSend({ $$type: 'ProxyFinishClose', queryId: 0n }));
            const bundle = makeCertificate(p, Role.Proxy, p.proxyKeys, { validUntil: p.chain.now! + 90 * 86400 });
            const { result, delta } = await conserved(p, all(), () =>
                track(p, p.root.send(p.operator.getSender(), { value: toNano('0.2') }, { $$type: 'RenewProxy', queryId: 0n, seqno: 0n, cert: bundle.cert, signatures: bundle.signatures })),
            );
            expectAllSuccess(result);
            expect(delta(p.proxy.address)).toBe(-storageFees(result.transactions, p.proxy.address));
            expect(-delta(p.operator.address)).toBe(payerFees(result, p.operator.address));
        });

        it('takes a deactivation from Root and returns the carried value to Root', async () => {
            const { result, delta } = await conserved(p, all(), () =>
                track(p, p.root.send(p.owner.getSender(), { value: toNano('0.1') }, { $$type: 'DeactivateProxy', queryId: 0n, seqno: 0n })),
            );
            expectAllSuccess(result);
            expect(await p.proxy.getDeactivated()).toBe(true);
            expect(delta(p.proxy.address)).toBe(0n);
            expect(result.transactions).toHaveTransaction({ from: p.proxy.address, to: p.root.address, success: true });
            expect(-delta(p.owner.address)).toBe(delta(p.root.address) + payerFees(result, p.owner.address));
            // The stake stays until the owner closes.
            expect(await p.proxy.getStake()).toBe(PROXY_STAKE);
        });

        it('refuses Root notices from anyone else', async () => {
            await expectRefused(p, all(), stranger.address, p.proxy.address, 100, () =>
                ownerSend({ $$type: 'ProxyRenewed', queryId: 0n, validUntil: 1n, quoteHash: 1n, tcbStatus: 0n }, PROXY_OP_GAS, stranger),
            );
            await expectRefused(p, all(), stranger.address, p.proxy.address, 100, () => ownerSend({ $$type: 'ProxyDeactivated', queryId: 0n }, PROXY_OP_GAS, stranger));
            expect(await p.proxy.getDeactivated()).toBe(false);
            const endpoint = await p.proxy.getEndpoint();
            await expectRefused(p, all(), stranger.address, p.proxy.address, 100, () => ownerSend({ $$type: 'ProxyEndpointChanged', queryId: 0n, endpoint: 'https://evil.example' }, PROXY_OP_GAS, stranger));
            await expectRefused(p, all(), p.operator.address, p.proxy.address, 100, () => ownerSend({ $$type: 'ProxyEndpointChanged', queryId: 0n, endpoint: 'https://evil.example' }, PROXY_OP_GAS));
            expect(await p.proxy.getEndpoint()).toBe(endpoint);
        });
    });

    describe('recognises its escrows and worker accounts by initOf only', () => {
        it('refuses escrow and payout messages from any other address', async () => {
            const body = (b: Parameters<SandboxContract<Proxy>['send']>[2]) => b;
            await expectRefused(p, all(), stranger.address, p.proxy.address, 304, () =>
                ownerSend(body({ $$type: 'ProxyEscrowOpen', queryId: 0n, stake: toNano('1'), client: stranger.address }), toNano('0.1'), stranger),
            );
            await expectRefused(p, all(), stranger.address, p.proxy.address, 304, () =>
                ownerSend(body({ $$type: 'ProxyCharge', queryId: 0n, amount: toNano('0.01'), client: stranger.address, excessTo: stranger.address }), toNano('0.1'), stranger),
            );
            await expectRefused(p, all(), stranger.address, p.proxy.address, 304, () =>
                ownerSend(body({ $$type: 'ProxyEscrowSettled', queryId: 0n, shortfall: toNano('5'), client: stranger.address }), toNano('0.1'), stranger),
            );
            await expectRefused(p, all(), stranger.address, p.proxy.address, 305, () =>
                ownerSend(
                    body({ $$type: 'ProxyPayout', queryId: 0n, fromTokens: 0n, provider: stranger.address, payee: stranger.address, payload: beginCell().endCell(), signature: Buffer.alloc(64) }),
                    toNano('0.1'),
                    stranger,
                ),
            );
            expect(await p.proxy.getStake()).toBe(PROXY_STAKE);
            expect(await p.proxy.getPool()).toBe(0n);
        });

        it('derives the same escrow address as the TS wrapper', async () => {
            const e = await JobEscrow.fromInit(p.proxy.address, client.address);
            expect((await p.proxy.getEscrowAddress(client.address)).equals(e.address)).toBe(true);
        });
    });
});
