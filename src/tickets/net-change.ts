/**
 * The patch algebra of a ticket: its changes folded into one net change (what Git must carry),
 * applied with the RFC 6902 rules, and the facts about Secret values the exports must respect.
 * Pure; export.ts and export-yaml.ts render what this computes.
 */
import type { JsonPatchOp } from '../admission/types.js';
import type { TicketChange } from '../decision/types.js';
import { cloneJson, isRecord, setOwn } from '../decision/normalize.js';
import { isWithin, parsePointer } from '../decision/pointer.js';
import { DriftgateError } from '../errors.js';
import type { Ticket } from './types.js';

/**
 * NetChange is what the ticket's changes add up to: fields set and removed on an object that
 * existed before and after, a whole object created, or the object deleted.
 */
export type NetChange = { kind: 'fields'; set: Record<string, unknown>; removed: Removal[] } | { kind: 'created'; object: unknown } | { kind: 'deleted' };

/** Removal is a field removed live, with the value it had when it was removed when known. */
export interface Removal {
  path: string;
  was?: unknown;
}

// What the diff writes in place of a Secret value (src/decision/redact.ts).
export const FINGERPRINT = /<redacted sha256:[0-9a-f]+>/;
// Lists a fragment builds item by item from pointers (as opposed to lists a patch set whole):
// their items are matched to Git's by index, which the YAML says in a comment on each item.
export const byIndex = new WeakSet<unknown[]>();

/** combinedPatch returns every change's patch of the ticket, in the order the changes were made. */
export function combinedPatch(ticket: Ticket): JsonPatchOp[] {
  return ticket.changes.flatMap((c) => c.patch);
}

/** combinedRevert returns every change's revert patch, newest change first: the patch that undoes them all. */
export function combinedRevert(ticket: Ticket): JsonPatchOp[] {
  return [...ticket.changes].reverse().flatMap((c) => c.revert);
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

export function isSecretTicket(ticket: Ticket): boolean {
  return ticket.object.kind === 'Secret' && ticket.object.group === '';
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
export function applyOp(doc: unknown, op: JsonPatchOp, id: string): unknown {
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

export function outOfOrder(ticket: Ticket, path: string): DriftgateError {
  return new DriftgateError(
    'DG_INTERNAL',
    `ticket ${ticket.id}: a change sets ${path} on an object its earlier changes deleted; the ticket's changes do not chain`,
  );
}

// The object exists now unless the newest change that replaced the whole document deleted it.
export function deletedLast(changes: readonly TicketChange[]): boolean {
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
