/**
 * Typed wrapper of the WorkerAccount contract (contracts/worker_account.tact): the generated
 * binding plus address derivation and signed payout messages.
 */
import { Address } from '@ton/core';
import { WorkerAccount, WorkerPayout } from '../build/cocoon/cocoon_WorkerAccount';
import { buildPayoutPayload, Ed25519KeyPair, PayoutPayload, signPayload } from './payloads';

export * from '../build/cocoon/cocoon_WorkerAccount';

/** Value a payout must carry (WORKER_PAYOUT_VALUE); a first payout adds the storage reserve. */
export const WORKER_PAYOUT_VALUE = 50_000_000n;
export const WORKER_ACCOUNT_STORAGE = 50_000_000n;

/** The WorkerAccount of (proxy, provider, payee): payouts signed for it pay `payee`. */
export function workerAccountFor(proxy: Address, provider: Address, payee: Address): Promise<WorkerAccount> {
    return WorkerAccount.fromInit(proxy, provider, payee);
}

/** Signs a cumulative payout with the proxy's enclave key and wraps it in a WorkerPayout. */
export function signedPayout(payout: PayoutPayload, enclave: Ed25519KeyPair, queryId = 0n): WorkerPayout {
    const signed = signPayload(buildPayoutPayload(payout), enclave.secretKey);
    return { $$type: 'WorkerPayout', queryId, payload: signed.payload, signature: signed.signature };
}
