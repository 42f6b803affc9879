/**
 * The proxy router's view of its clients' escrows, read from the chain through any
 * `ContractReader`: a Blueprint NetworkProvider (the embedded sandbox in tests and the demo, a
 * script's network) or `tonV4Reader` (TON's HTTP API v4 through @ton/ton's TonClient4, what
 * `cocoon-proxy --ton-v4` uses). An escrow counts only if it is the real JobEscrow of (this
 * proxy, its client): a look-alike contract at another address is treated as no escrow at
 * all. The router reads through its EscrowCache (worker-reference/proxy/escrow-cache.ts), not
 * on every request.
 */
import { Address, Contract, OpenedContract } from '@ton/core';
import { TonClient4 } from '@ton/ton';
import { EscrowReader, EscrowState } from '../worker-reference/proxy/escrow';
import { EscrowState as EscrowStates, escrowFor, JobEscrow } from '../wrappers/JobEscrow';

/** What reading contracts takes; a Blueprint NetworkProvider is one. */
export interface ContractReader {
    open<T extends Contract>(contract: T): OpenedContract<T>;
    isContractDeployed(address: Address): Promise<boolean>;
    /** A reader fixed at the latest block, for several reads that belong together (one consistent state, fewer requests). */
    snapshot?(): Promise<ContractReader>;
}

/**
 * A ContractReader over TON's HTTP API v4 (e.g. https://mainnet-v4.tonhubapi.com,
 * https://testnet-v4.tonhubapi.com, or a node's own v4 server), reading the latest block.
 */
export function tonV4Reader(endpoint: string, timeoutMs = 10_000): ContractReader {
    const client = new TonClient4({ endpoint, timeout: timeoutMs });
    const at = (seqno: number): ContractReader => ({
        open: (contract) => client.openAt(seqno, contract),
        isContractDeployed: (address) => client.isContractDeployed(seqno, address),
    });
    return {
        open: (contract) => client.open(contract),
        isContractDeployed: async (address) => client.isContractDeployed((await client.getLastBlock()).last.seqno, address),
        snapshot: async () => at((await client.getLastBlock()).last.seqno),
    };
}

/** A get-method that ran and failed (sandbox: GetMethodError; TonClient4: "Exit code: N"), not a failed read. */
function getterFailed(e: unknown): boolean {
    if (typeof e !== 'object' || e === null) return false;
    if (typeof (e as { exitCode?: unknown }).exitCode === 'number') return true;
    return e instanceof Error && /^Exit code: -?\d+$/.test(e.message);
}

export class ChainEscrowReader implements EscrowReader {
    constructor(
        private readonly provider: ContractReader,
        private readonly proxy: Address,
    ) {}

    async getEscrow(escrow: Address): Promise<EscrowState | null> {
        const chain = (await this.provider.snapshot?.()) ?? this.provider;
        if (!(await chain.isContractDeployed(escrow))) return null;
        const e = chain.open(JobEscrow.fromAddress(escrow));
        let client: Address;
        try {
            client = await e.getClient();
        } catch (err) {
            if (getterFailed(err)) return null; // the contract has no such getter: not a JobEscrow
            throw err; // the chain could not be read: not an answer about the escrow
        }
        if (!(await escrowFor(this.proxy, client)).address.equals(escrow)) return null;
        const l = await e.getLedger();
        return {
            open: l.state === EscrowStates.open,
            balance: l.balance,
            charged: { prompt: l.tokens.prompt, cached: l.tokens.cached, completion: l.tokens.completion, reasoning: l.tokens.reasoning },
            secretHash: await e.getSecretHash(),
        };
    }
}
