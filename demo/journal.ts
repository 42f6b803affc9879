/**
 * The demo's ledger of everything that happened on the embedded chain: every send's
 * transactions under the step that caused it, so the summary can show gas and fees per
 * transaction and check TON conservation (what entered = balances + fees) at the end.
 */
import { Address } from '@ton/core';
import { Blockchain, BlockchainTransaction, SendMessageResult } from '@ton/sandbox';

export interface StepGas {
    step: string;
    txs: number;
    gasUsed: bigint;
    fees: bigint; // nanoTON: transaction fees plus forwarding fees of the messages they sent
}

function accountOf(tx: BlockchainTransaction): Address {
    return Address.parseRaw(`0:${tx.address.toString(16).padStart(64, '0')}`);
}

function feesOf(tx: BlockchainTransaction): bigint {
    let fees = tx.totalFees.coins;
    for (const out of tx.outMessages.values()) if (out.info.type === 'internal') fees += out.info.forwardFee;
    return fees;
}

export class Journal {
    private current = 'setup';
    private readonly steps: StepGas[] = [];
    private readonly accounts = new Map<string, Address>();
    private readonly opening = new Map<string, bigint>();
    private allFees = 0n;
    private failures: string[] = [];

    constructor(private readonly chain: Blockchain) {}

    /** Wallets whose starting balance counts as TON that entered the system. */
    async openAccount(address: Address): Promise<void> {
        this.accounts.set(address.toRawString(), address);
        this.opening.set(address.toRawString(), (await this.chain.getContract(address)).balance);
    }

    step(name: string): void {
        this.current = name;
    }

    /** Called with every send's result (SandboxNetworkProvider's journal hook). */
    record = (result: SendMessageResult): void => {
        let row = this.steps.find((s) => s.step === this.current);
        if (!row) {
            row = { step: this.current, txs: 0, gasUsed: 0n, fees: 0n };
            this.steps.push(row);
        }
        for (const tx of result.transactions) {
            const a = accountOf(tx);
            if (!this.accounts.has(a.toRawString())) {
                this.accounts.set(a.toRawString(), a);
                this.opening.set(a.toRawString(), 0n); // a contract the system created
            }
            row.txs += 1;
            if (tx.description.type === 'generic' && tx.description.computePhase.type === 'vm') {
                row.gasUsed += tx.description.computePhase.gasUsed;
                if (!tx.description.computePhase.success) this.failures.push(`${this.current}: ${a.toString()} exit ${tx.description.computePhase.exitCode}`);
            }
            if (tx.description.type === 'generic' && tx.description.aborted && tx.description.computePhase.type === 'vm' && tx.description.computePhase.success) {
                this.failures.push(`${this.current}: ${a.toString()} action phase failed`);
            }
            const fees = feesOf(tx);
            row.fees += fees;
            this.allFees += fees;
        }
    };

    get gas(): StepGas[] {
        return this.steps;
    }

    get totalFees(): bigint {
        return this.allFees;
    }

    /** Failed transactions seen (a refused message bounces; the demo expects none). */
    get failedTransactions(): string[] {
        return this.failures;
    }

    async balances(): Promise<Map<string, bigint>> {
        const out = new Map<string, bigint>();
        for (const [k, a] of this.accounts) out.set(k, (await this.chain.getContract(a)).balance);
        return out;
    }

    /** TON that entered = TON held now + fees paid; returns the difference (0 when conserved). */
    async conservationGap(): Promise<bigint> {
        let opening = 0n;
        for (const v of this.opening.values()) opening += v;
        let now = 0n;
        for (const v of (await this.balances()).values()) now += v;
        return opening - now - this.allFees;
    }

    openingBalance(a: Address): bigint {
        return this.opening.get(a.toRawString()) ?? 0n;
    }
}
