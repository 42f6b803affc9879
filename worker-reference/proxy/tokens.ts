/** Cumulative token counters by kind, and the prices that turn them into nanoTON. */
import { TokenCounts } from '../../wrappers/payloads';

export type { TokenCounts };

export const BPS = 10000n;

export function zeroTokens(): TokenCounts {
    return { prompt: 0n, cached: 0n, completion: 0n, reasoning: 0n };
}

export function addTokens(a: TokenCounts, b: TokenCounts): TokenCounts {
    return { prompt: a.prompt + b.prompt, cached: a.cached + b.cached, completion: a.completion + b.completion, reasoning: a.reasoning + b.reasoning };
}

export function subTokensFloor0(a: TokenCounts, b: TokenCounts): TokenCounts {
    const d = (x: bigint, y: bigint) => (x > y ? x - y : 0n);
    return { prompt: d(a.prompt, b.prompt), cached: d(a.cached, b.cached), completion: d(a.completion, b.completion), reasoning: d(a.reasoning, b.reasoning) };
}

/** Network prices as Root's Params hold them (nanoTON per token, multipliers in basis points). */
export interface Prices {
    pricePerToken: bigint;
    workerFeePerToken: bigint;
    promptMultiplier: bigint;
    cachedMultiplier: bigint;
    completionMultiplier: bigint;
    reasoningMultiplier: bigint;
}

/** Tokens weighted by their kind's multiplier: Σ count × multiplier / 10000 (floor). */
export function weightedTokens(t: TokenCounts, p: Prices): bigint {
    return (t.prompt * p.promptMultiplier + t.cached * p.cachedMultiplier + t.completion * p.completionMultiplier + t.reasoning * p.reasoningMultiplier) / BPS;
}

/** What a client pays for these tokens, nanoTON. */
export function costOf(t: TokenCounts, p: Prices): bigint {
    return weightedTokens(t, p) * p.pricePerToken;
}

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
