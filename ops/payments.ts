/**
 * Payment operations: a client's escrow, settlement of signed charges and payouts, and a
 * proxy operator's stake, commission and close. Each function checks what the contract would
 * refuse before anything is sent, sends with the value the contract needs, then confirms the
 * effect through getters and returns the figures it read there.
 */
import type { NetworkProvider } from '@ton/blueprint';
import { Address, Cell, fromNano } from '@ton/core';
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
    escrowFor,
    formatEscrowApiKey,
    generateEscrowSecret,
    JobEscrow,
    secretHashBytes,
} from '../wrappers/JobEscrow';
import { Proxy, PROXY_OP_GAS, proxyEndpointProblem, ProxyState, readProxyParams } from '../wrappers/Proxy';
import { NOTIFY_OP_GAS } from '../wrappers/Root';
import { WORKER_ACCOUNT_STORAGE, WORKER_PAYOUT_VALUE, WorkerAccount, workerAccountFor } from '../wrappers/WorkerAccount';
import { bigIntToKey, parseChargePayload, parsePayoutPayload, verifyCellSignature } from '../wrappers/payloads';
import { chargeAmount, payoutAmount } from '../wrappers/chargeAmount';
import { chainNow, when } from './chain-time';
import { confirm, requireDeployed } from './confirm';
import { openRoot, table } from './root';

const STATE_NAMES: Record<string, string> = { '0': 'new', '1': 'opening', '2': 'open', '3': 'closing', '4': 'closed' };
const PROXY_STATE_NAMES: Record<string, string> = { '0': 'uninit', '1': 'active', '2': 'closing', '3': 'closed' };

/** What a wallet keeps back for its own transaction fee when it sends (checked before sending). */
const WALLET_FEE_MARGIN = 10_000_000n;

function me(provider: NetworkProvider): Address {
    const a = provider.sender().address;
    if (!a) throw new Error('the sending wallet has no address');
    return a;
}

async function balanceOf(provider: NetworkProvider, a: Address): Promise<bigint> {
    return (await provider.getContractState(a)).balance;
}

function openEscrowContract(provider: NetworkProvider, escrow: Address) {
    return provider.open(JobEscrow.fromAddress(escrow));
}

function openProxy(provider: NetworkProvider, proxy: Address) {
    return provider.open(Proxy.fromAddress(proxy));
}

/** Refuses when the sending wallet holds less than `value` (plus a little for its own fee). */
async function requireFunds(provider: NetworkProvider, value: bigint): Promise<void> {
    const held = await balanceOf(provider, me(provider));
    if (held < value + WALLET_FEE_MARGIN) throw new Error(`this wallet holds ${fromNano(held)} TON; the operation sends ${fromNano(value)} TON plus fees`);
}

async function requireClient(provider: NetworkProvider, escrow: Address) {
    await requireDeployed(provider, escrow, 'JobEscrow');
    const e = openEscrowContract(provider, escrow);
    const client = await e.getClient();
    if (!client.equals(me(provider))) throw new Error(`only the escrow's client ${client.toString()} may do this`);
    return e;
}

/** A charge or payout the chain has already taken (or gone past): nothing new to submit, not a failure. */
export class AlreadySettled extends Error {}

// ------------------------------------------------------------------------------ client

/** What a client needs to call a proxy: the escrow, its API secret and the API key made of both. Keep the secret and key private. */
export interface EscrowAccess {
    address: Address;
    /** The 32-byte API secret; the escrow holds only its SHA-256. */
    secret: Buffer;
    /** `<escrow address>:<secret hex>`: the openai client's apiKey (Authorization: Bearer …). */
    apiKey: string;
}

/**
 * The sending wallet opens (deploys, or re-opens after a refund) its escrow with `proxy`,
 * storing the hash of `secret` (a fresh random one unless given). Returns the secret and the
 * API key; nothing here writes them anywhere (the caller shows or saves them once).
 */
