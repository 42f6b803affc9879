import '@ton/test-utils';
import { toNano } from '@ton/core';
import { describeProvider, providerAddStake, reportEquivocation, startUnbond, submitFaultReport, withdrawStake } from '../../ops/provider';
import { ProviderState } from '../../wrappers/Provider';
import { randomNodeKeys } from '../helpers/network';
import { advance, faultReport, OpsWorld, opsWorld, PROVIDER_STAKE, receipt, refusedUnchanged, reset } from './ops-fixture';

let w: OpsWorld;
beforeAll(async () => {
    w = await opsWorld();
});
beforeEach(async () => reset(w));

describe('ops/provider: stake, unbonding and slashing evidence on the sandbox', () => {
    it('the owner adds stake, unbonds and withdraws the whole stake after the delay', async () => {
        const { provider, gpuOwner, stranger, p } = w;
        await providerAddStake(w.as.gpuOwner, { provider: provider.address, amount: toNano('2') });
        expect(await provider.getStake()).toBe(PROVIDER_STAKE + toNano('2'));
        await refusedUnchanged(stranger, () => providerAddStake(w.as.stranger, { provider: provider.address, amount: toNano('1') }), /only the provider's owner/);
        await refusedUnchanged(gpuOwner, () => providerAddStake(w.as.gpuOwner, { provider: provider.address, amount: 0n }), /the amount must be positive/);
        await refusedUnchanged(gpuOwner, () => withdrawStake(w.as.gpuOwner, { provider: provider.address }), /start unbonding first/);

        const { unlockAt } = await startUnbond(w.as.gpuOwner, { provider: provider.address });
        expect(unlockAt).toBe(p.chain.now! + Number(p.params.stakes.unbondDelay));
        expect(await provider.getState()).toBe(ProviderState.unbonding);
        await refusedUnchanged(gpuOwner, () => startUnbond(w.as.gpuOwner, { provider: provider.address }), /unbonding provider cannot start unbonding/);
        await refusedUnchanged(gpuOwner, () => withdrawStake(w.as.gpuOwner, { provider: provider.address }), /the unbonding delay ends at/);
        advance(w, p.params.stakes.unbondDelay);
        const before = await gpuOwner.getBalance();
        const { withdrawn } = await withdrawStake(w.as.gpuOwner, { provider: provider.address });
        expect(withdrawn).toBe(PROVIDER_STAKE + toNano('2'));
        expect(await provider.getStake()).toBe(0n);
        expect(await provider.getState()).toBe(ProviderState.exited);
        const gained = (await gpuOwner.getBalance()) - before;
        expect(gained).toBeLessThanOrEqual(withdrawn);
        expect(gained).toBeGreaterThan(withdrawn - toNano('0.02'));
        await refusedUnchanged(stranger, () => reportEquivocation(w.as.stranger, { provider: provider.address, first: receipt(w, 1n, 'a'), second: receipt(w, 1n, 'b') }), /exited: nothing to slash/);
    });

    it('anyone reports an equivocation: half the stake slashed, 10 % of it to the reporter, the rest to the treasury; the provider is jailed', async () => {
        const { provider, stranger, p } = w;
        const treasury = await p.root.getTreasury();
        const reporterBefore = await stranger.getBalance();
        const { slashed, bounty } = await reportEquivocation(w.as.stranger, { provider: provider.address, first: receipt(w, 7n, 'yes'), second: receipt(w, 7n, 'no') });
        expect(slashed).toBe((PROVIDER_STAKE * p.params.slashing.equivocationSlashBps) / 10000n);
        expect(bounty).toBe((slashed * p.params.slashing.bountyBps) / 10000n);
        expect(await provider.getStake()).toBe(PROVIDER_STAKE - slashed);
        expect((await p.root.getTreasury()) - treasury).toBe(slashed - bounty);
        expect(await provider.getState()).toBe(ProviderState.jailed);
        const gained = (await stranger.getBalance()) - reporterBefore;
        expect(gained).toBeLessThan(bounty);
        expect(gained).toBeGreaterThan(bounty - toNano('0.05'));

        // Jailed: unbonding waits for the jail period.
        await refusedUnchanged(w.gpuOwner, () => startUnbond(w.as.gpuOwner, { provider: provider.address }), /jailed until/);
        advance(w, p.params.stakes.jailPeriod);
        await startUnbond(w.as.gpuOwner, { provider: provider.address });
        expect(await provider.getState()).toBe(ProviderState.unbonding);
        expect(await describeProvider(w.as.stranger, provider.address)).toContain('unbonding');
    });

    it('refuses equivocation evidence the Provider would refuse, before sending anything', async () => {
        const { provider, stranger } = w;
        const at = provider.address;
        await refusedUnchanged(stranger, () => reportEquivocation(w.as.stranger, { provider: at, first: receipt(w, 1n, 'same'), second: receipt(w, 1n, 'same') }), /same result hash/);
        await refusedUnchanged(stranger, () => reportEquivocation(w.as.stranger, { provider: at, first: receipt(w, 1n, 'a'), second: receipt(w, 2n, 'b') }), /different requests/);
        const other = randomNodeKeys().ed25519;
        await refusedUnchanged(stranger, () => reportEquivocation(w.as.stranger, { provider: at, first: receipt(w, 1n, 'a'), second: receipt(w, 1n, 'b', other) }), /second receipt is not signed by this provider's worker key/);
        await reportEquivocation(w.as.stranger, { provider: at, first: receipt(w, 1n, 'a'), second: receipt(w, 1n, 'b') });
        await refusedUnchanged(stranger, () => reportEquivocation(w.as.stranger, { provider: at, first: receipt(w, 1n, 'c'), second: receipt(w, 1n, 'a') }), /already reported and slashed/);
        // Evidence sent to a contract that does not hold this worker's key.
        await refusedUnchanged(stranger, () => reportEquivocation(w.as.stranger, { provider: w.p.proxy.address, first: receipt(w, 9n, 'a'), second: receipt(w, 9n, 'b') }), /first receipt is not signed by this provider's worker key/);
    });

    it('submits a proxy-signed fault report: slashes faultSlashBps of the stake; refuses replays, forgeries, expired reports and the wrong seqno', async () => {
        const { provider, p } = w;
        const operator = p.operator;
        const seqno = w.providerSeqno;
        const stake = await provider.getStake();
        await submitFaultReport(w.as.operator, { proxy: p.proxy.address, providerSeqno: seqno, report: faultReport(w, { reportId: 1n }) });
        expect(await provider.getStake()).toBe(stake - (stake * p.params.slashing.faultSlashBps) / 10000n);
        expect(await provider.getLastFaultReportId(await p.proxy.getSeqno())).toBe(1n);
        const via = w.as.operator;
        const proxy = p.proxy.address;
        await refusedUnchanged(operator, () => submitFaultReport(via, { proxy, providerSeqno: seqno, report: faultReport(w, { reportId: 1n }) }), /report id 1 is not above the last one/);
        await refusedUnchanged(operator, () => submitFaultReport(via, { proxy, providerSeqno: seqno, report: faultReport(w, { reportId: 2n }, randomNodeKeys().ed25519) }), /not the proxy enclave key's/);
        await refusedUnchanged(operator, () => submitFaultReport(via, { proxy, providerSeqno: seqno, report: faultReport(w, { reportId: 2n, validUntil: p.chain.now! - 1 }) }), /the report expired/);
        await refusedUnchanged(operator, () => submitFaultReport(via, { proxy, providerSeqno: seqno + 1n, report: faultReport(w, { reportId: 2n }) }), /Root has no provider #1/);
        await refusedUnchanged(operator, () => submitFaultReport(via, { proxy, providerSeqno: seqno, report: faultReport(w, { reportId: 2n, proxy: provider.address }) }), /the report names proxy/);
        // The per-period limit: faultReportsPerPeriod reports, then refused until the period ends.
        for (let id = 2n; id <= p.params.slashing.faultReportsPerPeriod; id++) {
            await submitFaultReport(via, { proxy, providerSeqno: seqno, report: faultReport(w, { reportId: id }) });
        }
        const next = p.params.slashing.faultReportsPerPeriod + 1n;
        await refusedUnchanged(operator, () => submitFaultReport(via, { proxy, providerSeqno: seqno, report: faultReport(w, { reportId: next }) }), /already slashed this period \(the limit\)/);
    });
});
