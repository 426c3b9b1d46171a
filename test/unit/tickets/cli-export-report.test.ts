/**
 * `driftgate tickets export` and `tickets report` through the injectable io, on a journal in a
 * temp dir: what a person sees on stdout and stderr, and the files `--out` writes.
 */
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportRevert, exportTicket, renderExport } from '../../../src/tickets/export.js';
import { foldEvents } from '../../../src/tickets/fold.js';
import { JournalStore } from '../../../src/tickets/journal.js';
import { openJournal, runTickets } from './cli-harness.js';
import { buildReport, renderReportTable } from '../../../src/tickets/report.js';
import { HOSTILE_REASON, REVIEW_NOW, reviewEvents } from './review.js';
import { drafts, story, ticketOf } from './stories.js';

const DAY = 86_400_000;

let dir: string;
let spec: string;

async function run(args: string[]): Promise<{ out: string; err: string; code: number }> {
  return runTickets(args, { env: { DRIFTGATE_TICKETS: spec }, now: REVIEW_NOW });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'driftgate-export-'));
  spec = `journal:${join(dir, 'tickets.jsonl')}`;
  const store = await JournalStore.open(join(dir, 'tickets.jsonl'));
  for (const name of ['update', 'delete', 'secret']) for (const d of drafts(story(name))) await store.record(d);
  for (const event of reviewEvents()) {
    if (event.type === 'change') await store.record(event.draft);
    else if (event.type === 'resolve') await store.resolve(event.id, event.resolution);
    else if (event.type === 'backport') await store.recordBackport(event.id, event.backport);
    else await store.recordSettlement(event.id, event.settlement);
  }
  await store.close();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tickets export', () => {
  it('prints the combined patch and the commit message by default', async () => {
    const { out, err, code } = await run(['export', 'bt-shop-web-1']);
    expect({ err, code }).toEqual({ err: '', code: 0 });
    expect(out).toBe(renderExport(exportTicket(ticketOf(story('update')), 'patch')));
    expect(out.startsWith('==> web.patch.json <==\n[\n')).toBe(true);
    expect(out).toContain('\n==> COMMIT_MSG <==\nbackport INC-123: Deployment/web in shop: ');
  });

  for (const format of ['patch', 'kustomize', 'yaml'] as const) {
    it(`prints --format ${format} as the export module renders it`, async () => {
      const { out, code } = await run(['export', 'bt-shop-web-1', '--format', format]);
      expect(code).toBe(0);
      expect(out).toBe(renderExport(exportTicket(ticketOf(story('update')), format)));
    });
  }

  it('writes the Kustomize files into --out, creating it, and prints their paths', async () => {
    const out = join(dir, 'backport', 'web');
    const result = await run(['export', 'bt-shop-web-1', '--format', 'kustomize', '--out', out]);
    const files = ['kustomization-patch.yaml', 'web.patch.yaml', 'COMMIT_MSG'];
    expect(result).toEqual({ out: files.map((f) => `${join(out, f)}\n`).join(''), err: '', code: 0 });
    const want = exportTicket(ticketOf(story('update')), 'kustomize');
    for (const file of want.files) expect(await readFile(join(out, file.name), 'utf8')).toBe(file.text);
  });

  it('prints the revert patch and the kubectl command with --revert', async () => {
    const { out, err, code } = await run(['export', 'bt-shop-flags-2', '--revert']);
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(out).toBe(renderExport(exportRevert(ticketOf(story('delete')))));
    expect(out).toContain("kubectl create -n shop -f - <<'DRIFTGATE_EOF'\n");
  });

  it('writes revert.sh executable with --revert --out', async () => {
    const out = join(dir, 'revert');
    const { code, err } = await run(['export', 'bt-shop-web-1', '--revert', '--out', out]);
    expect({ code, err }).toEqual({ code: 0, err: "note: change 2 was made through /scale: its revert sets the parent's /spec/replicas\n" });
    expect((await readdir(out)).sort()).toEqual(['revert.sh', 'web.revert.json']);
    expect((await stat(join(out, 'revert.sh'))).mode & 0o111).not.toBe(0);
  });

  it('says on stderr that Secret values must be re-entered, and keeps them out of stdout', async () => {
    const { out, err, code } = await run(['export', 'bt-shop-db-creds-1', '--format', 'yaml']);
    expect(code).toBe(0);
    expect(err).toBe(
      'note: this ticket is on a Secret: its values appear only as fingerprints (<redacted sha256:…>), never as values; re-enter every such value from the secret manager before committing\n',
    );
    expect(out).toContain('password: <redacted sha256:');
  });

  const errors = [
    {
      name: 'a Secret revert',
      args: ['export', 'bt-shop-db-creds-1', '--revert'],
      err: 'driftgate: ticket bt-shop-db-creds-1 is on Secret shop/db-creds: its old values are not recorded (driftgate keeps only fingerprints, at /data/password), so it cannot be reverted from the ticket; restore the values from the secret manager, then record it: driftgate tickets resolve bt-shop-db-creds-1 --decision revert --ref <where> --by <you>\n',
    },
    { name: 'a bad --format', args: ['export', 'bt-shop-web-1', '--format', 'helm'], err: 'driftgate: --format "helm": use patch, kustomize or yaml\n' },
    {
      name: '--revert with --format',
      args: ['export', 'bt-shop-web-1', '--revert', '--format', 'yaml'],
      err: 'driftgate: --revert prints a JSON patch and a kubectl command; leave out --format\n',
    },
  ];
  for (const c of errors) {
    it(`reports ${c.name} in one line on stderr with exit code 1`, async () => {
      expect(await run(c.args)).toEqual({ out: '', err: c.err, code: 1 });
    });
  }

  it('names the id it cannot find', async () => {
    const { err, code } = await run(['export', 'bt-nope']);
    expect(code).toBe(1);
    expect(err).toMatch(/^driftgate: no ticket "bt-nope" in journal:/);
  });
});