export async function openEscrow(provider: NetworkProvider, o: { proxy: Address; deposit: bigint; stake?: bigint; secret?: Buffer }): Promise<EscrowAccess> {
    await requireDeployed(provider, o.proxy, 'Proxy');
    const proxy = openProxy(provider, o.proxy);
    if ((await proxy.getState()) !== ProxyState.active || (await proxy.getDeactivated())) throw new Error('the proxy is not active: it takes no new escrows');
    if ((await proxy.getValidUntil()) <= BigInt(chainNow(provider))) throw new Error("the proxy's certificate has expired: it takes no new escrows until renewed");
    if (o.deposit <= 0n) throw new Error('the deposit must be positive');
    const min = await proxy.getMinClientStake();
    const stake = o.stake ?? min;
    if (stake < min) throw new Error(`stake ${fromNano(stake)} TON is below the network's minimum client stake ${fromNano(min)} TON`);
    if (o.deposit < stake) throw new Error('the deposit must cover the stake');
    const secret = o.secret ?? generateEscrowSecret();
    const secretHash = escrowSecretHash(secret);
    const escrow = provider.open(await escrowFor(o.proxy, me(provider)));
    if (await provider.isContractDeployed(escrow.address)) {
        const s = await escrow.getState();
        if (s !== EscrowState.closed) throw new Error(`this escrow is already ${STATE_NAMES[s.toString()]}; top it up instead`);
    }
    await requireFunds(provider, o.deposit + ESCROW_OPEN_VALUE);
    await escrow.send(provider.sender(), { value: o.deposit + ESCROW_OPEN_VALUE }, escrowOpen({ queryId: BigInt(Date.now()), deposit: o.deposit, stake, secret }));
    await confirm(
        provider,
        `escrow ${escrow.address.toString()} open with ${fromNano(o.deposit)} TON and your API secret's hash`,
        async () =>
            (await provider.isContractDeployed(escrow.address)) &&
            (await escrow.getState()) === EscrowState.open &&
            (await escrow.getBalance()) === o.deposit &&
            (await escrow.getSecretHash()) === secretHash,
    );
    return { address: escrow.address, secret, apiKey: formatEscrowApiKey(escrow.address, secret) };
}

/**
 * The client sets a new API secret on its escrow (a fresh random one unless given), or
 * revokes every API key (`revoke`). A proxy refuses the old key from its next read of the
 * escrow (its cache holds state a few seconds). Returns the new secret and key (null when revoked).
 */
export async function setEscrowSecret(
    provider: NetworkProvider,
    o: { escrow: Address; secret?: Buffer; revoke?: boolean },
): Promise<{ secret: Buffer; apiKey: string } | null> {
    if (o.revoke && o.secret) throw new Error('give a new secret or revoke, not both');
    const e = await requireClient(provider, o.escrow);
    const state = await e.getState();
    if (state === EscrowState.new) throw new Error('this escrow was never opened: open it (openEscrow), which sets the secret');
    const secret = o.revoke ? null : (o.secret ?? generateEscrowSecret());
    const secretHash = secret === null ? 0n : escrowSecretHash(secret);
    const current = await e.getSecretHash();
    if (current === secretHash) throw new Error(secret === null ? 'this escrow has no API secret set: nothing to revoke' : 'the escrow already holds this secret');
    await requireFunds(provider, ESCROW_SET_SECRET_VALUE);
    await e.send(provider.sender(), { value: ESCROW_SET_SECRET_VALUE }, escrowSetSecret(secret, BigInt(Date.now())));
    await confirm(provider, secret === null ? 'API secret revoked: no API key works for this escrow' : "escrow holds your new API secret's hash", async () => (await e.getSecretHash()) === secretHash);
    return secret === null ? null : { secret, apiKey: formatEscrowApiKey(o.escrow, secret) };
}

export async function topUpEscrow(provider: NetworkProvider, o: { escrow: Address; amount: bigint }): Promise<void> {
    if (o.amount <= 0n) throw new Error('the amount must be positive');
    const e = await requireClient(provider, o.escrow);
    if ((await e.getState()) !== EscrowState.open) throw new Error('only an open escrow takes top-ups');
    const before = await e.getBalance();
    await requireFunds(provider, o.amount + ESCROW_OP_GAS);
    await e.send(provider.sender(), { value: o.amount + ESCROW_OP_GAS }, { $$type: 'EscrowTopUp', queryId: BigInt(Date.now()), amount: o.amount });
    await confirm(provider, `escrow balance +${fromNano(o.amount)} TON`, async () => (await e.getBalance()) === before + o.amount);
}

