/**
 * Fixture of the payments / provider operator tests: the payments network (Root, one Proxy)
 * plus one registered Provider, wallets for each actor, a SandboxNetworkProvider per wallet,
 * and helpers that sign what the proxy and the worker enclaves sign.
 */
import '@ton/test-utils';
import { Address, toNano } from '@ton/core';
import { SandboxContract, TreasuryContract } from '@ton/sandbox';
import { SandboxNetworkProvider } from '../../ops/sandbox-provider';
import { RecordingUI } from '../../ops/ui';
import { registerProvider } from '../../ops/register';
import {
    buildChargePayload,
    buildFaultReport,
    buildPayoutPayload,
    buildWorkReceipt,
    ChargePayload,
    Ed25519KeyPair,
    FaultReport,
    PayoutPayload,
    Role,
    SignedPayload,
    signPayload,
    TokenCounts,
} from '../../wrappers/payloads';
import { Provider } from '../../wrappers/Provider';
import { deployPayments, PaymentsNet, restore, save, Saved } from '../helpers/payments';
import { makeCertificate, NodeKeys, randomNodeKeys, sha256 } from '../helpers/network';

export const PROVIDER_STAKE = toNano('10');

export interface OpsWorld {
    p: PaymentsNet;
    ui: RecordingUI;
    client: SandboxContract<TreasuryContract>;
    gpuOwner: SandboxContract<TreasuryContract>;
    stranger: SandboxContract<TreasuryContract>;
    /** Providers acting as each wallet. */
    as: { gov: SandboxNetworkProvider; operator: SandboxNetworkProvider; client: SandboxNetworkProvider; gpuOwner: SandboxNetworkProvider; stranger: SandboxNetworkProvider };
    workerKeys: NodeKeys;
    provider: SandboxContract<Provider>;
    providerSeqno: bigint;
    saved: Saved;
    now: number;
}

export async function opsWorld(): Promise<OpsWorld> {
    const p = await deployPayments();
    const ui = new RecordingUI();
    const gov = new SandboxNetworkProvider(p.chain, p.owner, ui);
    const client = await p.chain.treasury('client');
    const gpuOwner = await p.chain.treasury('gpu owner');
    const stranger = await p.chain.treasury('stranger');
    const as = { gov, operator: gov.as(p.operator), client: gov.as(client), gpuOwner: gov.as(gpuOwner), stranger: gov.as(stranger) };
    const workerKeys = randomNodeKeys();
    const reg = await registerProvider(as.gpuOwner, {
        root: p.root.address,
        bundle: makeCertificate(p, Role.Worker, workerKeys),
        stake: PROVIDER_STAKE,
        gpuModel: 'H100',
        vramGiB: 80,
        gpuCount: 1,
        models: [p.model],
        expectedUptimeBps: 9900,
    });
    const provider = p.chain.openContract(Provider.fromAddress(reg.address));
    return { p, ui, client, gpuOwner, stranger, as, workerKeys, provider, providerSeqno: reg.seqno, saved: save(p), now: p.chain.now! };
}

/** Back to the state right after opsWorld() (chain snapshot, UI lines cleared). */
export async function reset(w: OpsWorld): Promise<void> {
    await restore(w.p, w.saved);
    w.p.chain.now = w.now;
    w.ui.lines.length = 0;
    process.exitCode = undefined;
}

export function tokens(prompt: number, cached: number, completion: number, reasoning: number): TokenCounts {
    return { prompt: BigInt(prompt), cached: BigInt(cached), completion: BigInt(completion), reasoning: BigInt(reasoning) };
}

export function signedCharge(w: OpsWorld, c: ChargePayload, key: Ed25519KeyPair = w.p.proxyKeys.ed25519): SignedPayload {
    return signPayload(buildChargePayload(c), key.secretKey);
}

export function signedPayout(w: OpsWorld, c: PayoutPayload, key: Ed25519KeyPair = w.p.proxyKeys.ed25519): SignedPayload {
    return signPayload(buildPayoutPayload(c), key.secretKey);
}

export function receipt(w: OpsWorld, requestId: bigint, answer: string, key: Ed25519KeyPair = w.workerKeys.ed25519, proxy: Address = w.p.proxy.address): SignedPayload {
    return signPayload(buildWorkReceipt({ proxy, requestId, modelHash: w.p.model, tokens: tokens(10, 0, 5, 0), resultHash: sha256(answer) }), key.secretKey);
}

export function faultReport(w: OpsWorld, f: Partial<FaultReport> & { reportId: bigint }, key: Ed25519KeyPair = w.p.proxyKeys.ed25519): SignedPayload {
    return signPayload(
        buildFaultReport({
            provider: f.provider ?? w.provider.address,
            proxy: f.proxy ?? w.p.proxy.address,
            reportId: f.reportId,
            reason: f.reason ?? 1,
            requestId: f.requestId ?? 1n,
            validUntil: f.validUntil ?? w.p.chain.now! + 600,
        }),
        key.secretKey,
    );
}

/** `op` must be refused with `message` before anything is sent: the wallet's balance is unchanged. */
export async function refusedUnchanged(wallet: SandboxContract<TreasuryContract>, op: () => Promise<unknown>, message: RegExp): Promise<void> {
    const before = await wallet.getBalance();
    await expect(op()).rejects.toThrow(message);
    expect(await wallet.getBalance()).toBe(before);
}

export function advance(w: OpsWorld, seconds: number | bigint): void {
    w.p.chain.now = w.p.chain.now! + Number(seconds);
}
