/**
 * Arguments of the operator scripts. Blueprint passes what follows `--` on its command line:
 *   npx blueprint run allowList --testnet --mnemonic -- --list model --hash <hex>
 * Options are `--name value` (repeatable ones collect into arrays) or `name=value`.
 * `--help` prints the script's usage. Missing required values are asked for through the
 * Blueprint UI when it is interactive, otherwise the script stops before sending anything.
 */
import { Address, fromNano, toNano } from '@ton/core';
import type { UIProvider } from '@ton/blueprint';

export type OptionKind = 'string' | 'address' | 'ton' | 'int' | 'hex32' | 'flag' | 'file';

export interface OptionSpec {
    kind: OptionKind;
    help: string;
    required?: boolean;
    repeat?: boolean;
    default?: string;
}

export interface ScriptSpec {
    name: string;
    summary: string;
    options: Record<string, OptionSpec>;
}

export class UsageError extends Error {}
/** Thrown after `--help` was printed: the script does nothing else. */
export class HelpShown extends Error {}

export function usage(spec: ScriptSpec): string {
    const lines = [`${spec.name}: ${spec.summary}`, '', `usage: npx blueprint run ${spec.name} [--testnet|--mainnet ...] -- [options]`, '', 'options:'];
    for (const [name, o] of Object.entries(spec.options)) {
        const flags = [o.required ? 'required' : 'optional', o.repeat ? 'repeatable' : '', o.default !== undefined ? `default ${o.default}` : '']
            .filter(Boolean)
            .join(', ');
        lines.push(`  --${name}${o.kind === 'flag' ? '' : ` <${o.kind}>`}  ${o.help} (${flags})`);
    }
    return lines.join('\n');
}

function tokenize(args: string[]): Map<string, string[]> {
    const out = new Map<string, string[]>();
    const add = (k: string, v: string) => out.set(k, [...(out.get(k) ?? []), v]);
    for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (a === '--') continue;
        if (a.startsWith('--')) {
            const eq = a.indexOf('=');
            if (eq > 0) {
                add(a.slice(2, eq), a.slice(eq + 1));
            } else if (i + 1 < args.length && !args[i + 1].startsWith('--')) {
                add(a.slice(2), args[++i]);
            } else {
                add(a.slice(2), 'true');
            }
        } else if (a.includes('=')) {
            const eq = a.indexOf('=');
            add(a.slice(0, eq), a.slice(eq + 1));
        } else {
            throw new UsageError(`unexpected argument "${a}" (options are --name value)`);
        }
    }
    return out;
}

/** Parsed value of one option, by kind. */
export type OptionValue = string | Address | bigint | Buffer | boolean;

function convert(name: string, kind: OptionKind, raw: string): OptionValue {
    switch (kind) {
        case 'string':
        case 'file':
            return raw;
        case 'flag':
            if (raw !== 'true' && raw !== 'false') throw new UsageError(`--${name} is a flag (no value)`);
            return raw === 'true';
        case 'address':
            try {
                return Address.parse(raw);
            } catch {
                throw new UsageError(`--${name}: "${raw}" is not a TON address`);
            }
        case 'ton':
            if (!/^\d+(\.\d{1,9})?$/.test(raw)) throw new UsageError(`--${name}: "${raw}" is not an amount of TON (e.g. 1.5)`);
            return toNano(raw);
        case 'int':
            if (!/^\d+$/.test(raw)) throw new UsageError(`--${name}: "${raw}" is not a non-negative integer`);
            return BigInt(raw);
        case 'hex32': {
            const h = raw.startsWith('0x') ? raw.slice(2) : raw;
            if (!/^[0-9a-fA-F]{64}$/.test(h)) throw new UsageError(`--${name}: expected 32 bytes of hex (64 characters)`);
            return Buffer.from(h, 'hex');
        }
    }
}

export interface ParsedArgs {
    one<T extends OptionValue>(name: string): T;
    maybe<T extends OptionValue>(name: string): T | undefined;
    all<T extends OptionValue>(name: string): T[];
}

/**
 * Parses `args` against `spec`. Unknown options and malformed values are usage errors;
 * missing required ones are asked for when `ui` is interactive.
 */
export async function parseArgs(spec: ScriptSpec, args: string[], ui?: UIProvider, interactive = false): Promise<ParsedArgs> {
    const raw = tokenize(args);
    if (raw.has('help')) {
        ui?.write(usage(spec));
        throw new HelpShown(spec.name);
    }
    for (const k of raw.keys()) {
        if (!(k in spec.options)) throw new UsageError(`unknown option --${k}\n\n${usage(spec)}`);
    }
    const values = new Map<string, OptionValue[]>();
    for (const [name, o] of Object.entries(spec.options)) {
        let got = raw.get(name) ?? (o.default !== undefined ? [o.default] : []);
        if (got.length === 0 && o.required) {
            if (!interactive || !ui) throw new UsageError(`missing --${name}: ${o.help}\n\n${usage(spec)}`);
            got = [await ui.input(`${o.help} (--${name})`)];
        }
        if (got.length > 1 && !o.repeat) throw new UsageError(`--${name} given ${got.length} times`);
        values.set(name, got.map((v) => convert(name, o.kind, v)));
    }
    return {
        one<T extends OptionValue>(name: string): T {
            const v = values.get(name);
            if (!v || v.length === 0) throw new UsageError(`missing --${name}`);
            return v[0] as T;
        },
        maybe<T extends OptionValue>(name: string): T | undefined {
            return values.get(name)?.[0] as T | undefined;
        },
        all<T extends OptionValue>(name: string): T[] {
            return (values.get(name) ?? []) as T[];
        },
    };
}

export function ton(n: bigint): string {
    return `${fromNano(n)} TON`;
}
