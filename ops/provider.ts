/**
 * Provider operations: the GPU owner's stake and unbonding, and anyone's slashing evidence.
 * Each function checks what the contract would refuse before anything is sent, then confirms
 * the effect through getters and returns the figures it read there.
 */
import type { NetworkProvider } from '@ton/blueprint';
import { Address, fromNano } from '@ton/core';
import { equivocationReport, faultReportSubmission, MAX_EQUIVOCATION_RECORDS, OP_GAS, Provider, ProviderState, SLASH_GAS } from '../wrappers/Provider';
import { Proxy, ProxyState } from '../wrappers/Proxy';
import { Root } from '../wrappers/Root';
import { bigIntToKey, keyToBigInt, parseAttestationCert, parseFaultReport, parseWorkReceipt, Role, SignedCertificate, SignedPayload, verifyCellSignature } from '../wrappers/payloads';
import { chainNow, when } from './chain-time';
import { refuseBadCertificate, RENEWAL_VALUE } from './register';
import { confirm, requireDeployed } from './confirm';
import { table } from './root';
import { SignedFaultFile } from './settlement-file';

const STATE_NAMES: Record<string, string> = { '0': 'uninit', '1': 'active', '2': 'unbonding', '3': 'jailed', '4': 'exited' };

function openProvider(provider: NetworkProvider, address: Address) {
    return provider.open(Provider.fromAddress(address));
}

async function requireProviderOwner(provider: NetworkProvider, address: Address) {
    await requireDeployed(provider, address, 'Provider');
    const p = openProvider(provider, address);
    const owner = await p.getOwner();
    const me = provider.sender().address;
    if (!owner || !me || !owner.equals(me)) throw new Error(`only the provider's owner ${owner?.toString() ?? '(none)'} may do this`);
    return p;
}

export async function providerAddStake(provider: NetworkProvider, o: { provider: Address; amount: bigint }): Promise<void> {
    if (o.amount <= 0n) throw new Error('the amount must be positive');
    const p = await requireProviderOwner(provider, o.provider);
    const state = await p.getState();
    if (state !== ProviderState.active && state !== ProviderState.jailed) throw new Error(`a ${STATE_NAMES[state.toString()]} provider takes no stake`);
    const before = await p.getStake();
    await p.send(provider.sender(), { value: o.amount + OP_GAS }, { $$type: 'ProviderAddStake', queryId: BigInt(Date.now()), amount: o.amount });
    await confirm(provider, `stake +${fromNano(o.amount)} TON`, async () => (await p.getStake()) === before + o.amount);
}

/**
 * The provider's owner renews its certificate: a fresh quote for the same Ed25519 key (the
 * image may be a newer allowed one) with a later valid-until. The Provider passes it to Root,
 * which checks it as at registration. Refused before sending when either would refuse it.
 */
export async function renewProvider(provider: NetworkProvider, o: { provider: Address; bundle: SignedCertificate }): Promise<{ validUntil: number }> {
    const p = await requireProviderOwner(provider, o.provider);
    if ((await p.getState()) === ProviderState.exited) throw new Error('the provider has exited: register again');
    await refuseBadCertificate(provider, await p.getRoot(), o.bundle, Role.Worker);
    const cert = parseAttestationCert(o.bundle.cert);
    if ((await p.getEd25519Key()) !== keyToBigInt(cert.ed25519Key)) throw new Error("the certificate binds another Ed25519 key than this provider's: a new enclave registers as a new provider");
    const current = await p.getValidUntil();
    if (BigInt(cert.validUntil) <= current) throw new Error(`the certificate is valid until ${when(cert.validUntil)}, not later than the provider's current ${when(current)}`);
    await p.send(provider.sender(), { value: RENEWAL_VALUE }, { $$type: 'ProviderRenew', queryId: BigInt(Date.now()), cert: o.bundle.cert, signatures: o.bundle.signatures });
    await confirm(provider, `provider valid until ${when(cert.validUntil)}`, async () => (await p.getValidUntil()) === BigInt(cert.validUntil));
    return { validUntil: cert.validUntil };
}

