#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: no build step between a clone and a run.
require('tsx/cjs');
require('../src/cli/main.ts').main(process.argv);
