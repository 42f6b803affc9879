#!/usr/bin/env node
require('./run-ts')('../cli/make-model.ts');