/** The client asks to close; returns when the refund can be withdrawn. */
export async function requestRefund(provider: NetworkProvider, o: { escrow: Address }): Promise<{ unlockAt: number }> {
    const e = await requireClient(provider, o.escrow);
    if ((await e.getState()) !== EscrowState.open) throw new Error('only an open escrow can be closed');
    await e.send(provider.sender(), { value: ESCROW_OP_GAS }, { $$type: 'EscrowRequestClose', queryId: BigInt(Date.now()) });
    await confirm(provider, 'escrow closing', async () => (await e.getState()) === EscrowState.closing);
    const unlockAt = Number(await e.getUnlockAt());
    provider.ui().write(`refund can be withdrawn from ${new Date(unlockAt * 1000).toISOString()}`);
    return { unlockAt };
}

/** After the close delay, the client takes its whole balance back. */
export async function withdrawRefund(provider: NetworkProvider, o: { escrow: Address }): Promise<{ refunded: bigint }> {
    const e = await requireClient(provider, o.escrow);
    if ((await e.getState()) !== EscrowState.closing) throw new Error('request the refund first (requestRefund)');
    const unlockAt = Number(await e.getUnlockAt());
    if (chainNow(provider) < unlockAt) throw new Error(`the close delay ends at ${new Date(unlockAt * 1000).toISOString()}; try again then`);
    const owed = await e.getBalance();
    await e.send(provider.sender(), { value: ESCROW_FINISH_VALUE }, { $$type: 'EscrowFinishClose', queryId: BigInt(Date.now()) });
    await confirm(provider, 'escrow closed and refunded', async () => (await e.getState()) === EscrowState.closed);
    // The client's ledger balance, all of it paid out (by the escrow, any shortfall by the Proxy's stake).
    return { refunded: owed - (await e.getBalance()) };
}

// ------------------------------------------------------------------------------ settlement (anyone)

/** Submits a proxy-signed cumulative charge to its escrow; returns the nanoTON it moved. */
export async function submitCharge(provider: NetworkProvider, o: { escrow: Address; payload: Cell; signature: Buffer }): Promise<{ charged: bigint }> {
    await requireDeployed(provider, o.escrow, 'JobEscrow');
    const e = openEscrowContract(provider, o.escrow);
    const c = parseChargePayload(o.payload);
    if (!c.escrow.equals(o.escrow)) throw new Error(`this charge is addressed to escrow ${c.escrow.toString()}`);
    if (c.validUntil < chainNow(provider)) throw new Error(`this charge expired at ${new Date(c.validUntil * 1000).toISOString()}`);
    const state = await e.getState();
    if (state !== EscrowState.open && state !== EscrowState.closing) throw new Error(`the escrow is ${STATE_NAMES[state.toString()]}: it takes no charges`);
    if (state === EscrowState.closing && chainNow(provider) >= Number(await e.getUnlockAt())) throw new Error(`the escrow's close window ended at ${when(await e.getUnlockAt())}: charges are no longer honoured`);
    if (!verifyCellSignature(o.payload, o.signature, bigIntToKey(await e.getProxyKey()))) throw new Error("the signature is not the proxy enclave key's");
    // A Proxy that is closed or deactivated refuses the charge after the escrow counted it: the payload would be spent for nothing.
    const proxy = openProxy(provider, await e.getProxy());
    if ((await proxy.getState()) === ProxyState.closed) throw new Error('the proxy is closed: it would refuse the charge and this payload would be spent');
    if (await proxy.getDeactivated()) throw new Error('the proxy is deactivated by governance: it would refuse the charge and this payload would be spent');
    const l = await e.getLedger();
    const t = c.tokens;
    const seen = l.tokens;
    if (t.prompt < seen.prompt || t.cached < seen.cached || t.completion < seen.completion || t.reasoning < seen.reasoning) throw new Error('stale charge: a token count is below what the escrow already charged');
    if (t.prompt === seen.prompt && t.cached === seen.cached && t.completion === seen.completion && t.reasoning === seen.reasoning) throw new AlreadySettled('nothing to charge: the escrow already accepted these counts');
    const prices = await e.getPrices();
    const increase = chargeAmount(t, prices) - l.charged;
    if (increase > l.balance) throw new Error(`the charge (${fromNano(increase)} TON) is above the client's balance (${fromNano(l.balance)} TON)`);
    await requireFunds(provider, ESCROW_CHARGE_VALUE);
    await e.send(provider.sender(), { value: ESCROW_CHARGE_VALUE }, { $$type: 'EscrowCharge', queryId: BigInt(Date.now()), payload: o.payload, signature: o.signature });
    await confirm(provider, `charge of ${fromNano(increase)} TON accepted`, async () => {
        // Confirmed by the counts (a charge whose price rounds to no nanoTON still moves them).
        const now = (await e.getLedger()).tokens;
        return now.prompt === t.prompt && now.cached === t.cached && now.completion === t.completion && now.reasoning === t.reasoning;
    });
    return { charged: (await e.getCharged()) - l.charged };
}

