/**
 * Property test over random interleavings of the payment operations: open / top-up / charge /
 * payout / withdraw / refund / API secret rotation / proxy close / commission / time travel. Every step checks TON
 * conservation over its whole trace (in = balances + out + fees) and that every payments
 * contract still holds at least its reserve plus its ledger (so none ever sent more than it
 * held above its reserve) and no more than that (no TON stranded).
 */
import '@ton/test-utils';
import fc from 'fast-check';
import { propertySeed } from '../helpers/property';
import { Address, beginCell, Builder, Cell, StateInit, toNano } from '@ton/core';
import { internal, SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import { TokenCounts } from '../../wrappers/payloads';
import { PROXY_OP_GAS, storeProxyBeginClose, storeProxyFinishClose, storeProxyWithdrawCommission } from '../../wrappers/Proxy';
import {
    ESCROW_CHARGE_VALUE,
    ESCROW_FINISH_VALUE,
    ESCROW_OP_GAS,
    ESCROW_OPEN_VALUE,
    JobEscrow,
    signedCharge,
    storeEscrowCharge,
    storeEscrowFinishClose,
    storeEscrowOpen,
    storeEscrowRequestClose,
    storeEscrowSetSecret,
    storeEscrowTopUp,
    storeEscrowWithdraw,
} from '../../wrappers/JobEscrow';
import { signedPayout, storeWorkerPayout, WORKER_PAYOUT_VALUE, WorkerAccount } from '../../wrappers/WorkerAccount';
import { addTokens, chargeAmount, zeroTokens } from '../../wrappers/chargeAmount';
import { deployPayments, escrowOf, MIN_STORAGE, openEscrow, PaymentsNet, rentOf, restore, save, Saved, submitCharge, sumFees, track, txAddress, workerAccountOf } from '../helpers/payments';

type Op =
    | { kind: 'open'; c: number; deposit: bigint; stake: bigint; secretHash: bigint }
    | { kind: 'setSecret'; c: number; secretHash: bigint }
    | { kind: 'topUp'; c: number; amount: bigint }
    | { kind: 'charge'; c: number; add: TokenCounts; replay: boolean }
    | { kind: 'payout'; add: bigint; replay: boolean }
    | { kind: 'withdraw'; c: number; amount: bigint }
    | { kind: 'requestClose'; c: number }
    | { kind: 'finishClose'; c: number }
    | { kind: 'proxyBeginClose' }
    | { kind: 'proxyFinishClose' }
    | { kind: 'commission'; amount: bigint }
    | { kind: 'time'; seconds: number };

const client = fc.integer({ min: 0, max: 1 });
const ton = (min: number, max: number) => fc.integer({ min, max }).map((x) => toNano(x) / 10n); // tenths of TON
const secretHash = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: (1n << 256n) - 1n }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('open' as const), c: client, deposit: ton(5, 60), stake: ton(5, 25), secretHash }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('setSecret' as const), c: client, secretHash }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('topUp' as const), c: client, amount: ton(1, 30) }) },
    {
        weight: 4,
        arbitrary: fc.record({
            kind: fc.constant('charge' as const),
            c: client,
            add: fc.record({
                prompt: fc.bigInt({ min: 0n, max: 2_000_000n }),
                cached: fc.bigInt({ min: 0n, max: 500_000n }),
                completion: fc.bigInt({ min: 0n, max: 1_000_000n }),
                reasoning: fc.bigInt({ min: 0n, max: 300_000n }),
            }),
            replay: fc.boolean(),
        }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('payout' as const), add: fc.bigInt({ min: 1n, max: 3_000_000n }), replay: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('withdraw' as const), c: client, amount: ton(1, 30) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('requestClose' as const), c: client }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('finishClose' as const), c: client }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'proxyBeginClose' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'proxyFinishClose' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('commission' as const), amount: ton(1, 20) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('time' as const), seconds: fc.constantFrom(60, 3600, 86400, 90000) }) },
);

const baseTokens: TokenCounts = { prompt: 1_000_000n, cached: 0n, completion: 500_000n, reasoning: 0n };

