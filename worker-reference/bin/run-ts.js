'use strict';
// Runs a TypeScript entry point of worker-reference through ts-node (transpile only: the
// project's `tsc --noEmit` is the type check), so the CLIs work from a clean clone.
const path = require('node:path');
module.exports = function runTs(entry) {
    require('ts-node').register({ transpileOnly: true, project: path.join(__dirname, '..', '..', 'tsconfig.json') });
    require(path.join(__dirname, entry));
};