/** Submits a proxy-signed cumulative payout; deploys the WorkerAccount on its first payout. */
export async function submitPayout(
    provider: NetworkProvider,
    o: { workerAccount: Address; proxy: Address; provider: Address; payee: Address; payload: Cell; signature: Buffer },
): Promise<{ paid: bigint }> {
    await requireDeployed(provider, o.proxy, 'Proxy');
    const account = provider.open(await workerAccountFor(o.proxy, o.provider, o.payee));
    if (!account.address.equals(o.workerAccount)) throw new Error('the worker account is not the one of this (proxy, provider, payee)');
    const p = parsePayoutPayload(o.payload);
    if (!p.workerAccount.equals(o.workerAccount)) throw new Error(`this payout is addressed to ${p.workerAccount.toString()}`);
    if (p.validUntil < chainNow(provider)) throw new Error(`this payout expired at ${new Date(p.validUntil * 1000).toISOString()}`);
    const proxy = openProxy(provider, o.proxy);
    if ((await proxy.getState()) === ProxyState.closed) throw new Error('the proxy is closed: it pays no more fees');
    if (!verifyCellSignature(o.payload, o.signature, bigIntToKey(await proxy.getEd25519Key()))) throw new Error("the signature is not the proxy enclave key's");
    const deployed = await provider.isContractDeployed(account.address);
    const paidBefore = deployed ? await account.getPaidTokens() : 0n;
    if (deployed && (await account.getPendingTokens()) !== 0n) throw new Error('a payout of this account is in flight; wait for it');
    if (p.tokens <= paidBefore) throw new AlreadySettled(`stale payout: ${p.tokens} tokens, already paid up to ${paidBefore}`);
    const prices = await proxy.getPrices();
    const fee = payoutAmount(paidBefore, p.tokens, prices);
    if (fee > (await proxy.getPool())) throw new Error(`the proxy's pool cannot pay ${fromNano(fee)} TON yet (settle charges first)`);
    const payeeBefore = await balanceOf(provider, o.payee);
    // A new account (or one a refused first payout left short) keeps its storage reserve from this value.
    const held = await balanceOf(provider, account.address);
    const reserve = held < WORKER_ACCOUNT_STORAGE ? WORKER_ACCOUNT_STORAGE - held : 0n;
    await requireFunds(provider, WORKER_PAYOUT_VALUE + reserve);
    await account.send(provider.sender(), { value: WORKER_PAYOUT_VALUE + reserve }, { $$type: 'WorkerPayout', queryId: BigInt(Date.now()), payload: o.payload, signature: o.signature });
    await confirm(provider, `payout up to ${p.tokens} tokens`, async () => (await provider.isContractDeployed(account.address)) && (await account.getPaidTokens()) === p.tokens);
    const paid = ((await account.getPaidTokens()) - paidBefore) * prices.workerFeePerToken;
    const gained = (await balanceOf(provider, o.payee)) - payeeBefore;
    provider.ui().write(`payee balance change: ${fromNano(gained)} TON (fee ${fromNano(paid)} TON${o.payee.equals(me(provider)) ? ', less the gas this wallet paid' : ''})`);
    return { paid };
}

// ------------------------------------------------------------------------------ proxy operator

async function requireProxyOwner(provider: NetworkProvider, proxyAddress: Address) {
    await requireDeployed(provider, proxyAddress, 'Proxy');
    const proxy = openProxy(provider, proxyAddress);
    const owner = await proxy.getOwner();
    if (!owner || !owner.equals(me(provider))) throw new Error(`only the proxy's operator ${owner?.toString() ?? '(none)'} may do this`);
    return proxy;
}

