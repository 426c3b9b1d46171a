/**
 * The security review of bypasses: who wrote past GitOps, where, under which incident; which
 * tickets are still open and which of those are overdue; which windows were unusually long.
 * Pure aggregation: tickets and a clock in, a report value out; `renderReportTable` prints it
 * for a terminal and `report-html.ts` as one page.
 */
import type { JsonPatchOp } from '../admission/types.js';
import type { TicketChange } from '../decision/types.js';
import { evidenceText, fieldLines, objectName, safe } from './render.js';
import type { Closer, TicketDecision, Resolution, Ticket, TicketState } from './types.js';

/** ReportOptions is the clock and the thresholds of a report. */
export interface ReportOptions {
  now: Date;
  /** Only changes at or after this instant count as bypasses of the period. */
  since: Date;
  /** An open ticket is overdue once its window ended longer ago than this. */
  overdueAfterMs: number;
}

/** Tally counts the bypasses (changes) and the tickets they landed on, for one namespace, person or incident. */
export interface Tally {
  key: string;
  changes: number;
  tickets: number;
}

/** DayCount is the number of bypasses on one UTC day. */
export interface DayCount {
  /** YYYY-MM-DD, UTC. */
  day: string;
  changes: number;
}

/** OpenTicket is one row of the open tickets table. */
export interface OpenTicket {
  id: string;
  namespace: string;
  object: string;
  incident: string;
  reason: string;
  openedAt: string;
  until: string;
  ageMs: number;
  changes: number;
  people: string[];
  overdue: boolean;
  /** How long ago the window ended; 0 while it is still open. */
  endedAgoMs: number;
}

/** LongWindow is a window longer than usual, with the rule it broke. */
export interface LongWindow {
  id: string;
  namespace: string;
  object: string;
  incident: string;
  reason: string;
  openedAt: string;
  until: string;
  lengthMs: number;
  why: string;
}

/** ReportChange is one change of a ticket as the report shows it: who, when, and each field old → new. */
export interface ReportChange {
  at: string;
  username: string;
  operation: string;
  subResource?: string;
  /** `field: old → new`, Secret values shown as "(secret value)", never as values or fingerprints. */
  fields: string[];
}

/** Closure is who or what closed a ticket, and the reference and evidence to follow. */
export interface Closure {
  decision: TicketDecision;
  by: string;
  closedBy: Closer;
  at: string;
  ref: string;
  /** One line per piece of evidence (a commit, a GitOps write, an Application in sync). */
  evidence: string[];
}

/** ReportTicket is one ticket as the report shows it: window, incident, people, changes, closure and backport commits. */
export interface ReportTicket {
  id: string;
  state: TicketState;
  namespace: string;
  object: string;
  kind: string;
  incident: string;
  reason: string;
  openedAt: string;
  until: string;
  windowMs: number;
  people: string[];
  overdue: boolean;
  changes: ReportChange[];
  closure?: Closure;
  /** Closures undone by a later change under the window. */
  reopened: Closure[];
  backports: Array<{ commit: string; branch: string; files: string[]; changes: number; by: string; at: string; repo?: string }>;
  /** On an open ticket GitOps has partly settled: the paths that remain (and those carried or undone), and when that was found. */
  settlement?: { at: string; remaining: string[]; carried: string[]; undone: string[] };
}

