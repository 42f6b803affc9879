/**
 * Typed wrapper of the JobEscrow contract (contracts/job_escrow.tact): the generated binding
 * plus the helpers a client or a proxy router needs (address derivation, the client's open and
 * API-secret messages, charge messages, the API secret and key of wrappers/escrowSecret.ts).
 */
import { Address } from '@ton/core';
import { JobEscrow, EscrowCharge, EscrowOpen, EscrowSetSecret } from '../build/cocoon/cocoon_JobEscrow';
import { buildChargePayload, ChargePayload, Ed25519KeyPair, signPayload } from './payloads';
import { escrowSecretHash } from './escrowSecret';

export * from '../build/cocoon/cocoon_JobEscrow';
export * from './escrowSecret';

/** Escrow states (getter `state`). */
export const EscrowState = { new: 0n, opening: 1n, open: 2n, closing: 3n, closed: 4n } as const;

/** Value EscrowOpen carries on top of the deposit (ESCROW_OPEN_VALUE); the rest returns. */
export const ESCROW_OPEN_VALUE = 100_000_000n;
/** Value a charge must carry (ESCROW_CHARGE_VALUE); the rest returns to the submitter. */
export const ESCROW_CHARGE_VALUE = 30_000_000n;
/** Value EscrowTopUp / EscrowWithdraw / EscrowRaiseStake / EscrowRequestClose / EscrowSetSecret carry (OP_GAS). */
export const ESCROW_OP_GAS = 20_000_000n;
/** Value EscrowSetSecret must carry (OP_GAS); the rest returns to the client. */
export const ESCROW_SET_SECRET_VALUE = ESCROW_OP_GAS;
/** Value EscrowFinishClose must carry (ESCROW_SETTLE_NOTICE + OP_GAS). */
export const ESCROW_FINISH_VALUE = 35_000_000n;

/** The escrow of `client` with `proxy` (the same address the Proxy derives by initOf). */
export function escrowFor(proxy: Address, client: Address): Promise<JobEscrow> {
    return JobEscrow.fromInit(proxy, client);
}

/** The hash an escrow stores for `secret` (null: none, 0). */
function hashOrNone(secret: Buffer | null): bigint {
    return secret === null ? 0n : escrowSecretHash(secret);
}

/** EscrowOpen of `deposit` (of which `stake` is locked) with the hash of the client's API secret. Value: deposit + ESCROW_OPEN_VALUE. */
export function escrowOpen(o: { deposit: bigint; stake: bigint; secret: Buffer | null; queryId?: bigint }): EscrowOpen {
    return { $$type: 'EscrowOpen', queryId: o.queryId ?? 0n, deposit: o.deposit, stake: o.stake, secretHash: hashOrNone(o.secret) };
}

/** EscrowSetSecret: rotate to the hash of `secret`, or revoke every API key (null). Value: ESCROW_SET_SECRET_VALUE. */
export function escrowSetSecret(secret: Buffer | null, queryId = 0n): EscrowSetSecret {
    return { $$type: 'EscrowSetSecret', queryId, secretHash: hashOrNone(secret) };
}

/** Signs a cumulative charge with the proxy's enclave key and wraps it in an EscrowCharge. */
export function signedCharge(charge: ChargePayload, enclave: Ed25519KeyPair, queryId = 0n): EscrowCharge {
    const signed = signPayload(buildChargePayload(charge), enclave.secretKey);
    return { $$type: 'EscrowCharge', queryId, payload: signed.payload, signature: signed.signature };
}
