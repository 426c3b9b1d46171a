/** The version `driftgate --version` prints: package.json's, read once (the CLI reads files). */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    // src/cli/version.ts and dist/cli/version.js both sit two folders below package.json.
    const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    const version = typeof pkg === 'object' && pkg !== null && 'version' in pkg ? pkg.version : undefined;
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** VERSION is driftgate's version, e.g. 0.1.0. */
export const VERSION = readVersion();