/** TicketReport is everything a review reads, with the rules that produced it spelled out. */
export interface TicketReport {
  generatedAt: string;
  since: string;
  rules: { bypass: string; overdue: string; longWindow: string; windowLength: string };
  totals: { changes: number; tickets: number; people: number; open: number; overdue: number; closed: number; settled: number };
  byNamespace: Tally[];
  byPerson: Tally[];
  byIncident: Tally[];
  timeline: DayCount[];
  open: OpenTicket[];
  /** The median window length of the period's tickets, undefined when there is none. */
  medianWindowMs?: number;
  longWindows: LongWindow[];
  /**
   * Every ticket a review must see: open ones whatever their age, and those with a change or a
   * closure in the period; open first (overdue first, then oldest), then the most recently closed.
   */
  tickets: ReportTicket[];
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** LONG_WINDOW_MS is the length past which a window is long whatever the median. */
export const LONG_WINDOW_MS = 4 * HOUR_MS;
// Past this many days the timeline lists only days with bypasses, so a year stays readable.
const TIMELINE_FULL_DAYS = 62;

/**
 * buildReport returns the review of `tickets` as of `opts.now`. Bypass counts, the timeline and
 * long windows cover changes since `opts.since`; open tickets are listed whatever their age,
 * because an old open ticket is exactly what a review must not miss.
 */
export function buildReport(tickets: readonly Ticket[], opts: ReportOptions): TicketReport {
  const now = opts.now.getTime();
  const since = opts.since.getTime();
  const recent = tickets.map((t) => ({ ticket: t, changes: t.changes.filter((c) => Date.parse(c.at) >= since) })).filter((r) => r.changes.length > 0);

  const tally = (keyOf: (t: Ticket, username: string) => string): Tally[] => {
    const counts = new Map<string, { changes: number; tickets: Set<string> }>();
    for (const { ticket, changes } of recent) {
      for (const c of changes) {
        const key = keyOf(ticket, c.username);
        const entry = counts.get(key) ?? { changes: 0, tickets: new Set<string>() };
        entry.changes++;
        entry.tickets.add(ticket.id);
        counts.set(key, entry);
      }
    }
    return [...counts].map(([key, v]) => ({ key, changes: v.changes, tickets: v.tickets.size })).sort((a, b) => b.changes - a.changes || compare(a.key, b.key));
  };

  const open = tickets
    .filter((t) => t.state === 'open')
    .map((t): OpenTicket => {
      const endedAgoMs = Math.max(0, now - Date.parse(t.window.until));
      return {
        id: t.id,
        namespace: t.object.namespace,
        object: objectName(t.object),
        incident: t.window.incident,
        reason: t.window.reason,
        openedAt: t.openedAt,
        until: t.window.until,
        ageMs: Math.max(0, now - Date.parse(t.openedAt)),
        changes: t.changes.length,
        people: [...new Set(t.changes.map((c) => c.username))].sort(compare),
        overdue: endedAgoMs > opts.overdueAfterMs,
        endedAgoMs,
      };
    })
    // Overdue first, then the oldest: the order to work through them.
    .sort((a, b) => Number(b.overdue) - Number(a.overdue) || b.ageMs - a.ageMs || compare(a.id, b.id));

  const lengths = recent.map(({ ticket }) => ({ ticket, lengthMs: windowLength(ticket) }));
  const median = medianOf(lengths.map((l) => l.lengthMs));
  const longWindows = lengths
    .flatMap(({ ticket, lengthMs }): LongWindow[] => {
      const why: string[] = [];
      if (lengthMs > LONG_WINDOW_MS) why.push(`over ${humanDuration(LONG_WINDOW_MS)}`);
      if (median !== undefined && lengthMs > 2 * median) why.push(`over twice the median ${humanDuration(median)}`);
      if (why.length === 0) return [];
      return [
        {
          id: ticket.id,
          namespace: ticket.object.namespace,
          object: objectName(ticket.object),
          incident: ticket.window.incident,
          reason: ticket.window.reason,
          openedAt: ticket.openedAt,
          until: ticket.window.until,
          lengthMs,
          why: why.join(', '),
        },
      ];
    })
    .sort((a, b) => b.lengthMs - a.lengthMs || compare(a.id, b.id));

  const byPerson = tally((_, username) => username);
  const overdueIds = new Set(open.filter((o) => o.overdue).map((o) => o.id));
  const shown = tickets
    .filter(
      (t) => t.state === 'open' || t.changes.some((c) => Date.parse(c.at) >= since) || (t.resolution !== undefined && Date.parse(t.resolution.at) >= since),
    )
    .map((t) => reportTicket(t, overdueIds.has(t.id)));
  const openOrder = new Map(open.map((o, i) => [o.id, i]));
  shown.sort((a, b) => {
    const ao = openOrder.get(a.id);
    const bo = openOrder.get(b.id);
    if (ao !== undefined || bo !== undefined) return (ao ?? Infinity) - (bo ?? Infinity);
    return compare(b.closure?.at ?? '', a.closure?.at ?? '') || compare(a.id, b.id);
  });
  const closed = shown.filter((t) => t.closure !== undefined);
  return {
    generatedAt: iso(opts.now),
    since: iso(opts.since),
    rules: {
      bypass: 'a bypass is one change let through under a break-glass window; counts cover changes since the start of the period',
      overdue: `an open ticket is overdue when its window ended more than ${humanDuration(opts.overdueAfterMs)} ago; open tickets are listed whatever their age`,
      longWindow: `a window is long when it lasts over ${humanDuration(LONG_WINDOW_MS)}, or over twice the median window of the period${median === undefined ? '' : ` (median ${humanDuration(median)})`}`,
      windowLength: "a window's length is from the ticket's first change to the window's end (the moment it was opened is not recorded)",
    },
    totals: {
      changes: recent.reduce((n, r) => n + r.changes.length, 0),
      tickets: recent.length,
      people: byPerson.length,
      open: open.length,
      overdue: open.filter((o) => o.overdue).length,
      closed: closed.length,
      settled: closed.filter((t) => t.closure?.closedBy === 'settlement').length,
    },
    byNamespace: tally((t) => t.object.namespace),
    byPerson,
    byIncident: tally((t) => t.window.incident),
    timeline: timeline(
      recent.flatMap((r) => r.changes.map((c) => c.at)),
      since,
      now,
    ),
    open,
    ...(median === undefined ? {} : { medianWindowMs: median }),
    longWindows,
    tickets: shown,
  };
}

function reportTicket(t: Ticket, overdue: boolean): ReportTicket {
  const secret = t.object.kind === 'Secret' && t.object.group === '';
  return {
    id: t.id,
    state: t.state,
    namespace: t.object.namespace,
    object: objectName(t.object),
    kind: t.object.kind,
    incident: t.window.incident,
    reason: t.window.reason,
    openedAt: t.openedAt,
    until: t.window.until,
    windowMs: windowLength(t),
    people: [...new Set(t.changes.map((c) => c.username))].sort(compare),
    overdue,
    changes: t.changes.map((c) => reportChange(c, secret)),
    ...(t.resolution === undefined ? {} : { closure: closureOf(t.resolution) }),
    reopened: (t.earlierResolutions ?? []).map(closureOf),
    backports: (t.backports ?? []).map((b) => ({ ...b, files: [...b.files] })),
    ...(t.settlement === undefined
      ? {}
      : { settlement: { at: t.settlement.at, remaining: [...t.settlement.remaining], carried: [...t.settlement.carried], undone: [...t.settlement.undone] } }),
  };
}

/** closureOf returns a resolution as the report shows it; a resolution without `closedBy` was a person's. */
export function closureOf(r: Resolution): Closure {
  return { decision: r.decision, by: r.by, closedBy: r.closedBy ?? 'person', at: r.at, ref: r.ref, evidence: (r.evidence ?? []).map(evidenceText) };
}

const SECRET_VALUE = '(secret value)';
const FINGERPRINT = /<redacted sha256:[0-9a-f]+>/;

function reportChange(c: TicketChange, secret: boolean): ReportChange {
  // On a Secret every value under data and stringData is hidden, fingerprints included: the
  // report travels further than the ticket store.
  const hide = (op: JsonPatchOp): JsonPatchOp =>
    'value' in op ? ({ ...op, value: masked(op.value, secret && /^\/(data|stringData)(\/|$)/.test(op.path)) } as JsonPatchOp) : op;
  const fields = c.patch.some((op) => op.path === '')
    ? [c.patch.some((op) => op.path === '' && (op.op === 'remove' || ('value' in op && op.value === null))) ? 'deleted the object' : 'created the object']
    : fieldLines(c.patch.map(hide), c.revert.map(hide));
  return { at: c.at, username: c.username, operation: c.operation, ...(c.subResource === undefined ? {} : { subResource: c.subResource }), fields };
}

function masked(value: unknown, all: boolean): unknown {
  if (typeof value === 'string') return all || FINGERPRINT.test(value) ? SECRET_VALUE : value;
  if (Array.isArray(value)) return value.map((v) => masked(v, all));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, masked(v, all)]));
  return all && value !== undefined ? SECRET_VALUE : value;
}

