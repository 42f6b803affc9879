#!/usr/bin/env node
require('./run-ts')('../cli/worker.ts');
