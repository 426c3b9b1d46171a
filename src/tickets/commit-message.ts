/**
 * The commit message a ticket export proposes: a subject within Git's 72 columns naming the
 * object and what changed, then who changed what under which window. Every text from a request
 * passes through `safe` first, so that a newline in a reason cannot forge a trailer.
 */
import type { TicketChange } from '../decision/types.js';
import { parsePointer } from '../decision/pointer.js';
import { fieldLines, objectName, safe } from './render.js';
import type { Ticket } from './types.js';
import { isSecretTicket, netChange } from './net-change.js';
const SUBJECT_MAX = 72;

/**
 * commitMessage returns the suggested commit message: a subject naming the incident, the object
 * and the fields, then a body with the window, each change (who, when, field old → new), the
 * reason and a `Backport-Ticket:` trailer. Ends with "\n".
 */
export function commitMessage(ticket: Ticket): string {
  const o = ticket.object;
  const prefix = `backport ${oneLine(ticket.window.incident)}: ${oneLine(o.kind)}/${oneLine(o.name)} in ${oneLine(o.namespace)}: `;
  const body = [
    `Carry into Git what was changed live on ${oneLine(objectName(o))} in namespace ${oneLine(o.namespace)}`,
    `under a break-glass window, so that Git describes the cluster again.`,
    '',
    `Incident: ${oneLine(ticket.window.incident)}`,
    `Window:   until ${oneLine(ticket.window.until)}`,
    `Reason:   ${oneLine(ticket.window.reason)}`,
    '',
    'Changes made under the window:',
    ...ticket.changes.flatMap((c) => [
      `- ${oneLine(c.at)} by ${oneLine(c.username)} (${c.operation}${c.subResource === undefined ? '' : ` /${oneLine(c.subResource)}`}):`,
      ...changeSummary(c).map((l) => `    ${l}`),
    ]),
  ];
  if (isSecretTicket(ticket))
    body.push('', 'Secret values appear here only as fingerprints (<redacted sha256:…>):', 're-enter each one from the secret manager before committing.');
  body.push('', `Backport-Ticket: ${oneLine(ticket.id)}`);
  return `${prefix}${subjectSummary(ticket, SUBJECT_MAX - prefix.length)}\n\n${body.join('\n')}\n`;
}

/**
 * fieldName returns a JSON Pointer as people write a field in a manifest, e.g.
 * `spec.template.spec.containers[0].image` or `metadata.annotations["example.com/x"]`.
 */
export function fieldName(pointer: string): string {
  return parsePointer(pointer)
    .map((t, i) => (/^(0|[1-9]\d*)$/.test(t) ? `[${t}]` : /^[A-Za-z_][A-Za-z0-9_-]*$/.test(t) ? `${i === 0 ? '' : '.'}${t}` : `[${JSON.stringify(t)}]`))
    .join('');
}

function changeSummary(change: TicketChange): string[] {
  const root = change.patch.find((op) => op.path === '');
  if (root !== undefined) return [root.op === 'remove' || ('value' in root && root.value === null) ? 'deleted the object' : 'created the object'];
  if (change.patch.length === 0) return ['(no field changes)'];
  return fieldLines(change.patch, change.revert).map((l) => truncate(oneLine(l), 160));
}

function subjectSummary(ticket: Ticket, room: number): string {
  const net = netChange(ticket);
  if (net.kind === 'created') return 'created live';
  if (net.kind === 'deleted') return 'deleted live';
  // Spec before metadata, and pod-template prefixes dropped: the subject names what changed in
  // the workload; the body lists every field in full.
  const named = ticket.changes.flatMap((c) => c.patch.map((op) => oneLine(fieldName(op.path))));
  const ordered = [...named.filter((f) => !f.startsWith('metadata')), ...named.filter((f) => f.startsWith('metadata'))];
  const fields = [...new Set(ordered.map((f) => f.replace(/^(spec\.jobTemplate\.spec\.)?spec\.template\.spec\./, '')))];
  if (fields.length === 0) return 'no field changes';
  let text = fields[0] ?? '';
  let shown = 1;
  while (shown < fields.length) {
    const next = `${text}, ${fields[shown] ?? ''}`;
    const more = fields.length - shown - 1;
    if ((more > 0 ? `${next} +${more} more` : next).length > room) break;
    text = next;
    shown++;
  }
  return shown < fields.length ? `${text} +${fields.length - shown} more` : text;
}

// safe() keeps control characters out; U+2028/2029 too, which YAML 1.1 reads as line breaks.
export function oneLine(text: string): string {
  return safe(text).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
