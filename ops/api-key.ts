/**
 * Handing a client its API key (`<escrow address>:<secret hex>`) exactly once: printed, or
 * written to a file only its owner can read. Nothing else in ops/ ever writes the secret out.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { UIProvider } from '@ton/blueprint';

/** Refuses (before anything is sent) a key file that exists or whose folder cannot be written. */
export function checkKeyFile(file: string): void {
    if (fs.existsSync(file)) throw new Error(`${file} already exists: give a new file for the API key (an existing key is never overwritten)`);
    const dir = path.dirname(path.resolve(file));
    try {
        fs.accessSync(dir, fs.constants.W_OK);
    } catch {
        throw new Error(`cannot write the API key file in ${dir}`);
    }
}

/**
 * Writes the key to `file` (created, mode 600) when one is given, else prints it once. If the
 * file cannot be created after all (it appeared meanwhile), the key is printed instead: the
 * secret exists nowhere else.
 */
export function handOverApiKey(ui: UIProvider, apiKey: string, file?: string): void {
    if (file !== undefined) {
        try {
            fs.writeFileSync(file, apiKey + '\n', { mode: 0o600, flag: 'wx' });
            ui.write(`API key written to ${file} (readable by you only); the escrow stores only its secret's SHA-256`);
            return;
        } catch (e) {
            ui.write(`could not write ${file} (${e instanceof Error ? e.message : String(e)}); printing the API key instead`);
        }
    }
    ui.write("API key (the openai client's apiKey). Shown only this once: store it now and keep it private; the escrow stores only its secret's SHA-256.");
    ui.write(`api key: ${apiKey}`);
}
