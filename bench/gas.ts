/**
 * `npm run bench:gas`: runs every gas module in bench/gas/ (each exports `measure()`),
 * prints the table and writes bench/results/gas.json as [{op, txs, gasUsed, totalFees}].
 */
import { readdirSync, writeFileSync, mkdirSync } from 'fs';
import { join } from 'path';
import { GasModule, GasRow } from './gas/measure';

async function main(): Promise<void> {
    const dir = join(__dirname, 'gas');
    const modules = readdirSync(dir)
        .filter((f) => f.endsWith('.ts') && f !== 'measure.ts')
        .sort();
    const rows: GasRow[] = [];
    for (const file of modules) {
        process.stderr.write(`measuring ${file} ...\n`);
        const mod = (await import(join(dir, file))) as GasModule;
        rows.push(...(await mod.measure()));
    }
    console.table(rows);
    const out = join(__dirname, 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'gas.json'), JSON.stringify(rows, null, 2) + '\n');
    console.log(`wrote ${join(out, 'gas.json')} (${rows.length} ops)`);
}

main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
});
