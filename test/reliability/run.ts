/**
 * `npm run reliability`: runs the replica scenario of test/e2e/replicas.test.ts (three driftgate
 * replicas behind HAProxy, one SIGKILLed mid-run and restarted, four responders writing
 * concurrently) on a control plane of its own, and rewrites the figures between the markers of
 * docs/RELIABILITY.md. The test asserts what must hold; this prints what was measured.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, buildControlPlane } from '../e2e/own-cluster.js';
import { figuresOf, runReplicaScenario } from '../e2e/replica-scenario.js';
import { section } from './section.js';

const BEGIN = '<!-- reliability:begin (npm run reliability rewrites this section) -->';
const END = '<!-- reliability:end -->';

function log(message: string): void {
  process.stderr.write(`reliability: ${message}\n`);
}

async function main(): Promise<void> {
  log('building (or reusing) the control plane');
  const binDir = buildControlPlane();
  const result = await runReplicaScenario({ binDir, log });
  const figures = figuresOf(result);
  const path = join(ROOT, 'docs/RELIABILITY.md');
  const doc = readFileSync(path, 'utf8');
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${path}: the markers ${BEGIN} … ${END} are missing`);
  writeFileSync(path, `${doc.slice(0, begin + BEGIN.length)}\n${section(result, figures, new Date())}\n${doc.slice(end)}`);
  log(`wrote ${path}`);
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`reliability: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
