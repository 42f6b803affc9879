/**
 * Signed settlement payloads from the ledger's durable cumulative counters: the charge a
 * JobEscrow accepts and the payout a WorkerAccount accepts (wrappers/payloads.ts layouts).
 * Only fsync'ed records reach the counters, so no value signed here can ever be lost.
 */
import { Address } from '@ton/core';
import { buildChargePayload, buildPayoutPayload } from '../../wrappers/payloads';
import { Ed25519Signer } from '../crypto/ed25519';
import { Ledger } from './ledger';
import { costOf, Prices, tokensJson, weightedTokens } from './tokens';

export interface SignedChargeJson {
    escrow: string;
    tokens: Record<string, string>;
    cost_nanoton: string;
    valid_until: number;
    payload: string; // base64 BOC of the charge cell
    signature: string; // base64 Ed25519 over the cell hash
    proxy_key: string; // hex
}

export interface SignedPayoutJson {
    worker_account: string;
    tokens: string; // weighted tokens (what the payout cell carries)
    tokens_by_kind: Record<string, string>;
    fee_nanoton: string;
    valid_until: number;
    payload: string;
    signature: string;
    proxy_key: string;
}

export class Settlement {
    constructor(
        private readonly ledger: Ledger,
        private readonly signer: Ed25519Signer,
        private readonly prices: Prices,
        private readonly ttlSeconds: number,
    ) {}

    charge(escrow: Address, now = Math.floor(Date.now() / 1000)): SignedChargeJson {
        const tokens = this.ledger.chargeOf(escrow.toRawString());
        const validUntil = now + this.ttlSeconds;
        const cell = buildChargePayload({ escrow, tokens, validUntil });
        return {
            escrow: escrow.toString(),
            tokens: tokensJson(tokens),
            cost_nanoton: costOf(tokens, this.prices).toString(),
            valid_until: validUntil,
            payload: cell.toBoc().toString('base64'),
            signature: this.signer.signCell(cell).toString('base64'),
            proxy_key: this.signer.publicKey.toString('hex'),
        };
    }

    /** Payout tokens = Σ count × kind multiplier / 10000 over the cumulative counts (monotonic). */
    payout(workerAccount: Address, now = Math.floor(Date.now() / 1000)): SignedPayoutJson {
        const byKind = this.ledger.payoutOf(workerAccount.toRawString());
        const tokens = weightedTokens(byKind, this.prices);
        const validUntil = now + this.ttlSeconds;
        const cell = buildPayoutPayload({ workerAccount, tokens, validUntil });
        return {
            worker_account: workerAccount.toString(),
            tokens: tokens.toString(),
            tokens_by_kind: tokensJson(byKind),
            fee_nanoton: (tokens * this.prices.workerFeePerToken).toString(),
            valid_until: validUntil,
            payload: cell.toBoc().toString('base64'),
            signature: this.signer.signCell(cell).toString('base64'),
            proxy_key: this.signer.publicKey.toString('hex'),
        };
    }
}
