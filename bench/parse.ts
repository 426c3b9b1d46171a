/**
 * What reading a review exactly costs (issue 11): `parseReviewText` keeps integers beyond 2^53
 * exact with a JSON.parse reviver, run only when a scan finds a long number. Measured against a
 * bare `JSON.parse` of the same text in the same run, for a real review (no long number: the scan
 * alone), and for the same review holding one int64 beyond 2^53 (the reviver path).
 *
 *   npx tsc -p bench/tsconfig.json && npm run build && node .cache/bench/parse.js
 *
 * Prints the ratio of the fastest rounds; docs/security.md quotes a run. Never asserted in a test.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './common.js';

type Parse = (text: string) => unknown;

async function main(): Promise<void> {
  const { parseJsonExact } = (await import(join(ROOT, 'dist/util/json.js'))) as { parseJsonExact: Parse };
  const plain = readFileSync(join(ROOT, 'test/unit/decision/testdata/break-glass-valid/request.json'), 'utf8');
  const withBig = plain.replace('"progressDeadlineSeconds": 600', '"progressDeadlineSeconds": 9007199254740993');
  if (withBig === plain) throw new Error('fixture changed: no progressDeadlineSeconds to replace');
  const bigDoc = `{"items":[${Array.from({ length: 40 }, () => plain).join(',')}]}`;
  const bigDocWithBig = `{"items":[${Array.from({ length: 40 }, () => withBig).join(',')}]}`;

  const cases: Array<[string, string]> = [
    [`a real review (${(plain.length / 1024).toFixed(1)} KiB), no long number`, plain],
    ['the same review with one int64 beyond 2^53', withBig],
    [`40 reviews in one document (${(bigDoc.length / 1024).toFixed(0)} KiB), no long number`, bigDoc],
    ['the same, each with one int64 beyond 2^53', bigDocWithBig],
  ];
  // Many short rounds, alternating, and the fastest of each kept: on a shared machine the minimum
  // is the figure least disturbed by other work.
  const rounds = 31;
  console.log('| body | JSON.parse µs | parseJsonExact µs | ratio |');
  console.log('|---|---|---|---|');
  for (const [name, text] of cases) {
    const base: number[] = [];
    const exact: number[] = [];
    const n = Math.max(10, Math.round(500_000 / text.length));
    for (let r = 0; r < rounds; r++) {
      base.push(time(() => JSON.parse(text), n));
      exact.push(time(() => parseJsonExact(text), n));
    }
    const b = Math.min(...base);
    const e = Math.min(...exact);
    console.log(`| ${name} | ${b.toFixed(1)} | ${e.toFixed(1)} | ${(e / b).toFixed(2)} |`);
  }
}

function time(fn: () => unknown, n: number): number {
  for (let i = 0; i < 3; i++) fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - start) / 1000 / n;
}

void main();
