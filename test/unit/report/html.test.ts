/**
 * The HTML bypass report: escaping as text, then the page as a browser shows it, in headless
 * Chromium at 1280×900 over the DevTools protocol (test/helpers/chromium.ts): what is displayed
 * after layout, what the filters hide, that nothing scrolls sideways, and a screenshot (written
 * to $DRIFTGATE_REPORT_SCREENSHOT, default the OS temp dir, for a person to look at) whose pixels
 * are read back (test/helpers/png.ts): the bars, the incident spans and the overdue marks are
 * painted where the layout puts them, and nothing is painted past the right margin.
 *
 * Chromium is a CI prerequisite (test/setup.sh), never installed from a test: without
 * /usr/bin/chromium these tests fail and say so rather than skip, so a missing browser cannot
 * pass for a working report.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TicketDraft } from '../../../src/decision/types.js';
import { foldEvents } from '../../../src/tickets/fold.js';
import { escapeHtml, renderReportHtml } from '../../../src/tickets/report-html.js';
import { buildReport, renderReportTable, type TicketReport } from '../../../src/tickets/report.js';
import type { TicketEvent } from '../../../src/tickets/types.js';
import { CHROMIUM, openPage, requireChromium, type Page } from '../../helpers/chromium.js';
import { decodePng, pixel } from '../../helpers/png.js';
import { draft } from '../tickets/drafts.js';
import { HOSTILE_REASON, REVIEW_NOW, reviewEvents } from '../tickets/review.js';

const DAY = 86_400_000;

// Colours as painted may differ from the stylesheet's by a few units (colour management, a
// glyph's anti-aliased edge nearby): close is what a person would call the same colour.
function near(seen: string, want: string, tolerance = 12): boolean {
  const rgb = (c: string): number[] => [1, 3, 5].map((i) => Number.parseInt(c.slice(i, i + 2), 16));
  const [a, b] = [rgb(seen), rgb(want)];
  return a.every((v, i) => Math.abs(v - (b[i] ?? 0)) <= tolerance);
}
const SCREENSHOT = process.env['DRIFTGATE_REPORT_SCREENSHOT'] ?? join(tmpdir(), 'driftgate-report-1280.png');
const LONG_NAME = `api-${'x'.repeat(240)}`;
const SECRET_VALUE = 'hunter2-plain';

function weekReport(): TicketReport {
  return buildReport(foldEvents(reviewEvents()), { now: REVIEW_NOW, since: new Date(REVIEW_NOW.getTime() - 7 * DAY), overdueAfterMs: 3 * DAY });
}

/**
 * storyEvents returns the review week plus what the whole story needs: a ticket closed by
 * settlement with its evidence, a backport commit on an open ticket, a reverted Secret ticket
 * (its values must never show), and a name and a reason with no place to break a line.
 */