export async function startUnbond(provider: NetworkProvider, o: { provider: Address }): Promise<{ unlockAt: number }> {
    const p = await requireProviderOwner(provider, o.provider);
    const state = await p.getState();
    if (state === ProviderState.jailed) {
        const until = await p.getJailedUntil();
        if (BigInt(chainNow(provider)) < until) throw new Error(`jailed until ${when(until)}: unbonding starts after the jail period`);
    } else if (state !== ProviderState.active) {
        throw new Error(`a ${STATE_NAMES[state.toString()]} provider cannot start unbonding`);
    }
    await p.send(provider.sender(), { value: OP_GAS }, { $$type: 'ProviderStartUnbond', queryId: BigInt(Date.now()) });
    await confirm(provider, 'unbonding', async () => (await p.getState()) === ProviderState.unbonding);
    const unlockAt = Number(await p.getUnbondAt());
    provider.ui().write(`stake can be withdrawn from ${when(unlockAt)}; slashing still applies until then`);
    return { unlockAt };
}

export async function withdrawStake(provider: NetworkProvider, o: { provider: Address }): Promise<{ withdrawn: bigint }> {
    const p = await requireProviderOwner(provider, o.provider);
    if ((await p.getState()) !== ProviderState.unbonding) throw new Error('start unbonding first');
    const at = await p.getUnbondAt();
    if (BigInt(chainNow(provider)) < at) throw new Error(`the unbonding delay ends at ${when(at)}`);
    const stake = await p.getStake();
    await p.send(provider.sender(), { value: OP_GAS }, { $$type: 'ProviderWithdrawStake', queryId: BigInt(Date.now()) });
    await confirm(provider, 'stake withdrawn, provider exited', async () => (await p.getState()) === ProviderState.exited);
    return { withdrawn: stake - (await p.getStake()) };
}

/** Anyone: two receipts signed by the provider's worker key for one (proxy, request id) with different results. */
export async function reportEquivocation(provider: NetworkProvider, o: { provider: Address; first: SignedPayload; second: SignedPayload }): Promise<{ slashed: bigint; bounty: bigint }> {
    await requireDeployed(provider, o.provider, 'Provider');
    const p = openProvider(provider, o.provider);
    const state = await p.getState();
    if (state === ProviderState.exited || state === ProviderState.uninit) throw new Error(`the provider is ${STATE_NAMES[state.toString()]}: nothing to slash`);
    const key = bigIntToKey(await p.getEd25519Key());
    for (const [name, r] of [['first', o.first], ['second', o.second]] as const) {
        if (!verifyCellSignature(r.payload, r.signature, key)) throw new Error(`the ${name} receipt is not signed by this provider's worker key`);
    }
    const a = parseWorkReceipt(o.first.payload);
    const b = parseWorkReceipt(o.second.payload);
    if (!a.proxy.equals(b.proxy) || a.requestId !== b.requestId) throw new Error('the receipts are for different requests: no equivocation');
    if (a.resultHash.equals(b.resultHash)) throw new Error('the receipts have the same result hash: no equivocation');
    if (await p.getIsEquivocationRecorded(a.proxy, a.requestId)) throw new Error('this equivocation was already reported and slashed');
    if ((await p.getEquivocationCount()) >= MAX_EQUIVOCATION_RECORDS) throw new Error(`the provider's evidence record is full (${MAX_EQUIVOCATION_RECORDS} equivocations)`);
    const slashing = await p.getSlashing();
    const stake = await p.getStake();
    const expected = (stake * slashing.equivocationSlashBps) / 10000n;
    const root = provider.open(Root.fromAddress(await p.getRoot()));
    const treasury = await root.getTreasury();
    await p.send(provider.sender(), { value: SLASH_GAS }, equivocationReport(o.first, o.second, BigInt(Date.now())));
    await confirm(provider, 'equivocation slashed, provider jailed', async () => (await p.getIsEquivocationRecorded(a.proxy, a.requestId)) && (await p.getStake()) === stake - expected);
    // Slashed: what left the stake; of it, Root's treasury got all but the reporter's bounty.
    const slashed = stake - (await p.getStake());
    const credit = slashed - (slashed * slashing.bountyBps) / 10000n;
    await confirm(provider, "slash credited to Root's treasury", async () => (await root.getTreasury()) - treasury >= credit);
    const bounty = slashed - ((await root.getTreasury()) - treasury);
    provider.ui().write(`slashed ${fromNano(slashed)} TON, bounty ${fromNano(bounty)} TON to ${provider.sender().address?.toString() ?? 'this wallet'}`);
    return { slashed, bounty };
}

