/**
 * On a Node without source text in JSON.parse revivers (Node 20, the machine's own `node` here),
 * driftgate would round integers beyond 2^53 and read a change as none: it refuses to run instead.
 * Regression: adversarial review of issue 11 (`review` allowed an int64 change on Node 20).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = join(import.meta.dirname, '../../../dist/cli/main.js');
const REVIEW = join(import.meta.dirname, '../decision/testdata/bigint-change/request.json');
const POLICY = join(import.meta.dirname, '../decision/testdata/bigint-change/policy.yaml');

/** The first `node` on PATH outside node_modules, and whether it has source text in revivers. */
function systemNode(): { path: string; exact: boolean } | undefined {
  const dirs = (process.env['PATH'] ?? '').split(':').filter((d) => d !== '' && !d.includes('node_modules'));
  for (const dir of dirs) {
    const path = join(dir, 'node');
    const probe = spawnSync(path, ['-e', 'let s;JSON.parse("1",(k,v,c)=>{s=c&&c.source;return v});process.stdout.write(String(s==="1"))'], {
      encoding: 'utf8',
    });
    if (probe.status === 0) return { path, exact: probe.stdout === 'true' };
  }
  return undefined;
}

describe('driftgate on a Node that cannot read integers exactly', () => {
  const node = systemNode();
  it.runIf(node !== undefined && !node.exact)('refuses to run, naming the Node it needs', () => {
    const r = spawnSync(node?.path ?? 'node', [CLI, 'review', '--policy', POLICY, REVIEW], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^driftgate: needs Node\.js 24 or later; this is Node\.js 20\./);
    expect(r.stdout).toBe('');
  });

  it('decides the same review on the Node 24 the npm scripts run (the int64 change is drift)', () => {
    const out = (() => {
      try {
        return execFileSync(process.execPath, [CLI, 'review', '--policy', POLICY, REVIEW], { encoding: 'utf8' });
      } catch (err) {
        return String((err as { stdout?: string }).stdout ?? '');
      }
    })();
    expect(out).toContain('"allowed": false');
  });
});