export async function proxyAddStake(provider: NetworkProvider, o: { proxy: Address; amount: bigint }): Promise<void> {
    if (o.amount <= 0n) throw new Error('the amount must be positive');
    const proxy = await requireProxyOwner(provider, o.proxy);
    if ((await proxy.getState()) !== ProxyState.active) throw new Error('only an active proxy takes stake');
    const before = await proxy.getStake();
    await requireFunds(provider, o.amount + PROXY_OP_GAS);
    await proxy.send(provider.sender(), { value: o.amount + PROXY_OP_GAS }, { $$type: 'ProxyAddStake', queryId: BigInt(Date.now()), amount: o.amount });
    await confirm(provider, `stake +${fromNano(o.amount)} TON`, async () => (await proxy.getStake()) === before + o.amount);
}

/**
 * The operator moves the endpoint clients find its proxy at (Root's record and the Proxy both
 * change; clients read it from the Proxy, client/chain-check.ts). Refused before sending when
 * the endpoint is not a base http(s) URL or the proxy is deactivated at Root.
 */
export async function setProxyEndpoint(provider: NetworkProvider, o: { proxy: Address; endpoint: string }): Promise<void> {
    const bad = proxyEndpointProblem(o.endpoint);
    if (bad) throw new Error(`not an endpoint clients can use: ${bad}`);
    const proxy = await requireProxyOwner(provider, o.proxy);
    const root = openRoot(provider, await proxy.getRoot());
    const seqno = await proxy.getSeqno();
    const record = await root.getProxy(seqno);
    if (!record || !record.proxy.equals(o.proxy)) throw new Error(`Root has no record of this Proxy as #${seqno}`);
    if (!record.active) throw new Error('the proxy is deactivated by governance: its record can no longer change');
    if ((await proxy.getEndpoint()) === o.endpoint) throw new Error(`the endpoint is already ${o.endpoint}`);
    await requireFunds(provider, NOTIFY_OP_GAS);
    await root.send(provider.sender(), { value: NOTIFY_OP_GAS }, { $$type: 'SetProxyEndpoint', queryId: BigInt(Date.now()), seqno, endpoint: o.endpoint });
    await confirm(provider, `endpoint ${o.endpoint} at Root and on the Proxy`, async () => (await proxy.getEndpoint()) === o.endpoint && (await root.getProxy(seqno))?.endpoint === o.endpoint);
}

export async function proxyWithdrawCommission(provider: NetworkProvider, o: { proxy: Address; amount?: bigint }): Promise<{ withdrawn: bigint }> {
    const proxy = await requireProxyOwner(provider, o.proxy);
    if ((await proxy.getState()) === ProxyState.closed) throw new Error('the proxy is closed');
    const available = await proxy.getCommission();
    const amount = o.amount ?? available;
    if (amount <= 0n) throw new Error('no commission to withdraw');
    if (amount > available) throw new Error(`only ${fromNano(available)} TON of commission is above the workers' reserved fees`);
    const pool = await proxy.getPool();
    await proxy.send(provider.sender(), { value: PROXY_OP_GAS }, { $$type: 'ProxyWithdrawCommission', queryId: BigInt(Date.now()), amount });
    await confirm(provider, `commission ${fromNano(amount)} TON withdrawn`, async () => (await proxy.getPool()) === pool - amount);
    return { withdrawn: pool - (await proxy.getPool()) };
}

export async function proxyBeginClose(provider: NetworkProvider, o: { proxy: Address }): Promise<{ unlockAt: number }> {
    const proxy = await requireProxyOwner(provider, o.proxy);
    if ((await proxy.getState()) !== ProxyState.active) throw new Error('only an active proxy can begin closing');
    await proxy.send(provider.sender(), { value: PROXY_OP_GAS }, { $$type: 'ProxyBeginClose', queryId: BigInt(Date.now()) });
    await confirm(provider, 'proxy closing', async () => (await proxy.getState()) === ProxyState.closing);
    return { unlockAt: Number(await proxy.getUnlockAt()) };
}

