#!/usr/bin/env node
// The executable entry: everything testable lives in program.ts.
import { EXACT_JSON_SUPPORTED } from '../util/json.js';
import { run } from './program.js';

if (!EXACT_JSON_SUPPORTED) {
  // Without source-text access in JSON.parse, an int64 change of a custom resource would read as
  // no change at all: refuse to run rather than decide wrongly.
  process.stderr.write(
    `driftgate: needs Node 22 or later (found ${process.versions.node}): it reads integers beyond 2^53 exactly. Run it with the Node 24 that npm ci installs (npm run driftgate -- …) or the Docker image.\n`,
  );
  process.exitCode = 1;
} else {
  process.exitCode = await run(process.argv.slice(2));
}
