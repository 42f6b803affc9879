/** Cumulative token counters by kind, and the prices that turn them into nanoTON. */
import { TokenCounts } from '../../wrappers/payloads';

export type { TokenCounts };

import { addTokens, billableTokens, chargeAmount, PriceParams, zeroTokens } from '../../wrappers/chargeAmount';

export { addTokens, zeroTokens };

/** Network prices as Root's Params hold them (nanoTON per token, multipliers in basis points). */
export type Prices = PriceParams;

/** Billable tokens: Σ count × multiplier / 10000 (floor), the unit payouts are signed in. */
export const weightedTokens = billableTokens;

/** What a client pays in total for these cumulative tokens, nanoTON, rounded as JobEscrow rounds. */
export const costOf = chargeAmount;

export function tokensJson(t: TokenCounts): Record<keyof TokenCounts, string> {
    return { prompt: t.prompt.toString(), cached: t.cached.toString(), completion: t.completion.toString(), reasoning: t.reasoning.toString() };
}

export function tokensFromJson(j: unknown): TokenCounts {
    const o = (j ?? {}) as Record<string, unknown>;
    const big = (v: unknown) => {
        if (v === undefined) return 0n;
        if (typeof v !== 'string' && typeof v !== 'number') throw new Error('token count must be a string or number');
        const b = BigInt(v);
        if (b < 0n) throw new Error('token count must not be negative');
        return b;
    };
    return { prompt: big(o.prompt), cached: big(o.cached), completion: big(o.completion), reasoning: big(o.reasoning) };
}
