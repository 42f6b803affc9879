/**
 * Test fixture: a sandbox chain with a deployed Root, attestors and allow-lists, plus the
 * helpers to make certificates. Shared by every contract test (and reused by the demo).
 */
import { Blockchain, SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import { Address, Cell, toNano } from '@ton/core';
import { createHash, randomBytes } from 'crypto';
import {
    buildAttestationCert,
    buildSignatureList,
    ed25519FromSeed,
    Ed25519KeyPair,
    Role,
    SignedCertificate,
    signAttestationCert,
    TcbStatusCode,
} from '../../wrappers/payloads';
import { AllowList, attestorMap, defaultParams, Params, Root, rootForOwner } from '../../wrappers/Root';
import { registerProvider } from '../../ops/register';
import { SandboxNetworkProvider } from '../../ops/sandbox-provider';
import { RecordingUI } from '../../ops/ui';

export interface Network {
    chain: Blockchain;
    owner: SandboxContract<TreasuryContract>;
    root: SandboxContract<Root>;
    attestors: Ed25519KeyPair[];
    /** Signatures a certificate needs (k); makeCertificate signs with the first k attestors. */
    threshold?: number;
    proxyImage: Buffer;
    workerImage: Buffer;
    model: Buffer;
}

export function sha256(data: Buffer | string): Buffer {
    return createHash('sha256').update(data).digest();
}

export function randomKeyPair(): Ed25519KeyPair {
    return ed25519FromSeed(randomBytes(32));
}

/** Deploys Root with `attestorCount` attestors (threshold `threshold`) and one entry per list. */
export async function deployNetwork(opts: { attestorCount?: number; threshold?: number; params?: Params } = {}): Promise<Network> {
    const chain = await Blockchain.create();
    chain.now = 1_800_000_000;
    const owner = await chain.treasury('governance');
    const root = chain.openContract(await rootForOwner(owner.address, opts.params ?? defaultParams()));
    const deployed = await root.send(owner.getSender(), { value: toNano('1') }, null);
    expect(deployed.transactions).toHaveTransaction({ to: root.address, deploy: true, success: true });

    const attestors = Array.from({ length: opts.attestorCount ?? 1 }, () => randomKeyPair());
    const set = await root.send(
        owner.getSender(),
        { value: toNano('0.05') },
        {
            $$type: 'SetAttestors',
            queryId: 0n,
            attestors: attestorMap(attestors.map((a) => a.publicKey)),
            threshold: BigInt(opts.threshold ?? 1),
        },
    );
    expect(set.transactions).toHaveTransaction({ to: root.address, success: true });

    const proxyImage = sha256('proxy image');
    const workerImage = sha256('worker image');
    const model = sha256('model file');
    for (const [list, hash] of [
        [AllowList.proxyImage, proxyImage],
        [AllowList.workerImage, workerImage],
        [AllowList.model, model],
    ] as const) {
        const r = await root.send(
            owner.getSender(),
            { value: toNano('0.05') },
            { $$type: 'AllowListEdit', queryId: 0n, list: BigInt(list), hash: BigInt('0x' + hash.toString('hex')), allowed: true, expiresAt: 0n },
        );
        expect(r.transactions).toHaveTransaction({ to: root.address, success: true });
    }
    return { chain, owner, root, attestors, threshold: opts.threshold ?? 1, proxyImage, workerImage, model };
}

export interface NodeKeys {
    ed25519: Ed25519KeyPair;
    x25519: Buffer;
}

export function randomNodeKeys(): NodeKeys {
    return { ed25519: randomKeyPair(), x25519: randomBytes(32) };
}

/** The unsigned certificate cell makeCertificate signs (same defaults). */
export function makeCertificateCell(
    net: Network,
    role: Role,
    keys: NodeKeys,
    opts: { imageHash?: Buffer; validUntil?: number; tcbStatus?: number; root?: Address } = {},
): Cell {
    return buildAttestationCert({
        root: opts.root ?? net.root.address,
        role,
        imageHash: opts.imageHash ?? (role === Role.Proxy ? net.proxyImage : net.workerImage),
        ed25519Key: keys.ed25519.publicKey,
        x25519Key: keys.x25519,
        quoteHash: sha256('quote of ' + keys.ed25519.publicKey.toString('hex')),
        tcbStatus: opts.tcbStatus ?? TcbStatusCode.UpToDate,
        validUntil: opts.validUntil ?? net.chain.now! + 30 * 86400,
    });
}

/**
 * A certificate for `keys`, signed by `signers` (default: the first k attestors, or every
 * attestor when the network does not say k; Ed25519 signing in JS is slow, so tests sign
 * no more than they need).
 */
export function makeCertificate(
    net: Network,
    role: Role,
    keys: NodeKeys,
    opts: { imageHash?: Buffer; validUntil?: number; tcbStatus?: number; root?: Address; signers?: Ed25519KeyPair[] } = {},
): SignedCertificate {
    const cert = makeCertificateCell(net, role, keys, opts);
    const signers = opts.signers ?? net.attestors.slice(0, net.threshold ?? net.attestors.length);
    return { cert, signatures: buildSignatureList(signers.map((s) => signAttestationCert(cert, s))) };
}

// ---------------------------------------------------------------------------------------
// Registration and value audit helpers
// ---------------------------------------------------------------------------------------

export interface ProxyRegistration {
    result: SendMessageResult;
    keys: NodeKeys;
    bundle: SignedCertificate;
    stake: bigint;
    value: bigint;
}

/** Sends RegisterProxy from `operator` (default: a fresh certificate for fresh keys). */
export async function registerProxy(
    net: Network,
    operator: SandboxContract<TreasuryContract>,
    opts: { keys?: NodeKeys; bundle?: SignedCertificate; stake?: bigint; value?: bigint; endpoint?: string; queryId?: bigint } = {},
): Promise<ProxyRegistration> {
    const keys = opts.keys ?? randomNodeKeys();
    const bundle = opts.bundle ?? makeCertificate(net, Role.Proxy, keys);
    const stake = opts.stake ?? (await net.root.getParams()).stakes.minProxyStake;
    const value = opts.value ?? stake + toNano('0.5');
    const result = await net.root.send(
        operator.getSender(),
        { value },
        {
            $$type: 'RegisterProxy',
            queryId: opts.queryId ?? 7n,
            cert: bundle.cert,
            signatures: bundle.signatures,
            stake,
            endpoint: opts.endpoint ?? 'https://proxy.example:8443',
        },
    );
    return { result, keys, bundle, stake, value };
}

/** What one audited send moved: balance change per account and the fees the trace burnt. */
export interface ValueAudit<T> {
    result: T;
    /** Balance after minus balance before. */
    delta: (a: Address) => bigint;
    /** Every fee of the trace: each transaction's total fees plus the forwarding fees of its internal messages. */
    fees: bigint;
}

/**
 * Runs `send` and checks conservation over its whole trace: the balance changes of every
 * account the trace touched plus the fees it burnt sum to zero (no TON created or lost).
 * Every account in the trace must be listed in `accounts` (a deploy counts from balance 0).
 */
export async function audited<T extends SendMessageResult>(chain: Blockchain, accounts: Address[], send: () => Promise<T>): Promise<ValueAudit<T>> {
    const key = (a: Address) => a.toRawString();
    const before = new Map<string, bigint>();
    for (const a of accounts) before.set(key(a), (await chain.getContract(a)).balance);
    const result = await send();
    let fees = 0n;
    for (const tx of result.transactions) {
        const account = Address.parseRaw(`0:${tx.address.toString(16).padStart(64, '0')}`);
        if (!before.has(key(account))) throw new Error(`account ${account.toString()} is in the trace but not audited`);
        fees += tx.totalFees.coins;
        for (const out of tx.outMessages.values()) {
            if (out.info.type === 'internal') fees += out.info.forwardFee;
        }
    }
    const after = new Map<string, bigint>();
    for (const a of accounts) after.set(key(a), (await chain.getContract(a)).balance);
    let sum = 0n;
    for (const [k, b] of before) sum += after.get(k)! - b;
    expect(sum + fees).toBe(0n);
    return { result, delta: (a) => after.get(key(a))! - before.get(key(a))!, fees };
}

/** Sum of the fees of the transactions of `account` in a trace (what it paid for gas). */
export function feesOf(result: SendMessageResult, account: Address): bigint {
    let fees = 0n;
    for (const tx of result.transactions) {
        const a = Address.parseRaw(`0:${tx.address.toString(16).padStart(64, '0')}`);
        if (!a.equals(account)) continue;
        fees += tx.totalFees.coins;
        for (const out of tx.outMessages.values()) {
            if (out.info.type === 'internal') fees += out.info.forwardFee;
        }
    }
    return fees;
}

/** Storage fees `account` paid in a trace (its balance may drop by these alone). */
export function storageFeesOf(result: SendMessageResult, account: Address): bigint {
    let fees = 0n;
    for (const tx of result.transactions) {
        const a = Address.parseRaw(`0:${tx.address.toString(16).padStart(64, '0')}`);
        if (!a.equals(account) || tx.description.type !== 'generic') continue;
        fees += tx.description.storagePhase?.storageFeesCollected ?? 0n;
    }
    return fees;
}

/** Any message Root accepts. */
export type RootMessage = Exclude<Parameters<Root['send']>[3], null>;

/**
 * Sends `body` to Root and checks that Root refuses it with `exitCode` and loses nothing:
 * the message bounces, Root's balance changes by its storage fee alone, Root's state is
 * untouched, the sender gets its value back minus gas (at most `maxCost`), conservation holds.
 */
export async function expectRefused(
    net: Network,
    from: SandboxContract<TreasuryContract>,
    value: bigint,
    body: RootMessage,
    exitCode: number | bigint,
    maxCost: bigint = toNano('0.05'),
): Promise<ValueAudit<SendMessageResult>> {
    const stateBefore = (await net.chain.getContract(net.root.address)).accountState;
    const a = await audited(net.chain, [from.address, net.root.address], () => net.root.send(from.getSender(), { value }, body));
    expect(a.result.transactions).toHaveTransaction({ from: from.address, to: net.root.address, success: false, aborted: true, exitCode: Number(exitCode) });
    expect(a.result.transactions).toHaveTransaction({ from: net.root.address, to: from.address, inMessageBounced: true, success: true });
    expect(a.result.transactions).toHaveLength(3); // external -> wallet, wallet -> Root, bounce
    expect(a.delta(net.root.address) + storageFeesOf(a.result, net.root.address)).toBe(0n);
    const stateAfter = (await net.chain.getContract(net.root.address)).accountState;
    expect(stateAfter?.type).toBe('active');
    if (stateBefore?.type === 'active' && stateAfter?.type === 'active') {
        expect(stateAfter.state.data!.equals(stateBefore.state.data!)).toBe(true);
    }
    expect(-a.delta(from.address)).toBeGreaterThan(0n);
    expect(-a.delta(from.address)).toBeLessThanOrEqual(maxCost);
    return a;
}

/**
 * A Provider registered through the ops function as `owner` would (an H100, the network's
 * allowed model, 10 TON stake), for a worker with these enclave keys.
 */
export async function registerWorkerProvider(
    net: Network,
    owner: SandboxContract<TreasuryContract>,
    keys: { ed25519: Ed25519KeyPair; x25519: Buffer },
    opts: { validUntil?: number } = {},
): Promise<{ address: Address; seqno: bigint }> {
    return registerProvider(new SandboxNetworkProvider(net.chain, owner, new RecordingUI()), {
        root: net.root.address,
        bundle: makeCertificate(net, Role.Worker, keys, { validUntil: opts.validUntil }),
        stake: toNano('10'),
        gpuModel: 'H100',
        vramGiB: 80,
        gpuCount: 1,
        models: [net.model],
        expectedUptimeBps: 9900,
    });
}
