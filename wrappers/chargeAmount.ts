/**
 * Prices of token counts, exactly as the contracts compute them (contracts/job_escrow.tact
 * `chargeAmount`, contracts/proxy.tact ProxyCharge / ProxyPayout). Used by the tests, the
 * scripts and the reference proxy router to know what a signed charge or payout moves.
 */
import { TokenCounts } from './payloads';

/** The price fields of Root's Params (the snapshot a Proxy and its escrows hold). */
export interface PriceParams {
    pricePerToken: bigint;
    workerFeePerToken: bigint;
    promptMultiplier: bigint; // basis points, 10000 = 1x
    cachedMultiplier: bigint;
    completionMultiplier: bigint;
    reasoningMultiplier: bigint;
}

export const BPS = 10000n;

/** Tokens weighted by their kind's multiplier, in basis-point units (sum tokens x multiplier). */
export function weightedTokensBps(tokens: TokenCounts, p: PriceParams): bigint {
    return (
        tokens.prompt * p.promptMultiplier +
        tokens.cached * p.cachedMultiplier +
        tokens.completion * p.completionMultiplier +
        tokens.reasoning * p.reasoningMultiplier
    );
}

/** nanoTON a JobEscrow has paid in total once it accepted a charge of these cumulative tokens. */
export function chargeAmount(tokens: TokenCounts, p: PriceParams): bigint {
    return (weightedTokensBps(tokens, p) * p.pricePerToken) / BPS;
}

/**
 * What one more charge moves from the escrow to the Proxy: the price of the new cumulative
 * tokens minus the price already charged (the escrow rounds the cumulative total, never a step).
 */
export function chargeIncrease(previous: TokenCounts, next: TokenCounts, p: PriceParams): bigint {
    return chargeAmount(next, p) - chargeAmount(previous, p);
}

/**
 * Billable tokens: tokens weighted by kind (rounded down). The reference router signs payouts
 * in these units, so a worker earns workerFeePerToken per billable token and the proxy keeps
 * (pricePerToken - workerFeePerToken) per billable token as commission.
 */
export function billableTokens(tokens: TokenCounts, p: PriceParams): bigint {
    return weightedTokensBps(tokens, p) / BPS;
}

/** nanoTON a payout from `fromTokens` to `toTokens` (cumulative) pays the worker's payee. */
export function payoutAmount(fromTokens: bigint, toTokens: bigint, p: PriceParams): bigint {
    if (toTokens < fromTokens) throw new Error('payout tokens are cumulative: they cannot go back');
    return (toTokens - fromTokens) * p.workerFeePerToken;
}

/** The part of a charge the Proxy reserves for workers' fees (the rest is commission). */
export function workerShare(chargeIncreaseNano: bigint, p: PriceParams): bigint {
    return p.pricePerToken === 0n ? 0n : (chargeIncreaseNano * p.workerFeePerToken) / p.pricePerToken;
}

export function addTokens(a: TokenCounts, b: TokenCounts): TokenCounts {
    return {
        prompt: a.prompt + b.prompt,
        cached: a.cached + b.cached,
        completion: a.completion + b.completion,
        reasoning: a.reasoning + b.reasoning,
    };
}

export const zeroTokens = (): TokenCounts => ({ prompt: 0n, cached: 0n, completion: 0n, reasoning: 0n });