export async function proxyFinishClose(provider: NetworkProvider, o: { proxy: Address }): Promise<void> {
    const proxy = await requireProxyOwner(provider, o.proxy);
    if ((await proxy.getState()) !== ProxyState.closing) throw new Error('begin closing first');
    const unlockAt = Number(await proxy.getUnlockAt());
    if (chainNow(provider) < unlockAt) throw new Error(`the close delay ends at ${new Date(unlockAt * 1000).toISOString()}`);
    const openEscrows = await proxy.getOpenEscrows();
    const reserved = await proxy.getWorkersReserved();
    if (openEscrows !== 0n || reserved !== 0n) {
        const params = await readProxyParams(provider.provider(o.proxy));
        if (!params) throw new Error('the proxy has no params snapshot');
        const timeout = unlockAt + Number(params.stakes.clientCloseDelay);
        if (chainNow(provider) < timeout) {
            throw new Error(
                `obligations outstanding (${openEscrows} open escrow(s), ${fromNano(reserved)} TON reserved for workers): ` +
                    `settle them, or finish closing from ${when(timeout)}`,
            );
        }
    }
    await proxy.send(provider.sender(), { value: PROXY_OP_GAS }, { $$type: 'ProxyFinishClose', queryId: BigInt(Date.now()) });
    await confirm(provider, 'proxy closed, stake and pool returned', async () => (await proxy.getState()) === ProxyState.closed);
}

// ------------------------------------------------------------------------------ reading

async function secretHashText(e: ReturnType<typeof openEscrowContract>): Promise<string> {
    const h = await e.getSecretHash();
    return h === 0n ? 'none set (no API key works)' : secretHashBytes(h).toString('hex');
}

export async function describeEscrow(provider: NetworkProvider, escrow: Address): Promise<string> {
    await requireDeployed(provider, escrow, 'JobEscrow');
    const e = openEscrowContract(provider, escrow);
    const l = await e.getLedger();
    return [
        `JobEscrow ${escrow.toString()}`,
        table([
            { field: 'proxy', value: (await e.getProxy()).toString() },
            { field: 'client', value: (await e.getClient()).toString() },
            { field: 'state', value: STATE_NAMES[l.state.toString()] ?? String(l.state) },
            { field: 'balance', value: `${fromNano(l.balance)} TON` },
            { field: 'stake', value: `${fromNano(l.stake)} TON` },
            { field: 'charged', value: `${fromNano(l.charged)} TON` },
            { field: 'tokens prompt/cached/completion/reasoning', value: [l.tokens.prompt, l.tokens.cached, l.tokens.completion, l.tokens.reasoning].join(' / ') },
            { field: 'unlock at', value: l.unlockAt === 0n ? '-' : new Date(Number(l.unlockAt) * 1000).toISOString() },
            { field: 'API secret hash (SHA-256)', value: await secretHashText(e) },
        ]),
    ].join('\n');
}

export async function describeProxy(provider: NetworkProvider, proxyAddress: Address): Promise<string> {
    await requireDeployed(provider, proxyAddress, 'Proxy');
    const p = openProxy(provider, proxyAddress);
    return [
        `Proxy ${proxyAddress.toString()} (#${await p.getSeqno()} of Root ${(await p.getRoot()).toString()})`,
        table([
            { field: 'state', value: PROXY_STATE_NAMES[(await p.getState()).toString()] + ((await p.getDeactivated()) ? ' (deactivated)' : '') },
            { field: 'operator', value: (await p.getOwner())?.toString() ?? '-' },
            { field: 'endpoint', value: await p.getEndpoint() },
            { field: 'stake', value: `${fromNano(await p.getStake())} TON` },
            { field: 'pool / workers reserved / commission', value: [await p.getPool(), await p.getWorkersReserved(), await p.getCommission()].map((v) => fromNano(v) + ' TON').join(' / ') },
            { field: 'open escrows', value: String(await p.getOpenEscrows()) },
            { field: 'enclave ed25519 / x25519', value: `${bigIntToKey(await p.getEd25519Key()).toString('hex')} / ${bigIntToKey(await p.getX25519Key()).toString('hex')}` },
            { field: 'image hash', value: bigIntToKey(await p.getImageHash()).toString('hex') },
            { field: 'quote hash (re-verify the raw quote with cocoon-verify)', value: bigIntToKey(await p.getQuoteHash()).toString('hex') },
            { field: 'certificate valid until', value: new Date(Number(await p.getValidUntil()) * 1000).toISOString() },
        ]),
    ].join('\n');
}