describe('Payments: random interleavings (fast-check)', () => {
    let p: PaymentsNet;
    let clients: SandboxContract<TreasuryContract>[];
    let escrows: SandboxContract<JobEscrow>[];
    let payee: SandboxContract<TreasuryContract>;
    let account: SandboxContract<WorkerAccount>;
    let bases: Saved[];
    let accounts: Address[];
    let contracts: Address[];

    beforeAll(async () => {
        p = await deployPayments();
        clients = [await p.chain.treasury('client-a'), await p.chain.treasury('client-b')];
        escrows = await Promise.all(clients.map((c) => escrowOf(p, c.address)));
        payee = await p.chain.treasury('provider-owner');
        const providerContract = await p.chain.treasury('provider-contract');
        account = await workerAccountOf(p, providerContract.address, payee.address);
        contracts = [...escrows.map((e) => e.address), account.address, p.proxy.address];
        accounts = [...clients.map((c) => c.address), payee.address, p.operator.address, ...contracts];
        // Start every sequence from a live market: client A's escrow open with 5 TON and
        // charged once (so the pool can pay workers); client B has no escrow yet.
        const opened = await openEscrow(p, clients[0], toNano('5'), toNano('1'));
        expect(opened.result.transactions).toHaveTransaction({ to: escrows[0].address, success: true });
        const charged = await submitCharge(p, p.operator, escrows[0], { tokens: baseTokens });
        expect(charged.transactions).toHaveTransaction({ to: p.proxy.address, success: true });
        const live = save(p);
        // Variants: client A has asked for its refund (inside the delay / the delay is over).
        await track(p, escrows[0].send(clients[0].getSender(), { value: ESCROW_OP_GAS }, { $$type: 'EscrowRequestClose', queryId: 0n }));
        const closing = save(p);
        p.chain.now = p.chain.now! + Number(p.params.stakes.clientCloseDelay);
        const refundable = save(p);
        bases = [live, closing, refundable];
    });

    /**
     * Sends `value` into the system from `from` (an internal message, as the wallet would) and
     * checks conservation over the trace: value in = balance changes + fees, with every touched
     * account among the checked ones. Returns the contracts the trace touched.
     */
    const succeeded = new Map<Op['kind'], number>();
    let current: Op['kind'] = 'time';

    async function inject(from: Address, to: Address, value: bigint, body: Cell, init?: StateInit): Promise<Address[]> {
        const before = await Promise.all(accounts.map(async (a) => (await p.chain.getContract(a)).balance));
        const result: SendMessageResult = await track(p, p.chain.sendMessage(internal({ from, to, value, body, stateInit: init })));
        const touched: Address[] = [];
        for (const tx of result.transactions) {
            const a = txAddress(tx);
            if (!accounts.some((x) => x.equals(a))) throw new Error(`trace touched an unchecked account ${a}`);
            if (contracts.some((x) => x.equals(a)) && !touched.some((x) => x.equals(a))) touched.push(a);
        }
        const after = await Promise.all(accounts.map(async (a) => (await p.chain.getContract(a)).balance));
        const changed = after.reduce((s, b, i) => s + b - before[i], 0n);
        expect(changed + sumFees(result.transactions)).toBe(value);
        if (result.transactions.every((tx) => tx.description.type === 'generic' && !tx.description.aborted)) {
            succeeded.set(current, (succeeded.get(current) ?? 0) + 1);
        }
        return touched;
    }

    /** Reserve + ledger - rent <= balance <= reserve + ledger, for each contract the step touched. */
    async function checkHoldings(touched: Address[]): Promise<void> {
        for (const a of touched) {
            const c = await p.chain.getContract(a);
            if (a.equals(p.proxy.address)) {
                const l = await p.proxy.getLedger();
                const ledger = MIN_STORAGE + l.stake + l.pool;
                expect(c.balance).toBeGreaterThanOrEqual(ledger - rentOf(p, a));
                expect(c.balance).toBeLessThanOrEqual(ledger);
                expect(l.workersReserved).toBeLessThanOrEqual(l.pool);
            } else if (a.equals(account.address)) {
                if (c.accountState?.type !== 'active') continue;
                const paid = await account.getPaidTokens();
                // A refused first payout may leave an empty account; once it paid, it keeps its reserve.
                if (paid > 0n) expect(c.balance).toBeGreaterThanOrEqual(MIN_STORAGE - rentOf(p, a));
                expect(c.balance).toBeLessThanOrEqual(MIN_STORAGE);
            } else {
                if (c.accountState?.type !== 'active') continue;
                const e = escrows.find((x) => x.address.equals(a))!;
                const l = await e.getLedger();
                if (l.state === 0n) {
                    // Never opened (a refused deploy leaves an empty account): holds no client funds.
                    expect(c.balance).toBeLessThanOrEqual(MIN_STORAGE);
                    continue;
                }
                const ledger = MIN_STORAGE + l.balance;
                expect(c.balance).toBeGreaterThanOrEqual(ledger - rentOf(p, a));
                expect(c.balance).toBeLessThanOrEqual(ledger);
                // No payload counted twice: what was charged is the price of the cumulative tokens.
                expect(l.charged).toBe(chargeAmount(l.tokens, p.prices));
            }
        }
    }

    it('conserves TON and keeps every contract within its reserve over 300 random sequences', async () => {
        let sequences = 0;
        await fc.assert(
            fc.asyncProperty(fc.integer({ min: 0, max: 2 }), fc.array(opArb, { minLength: 1, maxLength: 3 }), async (b, ops) => {
                await restore(p, bases[b]);
                sequences++;
                // The router's cumulative counters (what the proxy enclave signs).
                const signed: TokenCounts[] = [baseTokens, zeroTokens()];
                let paid = 0n;
                for (const op of ops) {
                    current = op.kind;
                    const touched = await step(op, signed, paid);
                    if (op.kind === 'charge' && !op.replay) signed[op.c] = addTokens(signed[op.c], op.add);
                    if (op.kind === 'payout' && !op.replay) paid += op.add;
                    await checkHoldings(touched);
                }
            }),
            { numRuns: 300, seed: propertySeed() },
        );
        expect(sequences).toBeGreaterThanOrEqual(300);
        // The runs exercised the money paths, not only refusals.
        for (const kind of ['open', 'setSecret', 'topUp', 'charge', 'payout', 'withdraw', 'requestClose', 'finishClose', 'proxyBeginClose', 'commission'] as const) {
            expect({ kind, succeeded: (succeeded.get(kind) ?? 0) > 0 }).toEqual({ kind, succeeded: true });
        }
    }, 600_000);

    const cell = (store: (b: Builder) => void): Cell => beginCell().store(store).endCell();

    async function step(op: Op, signed: TokenCounts[], paid: bigint): Promise<Address[]> {
        const owner = p.operator.address;
        const proxy = p.proxy.address;
        switch (op.kind) {
            case 'open': {
                const e = escrows[op.c];
                return inject(clients[op.c].address, e.address, op.deposit + ESCROW_OPEN_VALUE, cell(storeEscrowOpen({ $$type: 'EscrowOpen', queryId: 0n, deposit: op.deposit, stake: op.stake, secretHash: op.secretHash })), e.init);
            }
            case 'setSecret':
                return inject(clients[op.c].address, escrows[op.c].address, ESCROW_OP_GAS, cell(storeEscrowSetSecret({ $$type: 'EscrowSetSecret', queryId: 0n, secretHash: op.secretHash })));
            case 'topUp':
                return inject(clients[op.c].address, escrows[op.c].address, op.amount + ESCROW_OP_GAS, cell(storeEscrowTopUp({ $$type: 'EscrowTopUp', queryId: 0n, amount: op.amount })));
            case 'charge': {
                const tokens = op.replay ? signed[op.c] : addTokens(signed[op.c], op.add);
                const msg = signedCharge({ escrow: escrows[op.c].address, tokens, validUntil: p.chain.now! + 600 }, p.proxyKeys.ed25519);
                return inject(owner, escrows[op.c].address, ESCROW_CHARGE_VALUE, cell(storeEscrowCharge(msg)));
            }
            case 'payout': {
                const msg = signedPayout({ workerAccount: account.address, tokens: op.replay ? paid : paid + op.add, validUntil: p.chain.now! + 600 }, p.proxyKeys.ed25519);
                const held = (await p.chain.getContract(account.address)).balance;
                const reserve = held < MIN_STORAGE ? MIN_STORAGE - held : 0n;
                return inject(owner, account.address, WORKER_PAYOUT_VALUE + reserve, cell(storeWorkerPayout(msg)), account.init);
            }
            case 'withdraw':
                return inject(clients[op.c].address, escrows[op.c].address, ESCROW_OP_GAS, cell(storeEscrowWithdraw({ $$type: 'EscrowWithdraw', queryId: 0n, amount: op.amount })));
            case 'requestClose':
                return inject(clients[op.c].address, escrows[op.c].address, ESCROW_OP_GAS, cell(storeEscrowRequestClose({ $$type: 'EscrowRequestClose', queryId: 0n })));
            case 'finishClose':
                return inject(clients[op.c].address, escrows[op.c].address, ESCROW_FINISH_VALUE, cell(storeEscrowFinishClose({ $$type: 'EscrowFinishClose', queryId: 0n })));
            case 'proxyBeginClose':
                return inject(owner, proxy, PROXY_OP_GAS, cell(storeProxyBeginClose({ $$type: 'ProxyBeginClose', queryId: 0n })));
            case 'proxyFinishClose':
                return inject(owner, proxy, PROXY_OP_GAS, cell(storeProxyFinishClose({ $$type: 'ProxyFinishClose', queryId: 0n })));
            case 'commission':
                return inject(owner, proxy, PROXY_OP_GAS, cell(storeProxyWithdrawCommission({ $$type: 'ProxyWithdrawCommission', queryId: 0n, amount: op.amount })));
            case 'time':
                // Time passes (delays run out, rent accrues); the next step's checks see it.
                p.chain.now = p.chain.now! + op.seconds;
                return [];
        }
    }
});
