/**
 * Tickets for a person at a terminal: a table for `tickets list`, a page for `tickets show`.
 * Pure: strings in, strings out. Every text that came from a request (usernames, reasons,
 * values) passes through `safe`, because a break-glass reason is written by the very person
 * whose change the reviewer is reading, and terminal escape codes could hide it.
 */
import type { JsonPatchOp } from '../admission/types.js';
import type { ObjectRef, TicketChange } from '../decision/types.js';
import { escapeControls, jsonSafe } from '../util/terminal.js';
import type { Evidence, Resolution, Settled, Ticket } from './types.js';

const COLUMNS = ['ID', 'STATE', 'NAMESPACE', 'OBJECT', 'INCIDENT', 'CHANGES', 'OPENED'] as const;

/** renderTable returns the tickets as an aligned table with a header row, one line each, ending in "\n". */
export function renderTable(tickets: readonly Ticket[]): string {
  const rows: string[][] = [
    [...COLUMNS],
    ...tickets.map((t) => [t.id, t.state, t.object.namespace, objectName(t.object), t.window.incident, String(t.changes.length), t.openedAt].map(safe)),
  ];
  const widths = COLUMNS.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col] ?? 0)))
        .join('   ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** renderTicket returns one ticket as a page: its header, then each change with the fields it changed, ending in "\n". */
export function renderTicket(ticket: Ticket): string {
  const o = ticket.object;
  const header: Array<[string, string]> = [
    ['Ticket', ticket.id],
    ['State', ticket.state],
    ['Object', `${objectName(o)} in namespace ${o.namespace} (${o.group === '' ? '' : `${o.group}/`}${o.version} ${o.kind})`],
    ['Incident', ticket.window.incident],
    ['Reason', ticket.window.reason],
    ['Window until', ticket.window.until],
    ['Opened', ticket.openedAt],
  ];
  if (ticket.resolution !== undefined) header.push(['Resolved', resolutionText(ticket.resolution)]);
  for (const e of ticket.resolution?.evidence ?? []) header.push(['Evidence', evidenceText(e)]);
  for (const earlier of ticket.earlierResolutions ?? [])
    header.push([ticket.resolution?.override === true ? 'Earlier' : 'Reopened after', resolutionText(earlier)]);
  const found = ticket.settlement;
  if (found !== undefined) {
    header.push(['Settlement', `partly settled at ${found.at}: ${found.remaining.length} path${found.remaining.length === 1 ? '' : 's'} remain`]);
    header.push(['Remaining', found.remaining.join(', ')]);
    if (found.carried.length > 0) header.push(['Carried', found.carried.join(', ')]);
    if (found.undone.length > 0) header.push(['Undone', found.undone.join(', ')]);
    for (const e of found.evidence) header.push(['Evidence', evidenceText(e)]);
  }
  for (const b of ticket.backports ?? []) {
    header.push([
      'Backport commit',
      `${b.commit} on ${b.branch} by ${b.by} at ${b.at} (${b.changes} change${b.changes === 1 ? '' : 's'}: ${b.files.join(', ')})${b.repo === undefined ? '' : ` in ${b.repo}`}`,
    ]);
  }
  header.push(['Changes', String(ticket.changes.length)]);
  const width = Math.max(...header.map(([label]) => label.length)) + 1;
  const lines = header.map(([label, value]) => `${`${label}:`.padEnd(width)} ${safe(value)}`);
  ticket.changes.forEach((change, i) => lines.push('', ...changeLines(change, i + 1)));
  return `${lines.join('\n')}\n`;
}

/** objectName returns the kubectl-style name of an object, e.g. `deployments.apps/web`. */
export function objectName(ref: ObjectRef): string {
  return `${ref.resource}${ref.group === '' ? '' : `.${ref.group}`}/${ref.name}`;
}

function resolutionText(r: Resolution): string {
  const overrides = r.override === true ? ', overriding the closure below' : '';
  return `${r.decision} by ${r.closedBy === 'settlement' ? `settlement (${r.by})` : r.by} at ${r.at} (${r.ref})${overrides}`;
}

/** evidenceText returns one piece of closure evidence as a line for a person (not yet made safe). */
export function evidenceText(e: Evidence): string {
  switch (e.kind) {
    case 'commit':
      return `commit ${e.commit} on ${e.branch}${e.repo === undefined ? '' : ` in ${e.repo}`}`;
    case 'gitops-write':
      return `GitOps write by ${e.username} at ${e.at} (request ${e.requestUid})${settledText(e)}`;
    case 'sync-status':
      return `${e.tool === 'argocd' ? 'Argo CD Application' : 'Flux Kustomization'} ${e.namespace}/${e.name} in sync at revision ${e.revision} (${e.at})${settledText(e)}`;
    default:
      return `evidence of kind ${String((e as { kind: unknown }).kind)}`;
  }
}

// Which paths the evidence showed carried into Git and which undone, when it says.
function settledText(e: Settled): string {
  const parts = [
    ...(e.carried !== undefined && e.carried.length > 0 ? [`carried ${e.carried.join(', ')}`] : []),
    ...(e.undone !== undefined && e.undone.length > 0 ? [`undone ${e.undone.join(', ')}`] : []),
  ];
  return parts.length === 0 ? '' : `; ${parts.join('; ')}`;
}

function changeLines(change: TicketChange, n: number): string[] {
  const sub = change.subResource === undefined ? '' : ` /${change.subResource}`;
  const groups = change.groups.length === 0 ? '' : ` (groups: ${change.groups.join(', ')})`;
  const head = safe(`${n}. ${change.at}  ${change.operation}${sub} by ${change.username}${groups}  request ${change.requestUid}`);
  const fields = fieldLines(change.patch, change.revert);
  return [head, ...(fields.length === 0 ? ['(no field changes)'] : fields).map((line) => `   ${line}`)];
}

/**
 * fieldLines returns one `field: old → new` line per patch operation. The old value comes from the
 * revert patch, which holds, at the same path, what the live object had before.
 */
export function fieldLines(patch: readonly JsonPatchOp[], revert: readonly JsonPatchOp[]): string[] {
  const before = (path: string): string => {
    const op = revert.find((r) => r.path === path && (r.op === 'add' || r.op === 'replace'));
    return op !== undefined && 'value' in op ? compact(op.value) : '(unknown)';
  };
  return patch.flatMap((op) => {
    const path = safe(op.path);
    switch (op.op) {
      case 'add':
        return [`${path}: (absent) → ${compact(op.value)}`];
      case 'replace':
        return [`${path}: ${before(op.path)} → ${compact(op.value)}`];
      case 'remove':
        return [`${path}: ${before(op.path)} → (removed)`];
      case 'test':
        return [];
    }
  });
}

// Compact JSON escapes C0 controls itself; jsonSafe escapes the C1 and bidi controls it leaves.
function compact(value: unknown): string {
  return jsonSafe(JSON.stringify(value) ?? '(none)');
}

/** safe returns `text` with control characters (terminal escapes, newlines, bidi controls) shown as \u escapes. */
export function safe(text: string): string {
  return escapeControls(text);
}
