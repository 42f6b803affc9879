/** Minimal `--flag value` / `--flag=value` / `--switch` parser shared by the CLIs. */
export interface ParsedArgs {
    values: Map<string, string[]>;
    switches: Set<string>;
}

/**
 * The options a --help text documents: on each line that starts with two spaces and `--`, the
 * `--names` before the description (which is two or more spaces away, or on the next line).
 */
export function optionsInHelp(help: string): Set<string> {
    const names = new Set<string>();
    for (const line of help.split('\n')) {
        if (!/^ {2}--/.test(line)) continue;
        const synopsis = line.trim().split(/\s{2,}/)[0];
        for (const m of synopsis.matchAll(/--([a-z0-9][a-z0-9-]*)/g)) names.add(m[1]);
    }
    return names;
}

/**
 * Parses `argv` against the options `help` documents (an option missing from --help is
 * refused as unknown, so a typo never passes silently); `switchNames` take no value.
 */
export function parseArgs(argv: string[], switchNames: string[], help: string): ParsedArgs {
    const known = optionsInHelp(help);
    for (const s of switchNames) if (!known.has(s)) throw new Error(`internal: switch --${s} is not in --help`);
    const values = new Map<string, string[]>();
    const switches = new Set<string>();
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"`);
        const eq = a.indexOf('=');
        const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
        if (!known.has(name)) throw new Error(`unknown option --${name} (see --help)`);
        if (switchNames.includes(name)) {
            if (eq > 0) throw new Error(`--${name} takes no value`);
            switches.add(name);
            continue;
        }
        let value: string;
        if (eq > 0) value = a.slice(eq + 1);
        else {
            if (i + 1 >= argv.length) throw new Error(`--${name} needs a value`);
            value = argv[++i];
        }
        const list = values.get(name) ?? [];
        list.push(value);
        values.set(name, list);
    }
    return { values, switches };
}

export function one(args: ParsedArgs, name: string, fallback?: string): string | undefined {
    const v = args.values.get(name);
    if (!v || v.length === 0) return fallback;
    if (v.length > 1) throw new Error(`--${name} given more than once`);
    return v[0];
}

export function intArg(args: ParsedArgs, name: string, fallback: number, min: number, max: number): number {
    const s = one(args, name);
    if (s === undefined) return fallback;
    const n = Number(s);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}], got "${s}"`);
    return n;
}

/** Runs a CLI main, printing errors without a stack trace and exiting non-zero. */
export function runMain(main: () => Promise<void> | void): void {
    Promise.resolve()
        .then(main)
        .catch((e: unknown) => {
            process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
            process.exit(2);
        });
}

/**
 * SIGTERM / SIGINT: `stop()` drains and exits 0; a second signal exits at once (code 1).
 */
export function onShutdown(component: string, stop: () => Promise<void>): void {
    let stopping = false;
    const handler = (signal: NodeJS.Signals) => {
        if (stopping) {
            process.stderr.write(`${new Date().toISOString()} [${component}] ${signal} again: stopping now\n`);
            process.exit(1);
        }
        stopping = true;
        stop().then(
            () => process.exit(0),
            (e: unknown) => {
                process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
                process.exit(1);
            },
        );
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
}
