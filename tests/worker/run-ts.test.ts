/**
 * bin/run-ts.js, the shim every command-line tool starts through: TypeScript transpiled by
 * swc where its prebuilt binary loads, by TypeScript's own transpiler where it does not, the
 * tool working either way.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, tmpDir } from './helpers';

const dir = tmpDir('cocoon-run-ts-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Preloaded into the tool: reports at exit which transpiler ts-node was registered with. */
const REPORT = path.join(dir, 'report.js');
fs.writeFileSync(
    REPORT,
    `process.on('exit', () => { const s = process[Symbol.for('ts-node.register.instance')]; process.stderr.write('ts-node swc=' + String(Boolean(s && s.options.swc)) + '\\n'); });\n`,
);
/** Preloaded too: @swc/core fails to load, as on a platform without its binary. */
const NO_SWC = path.join(dir, 'no-swc.js');
fs.writeFileSync(
    NO_SWC,
    `const Module = require('module'); const load = Module._load; Module._load = function (request, ...rest) { if (request === '@swc/core') throw new Error('no swc binary here'); return load.call(this, request, ...rest); };\n`,
);

function help(preloads: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [...preloads.flatMap((p) => ['-r', p]), path.join(ROOT, 'worker-reference', 'bin', 'cocoon-make-model.js'), '--help'], { encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bin/run-ts.js', () => {
    it('transpiles with swc where @swc/core loads', () => {
        const r = help([REPORT]);
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(/^Usage: cocoon-make-model/);
        expect(r.stderr).toContain('ts-node swc=true');
    });

    it("falls back to TypeScript's transpiler where @swc/core does not load, and the tool still works", () => {
        const r = help([NO_SWC, REPORT]);
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(/^Usage: cocoon-make-model/);
        expect(r.stderr).toContain('ts-node swc=false');
    });
});