/** Anyone: a fault report signed by an active proxy's enclave key, submitted to that Proxy. Returns what the Provider lost. */
export async function submitFaultReport(provider: NetworkProvider, o: { proxy: Address; providerSeqno: bigint; report: SignedPayload }): Promise<{ slashed: bigint }> {
    await requireDeployed(provider, o.proxy, 'Proxy');
    const proxy = provider.open(Proxy.fromAddress(o.proxy));
    const r = parseFaultReport(o.report.payload);
    if (!r.proxy.equals(o.proxy)) throw new Error(`the report names proxy ${r.proxy.toString()}`);
    if (r.validUntil <= chainNow(provider)) throw new Error(`the report expired at ${when(r.validUntil)}`);
    if (!verifyCellSignature(o.report.payload, o.report.signature, bigIntToKey(await proxy.getEd25519Key()))) throw new Error("the signature is not the proxy enclave key's");
    const now = chainNow(provider);
    if ((await proxy.getState()) !== ProxyState.active || Number(await proxy.getValidUntil()) <= now) throw new Error('the proxy is not active with a current certificate: it forwards no reports');
    // Root forwards only for a registered, active proxy and the provider registered under providerSeqno.
    const root = provider.open(Root.fromAddress(await proxy.getRoot()));
    const seqno = await proxy.getSeqno();
    const record = await root.getProxy(seqno);
    if (!record || !record.proxy.equals(o.proxy)) throw new Error(`Root has no proxy #${seqno} at this address`);
    if (!record.active || (await proxy.getDeactivated())) throw new Error('governance deactivated this proxy: Root would refuse its reports');
    const registered = await root.getProvider(o.providerSeqno);
    if (!registered) throw new Error(`Root has no provider #${o.providerSeqno}`);
    if (!registered.provider.equals(r.provider)) throw new Error(`the report names provider ${r.provider.toString()}, but #${o.providerSeqno} is ${registered.provider.toString()}`);
    await requireDeployed(provider, r.provider, 'Provider');
    const p = openProvider(provider, r.provider);
    const state = await p.getState();
    if (state === ProviderState.exited || state === ProviderState.uninit) throw new Error(`the provider is ${STATE_NAMES[state.toString()]}: nothing to slash`);
    const last = await p.getLastFaultReportId(seqno);
    if (last !== null && r.reportId <= last) throw new Error(`report id ${r.reportId} is not above the last one from this proxy (${last})`);
    const slashing = await p.getSlashing();
    const w = await p.getFaultWindow();
    if (now < Number(w.periodStart + slashing.faultPeriod)) {
        if (w.reports >= slashing.faultReportsPerPeriod) throw new Error(`${w.reports} report(s) already slashed this period (the limit); try again from ${when(w.periodStart + slashing.faultPeriod)}`);
        if (w.slashed >= (w.baseStake * slashing.faultCapBps) / 10000n) throw new Error(`this period's slashing cap is reached; try again from ${when(w.periodStart + slashing.faultPeriod)}`);
    }
    const stake = await p.getStake();
    await proxy.send(provider.sender(), { value: SLASH_GAS }, faultReportSubmission(o.report, o.providerSeqno, BigInt(Date.now())));
    await confirm(provider, `fault report #${r.reportId} applied`, async () => (await p.getLastFaultReportId(seqno)) === r.reportId);
    const after = await p.getStake();
    provider.ui().write(`provider stake ${fromNano(stake)} → ${fromNano(after)} TON`);
    return { slashed: stake - after };
}

/** What one pass of `submitPendingFaults` did with each report. */
export interface FaultPass {
    submitted: Array<{ reportId: bigint; provider: Address; slashed: bigint }>;
    /** Applied before (the Provider's last report id from this proxy is at or above them). */
    alreadyOnChain: bigint[];
    /** Kept for a later pass: the Provider's reports or slashing for this period are used up. */
    deferred: Array<{ reportId: bigint; why: string }>;
    /** Never submittable as they are (expired, no provider seqno, refused by a check). */
    refused: Array<{ reportId: bigint; why: string }>;
}

/**
 * Submits, in report-id order, every report the chain has not applied yet: what a proxy
 * operator runs against the router's `GET /v1/faults` (scripts/submitFaultReports). The chain
 * is the state: a report at or below the Provider's last id from this proxy is done. A
 * Provider whose period limit is reached keeps its later reports for a later pass (ids must
 * rise per Provider, so none may jump ahead of a deferred one).
 */
