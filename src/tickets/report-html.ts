/**
 * The bypass report as one self-contained HTML page: inline CSS, no scripts, no external assets,
 * so it can be attached to a review or opened from a mail. Every string that came from a request
 * or a ticket (usernames, reasons, incidents, names, ids) is escaped: a break-glass reason is
 * written by the very person under review. A Content-Security-Policy forbidding scripts and
 * fetches backs the escaping up, should a future edit forget it.
 */
import { humanDuration, type Tally, type TicketReport } from './report.js';
import { escapeControls } from '../util/terminal.js';

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; color: #1f2328; margin: 2rem auto; max-width: 1280px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.1rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .25rem; }
.meta { color: #59636e; margin-top: 0; }
.summary { font-size: 1.05rem; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
.scroll { overflow-x: auto; }
td.reason { min-width: 10rem; overflow-wrap: anywhere; }
code, time, .overdue-mark, .nowrap { white-space: nowrap; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #d0d7de; vertical-align: top; }
th { background: #f6f8fa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, monospace; font-size: .92em; }
tr.overdue td { background: #fff1f0; }
.overdue-mark { color: #fff; background: #cf222e; border-radius: 3px; padding: 0 .35rem; font-weight: 600; font-size: .85em; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 0 1.5rem; }
ol.timeline { list-style: none; padding: 0; }
ol.timeline li { display: grid; grid-template-columns: 7rem 1fr 3rem; align-items: center; gap: .5rem; margin: .15rem 0; }
.bar { display: block; height: .9rem; background: #0969da; border-radius: 2px; min-width: 1px; }
.bar.zero { background: transparent; }
.empty { color: #59636e; font-style: italic; }
`;

/** renderReportHtml returns the report as one self-contained HTML document. */
export function renderReportHtml(r: TicketReport): string {
  const t = r.totals;
  const body = [
    `<h1>driftgate bypass report</h1>`,
    `<p class="meta">As of <time>${esc(r.generatedAt)}</time>, covering changes since <time>${esc(r.since)}</time>.</p>`,
    `<p class="summary" id="summary"><strong>${t.changes}</strong> bypass${t.changes === 1 ? '' : 'es'} on <strong>${t.tickets}</strong> ticket${t.tickets === 1 ? '' : 's'} by <strong>${t.people}</strong> ${t.people === 1 ? 'person' : 'people'}; <strong>${t.open}</strong> open ticket${t.open === 1 ? '' : 's'}, <strong>${t.overdue}</strong> overdue.</p>`,
    `<h2>Rules</h2>`,
    `<ul id="rules">${Object.values(r.rules)
      .map((rule) => `<li>${esc(rule)}</li>`)
      .join('')}</ul>`,
    `<h2>Open tickets</h2>`,
    openTable(r),
    `<h2>Bypasses by day</h2>`,
    timeline(r),
    `<div class="grid">`,
    `<section><h2>Per person</h2>${tallyTable('by-person', 'Person', r.byPerson)}</section>`,
    `<section><h2>Per namespace</h2>${tallyTable('by-namespace', 'Namespace', r.byNamespace)}</section>`,
    `<section><h2>Per incident</h2>${tallyTable('by-incident', 'Incident', r.byIncident)}</section>`,
    `</div>`,
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
    `<style>${CSS}</style>`,
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
      `<tr class="${o.overdue ? 'overdue' : 'open'}"><td><code>${esc(o.id)}</code></td><td class="nowrap">${o.overdue ? `<span class="overdue-mark">OVERDUE</span><br>ended ${esc(humanDuration(o.endedAgoMs))} ago` : 'open'}</td><td class="nowrap">${esc(humanDuration(o.ageMs))}</td><td><time>${esc(o.until)}</time></td><td><code>${esc(o.object)}</code><br>in ${esc(o.namespace)}</td><td>${esc(o.incident)}</td><td>${esc(o.people.join(', '))}</td><td class="num">${o.changes}</td><td class="reason">${esc(o.reason)}</td></tr>`,
  );
  return `<div class="scroll"><table id="open-tickets"><thead><tr><th>Ticket</th><th>Status</th><th>Age</th><th>Window until</th><th>Object</th><th>Incident</th><th>People</th><th class="num">Changes</th><th>Reason</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}

function timeline(r: TicketReport): string {
  if (r.timeline.length === 0) return '<p class="empty" id="timeline">No bypasses in this period.</p>';
  const max = Math.max(1, ...r.timeline.map((d) => d.changes));
  const items = r.timeline.map((d) => {
    // Width in whole percent of the busiest day: numbers only, so nothing user-written reaches a style.
    const width = Math.round((d.changes / max) * 100);
    return `<li><time>${esc(d.day)}</time><span class="bar${d.changes === 0 ? ' zero' : ''}" style="width: ${width}%"></span><span class="num">${d.changes}</span></li>`;
  });
  return `<ol class="timeline" id="timeline">\n${items.join('\n')}\n</ol>`;
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
  return `<div class="scroll"><table id="long-windows"><thead><tr><th>Ticket</th><th>Namespace</th><th>Object</th><th>Incident</th><th>Length</th><th>Why</th><th>Reason</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}
