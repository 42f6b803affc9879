#!/usr/bin/env node
require('./run-ts')('../cli/chat.ts');
