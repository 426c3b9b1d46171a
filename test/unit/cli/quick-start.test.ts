/**
 * The README's quick start, as written: each shipped example review decides as the README says,
 * through the very code path `serve` runs (`review`), at whatever time the test runs. Regression:
 * the break-glass example carried a window stored as a relative `-for`, which issue 11 made count
 * as expired, and nothing noticed that the quick start's bypass had become a refusal.
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'dist/cli/main.js');

function review(file: string): Promise<{ code: number; response: { allowed: boolean; warnings?: string[]; status?: { message?: string } } }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, 'review', '--policy', 'examples/policy.yaml', file], { cwd: ROOT, encoding: 'utf8' }, (err, stdout) => {
      const code = err === null ? 0 : Number((err as { code?: number }).code ?? 1);
      done({ code, response: (JSON.parse(stdout) as { response: { allowed: boolean } }).response });
    });
  });
}

describe('the README quick start', () => {
  it("refuses a developer's memory-limit change in prod, saying how to proceed", async () => {
    const r = await review('examples/reviews/memory-limit.json');
    expect({ code: r.code, allowed: r.response.allowed }).toEqual({ code: 2, allowed: false });
    expect(r.response.status?.message).toContain('make the change in Git');
  });

  it('lets a responder through under a break-glass window, naming the backport ticket', async () => {
    const r = await review('examples/reviews/break-glass.json');
    expect({ code: r.code, allowed: r.response.allowed }).toEqual({ code: 0, allowed: true });
    expect(r.response.warnings?.join('\n')).toMatch(/recorded on backport ticket checkout-api-inc-4711-[0-9a-f]{10}/);
  });

  it('lets the GitOps sync and the HPA through', async () => {
    for (const file of ['examples/reviews/gitops-sync.json', 'examples/reviews/hpa-scale.json']) {
      const r = await review(file);
      expect({ file, code: r.code, allowed: r.response.allowed }).toEqual({ file, code: 0, allowed: true });
    }
  });
});
