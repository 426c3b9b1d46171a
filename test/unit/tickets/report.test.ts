/**
 * Aggregation for `tickets report`, on a week of bypasses (review.ts). The table output is a
 * golden file, testdata/report/table.txt; rewrite it with
 *   UPDATE_GOLDEN=1 npx vitest run test/unit/tickets/report.test.ts
 * and read it before committing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { foldEvents } from '../../../src/tickets/fold.js';
import type { TicketEvent } from '../../../src/tickets/types.js';
import { buildReport, humanDuration, renderReportTable, type TicketReport } from '../../../src/tickets/report.js';
import { draft } from './drafts.js';
import { HOSTILE_USER, REVIEW_NOW, reviewEvents } from './review.js';

const DAY = 86_400_000;
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function report(overrides: { since?: Date; overdueAfterMs?: number; now?: Date } = {}): TicketReport {
  const now = overrides.now ?? REVIEW_NOW;
  return buildReport(foldEvents(reviewEvents()), {
    now,
    since: overrides.since ?? new Date(now.getTime() - 7 * DAY),
    overdueAfterMs: overrides.overdueAfterMs ?? 3 * DAY,
  });
}

describe('buildReport', () => {
  it('counts the bypasses since the start of the period per namespace, person and incident', () => {
    const r = report();
    expect(r.totals).toEqual({ changes: 5, tickets: 4, people: 4, open: 4, overdue: 2, closed: 1, settled: 0 });
    expect(r.byNamespace).toEqual([
      { key: 'shop', changes: 4, tickets: 3 },
      { key: 'payments', changes: 1, tickets: 1 },
    ]);
    expect(r.byPerson).toEqual([
      { key: 'alice', changes: 2, tickets: 2 },
      { key: 'bob', changes: 1, tickets: 1 },
      { key: 'carol', changes: 1, tickets: 1 },
      { key: HOSTILE_USER, changes: 1, tickets: 1 },
    ]);
    expect(r.byIncident).toEqual([
      { key: 'INC-22', changes: 3, tickets: 2 },
      { key: 'INC-1', changes: 1, tickets: 1 },
      { key: 'INC-9', changes: 1, tickets: 1 },
    ]);
  });

  it('lists every open ticket, overdue ones first, then the oldest, whatever --since', () => {
    const r = report({ since: new Date('2025-06-08T00:00:00Z') });
    expect(r.open.map((o) => [o.id, o.overdue, humanDuration(o.ageMs)])).toEqual([
      ['bt-old-api-4', true, '38d 12h'],
      ['bt-shop-web-7', true, '7d 2h'],
      ['bt-payments-api-2', false, '1d 4h'],
      ['bt-shop-db-5', false, '3h'],
    ]);
    expect(r.open[1]).toMatchObject({ endedAgoMs: 6 * DAY, people: ['alice'], changes: 2 });
  });

  const overdue = [
    { name: 'the default 3 days', ms: 3 * DAY, want: ['bt-old-api-4', 'bt-shop-web-7'] },
    { name: '7 days', ms: 7 * DAY, want: ['bt-old-api-4'] },
    { name: '1 hour', ms: 3_600_000, want: ['bt-old-api-4', 'bt-shop-web-7', 'bt-payments-api-2'] },
  ];
  for (const { name, ms, want } of overdue) {
    it(`marks as overdue the open tickets whose window ended more than ${name} ago`, () => {
      expect(
        report({ overdueAfterMs: ms })
          .open.filter((o) => o.overdue)
          .map((o) => o.id),
      ).toEqual(want);
    });
  }

  it('flags windows over 4h or over twice the median, and says why', () => {
    const r = report();
    // Windows of the period: 26h, 2h, 1h and 4h (from each ticket's first change); median 3h.
    expect(r.medianWindowMs).toBe(3 * 3_600_000);
    expect(r.longWindows.map((w) => [w.id, humanDuration(w.lengthMs), w.why])).toEqual([['bt-shop-web-7', '1d 2h', 'over 4h, over twice the median 3h']]);
    expect(r.rules.longWindow).toBe('a window is long when it lasts over 4h, or over twice the median window of the period (median 3h)');
  });

  it('flags a window over twice the median even under 4h', () => {
    const at = '2025-06-08T08:00:00Z';
    const windowed = (id: string, until: string): TicketEvent => ({
      type: 'change',
      draft: { ...draft({ id, uid: id, at }), window: { until, reason: 'r', incident: 'INC-5' } },
    });
    const tickets = foldEvents([windowed('bt-1', '2025-06-08T08:30:00Z'), windowed('bt-2', '2025-06-08T08:30:00Z'), windowed('bt-3', '2025-06-08T11:00:00Z')]);
    const r = buildReport(tickets, { now: REVIEW_NOW, since: new Date(REVIEW_NOW.getTime() - DAY), overdueAfterMs: DAY });
    expect(r.longWindows.map((w) => [w.id, w.why])).toEqual([['bt-3', 'over twice the median 30m']]);
  });

  it('draws one timeline entry per day of the period, empty days included', () => {
    expect(report().timeline).toEqual([
      { day: '2025-06-01', changes: 0 },
      { day: '2025-06-02', changes: 1 },
      { day: '2025-06-03', changes: 0 },
      { day: '2025-06-04', changes: 0 },
      { day: '2025-06-05', changes: 2 },
      { day: '2025-06-06', changes: 0 },
      { day: '2025-06-07', changes: 1 },
      { day: '2025-06-08', changes: 1 },
    ]);
  });

  it('lists only the busy days of a long period', () => {
    const r = report({ since: new Date('2025-01-01T00:00:00Z') });
    expect(r.timeline.map((d) => d.day)).toEqual(['2025-05-01', '2025-06-01', '2025-06-02', '2025-06-05', '2025-06-07', '2025-06-08']);
  });

  it('shows, on an open ticket GitOps has partly settled, the paths that remain', () => {
    const at = '2025-06-08T08:00:00Z';
    const finding = { at: '2025-06-08T09:00:00Z', carried: ['/spec/replicas'], undone: [], remaining: ['/metadata/labels/hotfix'], evidence: [] };
    const tickets = foldEvents([
      { type: 'change', draft: draft({ id: 'bt-p', uid: 'p', at }) },
      { type: 'settle', id: 'bt-p', settlement: finding },
    ]);
    const r = buildReport(tickets, { now: REVIEW_NOW, since: new Date(REVIEW_NOW.getTime() - DAY), overdueAfterMs: DAY });
    expect(r.tickets.find((t) => t.id === 'bt-p')?.settlement).toEqual({ at: finding.at, remaining: finding.remaining, carried: finding.carried, undone: [] });
  });

  it('reports nothing for no tickets', () => {
    const r = buildReport([], { now: REVIEW_NOW, since: new Date(REVIEW_NOW.getTime() - DAY), overdueAfterMs: DAY });
    expect(r).toMatchObject({ totals: { changes: 0, tickets: 0, people: 0, open: 0, overdue: 0 }, byPerson: [], open: [], longWindows: [] });
    expect(r.medianWindowMs).toBeUndefined();
    expect(renderReportTable(r)).toContain('OPEN TICKETS (overdue first, then oldest)\n  (no open tickets)\n');
  });
});

describe('renderReportTable', () => {
  it('prints the summary, the rules and one table per section', () => {
    const got = renderReportTable(report());
    const url = new URL('./testdata/report/table.txt', import.meta.url);
    if (UPDATE) writeFileSync(url, got);
    expect(got, 'testdata/report/table.txt differs; if intended run with UPDATE_GOLDEN=1 and review it').toBe(readFileSync(url, 'utf8'));
  });

  it('shows control characters in user text as escapes', () => {
    const events = reviewEvents().map((e) =>
      e.type === 'change' && e.draft.change.requestUid === 'b1' ? { ...e, draft: { ...e.draft, change: { ...e.draft.change, username: 'bob\u001b[2K' } } } : e,
    );
    const r = buildReport(foldEvents(events), { now: REVIEW_NOW, since: new Date(REVIEW_NOW.getTime() - 7 * DAY), overdueAfterMs: 3 * DAY });
    const text = renderReportTable(r);
    expect(text).toContain('bob\\u001b[2K');
    expect(text).not.toContain('\u001b');
  });
});

describe('humanDuration', () => {
  const cases = [
    { ms: 0, want: '0m' },
    { ms: 45 * 60_000, want: '45m' },
    { ms: 2 * 3_600_000, want: '2h' },
    { ms: 2 * 3_600_000 + 15 * 60_000, want: '2h 15m' },
    { ms: 3 * DAY, want: '3d' },
    { ms: 3 * DAY + 4 * 3_600_000 + 59 * 60_000, want: '3d 4h' },
  ];
  for (const { ms, want } of cases) it(`writes ${ms}ms as ${want}`, () => expect(humanDuration(ms)).toBe(want));
});
