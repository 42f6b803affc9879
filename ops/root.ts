/**
 * Root operations an operator or governance runs. Each is one function used by its
 * Blueprint script (scripts/*.ts), by the tests and by the demo, against any NetworkProvider.
 * Every function checks its input before anything is sent and confirms the effect after.
 */
import type { NetworkProvider } from '@ton/blueprint';
import { Address, fromNano, OpenedContract, toNano } from "@ton/core";
import { AllowList, AllowListId, attestorMap, defaultParams, Params, Root, rootForOwner } from '../wrappers/Root';
import { keyToBigInt } from '../wrappers/payloads';
import { confirm, requireDeployed } from './confirm';

const GOVERNANCE_VALUE = toNano('0.05');

export async function deployRoot(provider: NetworkProvider, opts: { owner: Address; params?: Params; value?: bigint }): Promise<OpenedContract<Root>> {
    const root = provider.open(await rootForOwner(opts.owner, opts.params ?? defaultParams()));
    if (await provider.isContractDeployed(root.address)) {
        provider.ui().write(`Root for this owner and params is already deployed at ${root.address.toString()}`);
        return root;
    }
    provider.ui().write(`deploying Root at ${root.address.toString()} (owner ${opts.owner.toString()})`);
    await root.send(provider.sender(), { value: opts.value ?? toNano('0.5') }, null);
    await confirm(provider, `Root deployed at ${root.address.toString()}`, () => provider.isContractDeployed(root.address));
    return root;
}

export function openRoot(provider: NetworkProvider, address: Address) {
    return provider.open(Root.fromAddress(address));
}

async function requireOwner(provider: NetworkProvider, root: Address): Promise<void> {
    await requireDeployed(provider, root, 'Root');
    const owner = await openRoot(provider, root).getOwner();
    const me = provider.sender().address;
    if (!me || !owner.equals(me)) {
        throw new Error(`only Root's owner ${owner.toString()} may do this; this wallet is ${me?.toString() ?? 'unknown'}`);
    }
}

export async function setAttestors(provider: NetworkProvider, rootAddress: Address, keys: Buffer[], threshold: number): Promise<void> {
    if (keys.length === 0) throw new Error('give at least one attestor key');
    if (new Set(keys.map((k) => k.toString('hex'))).size !== keys.length) throw new Error('an attestor key is listed twice');
    if (threshold < 1 || threshold > keys.length) throw new Error(`threshold must be between 1 and ${keys.length}`);
    await requireOwner(provider, rootAddress);
    const root = openRoot(provider, rootAddress);
    await root.send(provider.sender(), { value: GOVERNANCE_VALUE }, {
        $$type: 'SetAttestors',
        queryId: 0n,
        attestors: attestorMap(keys),
        threshold: BigInt(threshold),
    });
    await confirm(provider, `${keys.length} attestor(s), threshold ${threshold}`, async () =>
        (await root.getThreshold()) === BigInt(threshold) && (await root.getIsAttestor(keyToBigInt(keys[0]))),
    );
}

export const listNames: Record<string, AllowListId> = {
    'proxy-image': AllowList.proxyImage,
    'worker-image': AllowList.workerImage,
    model: AllowList.model,
};

export async function editAllowList(
    provider: NetworkProvider,
    rootAddress: Address,
    list: AllowListId,
    hash: Buffer,
    allowed: boolean,
    expiresAt = 0,
): Promise<void> {
    await requireOwner(provider, rootAddress);
    const root = openRoot(provider, rootAddress);
    const h = keyToBigInt(hash);
    await root.send(provider.sender(), { value: GOVERNANCE_VALUE }, {
        $$type: 'AllowListEdit',
        queryId: 0n,
        list: BigInt(list),
        hash: h,
        allowed,
        expiresAt: BigInt(expiresAt),
    });
    await confirm(provider, `${hash.toString('hex')} ${allowed ? 'allowed' : 'removed'}`, async () => (await root.getIsAllowed(BigInt(list), h)) === allowed);
}

