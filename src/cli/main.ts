#!/usr/bin/env node
// The executable entry: everything testable lives in program.ts. It checks the Node version
// before loading anything else: on an older Node, driftgate's dependencies fail at import time
// with errors that do not say why, and on Node 20 JSON.parse gives revivers no source text, so
// integers beyond 2^53 would be rounded and an int64 change read as none. package.json's engines
// says the same floor.
const MIN_NODE_MAJOR = 24;

const major = Number(process.versions.node.split('.')[0]);
if (major < MIN_NODE_MAJOR) {
  process.stderr.write(
    `driftgate: needs Node.js ${MIN_NODE_MAJOR} or later; this is Node.js ${process.versions.node} (${process.execPath}). ` +
      `Put Node.js ${MIN_NODE_MAJOR} first on PATH (in a clone of the repository, npm ci installs it and npx driftgate uses it), or run the Docker image.\n`,
  );
  process.exitCode = 1;
} else {
  const { EXACT_JSON_SUPPORTED } = await import('../util/json.js');
  if (!EXACT_JSON_SUPPORTED) {
    // A Node built without source text in JSON.parse revivers: refuse rather than decide wrongly.
    process.stderr.write(
      `driftgate: this Node.js (${process.versions.node}) gives JSON.parse revivers no source text, so integers beyond 2^53 cannot be read exactly; run the Node 24 that npm ci installs, or the Docker image.\n`,
    );
    process.exitCode = 1;
  } else {
    const { run } = await import('./program.js');
    process.exitCode = await run(process.argv.slice(2));
  }
}