/** windowLength returns how long the ticket's window lasted, from its first change to its end (never negative). */
export function windowLength(ticket: Ticket): number {
  return Math.max(0, Date.parse(ticket.window.until) - Date.parse(ticket.openedAt));
}

/** humanDuration returns `ms` for a person, coarsest two units: "3d 4h", "2h 15m", "45m", "0m". */
export function humanDuration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  if (d > 0) return h > 0 ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`;
  return `${m}m`;
}

/** renderReportTable returns the report for a terminal: a summary, the rules, then one aligned table per section. */
export function renderReportTable(r: TicketReport): string {
  const t = r.totals;
  const out: string[] = [
    `Bypass report as of ${r.generatedAt}, covering changes since ${r.since}`,
    `${t.changes} bypass${t.changes === 1 ? '' : 'es'} on ${t.tickets} ticket${t.tickets === 1 ? '' : 's'} by ${t.people} ${t.people === 1 ? 'person' : 'people'}; ${t.open} open ticket${t.open === 1 ? '' : 's'}, ${t.overdue} overdue`,
    '',
    'Rules:',
    ...Object.values(r.rules).map((rule) => `  - ${rule}`),
  ];
  const section = (title: string, header: string[], rows: string[][], empty: string): void => {
    out.push('', title);
    if (rows.length === 0) out.push(`  (${empty})`);
    else out.push(...table([header, ...rows]));
  };
  const tallyRows = (ts: Tally[]): string[][] => ts.map((x) => [x.key, String(x.changes), String(x.tickets)]);
  section('BYPASSES PER NAMESPACE', ['NAMESPACE', 'CHANGES', 'TICKETS'], tallyRows(r.byNamespace), 'none');
  section('BYPASSES PER PERSON', ['PERSON', 'CHANGES', 'TICKETS'], tallyRows(r.byPerson), 'none');
  section('BYPASSES PER INCIDENT', ['INCIDENT', 'CHANGES', 'TICKETS'], tallyRows(r.byIncident), 'none');
  section(
    'OPEN TICKETS (overdue first, then oldest)',
    ['ID', 'NAMESPACE', 'OBJECT', 'INCIDENT', 'AGE', 'WINDOW UNTIL', 'CHANGES', 'OVERDUE'],
    r.open.map((o) => [
      o.id,
      o.namespace,
      o.object,
      o.incident,
      humanDuration(o.ageMs),
      o.until,
      String(o.changes),
      o.overdue ? `OVERDUE (ended ${humanDuration(o.endedAgoMs)} ago)` : '',
    ]),
    'no open tickets',
  );
  section(
    'CLOSED TICKETS (most recent first)',
    ['ID', 'STATE', 'CLOSED BY', 'AT', 'REFERENCE'],
    r.tickets.flatMap((x) =>
      x.closure === undefined ? [] : [[x.id, x.state, closerText(x.closure), x.closure.at, [x.closure.ref, ...x.closure.evidence].join('; ')]],
    ),
    'none closed in the period',
  );
  out.push('', 'CHANGES PER TICKET');
  if (r.tickets.length === 0) out.push('  (none)');
  for (const x of r.tickets) {
    out.push(`  ${safe(x.id)}  ${safe(x.state)}  ${safe(x.object)} in ${safe(x.namespace)}  ${safe(x.incident)}, window until ${safe(x.until)}`);
    for (const c of x.changes) {
      out.push(`    ${safe(c.at)}  ${safe(c.username)}  ${c.operation}${c.subResource === undefined ? '' : ` /${safe(c.subResource)}`}`);
      for (const f of c.fields.length === 0 ? ['(no field changes)'] : c.fields) out.push(`      ${safe(f)}`);
    }
    for (const b of x.backports) out.push(`    backport commit ${safe(b.commit.slice(0, 12))} on ${safe(b.branch)} by ${safe(b.by)} at ${safe(b.at)}`);
  }
  section(
    'LONG WINDOWS',
    ['ID', 'NAMESPACE', 'OBJECT', 'INCIDENT', 'LENGTH', 'WHY', 'REASON'],
    r.longWindows.map((w) => [w.id, w.namespace, w.object, w.incident, humanDuration(w.lengthMs), w.why, w.reason]),
    'none',
  );
  return `${out.join('\n')}\n`;
}

/** closerText returns who or what closed a ticket, for a person: "bob", or "settlement (argocd-application-controller)". */
export function closerText(c: Closure): string {
  return c.closedBy === 'settlement' ? `settlement (${c.by})` : c.by;
}

// Every cell passes through safe(): usernames, reasons and incidents are written by the people
// under review, and a terminal escape in one could hide a row.
function table(rows: string[][]): string[] {
  const cells = rows.map((row) => row.map(safe));
  const widths = (cells[0] ?? []).map((_, col) => Math.max(...cells.map((row) => (row[col] ?? '').length)));
  return cells.map((row) => `  ${row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col] ?? 0))).join('   ')}`.trimEnd());
}

function timeline(ats: readonly string[], since: number, now: number): DayCount[] {
  const counts = new Map<string, number>();
  for (const at of ats) {
    const day = dayOf(Date.parse(at));
    counts.set(day, (counts.get(day) ?? 0) + 1);
  }
  const first = Math.floor(since / DAY_MS);
  const last = Math.floor(now / DAY_MS);
  // Changes stamped after `now` (a --now in the past) still show, on their own days.
  const extra = [...counts.keys()].filter((d) => Date.parse(d) > last * DAY_MS);
  if (last - first + 1 > TIMELINE_FULL_DAYS || last < first) {
    return [...counts].sort(([a], [b]) => compare(a, b)).map(([day, changes]) => ({ day, changes }));
  }
  const days: string[] = [];
  for (let d = first; d <= last; d++) days.push(dayOf(d * DAY_MS));
  return [...days, ...extra.sort(compare)].map((day) => ({ day, changes: counts.get(day) ?? 0 }));
}

// Whole seconds read better in a report, and every ticket time is whole seconds anyway.
function iso(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, 'Z');
}

function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function medianOf(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

// Plain code-point order: the same on every machine, whatever its locale.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
