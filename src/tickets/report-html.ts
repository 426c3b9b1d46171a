/**
 * The bypass report as one self-contained HTML page: inline CSS, no scripts, no external assets,
 * so it can be attached to a review or opened from a mail. Every string that came from a request
 * or a ticket (usernames, reasons, incidents, names, ids) is escaped: a break-glass reason is
 * written by the very person under review. A Content-Security-Policy forbidding scripts and
 * fetches backs the escaping up, should a future edit forget it.
 */
import { humanDuration, type Closure, type Tally, type TicketReport } from './report.js';
import { escapeControls } from '../util/terminal.js';

const CSS = `
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, sans-serif; color: #1f2328; margin: 2rem auto; max-width: 1280px; padding: 0 1rem; overflow-wrap: anywhere; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.1rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .25rem; }
.meta { color: #59636e; margin-top: 0; }
.summary { font-size: 1.05rem; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
table.fixed { table-layout: fixed; }
table.fixed code, table.fixed time { overflow-wrap: anywhere; white-space: normal; }
time, .overdue-mark, .nowrap, .badge { white-space: nowrap; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #d0d7de; vertical-align: top; }
th { background: #f6f8fa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, monospace; font-size: .92em; }
tr.overdue td { background: #fff1f0; }
.overdue-mark { color: #fff; background: #cf222e; border-radius: 3px; padding: 0 .35rem; font-weight: 600; font-size: .85em; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 0 1.5rem; }
.empty { color: #59636e; font-style: italic; }
details.rules summary { cursor: pointer; color: #59636e; }
figure.timeline { margin: .5rem 0 0; }
.cols { display: flex; align-items: flex-end; gap: 2px; height: 110px; border-bottom: 1px solid #8c959f; }
.col { flex: 1 1 0; min-width: 2px; background: #0969da; border-radius: 2px 2px 0 0; position: relative; }
.col.zero { background: transparent; }
.axis { display: flex; justify-content: space-between; color: #59636e; font-size: 12px; margin-top: .2rem; }
figcaption { color: #59636e; font-size: 13px; margin-top: .2rem; }
ol.incidents { list-style: none; padding: 0; margin: .75rem 0 0; }
ol.incidents li { display: grid; grid-template-columns: 11rem 1fr 10rem; gap: .5rem; align-items: center; margin: .15rem 0; font-size: 13px; }
.track { position: relative; height: .9rem; background: #f6f8fa; border-radius: 2px; }
.span { position: absolute; top: 0; bottom: 0; background: #bf8700; border-radius: 2px; min-width: 3px; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; margin: .5rem 0 1rem; }
.filters fieldset { border: 0; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: .25rem; align-items: center; }
.filters legend { float: left; font-weight: 600; margin-right: .35rem; }
.filters input { position: absolute; opacity: 0; width: 1px; height: 1px; }
.filters label { border: 1px solid #d0d7de; border-radius: 1rem; padding: 0 .6rem; cursor: pointer; font-size: 13px; }
.filters input:checked + label { background: #0969da; border-color: #0969da; color: #fff; }
.filters input:focus-visible + label { outline: 2px solid #0969da; outline-offset: 1px; }
.ticket { border: 1px solid #d0d7de; border-left: 4px solid #8c959f; border-radius: 6px; padding: .5rem .75rem; margin: 0 0 .75rem; }
.ticket.state-open { border-left-color: #0969da; }
.ticket.overdue { border-left-color: #cf222e; background: #fff8f7; }
.ticket.state-backported { border-left-color: #1a7f37; }
.ticket.state-reverted { border-left-color: #8250df; }
.ticket.state-accepted { border-left-color: #9a6700; }
.ticket h3 { font-size: 14px; margin: 0 0 .25rem; font-weight: 600; }
.ticket p { margin: .2rem 0; }
.badge { display: inline-block; border-radius: 3px; padding: 0 .35rem; font-size: 12px; font-weight: 600; background: #eaeef2; }
.badge.overdue { background: #cf222e; color: #fff; }
.badge.backported { background: #dafbe1; color: #1a7f37; }
.badge.reverted { background: #fbefff; color: #8250df; }
.badge.accepted { background: #fff8c5; color: #9a6700; }
.muted { color: #59636e; }
ol.changes { margin: .25rem 0; padding-left: 1.25rem; }
ol.changes ul { margin: 0; padding-left: 1rem; }
.closure, .backport { font-size: 13px; }
`;

