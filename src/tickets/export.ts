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
import { Document, Scalar, YAMLMap, YAMLSeq, type Node } from 'yaml';
import type { JsonPatchOp } from '../admission/types.js';
import type { TicketChange } from '../decision/types.js';
import { cloneJson, isRecord, setOwn } from '../decision/normalize.js';
import { isWithin, parsePointer } from '../decision/pointer.js';
import { DriftgateError } from '../errors.js';
import { fieldLines, objectName, safe } from './render.js';
import type { Ticket } from './types.js';
import { isRawJson } from '../util/json.js';
import { jsonSafe } from '../util/terminal.js';
import { safeYaml } from '../util/yaml-safe.js';

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

/**
 * NetChange is what the ticket's changes add up to: fields set and removed on an object that
 * existed before and after, a whole object created, or the object deleted.
 */
export type NetChange =
  | { kind: 'fields'; set: Record<string, unknown>; removed: Removal[] }
  | { kind: 'created'; object: unknown }
  | { kind: 'deleted' };

/** Removal is a field removed live, with the value it had when it was removed when known. */
export interface Removal {
  path: string;
  was?: unknown;
}

// What the diff writes in place of a Secret value (src/decision/redact.ts).
const FINGERPRINT = /<redacted sha256:[0-9a-f]+>/;
const SECRET_NOTE =
  'this ticket is on a Secret: its values appear only as fingerprints (<redacted sha256:…>), never as values; re-enter every such value from the secret manager before committing';
const SUBJECT_MAX = 72;
// Lists a fragment builds item by item from pointers (as opposed to lists a patch set whole):
// their items are matched to Git's by index, which the YAML says in a comment on each item.
const byIndex = new WeakSet<unknown[]>();
// The keys a manifest starts with, in the order people write them.
const HEAD_KEYS = ['apiVersion', 'kind', 'metadata'];
// A delimiter no line of pretty-printed JSON can equal: every such line holds a brace, a bracket
// or a quoted string.
const HEREDOC = 'DRIFTGATE_EOF';

/** combinedPatch returns every change's patch of the ticket, in the order the changes were made. */
export function combinedPatch(ticket: Ticket): JsonPatchOp[] {
  return ticket.changes.flatMap((c) => c.patch);
}

/** combinedRevert returns every change's revert patch, newest change first: the patch that undoes them all. */
export function combinedRevert(ticket: Ticket): JsonPatchOp[] {
  return [...ticket.changes].reverse().flatMap((c) => c.revert);
}

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
  const writes: JsonPatchOp[] = plan.kind === 'patch' ? plan.ops : plan.kind === 'create' || plan.kind === 'replace' ? [{ op: 'add', path: '', value: plan.object }] : [];
  const needsValues = redactedPaths(writes);
  if (needsValues.length > 0) {
    throw new DriftgateError(
      'DG_TICKET_NOT_REVERTIBLE',
      `ticket ${ticket.id} is on ${ticket.object.kind} ${ticket.object.namespace}/${ticket.object.name}: its old values are not recorded (driftgate keeps only fingerprints, at ${needsValues.join(', ')}), so it cannot be reverted from the ticket; restore the values from the secret manager, then record it: ${resolveHint(ticket)}`,
    );
  }
  const base = fileBase(ticket.object.name);
  const notes = ticket.changes.flatMap((c, i) => (c.subResource === 'scale' ? [`change ${i + 1} was made through /scale: its revert sets the parent's /spec/replicas`] : []));
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
 * netChange returns what the ticket's changes add up to, replaying its combined patch: field
 * changes as a sparse tree of the new values plus the removals, or a whole created object, or
 * a deletion.
 */
export function netChange(ticket: Ticket): NetChange {
  let net: NetChange = { kind: 'fields', set: {}, removed: [] };
  for (const change of ticket.changes) {
    for (const op of change.patch) {
      if (op.op === 'test') continue;
      if (op.path === '') {
        net = op.op === 'remove' || op.value === null ? { kind: 'deleted' } : { kind: 'created', object: cloneJson(op.value) };
      } else if (net.kind === 'created') {
        net.object = applyOp(net.object, op, ticket.id);
      } else if (net.kind === 'deleted') {
        throw outOfOrder(ticket, op.path);
      } else if (op.op === 'remove') {
        unsetIn(net.set, parsePointer(op.path));
        const was = valueBefore(change, op.path);
        net.removed = [...net.removed.filter((r) => r.path !== op.path), { path: op.path, ...(was === undefined ? {} : { was }) }];
      } else {
        setIn(net.set, parsePointer(op.path), cloneJson(op.value));
        // A field set again after it was removed is no longer a removal.
        net.removed = net.removed.filter((r) => !isWithin(r.path, op.path));
      }
    }
  }
  return net;
}

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
    ...ticket.changes.flatMap((c) => [`- ${oneLine(c.at)} by ${oneLine(c.username)} (${c.operation}${c.subResource === undefined ? '' : ` /${oneLine(c.subResource)}`}):`, ...changeSummary(c).map((l) => `    ${l}`)]),
  ];
  if (isSecretTicket(ticket)) body.push('', 'Secret values appear here only as fingerprints (<redacted sha256:…>):', 're-enter each one from the secret manager before committing.');
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

