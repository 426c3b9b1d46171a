/**
 * FieldsV1, the field sets of `metadata.managedFields`, read precisely enough to tell what a
 * manager owns: a path keeps its list-item selectors (`k:{"name":"app"}`, `v:"finalizer"`, `i:3`)
 * and is resolved against an object by finding the selected item, so owning one container's env
 * entry is not owning the whole list. Collapsing items into their list would let a client hand
 * out, or take away, ownership of single items unseen while any other item of the list changes
 * or stays owned (adversarial review of issue 11).
 */
import { parseJsonExact } from '../util/json.js';
import { isRecord } from './normalize.js';
import { escapeToken } from './pointer.js';

/** One step of an owned path: a map key (`f:`) or a list-item selector (`k:`, `v:`, `i:`). */
type Step = { field: string } | { select: string };

/**
 * An owned path, and its text (the identity used to compare field sets). `node`: owned as a node
 * (`.`), the map or list item itself, not its contents: the apiserver hands a node out or takes it
 * away only when a write adds or removes it, never because something inside it changed.
 */
export interface OwnedField {
  id: string;
  steps: readonly Step[];
  node: boolean;
}

/**
 * collectFields returns the fields a FieldsV1 set names: one per node marked owned (`.`) or per
 * leaf (an empty set).
 */
export function collectFields(node: unknown, out: Map<string, OwnedField>, at: Step[] = []): void {
  if (!isRecord(node)) return;
  const keys = Object.keys(node);
  if (keys.length === 0) add(at, out, false);
  else if (Object.hasOwn(node, '.')) add(at, out, true);
  for (const key of keys) {
    if (key === '.') continue;
    if (key.startsWith('f:')) collectFields(node[key], out, [...at, { field: key.slice(2) }]);
    else if (key.startsWith('k:') || key.startsWith('v:') || key.startsWith('i:')) collectFields(node[key], out, [...at, { select: key }]);
    // Anything else is no FieldsV1 the apiserver writes: owning it is owning all the node holds.
    else add(at, out, false);
  }
}

function add(steps: Step[], out: Map<string, OwnedField>, node: boolean): void {
  // One path, one field: the apiserver writes a node it owns as `.` while the set lists children
  // under it, and as `{}` once none are left (a window's annotations removed, the map kept).
  const id = steps.map((s) => ('field' in s ? `/${escapeToken(s.field)}` : `/[${s.select}]`)).join('');
  if (!out.has(id)) out.set(id, { id, steps, node });
}

/** isStatusField tells whether a field lies under `status`. */
export function isStatusField(field: OwnedField): boolean {
  const first = field.steps[0];
  return first !== undefined && 'field' in first && first.field === 'status';
}

/**
 * Lists already indexed by a selector's key names, so each list is scanned once per key shape.
 * A real list is selected by one shape (a container by name, a port by port and protocol); a
 * crafted entry naming many shapes would make every one of them a scan of the list, so past
 * MAX_SHAPES the lookups stop and `exceeded` says so (the caller takes the list as rewritten).
 */
export interface Indexes {
  byList: WeakMap<unknown[], Map<string, Map<string, unknown>>>;
  exceeded: boolean;
}

const MAX_SHAPES = 4;

export function newIndexes(): Indexes {
  return { byList: new WeakMap(), exceeded: false };
}

/** valueAt returns the value `field` names in `obj`, or undefined when it is not there. */
export function valueAt(obj: unknown, field: OwnedField, indexes: Indexes): unknown {
  let at: unknown = obj;
  for (const step of field.steps) {
    if ('field' in step) {
      if (!isRecord(at) || !Object.hasOwn(at, step.field)) return undefined;
      at = at[step.field];
    } else {
      if (!Array.isArray(at)) return undefined;
      at = selected(at, step.select, indexes);
      if (at === undefined) return undefined;
    }
  }
  return at;
}

function selected(list: unknown[], selector: string, indexes: Indexes): unknown {
  const body = selector.slice(2);
  if (selector.startsWith('i:')) {
    const i = Number(body);
    return Number.isInteger(i) && i >= 0 ? list[i] : undefined;
  }
  let wanted: unknown;
  try {
    wanted = parseJsonExact(body);
  } catch {
    return undefined;
  }
  if (selector.startsWith('v:')) return lookup(list, '=value', JSON.stringify(wanted), (item) => JSON.stringify(item), indexes);
  if (!isRecord(wanted)) return undefined;
  const key = wanted;
  const names = Object.keys(key).sort();
  const keyOf = (item: unknown): string | undefined => (isRecord(item) ? JSON.stringify(names.map((n) => item[n] ?? null)) : undefined);
  return lookup(list, names.join('\u0000'), JSON.stringify(names.map((n) => key[n] ?? null)), keyOf, indexes);
}

function lookup(list: unknown[], shape: string, key: string, keyOf: (item: unknown) => string | undefined, indexes: Indexes): unknown {
  let byShape = indexes.byList.get(list);
  if (byShape === undefined) {
    byShape = new Map();
    indexes.byList.set(list, byShape);
  }
  let index = byShape.get(shape);
  if (index === undefined) {
    if (byShape.size >= MAX_SHAPES) {
      indexes.exceeded = true;
      return undefined;
    }
    index = new Map();
    for (const item of list) {
      const k = keyOf(item);
      if (k !== undefined && !index.has(k)) index.set(k, item);
    }
    byShape.set(shape, index);
  }
  return index.get(key);
}
