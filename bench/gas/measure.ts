/**
 * Gas accounting shared by every gas benchmark module (bench/gas/*.ts).
 * An op's figure sums the compute gas and total fees of the project's own contract
 * transactions in the op's trace (not the sending wallet's), so figures compare with other
 * TON contract suites measured the same way.
 */
import { Address } from '@ton/core';
import { BlockchainTransaction } from '@ton/sandbox';

export interface GasRow {
    op: string;
    txs: number;
    gasUsed: number;
    totalFees: number; // nanoTON
}

/** A benchmark module: `export async function measure(): Promise<GasRow[]>`. */
export type GasModule = { measure: () => Promise<GasRow[]> };

/** Sums the transactions of `contracts` in `txs` into one row named `op`. */
export function gasRow(op: string, txs: BlockchainTransaction[], contracts: Address[]): GasRow {
    let n = 0;
    let gas = 0n;
    let fees = 0n;
    for (const tx of txs) {
        const account = Address.parseRaw(`0:${tx.address.toString(16).padStart(64, '0')}`);
        if (!contracts.some((c) => c.equals(account))) continue;
        n += 1;
        fees += tx.totalFees.coins;
        if (tx.description.type === 'generic' && tx.description.computePhase.type === 'vm') {
            gas += tx.description.computePhase.gasUsed;
        }
    }
    if (n === 0) throw new Error(`op ${op}: no transaction of the project's contracts in the trace`);
    return { op, txs: n, gasUsed: Number(gas), totalFees: Number(fees) };
}
