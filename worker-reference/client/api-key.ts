/**
 * Client side of the proxy's API key: `<escrow address>:<secret hex>`, where the secret's
 * SHA-256 is what the client's JobEscrow holds (set by EscrowOpen, rotated by EscrowSetSecret).
 *
 *   import OpenAI from 'openai';
 *   const client = new OpenAI({ baseURL: `${proxyUrl}/v1`, apiKey });   // sends Authorization: Bearer <apiKey>
 *
 * or, with fetch, `headers: { ...proxyAuthHeaders(apiKey) }`. The key is a bearer secret: send
 * it only to the proxy (over TLS), never log it.
 */
import { parseEscrowApiKey, secretMatches } from '../../wrappers/escrowSecret';

export { escrowSecretHash, formatEscrowApiKey, generateEscrowSecret, parseEscrowApiKey, secretHashBytes } from '../../wrappers/escrowSecret';

/** The header a request to the proxy carries. */
export function proxyAuthHeaders(apiKey: string): { authorization: string } {
    return { authorization: `Bearer ${apiKey}` };
}

/**
 * Whether a saved API key still opens its escrow: its secret hashes to `secretHash`, the value
 * the escrow's `secretHash` getter returns now (false after a rotation or a revocation).
 */
export function apiKeyMatches(apiKey: string, secretHash: bigint): boolean {
    return secretMatches(parseEscrowApiKey(apiKey).secret, secretHash);
}
