/**
 * Typed wrapper of the JobEscrow contract (contracts/job_escrow.tact): the generated binding
 * plus the helpers a client or a proxy router needs (address derivation, charge messages).
 */
import { Address } from '@ton/core';
import { JobEscrow, EscrowCharge } from '../build/cocoon/cocoon_JobEscrow';
import { buildChargePayload, ChargePayload, Ed25519KeyPair, signPayload } from './payloads';

export * from '../build/cocoon/cocoon_JobEscrow';

/** Escrow states (getter `state`). */
export const EscrowState = { new: 0n, opening: 1n, open: 2n, closing: 3n, closed: 4n } as const;

/** Value EscrowOpen carries on top of the deposit (ESCROW_OPEN_VALUE); the rest returns. */
export const ESCROW_OPEN_VALUE = 100_000_000n;
/** Value a charge must carry (ESCROW_CHARGE_VALUE); the rest returns to the submitter. */
export const ESCROW_CHARGE_VALUE = 30_000_000n;
/** Value EscrowTopUp / EscrowWithdraw / EscrowRaiseStake / EscrowRequestClose carry (OP_GAS). */
export const ESCROW_OP_GAS = 20_000_000n;
/** Value EscrowFinishClose must carry (ESCROW_SETTLE_NOTICE + OP_GAS). */
export const ESCROW_FINISH_VALUE = 35_000_000n;

/** The escrow of `client` with `proxy` (the same address the Proxy derives by initOf). */
export function escrowFor(proxy: Address, client: Address): Promise<JobEscrow> {
    return JobEscrow.fromInit(proxy, client);
}

/** Signs a cumulative charge with the proxy's enclave key and wraps it in an EscrowCharge. */
export function signedCharge(charge: ChargePayload, enclave: Ed25519KeyPair, queryId = 0n): EscrowCharge {
    const signed = signPayload(buildChargePayload(charge), enclave.secretKey);
    return { $$type: 'EscrowCharge', queryId, payload: signed.payload, signature: signed.signature };
}
