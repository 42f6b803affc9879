/**
 * Fixture of the provider specs: a network (tests/helpers/network.ts) with one registered
 * proxy and one registered provider, plus helpers for evidence, fault reports and the
 * TON-conservation check. Payloads are signed only through wrappers/payloads.ts.
 */
import { Blockchain, BlockchainTransaction, SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import { Address, toNano } from '@ton/core';
import {
    buildFaultReport,
    buildWorkReceipt,
    Ed25519KeyPair,
    Role,
    SignedPayload,
    signPayload,
} from '../../wrappers/payloads';
import { modelSet, Params } from '../../wrappers/Root';
import { Proxy } from '../../wrappers/Proxy';
import { Provider } from '../../wrappers/Provider';
import { deployNetwork, makeCertificate, Network, NodeKeys, randomNodeKeys, sha256 } from '../helpers/network';

export const STAKE = toNano('10');

export interface ProviderNet extends Network {
    providerOwner: SandboxContract<TreasuryContract>;
    operator: SandboxContract<TreasuryContract>;
    reporter: SandboxContract<TreasuryContract>;
    stranger: SandboxContract<TreasuryContract>;
    proxy: SandboxContract<Proxy>;
    proxyKeys: NodeKeys;
    provider: SandboxContract<Provider>;
    workerKeys: NodeKeys;
}

export async function registerProvider(
    net: Network,
    owner: SandboxContract<TreasuryContract>,
    keys: NodeKeys,
    opts: { stake?: bigint; value?: bigint; models?: Buffer[] } = {},
): Promise<SendMessageResult> {
    const bundle = makeCertificate(net, Role.Worker, keys);
    const stake = opts.stake ?? STAKE;
    return net.root.send(
        owner.getSender(),
        { value: opts.value ?? stake + toNano('0.3') },
        {
            $$type: 'RegisterProvider',
            queryId: 7n,
            cert: bundle.cert,
            signatures: bundle.signatures,
            stake,
            hardware: { $$type: 'Hardware', gpuModel: 'H100', vramGiB: 80n, gpuCount: 1n },
            models: modelSet(opts.models ?? [net.model]),
            expectedUptimeBps: 9900n,
        },
    );
}

export async function registerProxy(net: Network, operator: SandboxContract<TreasuryContract>, keys: NodeKeys): Promise<SendMessageResult> {
    const bundle = makeCertificate(net, Role.Proxy, keys);
    return net.root.send(
        operator.getSender(),
        { value: toNano('10.5') },
        { $$type: 'RegisterProxy', queryId: 1n, cert: bundle.cert, signatures: bundle.signatures, stake: toNano('10'), endpoint: 'https://proxy.example' },
    );
}

/** Root + one proxy (seqno 0) + one provider (seqno 0). */
export async function deployProviderNet(opts: { params?: Params } = {}): Promise<ProviderNet> {
    const net = await deployNetwork({ params: opts.params });
    const providerOwner = await net.chain.treasury('provider owner');
    const operator = await net.chain.treasury('proxy operator');
    const reporter = await net.chain.treasury('reporter');
    const stranger = await net.chain.treasury('stranger');

    const proxyKeys = randomNodeKeys();
    const rp = await registerProxy(net, operator, proxyKeys);
    const proxyAddress = await net.root.getProxyAddress(0n);
    expect(rp.transactions).toHaveTransaction({ to: proxyAddress, deploy: true, success: true });

    const workerKeys = randomNodeKeys();
    const r = await registerProvider(net, providerOwner, workerKeys);
    const providerAddress = await net.root.getProviderAddress(0n);
    expect(r.transactions).toHaveTransaction({ to: providerAddress, deploy: true, success: true });

    return {
        ...net,
        providerOwner,
        operator,
        reporter,
        stranger,
        proxy: net.chain.openContract(Proxy.fromAddress(proxyAddress)),
        proxyKeys,
        provider: net.chain.openContract(Provider.fromAddress(providerAddress)),
        workerKeys,
    };
}

/** A work receipt for (proxy, requestId) with the given result, signed by `key`. */
export function signedReceipt(key: Ed25519KeyPair, proxy: Address, requestId: bigint, result: string, model: Buffer = sha256('model file')): SignedPayload {
    return signPayload(
        buildWorkReceipt({
            proxy,
            requestId,
            modelHash: model,
            tokens: { prompt: 12n, cached: 0n, completion: 30n, reasoning: 0n },
            resultHash: sha256(result),
        }),
        key.secretKey,
    );
}

/** A fault report by `proxy` against `provider`, signed by `key`. */
export function signedFault(
    key: Ed25519KeyPair,
    provider: Address,
    proxy: Address,
    reportId: bigint,
    validUntil: number,
): SignedPayload {
    return signPayload(buildFaultReport({ provider, proxy, reportId, reason: 1, requestId: 1000n + reportId, validUntil }), key.secretKey);
}

// ---------------------------------------------------------------------------------------
// TON conservation
// ---------------------------------------------------------------------------------------

export async function balanceOf(chain: Blockchain, address: Address): Promise<bigint> {
    return (await chain.getContract(address)).balance;
}

export async function totalBalance(chain: Blockchain, addresses: Address[]): Promise<bigint> {
    let sum = 0n;
    for (const a of addresses) sum += await balanceOf(chain, a);
    return sum;
}

/** Everything the chain burnt in a trace: each transaction's fees plus forward fees in flight. */
export function traceFees(txs: BlockchainTransaction[]): bigint {
    let fees = 0n;
    for (const tx of txs) {
        fees += tx.totalFees.coins;
        for (const m of tx.outMessages.values()) {
            if (m.info.type === 'internal') fees += m.info.forwardFee;
        }
    }
    return fees;
}

/** Addresses whose balances a conservation check sums (wallets and contracts). */
export function accounts(n: ProviderNet): Address[] {
    return [
        n.owner.address,
        n.providerOwner.address,
        n.operator.address,
        n.reporter.address,
        n.stranger.address,
        n.root.address,
        n.proxy.address,
        n.provider.address,
    ];
}

/**
 * Runs `op` and checks that TON is conserved over `addresses`: what they held before equals
 * what they hold after plus every fee of the trace. Returns the op's result.
 */
export async function conserved(n: ProviderNet, op: () => Promise<SendMessageResult>, addresses: Address[] = accounts(n)): Promise<SendMessageResult> {
    const before = await totalBalance(n.chain, addresses);
    const r = await op();
    const after = await totalBalance(n.chain, addresses);
    expect(after + traceFees(r.transactions)).toBe(before);
    return r;
}

/** The first transaction of `txs` that ran on `address`. */
export function txOn(txs: BlockchainTransaction[], address: Address): BlockchainTransaction | undefined {
    return txs.find((t) => Address.parseRaw(`0:${t.address.toString(16).padStart(64, '0')}`).equals(address));
}

/** The exit code of the compute phase of `tx`. */
export function exitCode(tx: BlockchainTransaction | undefined): number | undefined {
    if (!tx || tx.description.type !== 'generic' || tx.description.computePhase.type !== 'vm') return undefined;
    return tx.description.computePhase.exitCode;
}