function storyEvents(): TicketEvent[] {
  const settled: TicketDraft = {
    ...draft({ id: 'bt-shop-api-8', uid: 's1', name: 'api', username: 'dave', at: '2025-06-06T08:00:00Z' }),
    window: { until: '2025-06-06T10:00:00Z', reason: 'api 502s', incident: 'INC-22' },
  };
  const secret: TicketDraft = {
    ...draft({ id: 'bt-shop-db-9', uid: 'k1', name: 'db-credentials', username: 'carol', at: '2025-06-07T09:00:00Z' }),
    object: { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespace: 'shop', name: 'db-credentials' },
    window: { until: '2025-06-07T10:00:00Z', reason: 'database password rotated', incident: 'INC-22' },
  };
  secret.change.patch = [
    { op: 'replace', path: '/data/password', value: '<redacted sha256:0123456789abcdef0123>' },
    { op: 'add', path: '/stringData', value: { token: SECRET_VALUE } },
  ];
  secret.change.revert = [
    { op: 'replace', path: '/data/password', value: '<redacted sha256:fedcba9876543210fedc>' },
    { op: 'remove', path: '/stringData' },
  ];
  const long: TicketDraft = {
    ...draft({ id: 'bt-batch-long-10', uid: 'l1', namespace: 'batch', name: LONG_NAME, username: 'erin', at: '2025-06-04T09:00:00Z', incident: 'INC-31' }),
  };
  long.window = { until: '2025-06-04T10:00:00Z', reason: 'y'.repeat(400), incident: 'INC-31' };
  return [
    ...reviewEvents(),
    ...[settled, secret, long].map((d): TicketEvent => ({ type: 'change', draft: d })),
    {
      type: 'resolve',
      id: 'bt-shop-api-8',
      resolution: {
        decision: 'backport',
        by: 'system:serviceaccount:argocd:argocd-application-controller',
        ref: 'argocd/shop@5f2e9c1',
        at: '2025-06-06T12:00:00Z',
        closedBy: 'settlement',
        evidence: [
          { kind: 'gitops-write', username: 'system:serviceaccount:argocd:argocd-application-controller', at: '2025-06-06T11:59:00Z', requestUid: 'req-77' },
          { kind: 'sync-status', tool: 'argocd', namespace: 'argocd', name: 'shop', revision: '5f2e9c1', at: '2025-06-06T12:00:00Z' },
        ],
      },
    },
    { type: 'resolve', id: 'bt-shop-db-9', resolution: { decision: 'revert', by: 'carol', ref: 'INC-22 note', at: '2025-06-07T10:00:00Z' } },
    {
      type: 'backport',
      id: 'bt-shop-web-7',
      backport: {
        commit: 'c0ffee0123456789c0ffee0123456789c0ffee01',
        branch: 'backport/bt-shop-web-7',
        files: ['apps/web.yaml'],
        changes: 2,
        by: 'alice',
        at: '2025-06-03T09:00:00Z',
      },
    },
  ];
}

function storyReport(): TicketReport {
  return buildReport(foldEvents(storyEvents()), { now: REVIEW_NOW, since: new Date(REVIEW_NOW.getTime() - 7 * DAY), overdueAfterMs: 3 * DAY });
}

