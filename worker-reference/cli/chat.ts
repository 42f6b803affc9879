/**
 * cocoon-chat: one chat completion through a Cocoon proxy from the command line, streamed to
 * stdout, sealed to the worker when asked, its work receipt checked (client/chat.ts).
 */
import * as fs from 'node:fs';
import type { ChainCheck } from '../client/chain-check';
import { chatThroughProxy } from '../client/chat';
import { parseEscrowApiKey } from '../../wrappers/escrowSecret';
import { runMain } from './args';
import { chatOptionsFromArgs } from './chat-args';

const HELP = `Usage: cocoon-chat (--proxy URL | --ton-v4 URL --root ADDRESS) [--prompt TEXT] [options]

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
  --receipt            print the work receipt (JSON) to stderr at the end
  --help               this text

Exit status: 0 answered and checked; 1 the proxy refused or the answer failed its check;
2 bad arguments.
`;

function readStdin(): string {
    try {
        return fs.readFileSync(0, 'utf8');
    } catch (e) {
        throw new Error(`no --prompt and standard input cannot be read: ${(e as Error).message}`);
    }
}

runMain(async () => {
    const argv = process.argv.slice(2);
    if (argv.includes('--help') || argv.includes('-h')) {
        process.stdout.write(HELP);
        return;
    }
    const parsed = chatOptionsFromArgs(argv, process.env, readStdin);
    // Loaded only with --ton-v4/--root: the contract wrappers and @ton/ton are heavy to start.
    let chain: ChainCheck | undefined;
    if (parsed.chain) {
        const [{ ChainCheck: Check }, { tonV4Reader }] = await Promise.all([import('../client/chain-check'), import('../../ops/escrow-reader')]);
        chain = new Check(tonV4Reader(parsed.chain.tonV4), parsed.chain.root);
    }
    const printReceipt = parsed.printReceipt;

    let outcome;
    try {
        let { proxy, proxyKey } = parsed.options;
        if (proxy === undefined) {
            const found = await (chain as ChainCheck).proxyForEscrow(parseEscrowApiKey(parsed.options.apiKey).escrow);
            proxy = found.endpoint;
            const pinned = proxy.startsWith('https://');
            if (pinned) proxyKey = found.key;
            process.stderr.write(`[proxy from chain: Proxy #${found.seqno} ${found.address.toString()} at ${proxy}${pinned ? ', TLS pinned to its registered key' : ''}]\n`);
            if (!pinned) process.stderr.write('warning: the registered endpoint is plain http: the connection does not prove the proxy\'s key (receipts are still checked; --seal keeps the prompt private)\n');
        }
        outcome = await chatThroughProxy({ ...parsed.options, proxy, proxyKey, chain }, (text) => process.stdout.write(text));
    } catch (e) {
        process.stdout.write('\n');
        process.stderr.write(`error: ${(e as Error).message}\n`);
        process.exitCode = 1;
        return;
    }
    process.stdout.write('\n');
    const t = outcome.tokens;
    process.stderr.write(
        `[${outcome.model}: ${t.prompt} prompt tokens (${t.cached} cached), ${t.completion} completion (${t.reasoning} reasoning) · ` +
            `${outcome.sealed ? 'sealed to' : 'answered by'} worker ${outcome.worker.name} (${outcome.worker.ed25519_public_key.slice(0, 16)}…) · receipt #${outcome.requestId} checked]\n`,
    );
    if (outcome.onChain)
        process.stderr.write(`[on chain: worker = Provider ${outcome.onChain.provider.toString()}${outcome.onChain.proxy ? `, proxy = Proxy ${outcome.onChain.proxy.toString()}` : ''}, registered at Root ${chain?.rootAddress.toString()}]\n`);
    if (printReceipt) process.stderr.write(`${JSON.stringify(outcome.receipt, null, 2)}\n`);
});
