/**
 * Provider, property-based: random sequences of stake / slash / unbond / withdraw / time /
 * unjail ops against one deployed network (restored from a sandbox snapshot before each
 * sequence), compared op by op with a plain model of the rules in docs/provider.md.
 *
 * Checked after every op: TON conservation — the value that went in equals the change of
 * every balance (contracts, owner, reporter, operator, governance) plus the fees of the
 * trace — and that the op succeeded exactly when the model says it should. Checked after
 * every sequence: stake, state and treasury equal the model's; the Provider holds at least
 * its stake; Root's treasury is covered by Root's balance.
 */
import '@ton/test-utils';
import fc from 'fast-check';
import { propertySeed } from '../helpers/property';
import { Address, toNano } from '@ton/core';
import { BlockchainSnapshot, SendMessageResult } from '@ton/sandbox';
import { SignedPayload } from '../../wrappers/payloads';
import { defaultParams, Params } from '../../wrappers/Root';
import { equivocationReport, faultReportSubmission, ProviderState } from '../../wrappers/Provider';
import { deployProviderNet, ProviderNet, signedFault, signedReceipt, STAKE, totalBalance, traceFees } from './provider.fixture';

const DAY = 86400;
// Tight fault limits so short sequences reach them: 2 reports per day, at most 0.75 % of the
// stake (0.5 % then a partial 0.25 %); the rest are the defaults.
const P: Params = defaultParams();
P.slashing = { ...P.slashing, faultReportsPerPeriod: 2n, faultCapBps: 75n, faultSlashBps: 50n };
const S = P.slashing;
const EVIDENCE = 5; // distinct equivocations available (pre-signed once)
const REPORTS = 6; // fault report ids 1..REPORTS (pre-signed once)

type Op =
    | { kind: 'addStake'; amount: bigint }
    | { kind: 'equivocate'; evidence: number }
    | { kind: 'fault'; reportId: number }
    | { kind: 'unbond' }
    | { kind: 'withdraw' }
    | { kind: 'advance'; seconds: number }
    | { kind: 'unjail' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('addStake' as const), amount: fc.bigInt({ min: 1n, max: 5n }).map((x) => x * toNano('1')) }),
    fc.record({ kind: fc.constant('equivocate' as const), evidence: fc.integer({ min: 0, max: EVIDENCE - 1 }) }),
    fc.record({ kind: fc.constant('fault' as const), reportId: fc.integer({ min: 1, max: REPORTS }) }),
    fc.constant({ kind: 'unbond' as const }),
    fc.constant({ kind: 'withdraw' as const }),
    fc.record({ kind: fc.constant('advance' as const), seconds: fc.constantFrom(3600, DAY, 7 * DAY) }),
    fc.constant({ kind: 'unjail' as const }),
);

/** The rules, as plain arithmetic. */
class Model {
    state: bigint = ProviderState.active;
    stake = STAKE;
    treasury = 0n;
    jailedUntil = 0;
    unbondAt = 0;
    equivocations = new Set<number>();
    lastReport = 0;
    window = { start: 0, reports: 0n, slashed: 0n, base: 0n };

    constructor(
        public now: number,
        private readonly proxyValidUntil: number,
    ) {}

    /** Applies `op` if the rules allow it; returns whether they do. */
    apply(op: Op): boolean {
        switch (op.kind) {
            case 'addStake':
                if (this.state !== ProviderState.active && this.state !== ProviderState.jailed) return false;
                this.stake += op.amount;
                return true;
            case 'equivocate': {
                if (this.state === ProviderState.exited || this.equivocations.has(op.evidence)) return false;
                this.equivocations.add(op.evidence);
                const slash = (this.stake * S.equivocationSlashBps) / 10000n;
                const bounty = (slash * S.bountyBps) / 10000n;
                this.stake -= slash;
                this.treasury += slash - bounty;
                this.state = ProviderState.jailed;
                this.jailedUntil = this.now + Number(P.stakes.jailPeriod);
                this.unbondAt = 0;
                return true;
            }
            case 'fault': {
                if (this.now >= this.proxyValidUntil) return false; // the proxy is no longer attested
                if (this.state === ProviderState.exited || op.reportId <= this.lastReport) return false;
                const w = this.now >= this.window.start + Number(S.faultPeriod) ? { start: this.now, reports: 0n, slashed: 0n, base: this.stake } : { ...this.window };
                if (w.reports >= S.faultReportsPerPeriod) return false;
                const cap = (w.base * S.faultCapBps) / 10000n;
                if (w.slashed >= cap) return false;
                let slash = (w.base * S.faultSlashBps) / 10000n;
                if (cap - w.slashed < slash) slash = cap - w.slashed;
                if (this.stake < slash) slash = this.stake;
                w.reports += 1n;
                w.slashed += slash;
                this.window = w;
                this.lastReport = op.reportId;
                this.stake -= slash;
                this.treasury += slash;
                return true;
            }
            case 'unbond':
                if (this.state === ProviderState.jailed ? this.now < this.jailedUntil : this.state !== ProviderState.active) return false;
                this.state = ProviderState.unbonding;
                this.jailedUntil = 0;
                this.unbondAt = this.now + Number(P.stakes.unbondDelay);
                return true;
            case 'withdraw':
                if (this.state !== ProviderState.unbonding || this.now < this.unbondAt) return false;
                this.state = ProviderState.exited;
                this.stake = 0n;
                return true;
            case 'unjail':
                if (this.state !== ProviderState.jailed) return false;
                this.state = ProviderState.active;
                this.jailedUntil = 0;
                return true;
            case 'advance':
                this.now += op.seconds;
                return true;
        }
    }
}

