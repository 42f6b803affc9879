/**
 * The proxy router's view of its clients' escrows, read from the chain through any
 * Blueprint NetworkProvider (the embedded sandbox in tests and the demo, TON itself in
 * production). An escrow counts only if it is the real JobEscrow of (this proxy, its client):
 * a look-alike contract at another address is treated as no escrow at all. The router reads
 * through its EscrowCache (worker-reference/proxy/escrow-cache.ts), not on every request.
 */
import type { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { EscrowReader, EscrowState } from '../worker-reference/proxy/escrow';
import { EscrowState as EscrowStates, escrowFor, JobEscrow } from '../wrappers/JobEscrow';

export class ChainEscrowReader implements EscrowReader {
    constructor(
        private readonly provider: NetworkProvider,
        private readonly proxy: Address,
    ) {}

    async getEscrow(escrow: Address): Promise<EscrowState | null> {
        if (!(await this.provider.isContractDeployed(escrow))) return null;
        const e = this.provider.open(JobEscrow.fromAddress(escrow));
        let client: Address;
        try {
            client = await e.getClient();
        } catch {
            return null; // not a JobEscrow
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