/** renderReportHtml returns the report as one self-contained HTML document. */
export function renderReportHtml(r: TicketReport): string {
  const t = r.totals;
  const facets = facetsOf(r);
  const body = [
    `<h1>driftgate bypass report</h1>`,
    `<p class="meta">As of <time>${esc(r.generatedAt)}</time>, covering changes since <time>${esc(r.since)}</time>.</p>`,
    `<p class="summary" id="summary"><strong>${t.changes}</strong> bypass${t.changes === 1 ? '' : 'es'} on <strong>${t.tickets}</strong> ticket${t.tickets === 1 ? '' : 's'} by <strong>${t.people}</strong> ${t.people === 1 ? 'person' : 'people'}; <strong>${t.open}</strong> open ticket${t.open === 1 ? '' : 's'}, <strong>${t.overdue}</strong> overdue; <strong>${t.closed}</strong> closed in the period, <strong>${t.settled}</strong> of them by settlement.</p>`,
    `<details class="rules"><summary>How these are counted</summary><ul id="rules">${Object.values(r.rules)
      .map((rule) => `<li>${esc(rule)}</li>`)
      .join('')}</ul></details>`,
    `<h2>Timeline</h2>`,
    timeline(r, facets),
    `<h2>Open tickets</h2>`,
    openTable(r),
    `<div class="grid">`,
    `<section><h2>Per person</h2>${tallyTable('by-person', 'Person', r.byPerson)}</section>`,
    `<section><h2>Per namespace</h2>${tallyTable('by-namespace', 'Namespace', r.byNamespace)}</section>`,
    `<section><h2>Per incident</h2>${tallyTable('by-incident', 'Incident', r.byIncident)}</section>`,
    `</div>`,
    `<h2>Tickets: changes, windows and closures</h2>`,
    filters(facets),
    ticketCards(r, facets),
    `<h2>Long windows</h2>`,
    longTable(r),
  ];
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>driftgate bypass report ${esc(r.generatedAt)}</title>`,
    `<style>${CSS}${filterCss(facets)}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/**
 * escapeHtml returns `text` safe inside HTML text and double- or single-quoted attributes, with
 * control and bidi characters shown as \u escapes: a browser obeys a bidi override written as a
 * character or an entity alike, and would reorder what a reviewer reads.
 */
export function escapeHtml(text: string): string {
  return escapeControls(text).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = escapeHtml;

function openTable(r: TicketReport): string {
  if (r.open.length === 0) return '<p class="empty" id="open-tickets">No open tickets.</p>';
  // Status, age and window first: what a reviewer sorts by; the free-text reason last, where it may wrap.
  const rows = r.open.map(
    (o) =>
      `<tr class="${o.overdue ? 'overdue' : 'open'}"><td><code>${esc(o.id)}</code></td><td>${o.overdue ? `<span class="overdue-mark">OVERDUE</span><br>ended ${esc(humanDuration(o.endedAgoMs))} ago` : 'open'}</td><td class="nowrap">${esc(humanDuration(o.ageMs))}</td><td><time>${esc(o.until)}</time></td><td><code>${esc(o.object)}</code><br>in ${esc(o.namespace)}</td><td>${esc(o.incident)}</td><td>${esc(o.people.join(', '))}</td><td class="num">${o.changes}</td><td class="reason">${esc(o.reason)}</td></tr>`,
  );
  return `<table id="open-tickets" class="fixed"><colgroup><col style="width: 13%"><col style="width: 10%"><col style="width: 6%"><col style="width: 14%"><col style="width: 17%"><col style="width: 8%"><col style="width: 9%"><col style="width: 7%"><col style="width: 16%"></colgroup><thead><tr><th>Ticket</th><th>Status</th><th>Age</th><th>Window until</th><th>Object</th><th>Incident</th><th>People</th><th class="num">Changes</th><th>Reason</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

// Filters are radio buttons and :has() rules, no script: the page keeps its CSP and still works
// as a mail attachment. Class names are indexes into the facet lists, so no text a person wrote
// ever reaches the stylesheet.
interface Facets {
  namespaces: string[];
  people: string[];
  incidents: string[];
}

const GROUPS = [
  { key: 'ns', label: 'Namespace', pick: (f: Facets) => f.namespaces },
  { key: 'p', label: 'Person', pick: (f: Facets) => f.people },
  { key: 'inc', label: 'Incident', pick: (f: Facets) => f.incidents },
] as const;

function facetsOf(r: TicketReport): Facets {
  const sorted = (values: Iterable<string>): string[] => [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    namespaces: sorted(r.tickets.map((t) => t.namespace)),
    people: sorted(r.tickets.flatMap((t) => t.people)),
    incidents: sorted(r.tickets.map((t) => t.incident)),
  };
}

function filterCss(f: Facets): string {
  const rules: string[] = [];
  for (const g of GROUPS) {
    g.pick(f).forEach((_, i) => {
      const hide = [`.ticket:not(.${g.key}-${i})`, ...(g.key === 'inc' ? [`.incident-row:not(.inc-${i})`] : [])];
      rules.push(`body:has(#f-${g.key}-${i}:checked) :is(${hide.join(', ')}) { display: none; }`);
    });
  }
  return `\n${rules.join('\n')}\n`;
}

