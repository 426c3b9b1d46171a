/**
 * The built `driftgate` binary as a person or a CI job meets it: failures exit non-zero with one
 * line and no stack trace, whichever command failed and however it reports.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostileReviewText } from '../../../bench/hostile.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'dist/cli/main.js');

function driftgate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8' }, (err, stdout, stderr) => {
      done({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

/** The hostile review of bench/hostile.ts as a ConfigMap, which examples/policy.yaml guards in prod. */
function deepConfigMapReview(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'dg-cli-')), 'deep.json');
  writeFileSync(file, hostileReviewText(300, 62 * 1024).replaceAll('"group":"example.com","version":"v1","resource":"widgets"', '"group":"","version":"v1","resource":"configmaps"'));
  return file;
}

let busyPort = 0;
const busy = createServer();

beforeAll(async () => {
  await new Promise<void>((done) => busy.listen(0, '127.0.0.1', done));
  busyPort = (busy.address() as AddressInfo).port;
  if (!existsSync(CLI)) {
    await new Promise((done, fail) => execFile(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT }, (e) => (e ? fail(e) : done(undefined))));
  }
}, 120_000);

afterAll(() => {
  busy.close();
});

describe('driftgate exit codes', () => {
  const cases: { name: string; args: () => string[]; code: number; stderr?: RegExp }[] = [
    { name: 'a valid policy check succeeds', args: () => ['policy', 'check', 'examples/policy.yaml'], code: 0 },
    { name: 'an unknown ticket journal fails (a command that sets the exit code)', args: () => ['tickets', 'show', 'x', '--tickets', 'journal:/nonexistent/tickets.jsonl'], code: 1, stderr: /no journal at/ },
    {
      name: 'a review that is not JSON fails with one line naming the problem',
      args: () => {
        const file = join(mkdtempSync(join(tmpdir(), 'dg-cli-')), 'bad.json');
        writeFileSync(file, '{"request": ');
        return ['review', '--policy', 'examples/policy.yaml', file];
      },
      code: 1,
      stderr: /not JSON/,
    },
    {
      // Issue 11: refused at once, naming the limit and the flag, never a stack overflow.
      name: 'a review nested 300 deep fails with one line naming the depth limit and the flag',
      args: () => ['review', '--policy', 'examples/policy.yaml', deepConfigMapReview()],
      code: 1,
      stderr: /^driftgate: the review nests deeper than 100 levels \(at request\.object\.spec\.a\.a\.a….*--max-review-depth.*\n$/s,
    },
    {
      name: 'the same review is judged (exit 0) once --max-review-depth allows it: no stack overflow',
      args: () => ['review', '--policy', 'examples/policy.yaml', '--max-review-depth', '400', deepConfigMapReview()],
      code: 0,
    },
    { name: 'a missing policy file fails naming it', args: () => ['review', '--policy', 'nope.yaml', 'examples/reviews/memory-limit.json'], code: 1, stderr: /policy nope\.yaml: cannot read it/ },
    { name: 'an unknown command fails', args: () => ['frobnicate'], code: 1, stderr: /unknown command/ },
    {
      name: 'serve on a port already in use fails naming the address and the flag',
      args: () => ['serve', '--dev', '--host', '127.0.0.1', '--port', String(busyPort), '--metrics-port', '-1'],
      code: 1,
      stderr: /127\.0\.0\.1:\d+ is already in use; choose another with --port/,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = await driftgate(c.args());
      expect(r.code).toBe(c.code);
      if (c.stderr !== undefined) expect(r.stderr).toMatch(c.stderr);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }
});