describe('tickets report', () => {
  // The journal holds the review week plus the export stories (all on 2025-06-01, inside 7d).
  async function expected(opts: { since: Date; overdueAfterMs: number; now?: Date }) {
    const store = await openJournal(spec);
    try {
      return buildReport(await store.list(), { now: opts.now ?? REVIEW_NOW, ...opts });
    } finally {
      await store.close();
    }
  }

  it('prints the table for the last 7 days with 3 days to overdue by default', async () => {
    const { out, err, code } = await run(['report']);
    expect({ err, code }).toEqual({ err: '', code: 0 });
    expect(out).toBe(renderReportTable(await expected({ since: new Date(REVIEW_NOW.getTime() - 7 * DAY), overdueAfterMs: 3 * DAY })));
  });

  it('takes --since, --overdue and --now, and prints JSON with -o json', async () => {
    const now = new Date('2025-06-09T00:00:00Z');
    const { out, code } = await run(['report', '-o', 'json', '--since', '2d', '--overdue', '36h', '--now', now.toISOString()]);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual(await expected({ now, since: new Date(now.getTime() - 2 * DAY), overdueAfterMs: 36 * 3_600_000 }));
  });

  it('writes one HTML page to --out with the hostile reason escaped', async () => {
    const file = join(dir, 'report.html');
    expect(await run(['report', '-o', 'html', '--out', file])).toEqual({ out: `${file}\n`, err: '', code: 0 });
    const html = await readFile(file, 'utf8');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;');
  });

  const errors = [
    { name: 'a bad -o', args: ['report', '-o', 'xml'], err: 'driftgate: -o "xml": use table, json, yaml or html\n' },
    { name: 'a bad --overdue', args: ['report', '--overdue', 'soon'], err: 'driftgate: --overdue "soon": use a duration such as 3d, 36h or 1d12h\n' },
    {
      name: 'a bad --now',
      args: ['report', '--now', 'yesterday'],
      err: 'driftgate: --now "yesterday" is not an RFC 3339 time; write e.g. 2026-11-24T03:00:00Z\n',
    },
  ];
  for (const c of errors) {
    it(`reports ${c.name} in one line on stderr with exit code 1`, async () => {
      expect(await run(c.args)).toEqual({ out: '', err: c.err, code: 1 });
    });
  }

  it('counts the same bypasses as the fold of the journal', async () => {
    const { out } = await run(['report', '-o', 'json']);
    const direct = buildReport(foldEvents(reviewEvents()), { now: REVIEW_NOW, since: new Date(REVIEW_NOW.getTime() - 7 * DAY), overdueAfterMs: 3 * DAY });
    // The export stories add their own people; the review week's counts are all there.
    expect(JSON.parse(out)).toMatchObject({ byIncident: expect.arrayContaining(direct.byIncident) as unknown });
    expect(out).toContain(JSON.stringify(HOSTILE_REASON).slice(1, -1));
  });
});
