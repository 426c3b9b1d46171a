/** `driftgate tickets backport` through the CLI: what it prints, what it records on the ticket, how it refuses. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JournalStore } from '../../../src/tickets/journal.js';
import { runTickets } from '../tickets/cli-harness.js';
import { draft } from '../tickets/drafts.js';
import { fileAt, gitIn, makeRepo } from './git-repos.js';

const NOW = new Date('2025-06-01T12:00:00Z');
const MANIFEST = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web # keep\nspec:\n  replicas: 3\n';

let dir: string;
let checkout: string;
let spec: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'driftgate-backport-cli-'));
  spec = `journal:${join(dir, 'tickets.jsonl')}`;
  const store = await JournalStore.open(join(dir, 'tickets.jsonl'));
  await store.record(draft({ id: 'bt-shop-web-1' }));
  await store.close();
  checkout = await makeRepo({ 'deploy/web.yaml': MANIFEST });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(checkout, { recursive: true, force: true });
});

describe('tickets backport', () => {
  it('prints the branch and the commit, and records the commit on the ticket', async () => {
    const { out, err, code } = await runTickets(['backport', 'bt-shop-web-1', '--repo', checkout, '--tickets', spec], { env: {}, now: NOW });
    expect({ err, code }).toEqual({ err: '', code: 0 });
    const commit = gitIn(checkout, 'rev-parse', 'backport/bt-shop-web-1').trim();
    expect(out).toBe(
      `branch backport/bt-shop-web-1\ncommit ${commit}\nedited deploy/web.yaml\nrecorded on ticket bt-shop-web-1; publish it with: git push origin backport/bt-shop-web-1\n`,
    );
    expect(fileAt(checkout, commit, 'deploy/web.yaml')).toBe(
      MANIFEST.replace('replicas: 3', 'replicas: 5').replace('    app: web # keep\n', '    app: web # keep\n    hotfix: "yes"\n'),
    );
    const shown = await runTickets(['show', 'bt-shop-web-1', '-o', 'json', '--tickets', spec], { env: {}, now: NOW });
    expect(JSON.parse(shown.out)).toMatchObject({
      state: 'open',
      backports: [
        {
          commit,
          branch: 'backport/bt-shop-web-1',
          files: ['deploy/web.yaml'],
          changes: 1,
          by: 'Alice Oncall <alice@example.com>',
          at: '2025-06-01T12:00:00Z',
        },
      ],
    });
  });

  it('lets the backport decision point at the commit as its evidence', async () => {
    await runTickets(['backport', 'bt-shop-web-1', '--repo', checkout, '--tickets', spec], { env: {}, now: NOW });
    const commit = gitIn(checkout, 'rev-parse', 'backport/bt-shop-web-1').trim();
    const resolved = await runTickets(
      ['resolve', 'bt-shop-web-1', '--decision', 'backport', '--ref', 'https://git.example/pr/31', '--by', 'alice', '-o', 'json', '--tickets', spec],
      { env: {}, now: NOW },
    );
    expect(JSON.parse(resolved.out).resolution).toEqual({
      decision: 'backport',
      ref: 'https://git.example/pr/31',
      by: 'alice',
      at: NOW.toISOString(),
      closedBy: 'person',
      evidence: [{ kind: 'commit', commit, branch: 'backport/bt-shop-web-1' }],
    });
  });

  it('prints the commit it recorded with -o json', async () => {
    const { out, code } = await runTickets(['backport', 'bt-shop-web-1', '--repo', checkout, '--branch', 'fix/web', '-o', 'json', '--tickets', spec], {
      env: {},
      now: NOW,
    });
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({
      commit: gitIn(checkout, 'rev-parse', 'fix/web').trim(),
      branch: 'fix/web',
      files: ['deploy/web.yaml'],
      changes: 1,
      by: 'Alice Oncall <alice@example.com>',
      at: '2025-06-01T12:00:00Z',
    });
  });

  it('says what is missing, on one line, with exit code 1', async () => {
    expect(await runTickets(['backport', 'bt-shop-web-1', '--tickets', spec], { env: {}, now: NOW })).toEqual({
      out: '',
      err: 'driftgate: --repo is required: give the directory of a Git checkout\n',
      code: 1,
    });
    const missing = await runTickets(['backport', 'bt-nope', '--repo', checkout, '--tickets', spec], { env: {}, now: NOW });
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^driftgate: no ticket "bt-nope" in journal:/);
  });

  it('records nothing when the manifest is not found', async () => {
    const other = await makeRepo({ 'x.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n' });
    try {
      const { err, code } = await runTickets(['backport', 'bt-shop-web-1', '--repo', other, '--tickets', spec], { env: {}, now: NOW });
      expect(code).toBe(1);
      expect(err).toMatch(/^driftgate: no manifest at HEAD declares Deployment shop\/web .* driftgate tickets export bt-shop-web-1 --format yaml\n$/);
      const shown = await runTickets(['show', 'bt-shop-web-1', '-o', 'json', '--tickets', spec], { env: {}, now: NOW });
      expect(JSON.parse(shown.out)).not.toHaveProperty('backports');
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});
