#!/usr/bin/env node
// Entry point of `cocoon-verify`: runs the TypeScript CLI (verifier/cli.ts) through bin/run-ts.js.
'use strict';
process.exitCode = require('../../bin/run-ts')(require('node:path').join(__dirname, '..', 'cli.ts')).main(process.argv.slice(2));
