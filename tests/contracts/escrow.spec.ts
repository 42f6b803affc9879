import '@ton/test-utils';
import { Address, beginCell, toNano } from '@ton/core';
import { internal, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { buildPayoutPayload, signPayload } from '../../wrappers/payloads';
import {
    ESCROW_CHARGE_VALUE,
    ESCROW_FINISH_VALUE,
    ESCROW_OP_GAS,
    ESCROW_OPEN_VALUE,
    ESCROW_SET_SECRET_VALUE,
    escrowOpen,
    escrowSecretHash,
    escrowSetSecret,
    EscrowState,
    generateEscrowSecret,
    JobEscrow,
    storeEscrowAccepted,
} from '../../wrappers/JobEscrow';
import { chargeAmount, workerShare } from '../../wrappers/chargeAmount';
import { PROXY_OP_GAS } from '../../wrappers/Proxy';
import { makeCertificate, randomNodeKeys } from '../helpers/network';
import { Role } from '../../wrappers/payloads';
import {
    balanceOf,
    conserved,
    deployPayments,
    expectAllSuccess,
    expectEscrowHoldings,
    expectProxyHoldings,
    expectRefused,
    payerFees,
    MIN_STORAGE,
    openEscrow,
    PaymentsNet,
    restore,
    save,
    Saved,
    submitCharge,
    tokens,
    track,
} from '../helpers/payments';

const DEPOSIT = toNano('5');
const STAKE = toNano('1');
const SECRET = Buffer.alloc(32, 0x5e);
const SECRET_HASH = escrowSecretHash(SECRET);

describe('JobEscrow', () => {
    let p: PaymentsNet;
    let client: SandboxContract<TreasuryContract>;
    let stranger: SandboxContract<TreasuryContract>;
    let escrow: SandboxContract<JobEscrow>;
    let fresh: Saved; // network with the Proxy, no escrow yet
    let opened: Saved; // escrow open with DEPOSIT, STAKE locked
    const all = (): Address[] => [client.address, stranger.address, escrow.address, p.proxy.address, p.operator.address];

    beforeAll(async () => {
        p = await deployPayments();
        client = await p.chain.treasury('client');
        stranger = await p.chain.treasury('stranger');
        fresh = save(p);
        escrow = (await openEscrow(p, client, DEPOSIT, STAKE, 0n, SECRET)).escrow;
        opened = save(p);
    });

    const clientSend = (msg: Parameters<SandboxContract<JobEscrow>['send']>[2], value = ESCROW_OP_GAS, from = client) =>
        track(p, escrow.send(from.getSender(), { value }, msg));

    describe('open', () => {
        beforeEach(() => restore(p, fresh));

        it('opens with the deposit and the API secret hash, learns the proxy key and prices from the Proxy, returns the excess', async () => {
            const extra = toNano('0.3');
            const { result, delta } = await conserved(p, all(), async () => (await openEscrow(p, client, DEPOSIT, STAKE, extra, SECRET)).result);
            expectAllSuccess(result);
            expect(result.transactions).toHaveTransaction({ from: escrow.address, to: p.proxy.address, success: true });
            expect(result.transactions).toHaveTransaction({ from: p.proxy.address, to: escrow.address, success: true });
            expect(await escrow.getState()).toBe(EscrowState.open);
            expect(await escrow.getBalance()).toBe(DEPOSIT);
            expect(await escrow.getStake()).toBe(STAKE);
            expect(await escrow.getSecretHash()).toBe(SECRET_HASH);
            expect(await escrow.getProxyKey()).toBe(BigInt('0x' + p.proxyKeys.ed25519.publicKey.toString('hex')));
            expect((await escrow.getPrices()).pricePerToken).toBe(p.prices.pricePerToken);
            expect(await p.proxy.getOpenEscrows()).toBe(1n);
            // The client paid the deposit, the storage reserve and fees; the extra came back.
            expect(-delta(client.address)).toBe(DEPOSIT + MIN_STORAGE + payerFees(result, client.address));
            await expectEscrowHoldings(p, escrow);
            await expectProxyHoldings(p);
        });

        it('is found by the Proxy by initOf (getter agrees with the TS derivation)', async () => {
            expect((await p.proxy.getEscrowAddress(client.address)).equals(escrow.address)).toBe(true);
        });

        it('refuses a sender other than the client', async () => {
            await expectRefused(p, all(), stranger.address, escrow.address, 100, () =>
                track(p, escrow.send(stranger.getSender(), { value: DEPOSIT + ESCROW_OPEN_VALUE }, escrowOpen({ deposit: DEPOSIT, stake: STAKE, secret: SECRET }))),
            );
        });

        it('refuses too little value', async () => {
            await expectRefused(p, all(), client.address, escrow.address, 101, () =>
                track(p, escrow.send(client.getSender(), { value: DEPOSIT + ESCROW_OPEN_VALUE - 1n }, escrowOpen({ deposit: DEPOSIT, stake: STAKE, secret: SECRET }))),
            );
        });

        it('refuses a stake above the deposit', async () => {
            await expectRefused(p, all(), client.address, escrow.address, 504, () =>
                track(p, escrow.send(client.getSender(), { value: DEPOSIT + ESCROW_OPEN_VALUE }, escrowOpen({ deposit: DEPOSIT, stake: DEPOSIT + 1n, secret: SECRET }))),
            );
        });

        it('is refused by the Proxy below the min client stake: everything but the storage reserve returns', async () => {
            const low = p.params.stakes.minClientStake - 1n;
            const { result, delta } = await conserved(p, all(), async () => (await openEscrow(p, client, DEPOSIT, low)).result);
            expect(result.transactions).toHaveTransaction({ from: escrow.address, to: p.proxy.address, exitCode: 308, success: false });
            expect(await escrow.getState()).toBe(EscrowState.new);
            expect(await escrow.getBalance()).toBe(0n);
            expect(await balanceOf(p, escrow.address)).toBe(MIN_STORAGE);
            expect(delta(p.proxy.address)).toBe(0n);
            expect(-delta(client.address)).toBe(MIN_STORAGE + payerFees(result, client.address));
            expect(await p.proxy.getOpenEscrows()).toBe(0n);
        });

        it('is refused by a deactivated Proxy and by a closing Proxy', async () => {
            await track(p, p.proxy.send(p.operator.getSender(), { value: PROXY_OP_GAS }, { $$type: 'ProxyBeginClose', queryId: 0n }));
            const r1 = (await openEscrow(p, client, DEPOSIT, STAKE)).result;
            expect(r1.transactions).toHaveTransaction({ to: p.proxy.address, exitCode: 300, success: false });
            expect(await escrow.getState()).toBe(EscrowState.new);
            await restore(p, fresh);
            await track(p, p.root.send(p.owner.getSender(), { value: toNano('0.05') }, { $$type: 'DeactivateProxy', queryId: 0n, seqno: 0n }));
            const r2 = (await openEscrow(p, client, DEPOSIT, STAKE)).result;
            expect(r2.transactions).toHaveTransaction({ to: p.proxy.address, exitCode: 302, success: false });
            expect(await escrow.getState()).toBe(EscrowState.new);
            expect(await escrow.getBalance()).toBe(0n);
        });

        it('is refused while the proxy certificate has expired, accepted again after a renewal', async () => {
            const validUntil = Number(await p.proxy.getValidUntil());
            p.chain.now = validUntil;
            const r1 = (await openEscrow(p, client, DEPOSIT, STAKE)).result;
            expect(r1.transactions).toHaveTransaction({ from: escrow.address, to: p.proxy.address, exitCode: 310, success: false });
            expect(await escrow.getState()).toBe(EscrowState.new);
            const bundle = makeCertificate(p, Role.Proxy, p.proxyKeys, { validUntil: validUntil + 30 * 86400 });
            expectAllSuccess(await track(p, p.root.send(p.operator.getSender(), { value: toNano('0.2') }, { $$type: 'RenewProxy', queryId: 0n, seqno: 0n, cert: bundle.cert, signatures: bundle.signatures })));
            const r2 = (await openEscrow(p, client, DEPOSIT, STAKE)).result;
            expectAllSuccess(r2);
            expect(await escrow.getState()).toBe(EscrowState.open);
        });

        it('refuses to open twice', async () => {
            await openEscrow(p, client, DEPOSIT, STAKE);
            await expectRefused(p, all(), client.address, escrow.address, 506, async () => (await openEscrow(p, client, DEPOSIT, STAKE)).result);
        });

        it('refuses an EscrowAccepted that does not come from its Proxy', async () => {
            await openEscrow(p, client, DEPOSIT, STAKE);
            await expectRefused(p, all(), stranger.address, escrow.address, 100, () =>
                track(p, escrow.send(stranger.getSender(), { value: ESCROW_OP_GAS }, {
                    $$type: 'EscrowAccepted', queryId: 0n, proxyKey: 1n, prices: p.prices, clientCloseDelay: 0n, minClientStake: 0n,
                })),
            );
        });
    });

    describe('handshake answer', () => {
        beforeEach(() => restore(p, opened));

        it('refuses an EscrowAccepted from its Proxy when it is not opening (wrong state)', async () => {
            const body = beginCell()
                .store(storeEscrowAccepted({ $$type: 'EscrowAccepted', queryId: 0n, proxyKey: 1n, prices: p.prices, clientCloseDelay: 0n, minClientStake: 0n }))
                .endCell();
            const r = await p.chain.sendMessage(internal({ from: p.proxy.address, to: escrow.address, value: toNano('0.05'), body }));
            expect(r.transactions).toHaveTransaction({ from: p.proxy.address, to: escrow.address, exitCode: 102, success: false });
            expect(await escrow.getProxyKey()).toBe(BigInt('0x' + p.proxyKeys.ed25519.publicKey.toString('hex')));
        });
    });

    describe('API secret', () => {
        beforeEach(() => restore(p, opened));
        const setSecret = (secret: Buffer | null, value = ESCROW_SET_SECRET_VALUE, from = client) => clientSend(escrowSetSecret(secret), value, from);

        it('rotates the secret hash: the escrow keeps exactly what it held, the value less gas returns to the client', async () => {
            const next = generateEscrowSecret();
            const { result, delta } = await conserved(p, all(), () => setSecret(next, toNano('0.5')));
            expectAllSuccess(result);
            expect(await escrow.getSecretHash()).toBe(escrowSecretHash(next));
            expect(result.transactions).toHaveTransaction({ from: escrow.address, to: client.address, success: true });
            // Only fees left the client (its 0.5 TON came back less gas); the escrow's money did not move.
            expect(-delta(client.address)).toBe(payerFees(result, client.address));
            expect(delta(escrow.address)).toBe(-storageOf(result, escrow.address));
            expect(await escrow.getBalance()).toBe(DEPOSIT);
            expect(await escrow.getState()).toBe(EscrowState.open);
            await expectEscrowHoldings(p, escrow);
        });

        it('revokes every key with 0, and takes a new secret while closing and after the refund', async () => {
            expectAllSuccess((await conserved(p, all(), () => setSecret(null))).result);
            expect(await escrow.getSecretHash()).toBe(0n);
            await clientSend({ $$type: 'EscrowRequestClose', queryId: 0n });
            const closing = generateEscrowSecret();
            expectAllSuccess((await conserved(p, all(), () => setSecret(closing))).result);
            expect(await escrow.getSecretHash()).toBe(escrowSecretHash(closing));
            p.chain.now = p.chain.now! + Number(p.params.stakes.clientCloseDelay);
            expectAllSuccess(await clientSend({ $$type: 'EscrowFinishClose', queryId: 0n }, ESCROW_FINISH_VALUE));
            const closed = generateEscrowSecret();
            expectAllSuccess((await conserved(p, all(), () => setSecret(closed))).result);
            expect(await escrow.getSecretHash()).toBe(escrowSecretHash(closed));
            await expectEscrowHoldings(p, escrow);
        });

        it('a re-open after the refund sets the secret hash it carries', async () => {
            await clientSend({ $$type: 'EscrowRequestClose', queryId: 0n });
            p.chain.now = p.chain.now! + Number(p.params.stakes.clientCloseDelay);
            await clientSend({ $$type: 'EscrowFinishClose', queryId: 0n }, ESCROW_FINISH_VALUE);
            const next = generateEscrowSecret();
            expectAllSuccess((await openEscrow(p, client, DEPOSIT, STAKE, 0n, next)).result);
            expect(await escrow.getState()).toBe(EscrowState.open);
            expect(await escrow.getSecretHash()).toBe(escrowSecretHash(next));
        });

        it('refuses a rotation from another sender (wrong sender): the hash stays', async () => {
            await expectRefused(p, all(), stranger.address, escrow.address, 100, () => setSecret(generateEscrowSecret(), ESCROW_SET_SECRET_VALUE, stranger));
            await expectRefused(p, all(), stranger.address, escrow.address, 100, () => setSecret(null, toNano('1'), stranger));
            expect(await escrow.getSecretHash()).toBe(SECRET_HASH);
        });

        it('refuses too little value: the hash stays', async () => {
            await expectRefused(p, all(), client.address, escrow.address, 101, () => setSecret(generateEscrowSecret(), ESCROW_SET_SECRET_VALUE - 1n));
            expect(await escrow.getSecretHash()).toBe(SECRET_HASH);
        });

        it('refuses an escrow that was never opened (wrong state)', async () => {
            const other = await p.chain.treasury('never-opened');
            const r = await openEscrow(p, other, DEPOSIT, 1n, 0n, SECRET); // refused by the Proxy: stays NEW
            expect(await r.escrow.getState()).toBe(EscrowState.new);
            await expectRefused(p, [other.address, r.escrow.address, p.proxy.address], other.address, r.escrow.address, 508, () =>
                track(p, r.escrow.send(other.getSender(), { value: ESCROW_SET_SECRET_VALUE }, escrowSetSecret(generateEscrowSecret()))),
            );
        });
    });

    describe('top up, raise stake, withdraw', () => {
        beforeEach(() => restore(p, opened));

        it('tops up: the amount joins the balance, the gas excess returns', async () => {
            const { result, delta } = await conserved(p, all(), () => clientSend({ $$type: 'EscrowTopUp', queryId: 0n, amount: toNano('2') }, toNano('2') + ESCROW_OP_GAS + toNano('1')));
            expectAllSuccess(result);
            expect(await escrow.getBalance()).toBe(DEPOSIT + toNano('2'));
            expect(delta(escrow.address)).toBe(toNano('2'));
            await expectEscrowHoldings(p, escrow);
        });

        it('refuses a top-up from another sender, with too little value, of zero, or while closing', async () => {
            await expectRefused(p, all(), stranger.address, escrow.address, 100, () => clientSend({ $$type: 'EscrowTopUp', queryId: 0n, amount: 1n }, toNano('0.1'), stranger));
            await expectRefused(p, all(), client.address, escrow.address, 101, () => clientSend({ $$type: 'EscrowTopUp', queryId: 0n, amount: toNano('1') }, toNano('1')));
            await expectRefused(p, all(), client.address, escrow.address, 110, () => clientSend({ $$type: 'EscrowTopUp', queryId: 0n, amount: 0n }));
            await clientSend({ $$type: 'EscrowRequestClose', queryId: 0n });
            await expectRefused(p, all(), client.address, escrow.address, 500, () => clientSend({ $$type: 'EscrowTopUp', queryId: 0n, amount: 1n }, toNano('0.1')));
        });

        it('raises the stake up to the balance, never lowers it', async () => {
            const r = await conserved(p, all(), () => clientSend({ $$type: 'EscrowRaiseStake', queryId: 0n, stake: toNano('3') }));
            expectAllSuccess(r.result);
            expect(await escrow.getStake()).toBe(toNano('3'));
            await expectRefused(p, all(), client.address, escrow.address, 503, () => clientSend({ $$type: 'EscrowRaiseStake', queryId: 0n, stake: toNano('2') }));
            await expectRefused(p, all(), client.address, escrow.address, 504, () => clientSend({ $$type: 'EscrowRaiseStake', queryId: 0n, stake: DEPOSIT + 1n }));
            await expectRefused(p, all(), stranger.address, escrow.address, 100, () => clientSend({ $$type: 'EscrowRaiseStake', queryId: 0n, stake: toNano('4') }, ESCROW_OP_GAS, stranger));
            await clientSend({ $$type: 'EscrowRequestClose', queryId: 0n });
            await expectRefused(p, all(), client.address, escrow.address, 500, () => clientSend({ $$type: 'EscrowRaiseStake', queryId: 0n, stake: toNano('4') }));
        });

        it('withdraws what is above the stake and above what was charged', async () => {
            const t = tokens(1_000_000, 0, 500_000, 0); // 1e6*1 + 5e5*2 = 2e6 weighted -> 2 TON
            await submitCharge(p, p.operator, escrow, { tokens: t });
            const charged = chargeAmount(t, p.prices);
            expect(await escrow.getBalance()).toBe(DEPOSIT - charged);
            const free = DEPOSIT - charged - STAKE;
            await expectRefused(p, all(), client.address, escrow.address, 502, () => clientSend({ $$type: 'EscrowWithdraw', queryId: 0n, amount: free + 1n }));
            const { result, delta } = await conserved(p, all(), () => clientSend({ $$type: 'EscrowWithdraw', queryId: 0n, amount: free }));
            expectAllSuccess(result);
            expect(delta(escrow.address)).toBe(-free);
            expect(delta(client.address)).toBe(free - payerFees(result, client.address));
            expect(await escrow.getBalance()).toBe(STAKE);
            await expectEscrowHoldings(p, escrow);
        });

        it('refuses a withdrawal from another sender, of zero, or while closing', async () => {
            await expectRefused(p, all(), stranger.address, escrow.address, 100, () => clientSend({ $$type: 'EscrowWithdraw', queryId: 0n, amount: 1n }, ESCROW_OP_GAS, stranger));
            await expectRefused(p, all(), client.address, escrow.address, 110, () => clientSend({ $$type: 'EscrowWithdraw', queryId: 0n, amount: 0n }));
            await clientSend({ $$type: 'EscrowRequestClose', queryId: 0n });
            await expectRefused(p, all(), client.address, escrow.address, 500, () => clientSend({ $$type: 'EscrowWithdraw', queryId: 0n, amount: 1n }));
        });
    });

    describe('charge', () => {
        beforeEach(() => restore(p, opened));
        const t1 = tokens(1000, 200, 3000, 400);
        const t2 = tokens(5000, 200, 9000, 1400);

        it('moves only the increase of a cumulative charge to the Proxy; anyone may submit; the submitter gets the excess', async () => {
            const a1 = chargeAmount(t1, p.prices);
            const r1 = await conserved(p, all(), () => submitCharge(p, p.operator, escrow, { tokens: t1 }, { value: toNano('0.5') }));
            expectAllSuccess(r1.result);
            expect(r1.delta(escrow.address)).toBe(-a1);
            expect(r1.delta(p.proxy.address)).toBe(a1);
            expect(await p.proxy.getPool()).toBe(a1);
            expect(await p.proxy.getWorkersReserved()).toBe(workerShare(a1, p.prices));
            // The submitter paid only fees: its 0.5 TON came back minus gas.
            expect(-r1.delta(p.operator.address)).toBe(payerFees(r1.result, p.operator.address));

            const a2 = chargeAmount(t2, p.prices) - a1;
            const r2 = await conserved(p, all(), () => submitCharge(p, stranger, escrow, { tokens: t2 }));
            expectAllSuccess(r2.result);
            expect(r2.delta(escrow.address)).toBe(-a2);
            expect(await escrow.getCharged()).toBe(a1 + a2);
            expect(await escrow.getBalance()).toBe(DEPOSIT - a1 - a2);
            expect((await escrow.getTokens()).completion).toBe(t2.completion);
            await expectEscrowHoldings(p, escrow);
            await expectProxyHoldings(p);
        });

        it('never pays the same cumulative value twice: a replayed, equal or older charge is refused', async () => {
            await submitCharge(p, p.operator, escrow, { tokens: t2 });
            await expectRefused(p, all(), p.operator.address, escrow.address, 106, () => submitCharge(p, p.operator, escrow, { tokens: t2 }));
            await expectRefused(p, all(), p.operator.address, escrow.address, 106, () => submitCharge(p, p.operator, escrow, { tokens: t1 }));
            // One kind going back is refused even if the others grow.
            await expectRefused(p, all(), p.operator.address, escrow.address, 106, () =>
                submitCharge(p, p.operator, escrow, { tokens: { ...t2, prompt: t2.prompt + 10n, cached: t2.cached - 1n } }),
            );
        });

        it('refuses a charge signed by another proxy key', async () => {
            await expectRefused(p, all(), p.operator.address, escrow.address, 103, () => submitCharge(p, p.operator, escrow, { tokens: t1 }, { signer: randomNodeKeys() }));
        });

        it('refuses a charge addressed to another escrow', async () => {
            await expectRefused(p, all(), p.operator.address, escrow.address, 105, () => submitCharge(p, p.operator, escrow, { tokens: t1, escrow: stranger.address }));
        });

        it('refuses an expired charge', async () => {
            await expectRefused(p, all(), p.operator.address, escrow.address, 104, () => submitCharge(p, p.operator, escrow, { tokens: t1, validUntil: p.chain.now! - 1 }));
        });

        it('refuses a charge above the client balance (the same payload passes after a top-up)', async () => {
            const huge = tokens(3_000_000, 0, 0, 0); // 3e6 * 1000 = 3 TON? no: 3e6 tokens x 1000 nanoTON = 3 TON
            const big = tokens(6_000_000, 0, 0, 0); // 6 TON > 5 TON balance
            expect(chargeAmount(huge, p.prices)).toBeLessThan(DEPOSIT);
            expect(chargeAmount(big, p.prices)).toBeGreaterThan(DEPOSIT);
            await expectRefused(p, all(), p.operator.address, escrow.address, 501, () => submitCharge(p, p.operator, escrow, { tokens: big }));
            await clientSend({ $$type: 'EscrowTopUp', queryId: 0n, amount: toNano('2') }, toNano('2') + ESCROW_OP_GAS);
            const r = await submitCharge(p, p.operator, escrow, { tokens: big });
            expectAllSuccess(r);
            expect(await escrow.getBalance()).toBe(DEPOSIT + toNano('2') - chargeAmount(big, p.prices));
        });

        it('refuses too little value and a payload of another kind', async () => {
            await expectRefused(p, all(), p.operator.address, escrow.address, 101, () => submitCharge(p, p.operator, escrow, { tokens: t1 }, { value: ESCROW_CHARGE_VALUE - 1n }));
            const payout = signPayload(buildPayoutPayload({ workerAccount: escrow.address, tokens: 5n, validUntil: p.chain.now! + 60 }), p.proxyKeys.ed25519.secretKey);
            await expectRefused(p, all(), p.operator.address, escrow.address, 108, () =>
                track(p, escrow.send(p.operator.getSender(), { value: ESCROW_CHARGE_VALUE }, { $$type: 'EscrowCharge', queryId: 0n, payload: payout.payload, signature: payout.signature })),
            );
        });

        it('refuses a charge on an escrow that was never opened', async () => {
            const other = await p.chain.treasury('never-opened');
            const r = await openEscrow(p, other, DEPOSIT, 1n); // refused by the Proxy: stays NEW
            expect(await r.escrow.getState()).toBe(EscrowState.new);
            await expectRefused(p, [other.address, r.escrow.address, p.proxy.address, p.operator.address], p.operator.address, r.escrow.address, 500, () =>
                submitCharge(p, p.operator, r.escrow, { tokens: t1 }),
            );
        });

        it('honours a charge during the close delay, refuses it after the delay', async () => {
            await clientSend({ $$type: 'EscrowRequestClose', queryId: 0n });
            p.chain.now = p.chain.now! + Number(p.params.stakes.clientCloseDelay) - 1;
            const r = await submitCharge(p, p.operator, escrow, { tokens: t1 });
            expectAllSuccess(r);
            expect(await escrow.getCharged()).toBe(chargeAmount(t1, p.prices));
            p.chain.now = p.chain.now! + 1;
            await expectRefused(p, all(), p.operator.address, escrow.address, 507, () => submitCharge(p, p.operator, escrow, { tokens: t2 }));
        });

        it('returns the amount to the balance when the Proxy refuses it (deactivated), keeping the payload spent', async () => {
            await track(p, p.root.send(p.owner.getSender(), { value: toNano('0.05') }, { $$type: 'DeactivateProxy', queryId: 0n, seqno: 0n }));
            const { result, delta } = await conserved(p, all(), () => submitCharge(p, p.operator, escrow, { tokens: t1 }));
            expect(result.transactions).toHaveTransaction({ from: escrow.address, to: p.proxy.address, exitCode: 302, success: false });
            expect(await escrow.getBalance()).toBe(DEPOSIT);
            expect(await escrow.getCharged()).toBe(chargeAmount(t1, p.prices));
            expect(delta(p.proxy.address)).toBe(0n);
            expect(await p.proxy.getPool()).toBe(0n);
            await expectEscrowHoldings(p, escrow);
            await expectRefused(p, all(), p.operator.address, escrow.address, 106, () => submitCharge(p, p.operator, escrow, { tokens: t1 }));
        });
    });

    describe('refund', () => {
        beforeEach(() => restore(p, opened));
        const delay = (): number => Number(p.params.stakes.clientCloseDelay);

        it('starts the close delay on request; a second request is refused', async () => {
            const r = await conserved(p, all(), () => clientSend({ $$type: 'EscrowRequestClose', queryId: 0n }));
            expectAllSuccess(r.result);
            expect(await escrow.getState()).toBe(EscrowState.closing);
            expect(await escrow.getUnlockAt()).toBe(BigInt(p.chain.now! + delay()));
            await expectRefused(p, all(), client.address, escrow.address, 500, () => clientSend({ $$type: 'EscrowRequestClose', queryId: 0n }));
            await expectRefused(p, all(), stranger.address, escrow.address, 100, () => clientSend({ $$type: 'EscrowRequestClose', queryId: 0n }, ESCROW_OP_GAS, stranger));
        });

        it('refuses the refund before the delay, from another sender, with too little value, or without a close request', async () => {
            await expectRefused(p, all(), client.address, escrow.address, 505, () => clientSend({ $$type: 'EscrowFinishClose', queryId: 0n }, ESCROW_FINISH_VALUE));
            await clientSend({ $$type: 'EscrowRequestClose', queryId: 0n });
            p.chain.now = p.chain.now! + delay() - 1;
            await expectRefused(p, all(), client.address, escrow.address, 107, () => clientSend({ $$type: 'EscrowFinishClose', queryId: 0n }, ESCROW_FINISH_VALUE));
            p.chain.now = p.chain.now! + 1;
            await expectRefused(p, all(), stranger.address, escrow.address, 100, () => clientSend({ $$type: 'EscrowFinishClose', queryId: 0n }, ESCROW_FINISH_VALUE, stranger));
            await expectRefused(p, all(), client.address, escrow.address, 101, () => clientSend({ $$type: 'EscrowFinishClose', queryId: 0n }, ESCROW_FINISH_VALUE - 1n));
        });

        it('pays the whole balance back after the delay and settles with the Proxy; a second refund is refused', async () => {
            const t = tokens(100_000, 0, 100_000, 0);
            await submitCharge(p, p.operator, escrow, { tokens: t });
            const left = DEPOSIT - chargeAmount(t, p.prices);
            await clientSend({ $$type: 'EscrowRequestClose', queryId: 0n });
            p.chain.now = p.chain.now! + delay();
            const { result, delta } = await conserved(p, all(), () => clientSend({ $$type: 'EscrowFinishClose', queryId: 0n }, toNano('0.5')));
            expectAllSuccess(result);
            expect(await escrow.getState()).toBe(EscrowState.closed);
            expect(await escrow.getBalance()).toBe(0n);
            expect(await p.proxy.getOpenEscrows()).toBe(0n);
            // The client got its balance; it paid only the fees of the trace.
            expect(delta(client.address)).toBe(left - payerFees(result, client.address));
            expect(delta(p.proxy.address)).toBe(-storageOf(result, p.proxy.address));
            await expectEscrowHoldings(p, escrow);
            await expectRefused(p, all(), client.address, escrow.address, 505, () => clientSend({ $$type: 'EscrowFinishClose', queryId: 0n }, ESCROW_FINISH_VALUE));
        });

        it('pays the client back even when its Proxy has closed and is gone silent', async () => {
            await clientSend({ $$type: 'EscrowRequestClose', queryId: 0n });
            // The operator closes the proxy as soon as it may.
            await track(p, p.proxy.send(p.operator.getSender(), { value: PROXY_OP_GAS }, { $$type: 'ProxyBeginClose', queryId: 0n }));
            p.chain.now = p.chain.now! + Number(p.params.stakes.proxyCloseDelay) + delay();
            const fin = await track(p, p.proxy.send(p.operator.getSender(), { value: PROXY_OP_GAS }, { $$type: 'ProxyFinishClose', queryId: 0n }));
            expectAllSuccess(fin);
            expect(await p.proxy.getState()).toBe(3n);
            const { result, delta } = await conserved(p, all(), () => clientSend({ $$type: 'EscrowFinishClose', queryId: 0n }, ESCROW_FINISH_VALUE));
            expectAllSuccess(result);
            expect(delta(client.address)).toBe(DEPOSIT - payerFees(result, client.address));
        });

        it('makes the client whole from the proxy stake when the escrow holds less than its ledger balance', async () => {
            await clientSend({ $$type: 'EscrowRequestClose', queryId: 0n });
            p.chain.now = p.chain.now! + delay();
            // The escrow lost 0.3 TON of what it held (e.g. years of storage rent).
            const lost = toNano('0.3');
            const sc = await p.chain.getContract(escrow.address);
            sc.balance = sc.balance - lost;
            const stakeBefore = await p.proxy.getStake();
            const held = await balanceOf(p, escrow.address);
            const { result, delta } = await conserved(p, all(), () => clientSend({ $$type: 'EscrowFinishClose', queryId: 0n }, ESCROW_FINISH_VALUE));
            expectAllSuccess(result);
            // The escrow paid all it held (after rent); the stake paid the rest of the ledger.
            const shortfall = DEPOSIT - (held - storageOf(result, escrow.address));
            expect(shortfall).toBeGreaterThan(lost - MIN_STORAGE);
            expect(await p.proxy.getStake()).toBe(stakeBefore - shortfall);
            expect(await balanceOf(p, escrow.address)).toBe(0n);
            expect(delta(client.address)).toBe(DEPOSIT - payerFees(result, client.address));
            await expectProxyHoldings(p);
        });

        it('can be re-opened after a refund and keeps its cumulative counters (old charges stay spent)', async () => {
            const t = tokens(1000, 0, 1000, 0);
            await submitCharge(p, p.operator, escrow, { tokens: t });
            await clientSend({ $$type: 'EscrowRequestClose', queryId: 0n });
            p.chain.now = p.chain.now! + delay();
            await clientSend({ $$type: 'EscrowFinishClose', queryId: 0n }, ESCROW_FINISH_VALUE);
            const r = await openEscrow(p, client, DEPOSIT, STAKE);
            expectAllSuccess(r.result);
            expect(await escrow.getState()).toBe(EscrowState.open);
            expect(await escrow.getBalance()).toBe(DEPOSIT);
            await expectRefused(p, all(), p.operator.address, escrow.address, 106, () => submitCharge(p, p.operator, escrow, { tokens: t }));
        });
    });
});

function storageOf(result: { transactions: import('@ton/sandbox').BlockchainTransaction[] }, a: Address): bigint {
    let s = 0n;
    for (const tx of result.transactions) {
        const at = Address.parseRaw(`0:${tx.address.toString(16).padStart(64, '0')}`);
        if (at.equals(a) && tx.description.type === 'generic' && tx.description.storagePhase) s += tx.description.storagePhase.storageFeesCollected;
    }
    return s;
}
