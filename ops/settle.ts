/**
 * One settlement pass from a proxy router: every escrow's latest signed cumulative charge and
 * every worker account's latest signed cumulative payout that the chain has not taken yet are
 * submitted, charges first (they fill the Proxy's pool the payouts draw on). The chain is the
 * state: a charge or payout already taken is "up to date", so a pass can be repeated at any
 * time and nothing is kept on the operator's disk. What `scripts/settle.ts` runs.
 */
import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { Provider } from '../wrappers/Provider';
import { Proxy } from '../wrappers/Proxy';
import { Root } from '../wrappers/Root';
import { WorkerAccount, workerAccountFor } from '../wrappers/WorkerAccount';
import { AlreadySettled, submitCharge, submitPayout } from './payments';
import { RouterClient } from './router-client';
import { readSignedCharge, readSignedPayout } from './settlement-file';

export interface SettlePass {
    charged: Array<{ escrow: Address; amount: bigint }>;
    paid: Array<{ workerAccount: Address; amount: bigint }>;
    /** Escrows and worker accounts whose on-chain counts already match the router's. */
    upToDate: number;
    /** Not settled, with the reason (a check the contract would fail, an unknown provider, …). */
    skipped: Array<{ address: Address; why: string }>;
}

interface RouterWorker {
    worker_account?: string;
    provider?: string | null;
}

export async function settleFromRouter(provider: NetworkProvider, router: RouterClient): Promise<SettlePass> {
    const pass: SettlePass = { charged: [], paid: [], upToDate: 0, skipped: [] };
    const listed = (await router.get('/v1/settlement')) as { escrows?: unknown; worker_accounts?: unknown };
    const workers = (await router.get('/v1/workers')) as { proxy?: unknown; workers?: RouterWorker[] };
    if (!Array.isArray(listed.escrows) || !Array.isArray(listed.worker_accounts) || typeof workers.proxy !== 'string')
        throw new Error(`${router.base} does not answer like a Cocoon proxy router (GET /v1/settlement, /v1/workers)`);
    const proxy = Address.parse(workers.proxy);
    const settle = async (address: Address, submit: () => Promise<void>) => {
        try {
            await submit();
        } catch (e) {
            if (e instanceof AlreadySettled) pass.upToDate++;
            else pass.skipped.push({ address, why: (e as Error).message });
        }
    };

    for (const text of listed.escrows as string[]) {
        const escrow = Address.parse(text);
        await settle(escrow, async () => {
            const c = readSignedCharge(JSON.stringify(await router.get(`/v1/settlement/charge/${encodeURIComponent(text)}`)));
            const { charged } = await submitCharge(provider, { escrow: c.escrow, payload: c.payload, signature: c.signature });
            pass.charged.push({ escrow, amount: charged });
        });
    }

    for (const text of listed.worker_accounts as string[]) {
        const account = Address.parse(text);
        await settle(account, async () => {
            const { providerAddress, payee } = await payoutParties(provider, proxy, account, workers.workers ?? []);
            const p = readSignedPayout(JSON.stringify(await router.get(`/v1/settlement/payout/${encodeURIComponent(text)}`)));
            const { paid } = await submitPayout(provider, { workerAccount: account, proxy, provider: providerAddress, payee, payload: p.payload, signature: p.signature });
            pass.paid.push({ workerAccount: account, amount: paid });
        });
    }
    return pass;
}

/**
 * The Provider and payee of a worker account: its getters once deployed; before its first
 * payout, the Provider the router lists for it and that Provider's owner as payee (the
 * account's address must then be theirs), or, for a worker the router no longer lists (a
 * joined worker that left), the Provider of Root's registry whose account it is.
 */
async function payoutParties(provider: NetworkProvider, proxy: Address, account: Address, workers: RouterWorker[]): Promise<{ providerAddress: Address; payee: Address }> {
    if (await provider.isContractDeployed(account)) {
        const a = provider.open(WorkerAccount.fromAddress(account));
        return { providerAddress: await a.getProvider(), payee: await a.getPayee() };
    }
    const entry = workers.find((w) => typeof w.worker_account === 'string' && Address.parse(w.worker_account).equals(account) && typeof w.provider === 'string');
    if (!entry) return registryParties(provider, proxy, account);
    const providerAddress = Address.parse(entry.provider as string);
    if (!(await provider.isContractDeployed(providerAddress))) throw new Error(`the Provider ${providerAddress.toString()} the router names is not deployed`);
    const owner = await provider.open(Provider.fromAddress(providerAddress)).getOwner();
    if (!owner) throw new Error(`the Provider ${providerAddress.toString()} has no owner to pay: run submitPayout with --payee`);
    if (!(await workerAccountFor(proxy, providerAddress, owner)).address.equals(account))
        throw new Error(`this account is not the one of (Proxy, Provider ${providerAddress.toString()}, its owner): run submitPayout with the right --provider and --payee`);
    return { providerAddress, payee: owner };
}

/**
 * The registered Provider whose WorkerAccount with this Proxy (paying the Provider's owner) is
 * `account`: Root's registry read once (its records carry each owner, fixed at registration),
 * the addresses derived here.
 */
async function registryParties(provider: NetworkProvider, proxy: Address, account: Address): Promise<{ providerAddress: Address; payee: Address }> {
    const root = provider.open(Root.fromAddress(await provider.open(Proxy.fromAddress(proxy)).getRoot()));
    for (const record of (await root.getProviders()).values())
        if ((await workerAccountFor(proxy, record.provider, record.owner)).address.equals(account)) return { providerAddress: record.provider, payee: record.owner };
    throw new Error("a first payout needs the worker's Provider: neither the router nor Root's registry has one whose account this is (run submitPayout with --provider and --payee)");
}