export async function submitPendingFaults(provider: NetworkProvider, reports: SignedFaultFile[]): Promise<FaultPass> {
    const pass: FaultPass = { submitted: [], alreadyOnChain: [], deferred: [], refused: [] };
    const proxySeqnos = new Map<string, bigint>();
    const waiting = new Map<string, bigint>(); // provider → the deferred report its later ones wait behind
    for (const f of [...reports].sort((a, b) => (a.report.reportId < b.report.reportId ? -1 : a.report.reportId > b.report.reportId ? 1 : 0))) {
        const id = f.report.reportId;
        const key = f.report.provider.toRawString();
        if (f.providerSeqno === undefined) {
            pass.refused.push({ reportId: id, why: 'no provider_seqno in the report' });
            continue;
        }
        let proxySeqno = proxySeqnos.get(f.report.proxy.toRawString());
        if (proxySeqno === undefined) {
            try {
                await requireDeployed(provider, f.report.proxy, 'Proxy');
                proxySeqno = await provider.open(Proxy.fromAddress(f.report.proxy)).getSeqno();
            } catch (e) {
                pass.refused.push({ reportId: id, why: (e as Error).message });
                continue;
            }
            proxySeqnos.set(f.report.proxy.toRawString(), proxySeqno);
        }
        try {
            await requireDeployed(provider, f.report.provider, 'Provider');
            const last = await openProvider(provider, f.report.provider).getLastFaultReportId(proxySeqno);
            if (last !== null && id <= last) {
                pass.alreadyOnChain.push(id);
                continue;
            }
        } catch (e) {
            pass.refused.push({ reportId: id, why: (e as Error).message });
            continue;
        }
        const behind = waiting.get(key);
        if (behind !== undefined) {
            pass.deferred.push({ reportId: id, why: `waits behind report ${behind} to the same provider` });
            continue;
        }
        try {
            const { slashed } = await submitFaultReport(provider, { proxy: f.report.proxy, providerSeqno: f.providerSeqno, report: { payload: f.payload, signature: f.signature } });
            pass.submitted.push({ reportId: id, provider: f.report.provider, slashed });
        } catch (e) {
            const why = (e as Error).message;
            if (/this period|slashing cap is reached/.test(why)) {
                waiting.set(key, id);
                pass.deferred.push({ reportId: id, why });
            } else pass.refused.push({ reportId: id, why });
        }
    }
    return pass;
}

export async function describeProvider(provider: NetworkProvider, providerAddress: Address): Promise<string> {
    await requireDeployed(provider, providerAddress, 'Provider');
    const p = openProvider(provider, providerAddress);
    const hw = await p.getHardware();
    const models = await p.getModels();
    const state = await p.getState();
    return [
        `Provider ${providerAddress.toString()} (#${await p.getSeqno()} of Root ${(await p.getRoot()).toString()})`,
        table([
            { field: 'state', value: STATE_NAMES[state.toString()] + ((await p.getIsEligible()) ? ' (eligible for work)' : '') },
            { field: 'owner', value: (await p.getOwner())?.toString() ?? '-' },
            { field: 'stake', value: `${fromNano(await p.getStake())} TON (slashed so far ${fromNano(await p.getSlashedTotal())} TON)` },
            { field: 'hardware', value: hw ? `${hw.gpuCount} × ${hw.gpuModel}, ${hw.vramGiB} GiB` : '-' },
            { field: 'expected uptime', value: `${Number(await p.getExpectedUptimeBps()) / 100} %` },
            { field: 'models', value: models.keys().map((k) => bigIntToKey(k).toString('hex')).join(', ') },
            { field: 'worker ed25519', value: bigIntToKey(await p.getEd25519Key()).toString('hex') },
            { field: 'image hash', value: bigIntToKey(await p.getImageHash()).toString('hex') },
            { field: 'quote hash (re-verify the raw quote with cocoon-verify)', value: bigIntToKey(await p.getQuoteHash()).toString('hex') },
            { field: 'certificate valid until', value: when(await p.getValidUntil()) },
            { field: 'unbond at / jailed until', value: `${(await p.getUnbondAt()) === 0n ? '-' : when(await p.getUnbondAt())} / ${(await p.getJailedUntil()) === 0n ? '-' : when(await p.getJailedUntil())}` },
        ]),
    ].join('\n');
}