/**
 * shellQuote returns `text` as one POSIX shell word: bare when it holds only characters no shell
 * treats specially, else in single quotes, each `'` written as `'\''` (close, escaped quote, reopen).
 */
export function shellQuote(text: string): string {
  if (/^[A-Za-z0-9_./:=@%+,-]+$/.test(text)) return text;
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** redactedPaths returns the pointers, inside the given operations' values, of every Secret fingerprint. */
export function redactedPaths(ops: readonly JsonPatchOp[]): string[] {
  const out: string[] = [];
  const walk = (value: unknown, at: string): void => {
    if (typeof value === 'string') {
      if (FINGERPRINT.test(value)) out.push(at === '' ? '/' : at);
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${at}/${i}`));
    } else if (isRecord(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, `${at}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`);
    }
  };
  for (const op of ops) if (op.op !== 'remove') walk(op.value, op.path);
  return out;
}

function exportNotes(ticket: Ticket): string[] {
  const notes: string[] = [];
  if (isSecretTicket(ticket)) notes.push(SECRET_NOTE);
  if (ticket.object.kind === 'Scale') {
    notes.push(`the ticket records kind Scale (the parent was not looked up): set the kind of ${objectName(ticket.object)} before using the Kustomize target or YAML fragment`);
  }
  ticket.changes.forEach((c, i) => {
    if (c.patch.length === 0) notes.push(`change ${i + 1} (${c.operation}${c.subResource === undefined ? '' : ` /${c.subResource}`} by ${safe(c.username)}) changed no fields: nothing of it goes into Git`);
  });
  return notes;
}

function isSecretTicket(ticket: Ticket): boolean {
  return ticket.object.kind === 'Secret' && ticket.object.group === '';
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

function kustomizeFiles(ticket: Ticket, net: NetChange, base: string, header: string[]): ExportFile[] {
  const o = ticket.object;
  const target = { ...(o.group === '' ? {} : { group: o.group }), version: o.version, kind: o.kind, name: o.name, ...(o.namespace === '' ? {} : { namespace: o.namespace }) };
  if (net.kind === 'created') {
    const file = `${base}.yaml`;
    return [
      { name: 'kustomization-patch.yaml', text: yamlText({ resources: [file] }, [...header, 'The object was created live: add its manifest to the resources of the kustomization that renders it.']) },
      { name: file, text: yamlText(manifestOrder(net.object), header) },
    ];
  }
  const file = `${base}.patch.yaml`;
  const kustomization = yamlText({ patches: [{ target, path: file }] }, [...header, 'Merge this entry into the patches of the kustomization.yaml that renders the object.']);
  if (net.kind === 'deleted') {
    // A strategic-merge `$patch: delete` is the one Kustomize patch that removes an object; simply
    // dropping the manifest from Git says the same more plainly, hence the comment.
    const patch = { $patch: 'delete', apiVersion: apiVersion(ticket), kind: o.kind, metadata: identity(ticket) };
    return [
      { name: 'kustomization-patch.yaml', text: kustomization },
      { name: file, text: yamlText(patch, [...header, 'The object was deleted live: this patch deletes it from the build; removing its manifest from Git says the same.']) },
    ];
  }
  return [
    { name: 'kustomization-patch.yaml', text: kustomization },
    { name: file, text: yamlText(combinedPatch(ticket), [...header, 'JSON 6902 patch: every change, in the order it was made.']) },
  ];
}

function yamlFragment(ticket: Ticket, net: NetChange, base: string, header: string[]): ExportFile {
  if (net.kind === 'created') {
    return { name: `${base}.yaml`, text: yamlText(manifestOrder(net.object), [...header, 'The object was created live: add this manifest to Git.']) };
  }
  const head = { apiVersion: apiVersion(ticket), kind: ticket.object.kind, metadata: identity(ticket) };
  if (net.kind === 'deleted') {
    return { name: `${base}.fragment.yaml`, text: yamlText(head, [...header, 'The object was deleted live: remove its manifest from Git.']) };
  }
  const comments = [...header, 'Only the fields changed live, set to their new values: merge them into the manifest in Git.'];
  if (net.removed.length > 0) {
    comments.push('Removed live (delete these from the manifest):');
    for (const r of net.removed) comments.push(`  ${safe(fieldName(r.path))}${r.was === undefined ? '' : ` (was ${truncate(JSON.stringify(r.was) ?? '', 60)})`}`);
  }
  return { name: `${base}.fragment.yaml`, text: yamlText(mergeInto(head, net.set), comments) };
}

function apiVersion(ticket: Ticket): string {
  return ticket.object.group === '' ? ticket.object.version : `${ticket.object.group}/${ticket.object.version}`;
}

function identity(ticket: Ticket): Record<string, string> {
  return { name: ticket.object.name, ...(ticket.object.namespace === '' ? {} : { namespace: ticket.object.namespace }) };
}

// YAML 1.1 output, because kubectl and Kustomize read manifests as YAML 1.1: a label value "yes"
// written bare would come back as the boolean true. No folding, so long values stay greppable.
function yamlText(value: unknown, comments: readonly string[]): string {
  const doc = new Document(undefined, { version: '1.1' });
  doc.contents = toNode(doc, value);
  if (comments.length > 0) doc.commentBefore = comments.map((c) => ` ${oneLine(c)}`).join('\n');
  return safeYaml(doc, { lineWidth: 0 });
}

function toNode(doc: Document, value: unknown): Node {
  if (Array.isArray(value)) {
    const seq = new YAMLSeq();
    // Holes are list items the ticket never touched (a fragment names only changed leaves).
    for (let i = 0; i < value.length; i++) {
      if (Object.hasOwn(value, i)) {
        const item = toNode(doc, value[i]);
        if (byIndex.has(value)) item.commentBefore = ` [${i}]: item ${i} of this list in Git; merge these fields into it`;
        seq.items.push(item);
      } else {
        const hole = new Scalar(null);
        hole.comment = ` [${i}] unchanged: keep this item as it is in Git`;
        seq.items.push(hole);
      }
    }
    return seq;
  }
  if (isRecord(value)) {
    const map = new YAMLMap();
    for (const [k, v] of Object.entries(value)) map.items.push(doc.createPair(k, toNode(doc, v)));
    return map;
  }
  // An exact integer beyond 2^53 is written as its digits (a YAML int), not as a map.
  const node = doc.createNode(isRawJson(value) ? BigInt(value.rawJSON) : value);
  if (typeof value === 'string' && FINGERPRINT.test(value) && node instanceof Scalar) node.comment = ' fingerprint only: re-enter the value from the secret manager';
  return node as Node;
}

// Deep merge of the identity head and the changed fields; the head comes first so the fragment
// reads like a manifest (apiVersion, kind, metadata, then the rest).
function mergeInto(head: Record<string, unknown>, set: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(head)) setOwn(out, k, v);
  for (const [k, v] of Object.entries(set)) {
    const here = out[k];
    setOwn(out, k, Object.hasOwn(out, k) && isRecord(here) && isRecord(v) ? mergeInto(here, v) : v);
  }
  return out;
}

function manifestOrder(obj: unknown): unknown {
  if (!isRecord(obj)) return obj;
  const out: Record<string, unknown> = {};
  for (const k of [...HEAD_KEYS.filter((h) => Object.hasOwn(obj, h)), ...Object.keys(obj).filter((k) => !HEAD_KEYS.includes(k))]) setOwn(out, k, obj[k]);
  return out;
}

function setIn(root: Record<string, unknown>, tokens: readonly string[], value: unknown): void {
  let here: unknown = root;
  for (let i = 0; i < tokens.length - 1; i++) {
    const token = tokens[i] ?? '';
    let child = childOf(here, token);
    if (!isRecord(child) && !Array.isArray(child)) {
      // A new intermediate: a list when the next token is an index, as it is for every list the
      // diff walks (it never writes digit-only map keys of its own).
      if (/^(0|[1-9]\d*)$/.test(tokens[i + 1] ?? '')) {
        const list: unknown[] = [];
        byIndex.add(list);
        child = list;
      } else {
        child = {};
      }
      putChild(here, token, child);
    }
    here = child;
  }
  putChild(here, tokens[tokens.length - 1] ?? '', value);
}

function unsetIn(root: Record<string, unknown>, tokens: readonly string[]): void {
  const trail: Array<[unknown, string]> = [];
  let here: unknown = root;
  for (const token of tokens) {
    trail.push([here, token]);
    here = childOf(here, token);
    if (here === undefined) return;
  }
  // Remove the leaf, then every container left empty on the way up: those were made only to
  // hold it, and an empty map in a fragment would read as "set this to {}".
  for (let i = trail.length - 1; i >= 0; i--) {
    const [parent, token] = trail[i] ?? [undefined, ''];
    if (Array.isArray(parent)) {
      delete parent[Number(token)];
      while (parent.length > 0 && !Object.hasOwn(parent, parent.length - 1)) parent.length -= 1;
    } else if (isRecord(parent)) {
      delete parent[token];
    }
    const empty = Array.isArray(parent) ? parent.length === 0 : isRecord(parent) && Object.keys(parent).length === 0;
    if (!empty || i === 0) return;
  }
}

function childOf(container: unknown, token: string): unknown {
  if (Array.isArray(container)) return Object.hasOwn(container, Number(token)) ? container[Number(token)] : undefined;
  if (isRecord(container)) return Object.hasOwn(container, token) ? container[token] : undefined;
  return undefined;
}

function putChild(container: unknown, token: string, value: unknown): void {
  if (Array.isArray(container)) container[token === '-' ? container.length : Number(token)] = value;
  else if (isRecord(container)) setOwn(container, token, value);
}


/**
 * applyOp returns `doc` with one RFC 6902 operation applied (add inserts into lists, "-" appends),
 * for replaying changes onto a whole object a CREATE or DELETE recorded.
 */
function applyOp(doc: unknown, op: JsonPatchOp, id: string): unknown {
  if (op.op === 'test') return doc;
  const tokens = parsePointer(op.path);
  const root = cloneJson(doc);
  let parent: unknown = root;
  for (const token of tokens.slice(0, -1)) {
    parent = childOf(parent, token);
    if (parent === undefined) throw new DriftgateError('DG_INTERNAL', `ticket ${id}: ${op.op} ${op.path} does not apply: ${token} is missing`);
  }
  const last = tokens[tokens.length - 1] ?? '';
  if (Array.isArray(parent)) {
    const index = last === '-' ? parent.length : Number(last);
    if (op.op === 'add') parent.splice(index, 0, cloneJson(op.value));
    else if (op.op === 'replace') parent[index] = cloneJson(op.value);
    else parent.splice(index, 1);
  } else if (isRecord(parent)) {
    if (op.op === 'remove') delete parent[last];
    else setOwn(parent, last, cloneJson(op.value));
  } else {
    throw new DriftgateError('DG_INTERNAL', `ticket ${id}: ${op.op} ${op.path} does not apply: its parent is not a map or list`);
  }
  return root;
}

function outOfOrder(ticket: Ticket, path: string): DriftgateError {
  return new DriftgateError('DG_INTERNAL', `ticket ${ticket.id}: a change sets ${path} on an object its earlier changes deleted; the ticket's changes do not chain`);
}

// The object exists now unless the newest change that replaced the whole document deleted it.
function deletedLast(changes: readonly TicketChange[]): boolean {
  for (let i = changes.length - 1; i >= 0; i--) {
    const root = changes[i]?.patch.find((op) => op.path === '');
    if (root !== undefined) return root.op === 'remove' || ('value' in root && root.value === null);
  }
  return false;
}

function valueBefore(change: TicketChange, path: string): unknown {
  const op = change.revert.find((r) => r.path === path && (r.op === 'add' || r.op === 'replace'));
  return op !== undefined && 'value' in op ? op.value : undefined;
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

function resolveHint(ticket: Ticket): string {
  return `driftgate tickets resolve ${shellQuote(safe(ticket.id))} --decision revert --ref <where> --by <you>`;
}

function fileBase(name: string): string {
  // Kubernetes names are already file-safe; this only keeps a hostile or empty one from
  // reaching outside --out or hiding as a dotfile.
  const clean = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return clean === '' ? 'object' : clean;
}

// safe() keeps control characters out; U+2028/2029 too, which YAML 1.1 reads as line breaks.
function oneLine(text: string): string {
  return safe(text).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
