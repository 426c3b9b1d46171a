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

function driftgate(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env }, (err, stdout, stderr) => {
      done({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

/** The hostile review of bench/hostile.ts as a ConfigMap, which examples/policy.yaml guards in prod. */
function deepConfigMapReview(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'dg-cli-')), 'deep.json');
  writeFileSync(
    file,
    hostileReviewText(300, 62 * 1024).replaceAll(
      '"group":"example.com","version":"v1","resource":"widgets"',
      '"group":"","version":"v1","resource":"configmaps"',
    ),
  );
  return file;
}

let busyPort = 0;
const busy = createServer();

beforeAll(async () => {
  await new Promise<void>((done) => busy.listen(0, '127.0.0.1', done));
  busyPort = (busy.address() as AddressInfo).port;
  if (!existsSync(CLI)) {
    await new Promise((done, fail) =>
      execFile(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT }, (e) =>
        e ? fail(e) : done(undefined),
      ),
    );
  }
}, 120_000);

afterAll(() => {
  busy.close();
});

describe('driftgate exit codes', () => {
  // No kubeconfig anywhere: an empty HOME, no $KUBECONFIG, not in a cluster.
  const noCluster = (): NodeJS.ProcessEnv => {
    const { KUBECONFIG: _k, KUBERNETES_SERVICE_HOST: _h, ...rest } = process.env;
    return { ...rest, HOME: mkdtempSync(join(tmpdir(), 'dg-home-')) };
  };
  const cases: { name: string; args: () => string[]; code: number; stderr?: RegExp; stdout?: RegExp; env?: () => NodeJS.ProcessEnv }[] = [
    { name: '--version prints the version', args: () => ['--version'], code: 0, stdout: /^\d+\.\d+\.\d+\n$/ },
    {
      name: 'a review the webhook would refuse exits 2, after printing the answer',
      args: () => ['review', '--policy', 'examples/policy.yaml', 'examples/reviews/memory-limit.json'],
      code: 2,
      stdout: /"allowed": false/,
    },
    {
      name: 'a refused review with --exit-zero exits 0',
      args: () => ['review', '--policy', 'examples/policy.yaml', '--exit-zero', 'examples/reviews/memory-limit.json'],
      code: 0,
      stdout: /"allowed": false/,
    },
    {
      name: 'an allowed review exits 0, in YAML with -o yaml',
      args: () => ['review', '--policy', 'examples/policy.yaml', '-o', 'yaml', 'examples/reviews/gitops-sync.json'],
      code: 0,
      stdout: /^apiVersion: admission\.k8s\.io\/v1\n[\s\S]*allowed: true/,
    },
    {
      name: 'a command that needs a cluster and finds no kubeconfig says so in one line',
      args: () => ['tickets', 'list', '--tickets', 'kubernetes'],
      env: noCluster,
      code: 1,
      stderr: /^driftgate: no kubeconfig: not running in a cluster, \$KUBECONFIG is not set and \S+ does not exist; pass --kubeconfig FILE\n$/,
    },
    {
      name: 'a journal path that is not a journal is an error, not "No tickets found"',
      args: () => ['tickets', 'list', '--tickets', 'journal:README.md'],
      code: 1,
      stderr: /README\.md is not a ticket journal/,
    },
    { name: 'a valid policy check succeeds', args: () => ['policy', 'check', 'examples/policy.yaml'], code: 0 },
    {
      name: 'an unknown ticket journal fails (a command that sets the exit code)',
      args: () => ['tickets', 'show', 'x', '--tickets', 'journal:/nonexistent/tickets.jsonl'],
      code: 1,
      stderr: /no journal at/,
    },
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
      // Judged, not failed: a refusal exits 2 (one convention), after printing the answer.
      name: 'the same review is judged (exit 2, a refused ConfigMap edit) once --max-review-depth allows it: no stack overflow',
      args: () => ['review', '--policy', 'examples/policy.yaml', '--max-review-depth', '400', deepConfigMapReview()],
      code: 2,
      stdout: /"allowed": false/,
    },
    {
      name: 'a missing policy file fails naming it',
      args: () => ['review', '--policy', 'nope.yaml', 'examples/reviews/memory-limit.json'],
      code: 1,
      stderr: /policy nope\.yaml: cannot read it/,
    },
    { name: 'an unknown command fails', args: () => ['frobnicate'], code: 1, stderr: /unknown command/ },
    {
      name: 'serve on a port already in use fails naming the address and the flag',
      args: () => ['serve', '--dev', '--host', '127.0.0.1', '--port', String(busyPort), '--metrics-port', '-1'],
      code: 1,
      stderr: /127\.0\.0\.1:\d+ is already in use; choose another with --port/,
    },
    {
      name: 'serve --settle-from with a tool it does not know fails naming the ones it does',
      args: () => ['serve', '--dev', '--host', '127.0.0.1', '--port', '0', '--metrics-port', '-1', '--settle-from', 'argocd,gitlab'],
      code: 1,
      stderr: /^driftgate: --settle-from "argocd,gitlab": name the tools whose status to read, argocd, flux or both \(argocd,flux\)\n$/,
    },
    {
      name: 'serve --settle without cluster access fails: settlement judges the object read back, never the review alone',
      args: () => ['serve', '--dev', '--host', '127.0.0.1', '--port', '0', '--metrics-port', '-1', '--settle'],
      code: 1,
      stderr: /^driftgate: --settle reads each observed object back from the cluster .*--kubeconfig/,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = await driftgate(c.args(), c.env?.());
      expect(r.code).toBe(c.code);
      if (c.stderr !== undefined) expect(r.stderr).toMatch(c.stderr);
      if (c.stdout !== undefined) expect(r.stdout).toMatch(c.stdout);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }
});
