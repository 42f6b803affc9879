/** The shell every Blueprint script shares: parse its arguments, run, report errors clearly. */
import type { NetworkProvider } from '@ton/blueprint';
import { HelpShown, parseArgs, ParsedArgs, ScriptSpec, UsageError } from './args';

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
