/**
 * What the proxy needs to know about a client's JobEscrow before serving it. The sandbox
 * (tests, demo) and a real TON client both implement `EscrowReader`; `InMemoryEscrowReader`
 * serves configs and unit tests.
 */
import { Address } from '@ton/core';
import { TokenCounts, tokensFromJson, zeroTokens } from './tokens';

export interface EscrowState {
    /** The escrow accepts charges (not closing / closed). */
    open: boolean;
    /** nanoTON available to pay charges (balance above the storage reserve). */
    balance: bigint;
    /** Cumulative tokens of the last charge the escrow accepted on chain. */
    charged: TokenCounts;
}

export interface EscrowReader {
    /** The escrow's state, or null when no such escrow exists for this proxy. */
    getEscrow(escrow: Address): Promise<EscrowState | null>;
}

export class InMemoryEscrowReader implements EscrowReader {
    private readonly escrows = new Map<string, EscrowState>();

    set(escrow: Address, state: EscrowState): void {
        this.escrows.set(escrow.toRawString(), { ...state, charged: { ...state.charged } });
    }

    async getEscrow(escrow: Address): Promise<EscrowState | null> {
        const s = this.escrows.get(escrow.toRawString());
        return s ? { ...s, charged: { ...s.charged } } : null;
    }

    /** From config JSON: { "<address>": { "open": true, "balance": "1000000000", "charged": {...} } }. */
    static fromJson(json: unknown): InMemoryEscrowReader {
        const r = new InMemoryEscrowReader();
        if (json === undefined || json === null) return r;
        if (typeof json !== 'object') throw new Error('escrows must be an object keyed by escrow address');
        for (const [addr, v] of Object.entries(json as Record<string, unknown>)) {
            const o = v as { open?: unknown; balance?: unknown; charged?: unknown };
            if (typeof o.balance !== 'string' && typeof o.balance !== 'number') throw new Error(`escrow ${addr}: balance (nanoTON) is required`);
            r.set(Address.parse(addr), { open: o.open !== false, balance: BigInt(o.balance), charged: o.charged ? tokensFromJson(o.charged) : zeroTokens() });
        }
        return r;
    }
}
