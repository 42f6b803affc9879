#!/usr/bin/env node
require('./run-ts')('../cli/proxy.ts');
