/** The arguments of cocoon-chat (cli/chat.ts), checked before anything is sent. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Address } from '@ton/core';
import { parseEscrowApiKey } from '../../wrappers/escrowSecret';
import type { ChatOptions } from '../client/chat';
import type { SealedChatContent } from '../client/sealed-client';
import { ChatMessage } from '../worker/chat-request';
import { intArg, one, parseArgs } from './args';

/** cocoon-chat --help; it also names the options parseArgs takes. */
export const CHAT_HELP = `Usage: cocoon-chat (--proxy URL | --ton-v4 URL --root ADDRESS) [--prompt TEXT] [options]

Sends one chat completion through a Cocoon proxy and prints the answer to stdout as it
streams. With --ton-v4 and --root and no --proxy, the proxy is the one your escrow (the
address in the API key) is with, found on chain: its registered endpoint, the connection
pinned to its registered key when the endpoint is https. The prompt is --prompt, or standard input when it is absent. At the end a line on
stderr says what was charged and who answered: the work receipt was checked (signed by a
worker the proxy lists, for the model asked, hashing exactly the answer received and
counting exactly the tokens reported), or the command fails.

  --proxy URL          the proxy's base URL (http:// or https://); without it, found on
                       chain (needs --ton-v4 and --root)
  --proxy-key HEX      the proxy's Ed25519 enclave key: its TLS certificate must carry it
                       (a proxy started with --tls); nothing is sent to any other
  --api-key KEY        <escrow address>:<secret hex>, or COCOON_API_KEY in the environment
                       (keeps it out of the shell history)
  --model ID           a model id or sha256:<model hash> (default: the one model the proxy
                       serves)
  --seal               seal the prompt to one worker's X25519 key: neither the proxy nor
                       anyone on the way reads the prompt or the answer
  --ton-v4 URL --root ADDRESS
                       check on chain (TON's HTTP API v4, the network's Root): the worker a
                       sealed prompt goes to and the worker that signed the receipt are
                       eligible Providers registered at Root with those keys, serving the
                       model; the proxy (found from the escrow, or --proxy-key) is an
                       active Proxy registered there
  --system TEXT        a system message before the prompt
  --prompt TEXT        the user message (default: standard input)
  --max-tokens N       most tokens to generate (default 256)
  --temperature T      sampling temperature, 0 to 2 (default: the worker's)
  --stop TEXT          a stop string (repeatable)
  --json               answer with a JSON object (response_format json_object)
  --json-schema FILE   answer with JSON of the JSON schema in FILE (response_format
                       json_schema; the worker refuses keywords it cannot enforce)
  --logprobs N         print each answer token's log-probability and its N likeliest
                       alternatives (0 to 20) to stderr at the end (sealed with the
                       answer under --seal)
  --receipt            print the work receipt (JSON) to stderr at the end
  --help               this text

Exit status: 0 answered and checked; 1 the proxy refused or the answer failed its check;
2 bad arguments.
`;


/**
 * The request the arguments describe, checked before anything is sent. `env` supplies
 * COCOON_API_KEY; `stdin` the prompt when --prompt is absent.
 */
export function chatOptionsFromArgs(
    argv: string[],
    env: NodeJS.ProcessEnv,
    stdin: () => string,
): { options: Omit<ChatOptions, 'chain' | 'proxy'> & { proxy?: string }; printReceipt: boolean; chain?: { tonV4: string; root: Address } } {
    const args = parseArgs(argv, ['help', 'seal', 'receipt', 'json'], CHAT_HELP);
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
    const schemaFile = one(args, 'json-schema');
    if (schemaFile !== undefined && args.switches.has('json')) throw new Error('--json and --json-schema FILE are two ways to ask for JSON: give one');
    let responseFormat: SealedChatContent['response_format'];
    if (args.switches.has('json')) responseFormat = { type: 'json_object' };
    if (schemaFile !== undefined) {
        let schema: unknown;
        try {
            schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8'));
        } catch (e) {
            throw new Error(`--json-schema ${schemaFile}: ${(e as Error).message}`); // a read or JSON error
        }
        if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new Error(`--json-schema ${schemaFile}: not a JSON schema object`);
        const name = path.basename(schemaFile).replace(/\.[^.]*$/, '').replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64) || 'schema';
        responseFormat = { type: 'json_schema', json_schema: { name, schema: schema as Record<string, unknown> } };
    }
    const logprobsText = one(args, 'logprobs');
    const logprobs = logprobsText === undefined ? undefined : intArg(args, 'logprobs', 0, 0, 20);
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
            responseFormat,
            logprobs,
        },
        printReceipt: args.switches.has('receipt'),
        chain,
    };
}

