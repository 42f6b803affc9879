/** Public API of the Cocoon DCAP verifier (see docs/verifier.md). */
export { verifyQuote } from './verify';
export type { VerifyOptions, VerificationResult } from './verify';
export { attest, combineAttestations, AttestationRejected, DEFAULT_VALID_FOR_SECONDS } from './attest';
export type { AttestInput, Attestation } from './attest';
export { DEFAULT_POLICY, makePolicy } from './policy';
export type { VerifyPolicy } from './policy';
export { parseCollateral } from './collateral';
export type { Collateral } from './collateral';
export { parseQuote } from './quote';
export type { ParsedQuote, QuoteHeader } from './quote';
export { decodeTdReport, decodeEnclaveReport, imageHash, isDebugTd } from './report';
export type { TdReport, EnclaveReport } from './report';
export { reportDataForKeys, keysMatchReportData } from './key-binding';
export type { BuildName, BuildVerdict } from './builds';
export { INTEL_SGX_ROOT_CA_PEM } from './intel-root';
