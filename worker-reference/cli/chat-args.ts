/** The arguments of cocoon-chat (cli/chat.ts), checked before anything is sent. */
import { Address } from '@ton/core';
import { parseEscrowApiKey } from '../../wrappers/escrowSecret';
import type { ChatOptions } from '../client/chat';
import { ChatMessage } from '../worker/chat-request';
import { intArg, one, parseArgs } from './args';

/**
 * The request the arguments describe, checked before anything is sent. `env` supplies
 * COCOON_API_KEY; `stdin` the prompt when --prompt is absent.
 */
export function chatOptionsFromArgs(
    argv: string[],
    env: NodeJS.ProcessEnv,
    stdin: () => string,
): { options: Omit<ChatOptions, 'chain' | 'proxy'> & { proxy?: string }; printReceipt: boolean; chain?: { tonV4: string; root: Address } } {
    const args = parseArgs(argv, ['help', 'seal', 'receipt']);
    const proxy = one(args, 'proxy');
    const onChain = one(args, 'ton-v4') !== undefined && one(args, 'root') !== undefined;
    if (proxy === undefined && !onChain)
        throw new Error("give --proxy URL, or --ton-v4 URL and --root ADDRESS to find your escrow's proxy on chain (see --help)");
    if (proxy !== undefined && !/^https?:\/\/[^/]+/.test(proxy)) throw new Error(`--proxy must be http://host:port or https://host:port, got "${proxy}"`);
    const apiKey = one(args, 'api-key') ?? env.COCOON_API_KEY;
    if (!apiKey) throw new Error('give the API key with --api-key or COCOON_API_KEY: <escrow address>:<secret hex>');
    parseEscrowApiKey(apiKey); // a malformed key is refused here, before anything is sent
    const proxyKeyHex = one(args, 'proxy-key');
    if (proxyKeyHex !== undefined && !/^[0-9a-fA-F]{64}$/.test(proxyKeyHex)) throw new Error('--proxy-key must be 64 hex characters (an Ed25519 public key)');
    if (proxyKeyHex !== undefined && proxy === undefined) throw new Error('--proxy-key goes with --proxy: a proxy found on chain is pinned to its registered key');
    if (proxyKeyHex !== undefined && !(proxy as string).startsWith('https://')) throw new Error('--proxy-key pins a TLS certificate: the --proxy URL must be https://');
    const temperatureText = one(args, 'temperature');
    const temperature = temperatureText === undefined ? undefined : Number(temperatureText);
    if (temperature !== undefined && !(temperature >= 0 && temperature <= 2)) throw new Error(`--temperature must be a number from 0 to 2, got "${temperatureText}"`);
    const tonV4 = one(args, 'ton-v4');
    const rootText = one(args, 'root');
    if ((tonV4 === undefined) !== (rootText === undefined)) throw new Error('--ton-v4 and --root go together');
    let chain: { tonV4: string; root: Address } | undefined;
    if (tonV4 !== undefined && rootText !== undefined) {
        if (!/^https?:\/\/[^/]+/.test(tonV4)) throw new Error(`--ton-v4 must be an http(s) URL, got "${tonV4}"`);
        try {
            chain = { tonV4, root: Address.parse(rootText) };
        } catch {
            throw new Error(`--root is not a TON address: "${rootText}"`);
        }
    }
    const maxTokens = intArg(args, 'max-tokens', 256, 1, 1 << 20);
    const prompt = one(args, 'prompt') ?? stdin();
    if (prompt.trim().length === 0) throw new Error('the prompt is empty');
    const messages: ChatMessage[] = [];
    const system = one(args, 'system');
    if (system !== undefined) messages.push({ role: 'system', content: system });
    messages.push({ role: 'user', content: prompt });
    return {
        options: {
            proxy,
            apiKey,
            proxyKey: proxyKeyHex === undefined ? undefined : Buffer.from(proxyKeyHex, 'hex'),
            model: one(args, 'model'),
            messages,
            seal: args.switches.has('seal'),
            maxTokens,
            temperature,
            stop: args.values.get('stop'),
        },
        printReceipt: args.switches.has('receipt'),
        chain,
    };
}