export async function setParams(provider: NetworkProvider, rootAddress: Address, params: Params): Promise<void> {
    if (params.prices.workerFeePerToken > params.prices.pricePerToken) throw new Error('worker fee per token cannot exceed the price per token');
    await requireOwner(provider, rootAddress);
    const root = openRoot(provider, rootAddress);
    await root.send(provider.sender(), { value: GOVERNANCE_VALUE }, { $$type: 'SetParams', queryId: 0n, params });
    const same = (a: Params, b: Params) => JSON.stringify(a, (_, v) => (typeof v === 'bigint' ? v.toString() : v)) === JSON.stringify(b, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
    await confirm(provider, 'params updated', async () => same(await root.getParams(), params));
}

/** Renders rows as an aligned text table. */
export function table(rows: Record<string, string>[]): string {
    if (rows.length === 0) return '(none)';
    const cols = Object.keys(rows[0]);
    const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i])).join('  ');
    return [line(cols), line(width.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => r[c] ?? '')))].join('\n');
}

function hex(n: bigint): string {
    return n.toString(16).padStart(64, '0');
}

/** Root's getters as text tables (showRoot script, demo). */
export async function describeRoot(provider: NetworkProvider, rootAddress: Address): Promise<string> {
    await requireDeployed(provider, rootAddress, 'Root');
    const root = openRoot(provider, rootAddress);
    const p = await root.getParams();
    const out: string[] = [`Root ${rootAddress.toString()}`, `owner ${(await root.getOwner()).toString()}`, `treasury ${fromNano(await root.getTreasury())} TON`];
    out.push('', 'params', table([
        { name: 'price per token', value: `${p.prices.pricePerToken} nanoTON` },
        { name: 'worker fee per token', value: `${p.prices.workerFeePerToken} nanoTON` },
        { name: 'multipliers prompt/cached/completion/reasoning (bps)', value: [p.prices.promptMultiplier, p.prices.cachedMultiplier, p.prices.completionMultiplier, p.prices.reasoningMultiplier].join(' / ') },
        { name: 'min stake proxy/provider/client', value: [p.stakes.minProxyStake, p.stakes.minProviderStake, p.stakes.minClientStake].map((v) => fromNano(v) + ' TON').join(' / ') },
        { name: 'delays proxy close/client close/unbond/jail (s)', value: [p.stakes.proxyCloseDelay, p.stakes.clientCloseDelay, p.stakes.unbondDelay, p.stakes.jailPeriod].join(' / ') },
        { name: 'slash equivocation/bounty/fault/fault cap (bps)', value: [p.slashing.equivocationSlashBps, p.slashing.bountyBps, p.slashing.faultSlashBps, p.slashing.faultCapBps].join(' / ') },
        { name: 'accepted TCB status mask', value: `0b${p.tcbStatusMask.toString(2)}` },
    ]));
    const attestors = await root.getAttestors();
    out.push('', `attestors (threshold ${await root.getThreshold()} of ${attestors.size})`, table(attestors.keys().map((k) => ({ key: hex(k) }))));
    for (const [name, getter] of [
        ['proxy images', () => root.getProxyImages()],
        ['worker images', () => root.getWorkerImages()],
        ['models', () => root.getAllowedModels()],
    ] as const) {
        const d = await getter();
        out.push('', name, table(d.keys().map((k) => ({ hash: hex(k), expires: d.get(k) ? new Date(Number(d.get(k)) * 1000).toISOString() : 'never' }))));
    }
    const proxies: Record<string, string>[] = [];
    const nProxies = Number(await root.getProxyCount());
    for (let i = 0; i < nProxies; i++) {
        const r = await root.getProxy(BigInt(i));
        if (r) proxies.push({ seqno: String(i), address: r.proxy.toString(), active: String(r.active), validUntil: new Date(Number(r.validUntil) * 1000).toISOString(), endpoint: r.endpoint });
    }
    out.push('', 'proxies', table(proxies));
    const providers: Record<string, string>[] = [];
    const nProviders = Number(await root.getProviderCount());
    for (let i = 0; i < nProviders; i++) {
        const r = await root.getProvider(BigInt(i));
        if (r) providers.push({ seqno: String(i), address: r.provider.toString(), owner: r.owner.toString() });
    }
    out.push('', 'providers', table(providers));
    return out.join('\n');
}
