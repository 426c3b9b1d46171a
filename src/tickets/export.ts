/**
 * Turning a backport ticket into something a person can act on: the change to carry into Git
 * (an RFC 6902 patch, a Kustomize patch, or a YAML fragment of the manifest) with a commit
 * message, or, to undo the drift instead, the revert patch and the kubectl command that applies
 * it. Pure: a ticket in, file names and texts out; the CLI prints or writes them.
 *
 * Every text that came from a request (usernames, reasons, incidents, names) passes through
 * `safe` before it lands in a comment or a commit message, so that a newline in a break-glass
 * reason cannot start a YAML key of its own or forge a trailer.
 */
import type { JsonPatchOp } from '../admission/types.js';
import { cloneJson } from '../decision/normalize.js';
import { DriftgateError } from '../errors.js';
import { objectName, safe } from './render.js';
import type { Ticket } from './types.js';
import { jsonSafe } from '../util/terminal.js';
import { applyOp, combinedPatch, combinedRevert, deletedLast, isSecretTicket, netChange, outOfOrder, redactedPaths } from './net-change.js';
import { commitMessage } from './commit-message.js';
import { kustomizeFiles, yamlFragment } from './export-yaml.js';

/** ExportFormat is how `tickets export` writes the change to carry into Git. */
export type ExportFormat = 'patch' | 'kustomize' | 'yaml';

/** EXPORT_FORMATS lists every export format, for flag checks. */
export const EXPORT_FORMATS: readonly ExportFormat[] = ['patch', 'kustomize', 'yaml'];

/** ExportFile is one file of an export: the name `--out` writes it under, and its text. */
export interface ExportFile {
  name: string;
  text: string;
  /** True for a shell script, which `--out` writes executable. */
  executable?: boolean;
}

/** TicketExport is an export: its files in print order, and notes a person must read before using them. */
export interface TicketExport {
  files: ExportFile[];
  notes: string[];
}

/**
 * RevertPlan is what undoing a ticket live takes, worked out from its combined revert patch and
 * whether the object exists now.
 */
export type RevertPlan =
  | { kind: 'patch'; ops: JsonPatchOp[]; command: string }
  | { kind: 'delete'; command: string }
  | { kind: 'create' | 'replace'; object: unknown; command: string }
  | { kind: 'nothing'; why: string };
const SECRET_NOTE =
  'this ticket is on a Secret: its values appear only as fingerprints (<redacted sha256:…>), never as values; re-enter every such value from the secret manager before committing';
// A delimiter no line of pretty-printed JSON can equal: every such line holds a brace, a bracket
// or a quoted string.
const HEREDOC = 'DRIFTGATE_EOF';

/**
 * exportTicket returns the files that carry the ticket's changes into Git in `format`, the last
 * one always `COMMIT_MSG`. Throws DG_INTERNAL when the changes do not chain (a field changed on
 * an object the ticket says was deleted).
 */
export function exportTicket(ticket: Ticket, format: ExportFormat): TicketExport {
  const net = netChange(ticket);
  const base = fileBase(ticket.object.name);
  const notes = exportNotes(ticket);
  const header = headerLines(ticket);
  let files: ExportFile[];
  switch (format) {
    case 'patch':
      files = [{ name: `${base}.patch.json`, text: `${jsonSafe(JSON.stringify(combinedPatch(ticket), null, 2))}\n` }];
      break;
    case 'kustomize':
      files = kustomizeFiles(ticket, net, base, header);
      break;
    case 'yaml':
      files = [yamlFragment(ticket, net, base, header)];
      break;
  }
  files.push({ name: 'COMMIT_MSG', text: commitMessage(ticket) });
  return { files, notes };
}

/**
 * exportRevert returns the combined revert patch and a script holding the kubectl command that
 * undoes the ticket's changes live. Throws DG_TICKET_NOT_REVERTIBLE when the revert would need a Secret value,
 * which driftgate never records.
 */
export function exportRevert(ticket: Ticket): TicketExport {
  const plan = revertPlan(ticket);
  // Refused only when the revert would write a value: deleting a created Secret, or undoing a
  // label change on one, needs none and works.
  const writes: JsonPatchOp[] =
    plan.kind === 'patch' ? plan.ops : plan.kind === 'create' || plan.kind === 'replace' ? [{ op: 'add', path: '', value: plan.object }] : [];
  const needsValues = redactedPaths(writes);
  if (needsValues.length > 0) {
    throw new DriftgateError(
      'DG_TICKET_NOT_REVERTIBLE',
      `ticket ${ticket.id} is on ${ticket.object.kind} ${ticket.object.namespace}/${ticket.object.name}: its old values are not recorded (driftgate keeps only fingerprints, at ${needsValues.join(', ')}), so it cannot be reverted from the ticket; restore the values from the secret manager, then record it: ${resolveHint(ticket)}`,
    );
  }
  const base = fileBase(ticket.object.name);
  const notes = ticket.changes.flatMap((c, i) =>
    c.subResource === 'scale' ? [`change ${i + 1} was made through /scale: its revert sets the parent's /spec/replicas`] : [],
  );
  if (plan.kind === 'nothing') notes.push(`nothing to revert: ${plan.why}`);
  const script = [
    '#!/bin/sh',
    `# Reverts backport ticket ${safe(ticket.id)} (${safe(ticket.window.incident)}) live: ${safe(objectName(ticket.object))} in namespace ${safe(ticket.object.namespace)},`,
    `# undoing its ${ticket.changes.length} change${ticket.changes.length === 1 ? '' : 's'}, newest first.`,
    'set -eu',
    plan.kind === 'nothing' ? `# nothing to revert: ${plan.why}` : plan.command,
    '# Then record the decision:',
    `#   ${resolveHint(ticket)}`,
    '',
  ].join('\n');
  return {
    files: [
      { name: `${base}.revert.json`, text: `${jsonSafe(JSON.stringify(combinedRevert(ticket), null, 2))}\n` },
      { name: 'revert.sh', text: script, executable: true },
    ],
    notes,
  };
}

