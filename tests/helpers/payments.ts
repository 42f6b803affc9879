/**
 * Test fixture of the payments part: a network with one registered Proxy, clients with
 * JobEscrows, providers with WorkerAccounts, and the accounting checks every payments test
 * uses (TON conservation over a trace, each contract's holdings against its ledger).
 */
import '@ton/test-utils';
import { Address, toNano } from '@ton/core';
import { BlockchainTransaction, SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import { ChargePayload, PayoutPayload, Role, TokenCounts } from '../../wrappers/payloads';
import { Proxy } from '../../wrappers/Proxy';
import { ESCROW_CHARGE_VALUE, ESCROW_OPEN_VALUE, escrowFor, escrowOpen, JobEscrow, signedCharge } from '../../wrappers/JobEscrow';
import { signedPayout, WORKER_PAYOUT_VALUE, WorkerAccount, workerAccountFor } from '../../wrappers/WorkerAccount';
import { deployNetwork, makeCertificate, Network, NodeKeys, randomNodeKeys } from './network';
import { Params } from '../../wrappers/Root';

export const MIN_STORAGE = toNano('0.05');
export const PROXY_STAKE = toNano('10');

export interface PaymentsNet extends Network {
    operator: SandboxContract<TreasuryContract>;
    proxyKeys: NodeKeys;
    proxy: SandboxContract<Proxy>;
    params: Params;
    prices: Params['prices'];
    /** Storage fees each account paid in the traces passed to `track` (by raw address). */
    rent: Map<string, bigint>;
}

/** Records the storage fees of a trace (for exact holdings checks after time travel). */
export async function track(p: PaymentsNet, pending: Promise<SendMessageResult>): Promise<SendMessageResult> {
    const result = await pending;
    for (const tx of result.transactions) {
        if (tx.description.type === 'generic' && tx.description.storagePhase) {
            const key = txAddress(tx).toRawString();
            p.rent.set(key, (p.rent.get(key) ?? 0n) + tx.description.storagePhase.storageFeesCollected);
        }
    }
    return result;
}

export function rentOf(p: PaymentsNet, a: Address): bigint {
    return p.rent.get(a.toRawString()) ?? 0n;
}

/** A network with one active Proxy (stake PROXY_STAKE) registered by `operator`. */
export async function deployPayments(opts: { params?: Params; proxyKeys?: NodeKeys } = {}): Promise<PaymentsNet> {
    const net = await deployNetwork({ params: opts.params });
    const operator = await net.chain.treasury('operator');
    const proxyKeys = opts.proxyKeys ?? randomNodeKeys();
    const bundle = makeCertificate(net, Role.Proxy, proxyKeys);
    const r = await net.root.send(
        operator.getSender(),
        { value: PROXY_STAKE + toNano('0.5') },
        { $$type: 'RegisterProxy', queryId: 1n, cert: bundle.cert, signatures: bundle.signatures, stake: PROXY_STAKE, endpoint: 'https://proxy.example:8443' },
    );
    const proxyAddress = await net.root.getProxyAddress(0n);
    expect(r.transactions).toHaveTransaction({ to: proxyAddress, deploy: true, success: true });
    const proxy = net.chain.openContract(Proxy.fromAddress(proxyAddress));
    const params = await net.root.getParams();
    return { ...net, operator, proxyKeys, proxy, params, prices: params.prices, rent: new Map() };
}

export async function escrowOf(p: PaymentsNet, client: Address): Promise<SandboxContract<JobEscrow>> {
    return p.chain.openContract(await escrowFor(p.proxy.address, client));
}

export async function workerAccountOf(p: PaymentsNet, provider: Address, payee: Address): Promise<SandboxContract<WorkerAccount>> {
    return p.chain.openContract(await workerAccountFor(p.proxy.address, provider, payee));
}

/** The client deploys (or re-opens) its escrow with `deposit`, `stake` of it locked, and the hash of its API secret (none by default). */
export async function openEscrow(
    p: PaymentsNet,
    client: SandboxContract<TreasuryContract>,
    deposit: bigint,
    stake: bigint,
    extra = 0n,
    secret: Buffer | null = null,
): Promise<{ escrow: SandboxContract<JobEscrow>; result: SendMessageResult }> {
    const escrow = await escrowOf(p, client.address);
    const result = await track(p, escrow.send(client.getSender(), { value: deposit + ESCROW_OPEN_VALUE + extra }, escrowOpen({ queryId: 7n, deposit, stake, secret })));
    return { escrow, result };
}

export function tokens(prompt: number | bigint, cached: number | bigint, completion: number | bigint, reasoning: number | bigint): TokenCounts {
    return { prompt: BigInt(prompt), cached: BigInt(cached), completion: BigInt(completion), reasoning: BigInt(reasoning) };
}

/** Submits a charge signed by `signer` (default: the proxy's enclave key). */
export async function submitCharge(
    p: PaymentsNet,
    via: SandboxContract<TreasuryContract>,
    escrow: SandboxContract<JobEscrow>,
    charge: Partial<ChargePayload> & { tokens: TokenCounts },
    opts: { signer?: NodeKeys; value?: bigint } = {},
): Promise<SendMessageResult> {
    const payload: ChargePayload = {
        escrow: charge.escrow ?? escrow.address,
        tokens: charge.tokens,
        validUntil: charge.validUntil ?? p.chain.now! + 3600,
    };
    return track(p, escrow.send(via.getSender(), { value: opts.value ?? ESCROW_CHARGE_VALUE }, signedCharge(payload, (opts.signer ?? p.proxyKeys).ed25519, 3n)));
}

/** Submits a payout signed by `signer` (default: the proxy's enclave key). */
export async function submitPayout(
    p: PaymentsNet,
    via: SandboxContract<TreasuryContract>,
    account: SandboxContract<WorkerAccount>,
    payout: Partial<PayoutPayload> & { tokens: bigint },
    opts: { signer?: NodeKeys; value?: bigint } = {},
): Promise<SendMessageResult> {
    const payload: PayoutPayload = {
        workerAccount: payout.workerAccount ?? account.address,
        tokens: payout.tokens,
        validUntil: payout.validUntil ?? p.chain.now! + 3600,
    };
    // A new account (or one a refused first payout left empty) needs its storage reserve.
    const held = await balanceOf(p, account.address);
    const reserve = held < MIN_STORAGE ? MIN_STORAGE - held : 0n;
    return track(
        p,
        account.send(via.getSender(), { value: opts.value ?? WORKER_PAYOUT_VALUE + reserve }, signedPayout(payload, (opts.signer ?? p.proxyKeys).ed25519, 4n)),
    );
}

// ---------------------------------------------------------------------------------------
// Accounting
// ---------------------------------------------------------------------------------------

export function txAddress(tx: BlockchainTransaction): Address {
    return Address.parseRaw(`0:${tx.address.toString(16).padStart(64, '0')}`);
}

/**
 * Every nanoTON a trace burnt: each transaction's total fees plus the forwarding fee its
 * inbound internal message still carried (collected when the message is imported).
 */
export function sumFees(txs: BlockchainTransaction[]): bigint {
    return txs.reduce((s, tx) => s + tx.totalFees.coins + (tx.inMessage?.info.type === 'internal' ? tx.inMessage.info.forwardFee : 0n), 0n);
}

/** Storage fees an account paid in these transactions. */
export function storageFees(txs: BlockchainTransaction[], of: Address): bigint {
    let s = 0n;
    for (const tx of txs) {
        if (!txAddress(tx).equals(of)) continue;
        if (tx.description.type === 'generic' && tx.description.storagePhase) s += tx.description.storagePhase.storageFeesCollected;
    }
    return s;
}

export async function balanceOf(p: { chain: Network['chain'] }, a: Address): Promise<bigint> {
    return (await p.chain.getContract(a)).balance;
}

export async function balances(p: { chain: Network['chain'] }, addrs: Address[]): Promise<bigint[]> {
    return Promise.all(addrs.map((a) => balanceOf(p, a)));
}

/**
 * Runs `op` and checks TON conservation over its whole trace: every account the trace touches
 * is among `accounts`, and the sum of their balance changes plus all fees is zero.
 * Returns the result and the balance change of each account.
 */
export async function conserved(
    p: { chain: Network['chain'] },
    accounts: Address[],
    op: () => Promise<SendMessageResult>,
): Promise<{ result: SendMessageResult; delta: (a: Address) => bigint }> {
    const before = await balances(p, accounts);
    const result = await op();
    for (const tx of result.transactions) {
        const a = txAddress(tx);
        if (!accounts.some((x) => x.equals(a))) throw new Error(`trace touched an account outside the checked set: ${a}`);
    }
    const after = await balances(p, accounts);
    const diff = after.reduce((s, b, i) => s + b - before[i], 0n);
    expect(diff + sumFees(result.transactions)).toBe(0n);
    const delta = (a: Address): bigint => {
        const i = accounts.findIndex((x) => x.equals(a));
        if (i < 0) throw new Error(`not a checked account: ${a}`);
        return after[i] - before[i];
    };
    return { result, delta };
}

/** Fees the account paid in the trace (its own transactions' total fees). */
export function feesOf(result: SendMessageResult, of: Address): bigint {
    return sumFees(result.transactions.filter((tx) => txAddress(tx).equals(of)));
}

/** Every transaction in the trace succeeded (compute and action phase). */
export function expectAllSuccess(result: SendMessageResult): void {
    for (const tx of result.transactions) {
        if (tx.description.type !== 'generic') continue;
        const d = tx.description;
        const ok = !d.aborted && (d.computePhase.type === 'skipped' || d.computePhase.success) && (!d.actionPhase || d.actionPhase.success);
        if (!ok) throw new Error(`transaction on ${txAddress(tx)} failed: ${JSON.stringify({ aborted: d.aborted, exit: d.computePhase.type === 'vm' ? d.computePhase.exitCode : 'skipped', action: d.actionPhase?.resultCode })}`);
    }
}

/** The escrow holds exactly storage reserve + the client's ledger balance (less storage fees paid). */
export async function expectEscrowHoldings(p: PaymentsNet, escrow: SandboxContract<JobEscrow>): Promise<void> {
    expect(await balanceOf(p, escrow.address)).toBe(MIN_STORAGE + (await escrow.getBalance()) - rentOf(p, escrow.address));
}

/** The Proxy holds exactly storage reserve + stake + pool (less storage fees paid). */
export async function expectProxyHoldings(p: PaymentsNet): Promise<void> {
    expect(await balanceOf(p, p.proxy.address)).toBe(MIN_STORAGE + (await p.proxy.getStake()) + (await p.proxy.getPool()) - rentOf(p, p.proxy.address));
}

/**
 * Runs an op that must be refused by `on` with `exitCode`: checks conservation, that the
 * refusing contract keeps nothing (balance changes only by storage fees) and that every other
 * checked account but `payer` is untouched, so the payer lost only fees.
 */
export async function expectRefused(
    p: PaymentsNet,
    accounts: Address[],
    payer: Address,
    on: Address,
    exitCode: number,
    op: () => Promise<SendMessageResult>,
): Promise<SendMessageResult> {
    const { result, delta } = await conserved(p, accounts, op);
    expect(result.transactions).toHaveTransaction({ on, exitCode, success: false });
    const othersRent = accounts.filter((a) => !a.equals(payer)).reduce((s, a) => s + storageFees(result.transactions, a), 0n);
    for (const a of accounts) {
        if (a.equals(payer)) {
            expect(-delta(a)).toBe(sumFees(result.transactions) - othersRent);
        } else {
            expect(delta(a)).toBe(-storageFees(result.transactions, a));
        }
    }
    return result;
}

/** A copy of the fixture state to restore per test (chain snapshot + rent ledger). */
export interface Saved {
    chain: ReturnType<Network['chain']['snapshot']>;
    rent: Map<string, bigint>;
}

export function save(p: PaymentsNet): Saved {
    return { chain: p.chain.snapshot(), rent: new Map(p.rent) };
}

export async function restore(p: PaymentsNet, s: Saved): Promise<void> {
    await p.chain.loadFrom(s.chain);
    p.rent = new Map(s.rent);
}

/**
 * What the sender of an op paid in fees for it: every fee of the trace except the storage
 * rent other accounts paid for themselves from their own balances.
 */
export function payerFees(result: SendMessageResult, payer: Address): bigint {
    let rentOfOthers = 0n;
    for (const tx of result.transactions) {
        if (txAddress(tx).equals(payer)) continue;
        if (tx.description.type === 'generic' && tx.description.storagePhase) rentOfOthers += tx.description.storagePhase.storageFeesCollected;
    }
    return sumFees(result.transactions) - rentOfOthers;
}
