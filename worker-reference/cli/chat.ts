/**
 * cocoon-chat: one chat completion through a Cocoon proxy from the command line, streamed to
 * stdout, sealed to the worker when asked, its work receipt checked (client/chat.ts).
 */
import * as fs from 'node:fs';
import type { ChainCheck } from '../client/chain-check';
import { chatThroughProxy } from '../client/chat';
import { parseEscrowApiKey } from '../../wrappers/escrowSecret';
import { runMain } from './args';
import { CHAT_HELP as HELP, chatOptionsFromArgs } from './chat-args';

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
    if (outcome.logprobs) {
        // One line per token: its text (JSON-quoted), its log-probability, the alternatives.
        for (const e of outcome.logprobs)
            process.stderr.write(`${JSON.stringify(e.token)}\t${e.logprob.toFixed(4)}${e.top_logprobs.map((t) => `\t${JSON.stringify(t.token)} ${t.logprob.toFixed(4)}`).join('')}\n`);
    }
    if (printReceipt) process.stderr.write(`${JSON.stringify(outcome.receipt, null, 2)}\n`);
});