/**
 * renderExport returns the files as one text for a terminal, each under a `==> name <==` line
 * (the header `tail` prints for several files), separated by blank lines.
 */
export function renderExport(exp: TicketExport): string {
  return exp.files.map((f) => `==> ${f.name} <==\n${f.text}`).join('\n');
}

/**
 * revertPlan returns how to undo the ticket live. The combined revert is walked newest first:
 * field operations pile up as a patch of the live object until a root operation replaces the
 * whole document (a DELETE's revert recreates it, a CREATE's revert removes it).
 */
export function revertPlan(ticket: Ticket): RevertPlan {
  type State = { kind: 'live'; ops: JsonPatchOp[] } | { kind: 'doc'; value: unknown } | { kind: 'absent' };
  let state: State = { kind: 'live', ops: [] };
  for (const op of combinedRevert(ticket)) {
    if (op.path === '') {
      state = op.op === 'remove' || op.value === null ? { kind: 'absent' } : { kind: 'doc', value: cloneJson(op.value) };
    } else if (state.kind === 'live') {
      state.ops.push(op);
    } else if (state.kind === 'doc') {
      state.value = applyOp(state.value, op, ticket.id);
    } else {
      throw outOfOrder(ticket, op.path);
    }
  }
  // Names the apiserver accepted hold no control characters; one that does came from a tampered
  // journal, and is shown escaped rather than written raw into a script a person will run.
  const ns = ticket.object.namespace === '' ? '' : ` -n ${shellQuote(safe(ticket.object.namespace))}`;
  const target = shellQuote(safe(objectName(ticket.object)));
  const existsNow = !deletedLast(ticket.changes);
  if (state.kind === 'live') {
    if (state.ops.length === 0) return { kind: 'nothing', why: 'its changes set no fields (an action such as exec, or nothing after normalization)' };
    return { kind: 'patch', ops: state.ops, command: `kubectl patch${ns} ${target} --type=json -p ${shellQuote(jsonSafe(JSON.stringify(state.ops)))}` };
  }
  if (state.kind === 'absent') {
    if (!existsNow) return { kind: 'nothing', why: 'the object was created and deleted under the window; nothing of it is left' };
    return { kind: 'delete', command: `kubectl delete${ns} ${target}` };
  }
  const verb = existsNow ? 'replace' : 'create';
  return {
    kind: verb,
    object: state.value,
    command: `kubectl ${verb}${ns} -f - <<'${HEREDOC}'\n${jsonSafe(JSON.stringify(state.value, null, 2))}\n${HEREDOC}`,
  };
}

/**
 * shellQuote returns `text` as one POSIX shell word: bare when it holds only characters no shell
 * treats specially, else in single quotes, each `'` written as `'\''` (close, escaped quote, reopen).
 */
export function shellQuote(text: string): string {
  if (/^[A-Za-z0-9_./:=@%+,-]+$/.test(text)) return text;
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function exportNotes(ticket: Ticket): string[] {
  const notes: string[] = [];
  if (isSecretTicket(ticket)) notes.push(SECRET_NOTE);
  if (ticket.object.kind === 'Scale') {
    notes.push(
      `the ticket records kind Scale (the parent was not looked up): set the kind of ${objectName(ticket.object)} before using the Kustomize target or YAML fragment`,
    );
  }
  ticket.changes.forEach((c, i) => {
    if (c.patch.length === 0)
      notes.push(
        `change ${i + 1} (${c.operation}${c.subResource === undefined ? '' : ` /${c.subResource}`} by ${safe(c.username)}) changed no fields: nothing of it goes into Git`,
      );
  });
  return notes;
}

function headerLines(ticket: Ticket): string[] {
  const o = ticket.object;
  const lines = [
    `Backport ticket ${safe(ticket.id)} (${safe(ticket.window.incident)}): ${safe(objectName(o))} in namespace ${safe(o.namespace)},`,
    `changed live under break-glass until ${safe(ticket.window.until)}.`,
  ];
  if (isSecretTicket(ticket)) lines.push('SECRET: values are fingerprints only; re-enter each from the secret manager.');
  return lines;
}

function resolveHint(ticket: Ticket): string {
  return `driftgate tickets resolve ${shellQuote(safe(ticket.id))} --decision revert --ref <where> --by <you>`;
}

function fileBase(name: string): string {
  // Kubernetes names are already file-safe; this only keeps a hostile or empty one from
  // reaching outside --out or hiding as a dotfile.
  const clean = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return clean === '' ? 'object' : clean;
}