function filters(f: Facets): string {
  if (f.namespaces.length === 0) return '';
  const groups = GROUPS.map((g) => {
    const options = g
      .pick(f)
      .map((value, i) => `<input type="radio" name="f-${g.key}" id="f-${g.key}-${i}"><label for="f-${g.key}-${i}">${esc(value)}</label>`);
    return `<fieldset><legend>${g.label}</legend><input type="radio" name="f-${g.key}" id="f-${g.key}-all" checked><label for="f-${g.key}-all">all</label>${options.join('')}</fieldset>`;
  });
  return `<form class="filters" id="filters">${groups.join('')}</form>`;
}

function ticketCards(r: TicketReport, f: Facets): string {
  if (r.tickets.length === 0) return '<p class="empty" id="tickets">No tickets in this period.</p>';
  const cards = r.tickets.map((t) => {
    const classes = [
      'ticket',
      `state-${t.state}`,
      ...(t.overdue ? ['overdue'] : []),
      `ns-${f.namespaces.indexOf(t.namespace)}`,
      `inc-${f.incidents.indexOf(t.incident)}`,
      ...t.people.map((p) => `p-${f.people.indexOf(p)}`),
    ];
    const badge = t.overdue ? '<span class="badge overdue">OVERDUE</span>' : `<span class="badge ${esc(t.state)}">${esc(t.state)}</span>`;
    const changes = t.changes.map((c) => {
      const fields = c.fields.length === 0 ? '<li class="muted">no field changes</li>' : c.fields.map((x) => `<li><code>${esc(x)}</code></li>`).join('');
      return `<li><time>${esc(c.at)}</time> <strong>${esc(c.username)}</strong> ${esc(c.operation)}${c.subResource === undefined ? '' : ` /${esc(c.subResource)}`}<ul>${fields}</ul></li>`;
    });
    const closure = t.closure === undefined ? '' : `<p class="closure">${closureHtml('Closed', t.closure)}</p>`;
    const reopened = t.reopened.map((c) => `<p class="closure muted">${closureHtml('Reopened after', c)}</p>`).join('');
    const backports = t.backports
      .map(
        (b) =>
          `<p class="backport">Backport commit <code>${esc(b.commit.slice(0, 12))}</code> on <code>${esc(b.branch)}</code> by ${esc(b.by)} at <time>${esc(b.at)}</time> (${b.changes} change${b.changes === 1 ? '' : 's'}; ${esc(b.files.join(', '))})</p>`,
      )
      .join('');
    return [
      `<article class="${classes.join(' ')}">`,
      `<h3><code>${esc(t.id)}</code> ${badge} <code>${esc(t.object)}</code> in ${esc(t.namespace)}</h3>`,
      `<p class="window">Incident <strong>${esc(t.incident)}</strong>; window until <time>${esc(t.until)}</time> (${esc(humanDuration(t.windowMs))} from the first change); ${esc(t.people.join(', '))}</p>`,
      `<p class="reason muted">${esc(t.reason)}</p>`,
      `<ol class="changes">${changes.join('')}</ol>`,
      closure,
      reopened,
      backports,
      `</article>`,
    ].join('');
  });
  return `<div id="tickets">\n${cards.join('\n')}\n</div>`;
}

function closureHtml(label: string, c: Closure): string {
  const who = c.closedBy === 'settlement' ? `driftgate settlement (${esc(c.by)})` : esc(c.by);
  const evidence = c.evidence.length === 0 ? '' : `; evidence: ${c.evidence.map((e) => esc(e)).join('; ')}`;
  return `${label}: <strong>${esc(c.decision)}</strong> by ${who} at <time>${esc(c.at)}</time>; reference <code>${esc(c.ref)}</code>${evidence}`;
}

const DAY_MS = 86_400_000;