describe('renderReportHtml as text', () => {
  const html = renderReportHtml(weekReport());

  it('escapes a <script> in a reason, so no script element exists', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<img/i);
    expect(html).toContain(escapeHtml(HOSTILE_REASON));
    expect(escapeHtml(HOSTILE_REASON)).toBe('&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;');
  });

  it('escapes a username', () => {
    expect(html).toContain('<td>mallory&lt;b&gt;</td>');
  });

  it('loads nothing from outside the page', () => {
    expect(html).not.toMatch(/<[^>]*\b(src|href)\s*=/i);
    expect(html).not.toMatch(/url\(|@import|<link/i);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`);
  });

  it('draws a year as week columns and two years and more as month columns, never a row per day', () => {
    const columns = (days: number): number => {
      const r = buildReport(foldEvents(reviewEvents()), { now: REVIEW_NOW, since: new Date(REVIEW_NOW.getTime() - days * DAY), overdueAfterMs: 3 * DAY });
      const page = renderReportHtml(r);
      expect(page.slice(page.indexOf('<figure'), page.indexOf('</figure>'))).not.toContain('<li');
      return page.match(/<span class="col/g)?.length ?? 0;
    };
    expect(columns(365)).toBe(53);
    expect(columns(3 * 365)).toBe(37);
    const year = renderReportHtml(
      buildReport(foldEvents(reviewEvents()), { now: REVIEW_NOW, since: new Date(REVIEW_NOW.getTime() - 365 * DAY), overdueAfterMs: 3 * DAY }),
    );
    expect(/<figcaption>([^<]*)<\/figcaption>/.exec(year)?.[1]).toBe('Bypasses per week, 53 weeks; busiest: week of 2025-06-02 with 5.');
  });

  it('renders an empty period without filters or cards', () => {
    const page = renderReportHtml(buildReport([], { now: REVIEW_NOW, since: new Date(REVIEW_NOW.getTime() - 7 * DAY), overdueAfterMs: 3 * DAY }));
    expect(page).toContain('<p class="empty" id="tickets">No tickets in this period.</p>');
    expect(page).toContain('<figcaption>No bypasses in this period.</figcaption>');
    expect(page).not.toContain('id="filters"');
  });

  const escapes = [
    { text: `a & b`, want: 'a &amp; b' },
    { text: `"x" 'y'`, want: '&quot;x&quot; &#39;y&#39;' },
    { text: '</td><td>', want: '&lt;/td&gt;&lt;td&gt;' },
    { text: '&amp;', want: '&amp;amp;' },
  ];
  for (const { text, want } of escapes) it(`escapeHtml(${JSON.stringify(text)})`, () => expect(escapeHtml(text)).toBe(want));
});

describe('the HTML report in headless Chromium at 1280 px', () => {
  let dir: string;
  let page: Page;

  // What the page shows: each displayed ticket card's id, in order.
  const shownTickets = (): Promise<string[]> =>
    page.evaluate(
      "[...document.querySelectorAll('.ticket')].filter((c) => getComputedStyle(c).display !== 'none').map((c) => c.querySelector('h3 code').textContent)",
    );
  const choose = (group: string, text: string): Promise<void> =>
    page.evaluate(
      `(() => { const l = [...document.querySelectorAll('#filters legend')].find((x) => x.textContent === ${JSON.stringify(group)}).parentElement.querySelectorAll('label'); [...l].find((x) => x.textContent === ${JSON.stringify(text)}).click(); })()`,
    );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftgate-html-'));
    const file = join(dir, 'report.html');
    await writeFile(file, renderReportHtml(storyReport()));
    if (process.env['KEEP_REPORT'] === '1') await writeFile('/tmp/bp/report.html', renderReportHtml(storyReport()));
    page = await openPage(pathToFileURL(file).href, 1280, 900);
  }, 90_000);

  afterAll(async () => {
    await page?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`finds Chromium at ${CHROMIUM}`, () => {
    requireChromium();
  });

  it('never scrolls sideways at 1280 px, even with a 244-character name and a 400-character reason', async () => {
    const widths = await page.evaluate<number[]>('[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]');
    expect(widths[2]).toBe(1280);
    expect(widths[0]).toBeLessThanOrEqual(1280);
    expect(widths[1]).toBeLessThanOrEqual(1280);
    // No element sticks out past the right edge either (overflow a parent might clip).
    const over = await page.evaluate<string[]>(
      "[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 1280.5).map((e) => e.tagName + '.' + e.className)",
    );
    expect(over).toEqual([]);
  });

  it('shows every ticket of the story, open first (overdue first), then the most recently closed', async () => {
    expect(await shownTickets()).toEqual([
      'bt-old-api-4',
      'bt-shop-web-7',
      'bt-batch-long-10',
      'bt-payments-api-2',
      'bt-shop-db-5',
      'bt-shop-db-9',
      'bt-shop-api-8',
      'bt-shop-cart-3',
    ]);
  });

  it('says who or what closed each ticket, with the reference and the evidence', async () => {
    const closures = await page.evaluate<Record<string, string>>(
      "Object.fromEntries([...document.querySelectorAll('.ticket')].filter((c) => c.querySelector('.closure')).map((c) => [c.querySelector('h3 code').textContent, c.querySelector('.closure').textContent]))",
    );
    expect(closures).toEqual({
      'bt-shop-db-9': 'Closed: revert by carol at 2025-06-07T10:00:00Z; reference INC-22 note',
      'bt-shop-api-8':
        'Closed: backport by driftgate settlement (system:serviceaccount:argocd:argocd-application-controller) at 2025-06-06T12:00:00Z; reference argocd/shop@5f2e9c1; evidence: GitOps write by system:serviceaccount:argocd:argocd-application-controller at 2025-06-06T11:59:00Z (request req-77); Argo CD Application argocd/shop in sync at revision 5f2e9c1 (2025-06-06T12:00:00Z)',
      'bt-shop-cart-3': 'Closed: backport by carol at 2025-06-05T11:00:00Z; reference https://git.example/pr/12',
    });
    const backport = await page.evaluate<string>(
      "[...document.querySelectorAll('.ticket')].find((c) => c.querySelector('h3 code').textContent === 'bt-shop-web-7').querySelector('.backport').textContent",
    );
    expect(backport).toBe('Backport commit c0ffee012345 on backport/bt-shop-web-7 by alice at 2025-06-03T09:00:00Z (2 changes; apps/web.yaml)');
  });

  it("shows each ticket's changes, window and incident, and never a Secret's values", async () => {
    const card = await page.evaluate<{ window: string; fields: string[] }>(
      "(() => { const c = [...document.querySelectorAll('.ticket')].find((x) => x.querySelector('h3 code').textContent === 'bt-shop-db-9'); return { window: c.querySelector('.window').textContent, fields: [...c.querySelectorAll('.changes code')].map((x) => x.textContent) }; })()",
    );
    expect(card.window).toBe('Incident INC-22; window until 2025-06-07T10:00:00Z (1h from the first change); carol');
    expect(card.fields).toEqual(['/data/password: "(secret value)" → "(secret value)"', '/stringData: (absent) → {"token":"(secret value)"}']);
    const text = await page.evaluate<string>('document.documentElement.outerHTML');
    expect(text).not.toContain(SECRET_VALUE);
    expect(text).not.toContain('sha256');
  });

  it('filters the tickets by namespace, person and incident, without a script', async () => {
    expect(await page.evaluate<number>("document.querySelectorAll('script').length")).toBe(0);
    await choose('Namespace', 'payments');
    expect(await shownTickets()).toEqual(['bt-payments-api-2']);
    await choose('Namespace', 'all');
    await choose('Person', 'alice');
    expect(await shownTickets()).toEqual(['bt-shop-web-7', 'bt-shop-cart-3']);
    await choose('Incident', 'INC-22');
    expect(await shownTickets()).toEqual(['bt-shop-cart-3']);
    const rows = await page.evaluate<string[]>(
      "[...document.querySelectorAll('.incident-row')].filter((r) => getComputedStyle(r).display !== 'none').map((r) => r.firstElementChild.textContent)",
    );
    expect(rows).toEqual(['INC-22']);
    await choose('Person', 'all');
    await choose('Incident', 'all');
    expect(await shownTickets()).toHaveLength(8);
  });

  it('draws the week as 8 day columns, the busiest full height, and one row per incident', async () => {
    const cols = await page.evaluate<Array<[string, string, number]>>(
      "[...document.querySelectorAll('#timeline .col')].map((c) => [c.dataset.start, c.dataset.changes, Math.round(c.getBoundingClientRect().height)])",
    );
    // 2025-06-01's change (10:00) is before the period, which starts at 12:00.
    expect(cols.map(([day, n]) => `${day}:${n}`)).toEqual([
      '2025-06-01:0',
      '2025-06-02:1',
      '2025-06-03:0',
      '2025-06-04:1',
      '2025-06-05:2',
      '2025-06-06:1',
      '2025-06-07:2',
      '2025-06-08:1',
    ]);
    const tallest = Math.max(...cols.map(([, , h]) => h));
    expect(cols.filter(([, , h]) => h === tallest).map(([day]) => day)).toEqual(['2025-06-05', '2025-06-07']);
    expect(tallest).toBeGreaterThan(100);
    expect(await page.evaluate<string>("document.querySelector('#timeline figcaption').textContent")).toBe(
      'Bypasses per day, 8 days; busiest: day of 2025-06-05 with 2.',
    );
    const incidents = await page.evaluate<string[]>("[...document.querySelectorAll('.incident-row')].map((r) => r.firstElementChild.textContent)");
    expect(incidents).toEqual(['INC-0', 'INC-1', 'INC-22', 'INC-31', 'INC-9']);
  });

  it('takes a 1280×900 screenshot of what a reviewer sees first, and its pixels show the timeline, the incidents and the overdue marks', async () => {
    await page.evaluate('window.scrollTo(0, 0)');
    const png = await page.screenshot();
    await writeFile(SCREENSHOT, png);
    const shot = decodePng(png);
    expect([shot.width, shot.height]).toEqual([1280, 900]);
    // Where the page says things are (layout), and what colour the screenshot has there (paint).
    const seen = await page.evaluate<{
      cols: { changes: number; x: number; top: number; bottom: number }[];
      spans: { incident: string; x: number; y: number; right: number }[];
      overdue: { x: number; y: number }[];
    }>(
      `(() => {
        const mid = (r) => ({ x: r.left + r.width / 2, y: r.top + r.height / 2 });
        const cols = [...document.querySelectorAll('#timeline .col')].map((c) => { const r = c.getBoundingClientRect(); return { changes: Number(c.dataset.changes), x: mid(r).x, top: r.top, bottom: r.bottom }; });
        const spans = [...document.querySelectorAll('.incident-row')].map((row) => { const r = row.querySelector('.span').getBoundingClientRect(); return { incident: row.firstElementChild.textContent, ...mid(r), right: row.querySelector('.track').getBoundingClientRect().right }; });
        // The mark's padding, left of its first letter: its background, not a glyph's edge.
        const overdue = [...document.querySelectorAll('.overdue-mark')].map((m) => m.getBoundingClientRect()).filter((r) => r.bottom < 900).map((r) => ({ x: r.left + 2, y: r.top + r.height / 2 }));
        return { cols, spans, overdue };
      })()`,
    );
    // Each day with bypasses is a blue bar reaching the axis; a day without any shows no bar.
    expect(seen.cols.map((c) => (c.changes > 0 ? pixel(shot, c.x, c.bottom - 3) : pixel(shot, c.x, c.bottom - 3) === '#ffffff' ? 'none' : 'painted'))).toEqual([
      'none',
      '#0969da',
      'none',
      '#0969da',
      '#0969da',
      '#0969da',
      '#0969da',
      '#0969da',
    ]);
    // The two busiest days are the tallest bars: blue just below their top, white above the others'.
    const tallest = Math.min(...seen.cols.map((c) => c.top));
    expect(seen.cols.filter((c) => c.changes > 0).map((c) => pixel(shot, c.x, tallest + 3))).toEqual([
      '#ffffff',
      '#ffffff',
      '#0969da',
      '#ffffff',
      '#0969da',
      '#ffffff',
    ]);
    // One amber span per incident, drawn where its changes are, on its own row.
    expect(seen.spans.map((sp) => [sp.incident, near(pixel(shot, sp.x, sp.y), '#bf8700')])).toEqual(
      ['INC-0', 'INC-1', 'INC-22', 'INC-31', 'INC-9'].map((incident) => [incident, true]),
    );
    // The three overdue tickets show their red mark in the first screen.
    expect(seen.overdue.map((p) => near(pixel(shot, p.x, p.y), '#cf222e'))).toEqual([true, true, true]);
    // Nothing is painted in the right margin: no table or bar runs off the edge.
    const margin = new Set<string>();
    for (let y = 0; y < 900; y += 3) for (let x = 1270; x < 1280; x++) margin.add(pixel(shot, x, y));
    expect([...margin]).toEqual(['#ffffff']);
  });
});

describe('the story report as data', () => {
  it('lists closed tickets with their closer and evidence in JSON, and hides Secret values', () => {
    const r = storyReport();
    expect(r.totals).toMatchObject({ closed: 3, settled: 1 });
    const settled = r.tickets.find((t) => t.id === 'bt-shop-api-8');
    expect(settled?.closure).toMatchObject({
      closedBy: 'settlement',
      ref: 'argocd/shop@5f2e9c1',
      evidence: [expect.stringContaining('GitOps write'), expect.stringContaining('Argo CD Application')],
    });
    const json = JSON.stringify(r);
    expect(json).not.toContain(SECRET_VALUE);
    expect(json).not.toContain('sha256');
  });

  it('prints closed tickets with who or what closed them, and every change, in the table', () => {
    const table = renderReportTable(storyReport());
    expect(table).toContain(
      '  bt-shop-api-8    backported   settlement (system:serviceaccount:argocd:argocd-application-controller)   2025-06-06T12:00:00Z   argocd/shop@5f2e9c1; GitOps write by system:serviceaccount:argocd:argocd-application-controller at 2025-06-06T11:59:00Z (request req-77); Argo CD Application argocd/shop in sync at revision 5f2e9c1 (2025-06-06T12:00:00Z)',
    );
    expect(table).toContain(
      '  bt-shop-db-9  reverted  secrets/db-credentials in shop  INC-22, window until 2025-06-07T10:00:00Z\n    2025-06-07T09:00:00Z  carol  UPDATE\n      /data/password: "(secret value)" → "(secret value)"\n',
    );
    expect(table).toContain('    backport commit c0ffee012345 on backport/bt-shop-web-7 by alice at 2025-06-03T09:00:00Z');
    expect(table).not.toContain(SECRET_VALUE);
    expect(table).not.toContain('sha256');
  });
});
