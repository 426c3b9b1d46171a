/**
 * One output convention: every command that prints data takes -o, and -o json / -o yaml print the
 * same value (through cli/io.ts formatData) that a program can parse. Runs the built binary.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = resolve(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'dist/cli/main.js');

function driftgate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8' }, (err, stdout, stderr) => {
      done({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

beforeAll(async () => {
  if (!existsSync(CLI)) {
    await new Promise((done, fail) =>
      execFile(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT }, (e) =>
        e ? fail(e) : done(undefined),
      ),
    );
  }
}, 120_000);

describe('-o json and -o yaml print the same data', () => {
  const commands: { name: string; args: string[]; check: (data: Record<string, unknown>) => void }[] = [
    { name: 'policy check', args: ['policy', 'check', 'examples/policy.yaml'], check: (d) => expect(d['valid']).toBe(true) },
    { name: 'policy test', args: ['policy', 'test', 'examples/policy.yaml', 'examples/policy-tests'], check: (d) => expect(d['failed']).toBe(0) },
    {
      name: 'review',
      args: ['review', '--policy', 'examples/policy.yaml', 'examples/reviews/gitops-sync.json'],
      check: (d) => expect(d['kind']).toBe('AdmissionReview'),
    },
    {
      name: 'manifests',
      args: ['manifests', '--policy', 'examples/policy.yaml', '--url', 'https://127.0.0.1:8443', '--ca-inject-from', 'driftgate-system/driftgate-tls'],
      check: (d) => expect(d['kind']).toBe('List'),
    },
  ];
  for (const c of commands) {
    it(`${c.name}`, async () => {
      const json = await driftgate([...c.args, '-o', 'json']);
      expect(json.stderr).toBe('');
      const fromJson = JSON.parse(json.stdout) as Record<string, unknown>;
      c.check(fromJson);
      if (c.name === 'manifests') return; // its YAML is a multi-document stream with a comment header
      const yaml = await driftgate([...c.args, '-o', 'yaml']);
      expect(parse(yaml.stdout)).toEqual(fromJson);
    });
  }

  it('policy check still takes -o text, the earlier name of table', async () => {
    const r = await driftgate(['policy', 'check', 'examples/policy.yaml', '-o', 'text']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OK policy prod/);
  });
});
