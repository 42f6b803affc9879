#!/usr/bin/env node
// Entry point of `cocoon-verify`: runs the TypeScript CLI through ts-node (transpile only,
// no type checking at start-up). See verifier/cli.ts.
'use strict';
const path = require('path');
require('ts-node').register({
    transpileOnly: true,
    project: path.join(__dirname, '..', '..', 'tsconfig.json'),
    compilerOptions: { module: 'commonjs' },
});
process.exitCode = require('../cli').main(process.argv.slice(2));
