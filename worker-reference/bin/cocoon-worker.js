#!/usr/bin/env node
require('../../bin/run-ts')(require('node:path').join(__dirname, '..', 'cli', 'worker.ts'));
