/** The shell every Blueprint script shares: parse its arguments, run, report errors clearly. */
import type { NetworkProvider } from '@ton/blueprint';
import { HelpShown, OptionSpec, parseArgs, ParsedArgs, ScriptSpec, UsageError } from './args';

/**
 * Parses `args` against `spec` and runs `body`. `--help` prints the usage; a usage error
 * prints what is wrong and sets exit code 2 without sending anything. Other errors (a
 * refused precondition, a failed transaction) propagate with their message.
 */
export async function runScript(provider: NetworkProvider, args: string[], spec: ScriptSpec, body: (a: ParsedArgs) => Promise<void>): Promise<void> {
    try {
        const interactive = process.stdin.isTTY === true && provider.network() !== 'custom';
        await body(await parseArgs(spec, args, provider.ui(), interactive));
    } catch (e) {
        if (e instanceof HelpShown) return;
        if (e instanceof UsageError) {
            provider.ui().write(`error: ${e.message}`);
            process.exitCode = 2;
            return;
        }
        throw e;
    }
}

/** `--every` / `--passes`: the options of a script that can keep doing passes. */
export const PASS_OPTIONS: Record<'every' | 'passes', OptionSpec> = {
    every: { kind: 'int', help: 'seconds between passes: keep going (stop with Ctrl-C)' },
    passes: { kind: 'int', help: 'with --every, stop after this many passes' },
};

/** Runs `pass` once, or every `--every` seconds (`--passes` times, or until stopped), writing the lines each returns. */
export async function inPasses(provider: NetworkProvider, a: ParsedArgs, pass: () => Promise<string[]>): Promise<void> {
    const every = a.maybe<bigint>('every');
    const passes = a.maybe<bigint>('passes');
    if (every !== undefined && every < 0n) throw new UsageError('--every must be at least 0 seconds');
    if (passes !== undefined && (every === undefined || passes < 1n)) throw new UsageError('--passes needs --every and at least 1');
    for (let n = 1n; ; n++) {
        for (const line of await pass()) provider.ui().write(line);
        if (every === undefined || (passes !== undefined && n >= passes)) return;
        await new Promise((r) => setTimeout(r, Number(every) * 1000));
    }
}