describe('Provider: properties over random op sequences', () => {
    let n: ProviderNet;
    let clean: BlockchainSnapshot;
    let start: number;
    let proxyValidUntil: number;
    let evidence: [SignedPayload, SignedPayload][];
    let reports: SignedPayload[];

    beforeAll(async () => {
        n = await deployProviderNet({ params: P });
        start = n.chain.now!;
        proxyValidUntil = Number(await n.proxy.getValidUntil());
        clean = n.chain.snapshot();
        // Signing is the slow part: sign the evidence once, reuse it in every sequence.
        const key = n.workerKeys.ed25519;
        evidence = Array.from({ length: EVIDENCE }, (_, i) => [
            signedReceipt(key, n.proxy.address, BigInt(i + 1), 'first answer'),
            signedReceipt(key, n.proxy.address, BigInt(i + 1), 'second answer'),
        ]);
        reports = Array.from({ length: REPORTS }, (_, i) =>
            signedFault(n.proxyKeys.ed25519, n.provider.address, n.proxy.address, BigInt(i + 1), start + 400 * DAY),
        );
    });

    const watched = (): Address[] => [
        n.root.address,
        n.proxy.address,
        n.provider.address,
        n.providerOwner.address,
        n.reporter.address,
        n.operator.address,
        n.owner.address,
    ];

    /** Sends `op` as an internal message from the actor's address; returns [value in, result]. */
    async function run(op: Op): Promise<[bigint, SendMessageResult | null]> {
        const from = (a: Address) => n.chain.sender(a);
        switch (op.kind) {
            case 'addStake': {
                const value = op.amount + toNano('0.05');
                return [value, await n.provider.send(from(n.providerOwner.address), { value }, { $$type: 'ProviderAddStake', queryId: 0n, amount: op.amount })];
            }
            case 'equivocate': {
                const value = toNano('0.2');
                const [a, b] = evidence[op.evidence];
                return [value, await n.provider.send(from(n.reporter.address), { value }, equivocationReport(a, b))];
            }
            case 'fault': {
                const value = toNano('0.2');
                return [value, await n.proxy.send(from(n.operator.address), { value }, faultReportSubmission(reports[op.reportId - 1], 0n))];
            }
            case 'unbond': {
                const value = toNano('0.05');
                return [value, await n.provider.send(from(n.providerOwner.address), { value }, { $$type: 'ProviderStartUnbond', queryId: 0n })];
            }
            case 'withdraw': {
                const value = toNano('0.05');
                return [value, await n.provider.send(from(n.providerOwner.address), { value }, { $$type: 'ProviderWithdrawStake', queryId: 0n })];
            }
            case 'unjail': {
                const value = toNano('0.1');
                return [value, await n.root.send(from(n.owner.address), { value }, { $$type: 'UnjailProvider', queryId: 0n, providerSeqno: 0n })];
            }
            case 'advance':
                n.chain.now = n.chain.now! + op.seconds;
                return [0n, null];
        }
    }

    it('conserves TON and follows the model over >= 200 random sequences', async () => {
        await fc.assert(
            fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 3 }), async (ops) => {
                await n.chain.loadFrom(clean);
                const model = new Model(start, proxyValidUntil);
                let totalIn = 0n;
                let totalFees = 0n;
                const initial = await totalBalance(n.chain, watched());
                for (const op of ops) {
                    const before = await totalBalance(n.chain, watched());
                    const [value, r] = await run(op);
                    const expected = model.apply(op);
                    if (!r) continue;
                    const fees = traceFees(r.transactions);
                    // Conservation per op: in = change of every balance + fees.
                    expect(before + value).toBe((await totalBalance(n.chain, watched())) + fees);
                    totalIn += value;
                    totalFees += fees;
                    // The Provider's run (the last hop for every op here) succeeded iff the rules allow the op.
                    const providerRan = r.transactions.some(
                        (t) =>
                            t.inMessage?.info.dest instanceof Address &&
                            t.inMessage.info.dest.equals(n.provider.address) &&
                            t.description.type === 'generic' &&
                            !t.description.aborted,
                    );
                    expect({ op, ok: providerRan }).toEqual({ op, ok: expected });
                }
                // Over the whole sequence: in = balances now - balances then + fees.
                expect(initial + totalIn).toBe((await totalBalance(n.chain, watched())) + totalFees);
                expect(await n.provider.getStake()).toBe(model.stake);
                expect(await n.provider.getState()).toBe(model.state);
                expect(await n.root.getTreasury()).toBe(model.treasury);
                expect((await n.chain.getContract(n.provider.address)).balance).toBeGreaterThanOrEqual(model.stake);
                expect((await n.chain.getContract(n.root.address)).balance).toBeGreaterThanOrEqual(model.treasury);
            }),
            { numRuns: 200, seed: propertySeed() },
        );
    });
});
