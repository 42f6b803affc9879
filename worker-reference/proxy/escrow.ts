/**
 * What the proxy needs to know about a client's JobEscrow before serving it. The sandbox
 * (tests, demo) and a real TON client both implement `EscrowReader`; `InMemoryEscrowReader`
 * serves configs and unit tests. The router reads escrows through `EscrowCache`
 * (escrow-cache.ts), never on every request.
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
    /** SHA-256 of the client's API secret (the escrow's `secretHash`); 0 = none set, no key is valid. */
    secretHash: bigint;
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

    /**
     * From config JSON: { "<address>": { "open": true, "balance": "1000000000", "charged": {...},
     * "secretHash": "<64 hex: SHA-256 of the client's API secret>" } }. Without secretHash the
     * escrow has no secret set, and the proxy accepts no API key for it.
     */
    static fromJson(json: unknown): InMemoryEscrowReader {
        const r = new InMemoryEscrowReader();
        if (json === undefined || json === null) return r;
        if (typeof json !== 'object') throw new Error('escrows must be an object keyed by escrow address');
        for (const [addr, v] of Object.entries(json as Record<string, unknown>)) {
            const o = v as { open?: unknown; balance?: unknown; charged?: unknown; secretHash?: unknown };
            if (typeof o.balance !== 'string' && typeof o.balance !== 'number') throw new Error(`escrow ${addr}: balance (nanoTON) is required`);
            if (o.secretHash !== undefined && (typeof o.secretHash !== 'string' || !/^[0-9a-fA-F]{64}$/.test(o.secretHash)))
                throw new Error(`escrow ${addr}: secretHash must be 64 hex characters (SHA-256 of the client's API secret)`);
            r.set(Address.parse(addr), {
                open: o.open !== false,
                balance: BigInt(o.balance),
                charged: o.charged ? tokensFromJson(o.charged) : zeroTokens(),
                secretHash: typeof o.secretHash === 'string' ? BigInt('0x' + o.secretHash) : 0n,
            });
        }
        return r;
    }
}
