'use strict';
// Loads a TypeScript entry point through ts-node, transpile only (the project's `tsc --noEmit`
// is the type check), so the command-line tools work from a clean clone; used by every bin
// (worker-reference/bin/*, verifier/bin/cocoon-verify.js). The transpiler is swc where its
// prebuilt binary loads: TypeScript's own transpiler took ~1.1 s of a CLI's ~1.5 s start
// (cocoon-worker --help: 1.45 s → 0.55 s with swc); elsewhere TypeScript's.
const path = require('node:path');

function swcLoads() {
    try {
        require('@swc/core').transformSync('let a: number = 1;', { jsc: { parser: { syntax: 'typescript' } } });
        return true;
    } catch {
        return false;
    }
}

let registered = false;

/** Requires `entry` (an absolute path to a .ts file) and returns its exports. */
module.exports = function runTs(entry) {
    if (!registered) {
        require('ts-node').register({ transpileOnly: true, swc: swcLoads(), project: path.join(__dirname, '..', 'tsconfig.json') });
        registered = true;
    }
    return require(entry);
};