// Columns, not rows: one per day up to two months, one per week up to two years, else one per
// month, so the whole period is one glance wide.
function timeline(r: TicketReport, f: Facets): string {
  const since = Date.parse(r.since);
  const now = Date.parse(r.generatedAt);
  const spanDays = Math.max(1, Math.ceil((now - since) / DAY_MS));
  const unit = spanDays <= 62 ? 'day' : spanDays <= 730 ? 'week' : 'month';
  const startOf = (ms: number): number => {
    const d = new Date(Math.floor(ms / DAY_MS) * DAY_MS);
    if (unit === 'week') return d.getTime() - ((d.getUTCDay() + 6) % 7) * DAY_MS;
    if (unit === 'month') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    return d.getTime();
  };
  const next = (ms: number): number =>
    unit === 'day' ? ms + DAY_MS : unit === 'week' ? ms + 7 * DAY_MS : Date.UTC(new Date(ms).getUTCFullYear(), new Date(ms).getUTCMonth() + 1, 1);
  const buckets: Array<{ start: number; changes: number }> = [];
  for (let b = startOf(since); b <= now && buckets.length < 800; b = next(b)) buckets.push({ start: b, changes: 0 });
  for (const d of r.timeline) {
    const at = startOf(Date.parse(d.day));
    const bucket = buckets.find((x) => x.start === at);
    if (bucket !== undefined) bucket.changes += d.changes;
  }
  const max = Math.max(1, ...buckets.map((b) => b.changes));
  const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
  const cols = buckets.map((b) => {
    // Heights in whole percent of the busiest column: numbers only, so nothing user-written reaches a style.
    const height = Math.round((b.changes / max) * 100);
    return `<span class="col${b.changes === 0 ? ' zero' : ''}" style="height: ${height}%" title="${unit} of ${day(b.start)}: ${b.changes} bypass${b.changes === 1 ? '' : 'es'}" data-start="${day(b.start)}" data-changes="${b.changes}"></span>`;
  });
  const peak = buckets.reduce((a, b) => (b.changes > a.changes ? b : a), buckets[0] ?? { start: since, changes: 0 });
  const total = buckets.reduce((n, b) => n + b.changes, 0);
  const caption =
    total === 0
      ? 'No bypasses in this period.'
      : `Bypasses per ${unit}, ${buckets.length} ${unit}s; busiest: ${unit} of ${day(peak.start)} with ${peak.changes}.`;
  return [
    `<figure class="timeline" id="timeline">`,
    `<div class="cols">${cols.join('')}</div>`,
    `<div class="axis"><time>${day(buckets[0]?.start ?? since)}</time><time>${day(now)}</time></div>`,
    `<figcaption>${esc(caption)}</figcaption>`,
    `</figure>`,
    incidentRows(r, f, since, now),
  ].join('\n');
}

// One row per incident: from its first change to the end of its last window, placed on the
// same period as the columns above.
function incidentRows(r: TicketReport, f: Facets, since: number, now: number): string {
  const span = Math.max(1, now - since);
  const rows = f.incidents.flatMap((incident, i) => {
    const tickets = r.tickets.filter((t) => t.incident === incident);
    const starts = tickets.flatMap((t) => t.changes.map((c) => Date.parse(c.at))).filter(Number.isFinite);
    const ends = tickets.map((t) => Date.parse(t.until)).filter(Number.isFinite);
    if (starts.length === 0) return [];
    const from = Math.min(Math.max(Math.min(...starts), since), now);
    const to = Math.min(Math.max(from, ...ends, ...starts), now);
    const left = Math.floor(((from - since) / span) * 1000) / 10;
    const width = Math.max(0.3, Math.floor(((to - from) / span) * 1000) / 10);
    const changes = tickets.reduce((n, t) => n + t.changes.length, 0);
    return [
      `<li class="incident-row inc-${i}"><span>${esc(incident)}</span><span class="track"><span class="span" style="left: ${left}%; width: ${Math.min(width, 100 - left)}%"></span></span><span class="muted">${changes} change${changes === 1 ? '' : 's'}, ${tickets.length} ticket${tickets.length === 1 ? '' : 's'}</span></li>`,
    ];
  });
  return rows.length === 0 ? '' : `<ol class="incidents" id="incidents">\n${rows.join('\n')}\n</ol>`;
}

function tallyTable(id: string, label: string, tallies: readonly Tally[]): string {
  if (tallies.length === 0) return `<p class="empty" id="${id}">None.</p>`;
  const rows = tallies.map((x) => `<tr><td>${esc(x.key)}</td><td class="num">${x.changes}</td><td class="num">${x.tickets}</td></tr>`);
  return `<table id="${id}"><thead><tr><th>${label}</th><th class="num">Changes</th><th class="num">Tickets</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

function longTable(r: TicketReport): string {
  if (r.longWindows.length === 0) return '<p class="empty" id="long-windows">None.</p>';
  const rows = r.longWindows.map(
    (w) =>
      `<tr><td><code>${esc(w.id)}</code></td><td>${esc(w.namespace)}</td><td><code>${esc(w.object)}</code></td><td>${esc(w.incident)}</td><td>${esc(humanDuration(w.lengthMs))}</td><td>${esc(w.why)}</td><td>${esc(w.reason)}</td></tr>`,
  );
  return `<table id="long-windows" class="fixed"><colgroup><col style="width: 16%"><col style="width: 9%"><col style="width: 20%"><col style="width: 9%"><col style="width: 8%"><col style="width: 18%"><col style="width: 20%"></colgroup><thead><tr><th>Ticket</th><th>Namespace</th><th>Object</th><th>Incident</th><th>Length</th><th>Why</th><th>Reason</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}
