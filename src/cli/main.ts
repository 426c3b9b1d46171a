#!/usr/bin/env node
// The executable entry: everything testable lives in program.ts.
import { run } from './program.js';

process.exitCode = await run(process.argv.slice(2));
