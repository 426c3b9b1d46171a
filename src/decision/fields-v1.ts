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

/** An owned path, and its text (the identity used to compare field sets). */
export interface OwnedField {
  id: string;
  steps: readonly Step[];
}

/**
 * collectFields returns the fields a FieldsV1 set names: one per node marked owned (`.`) or per
 * leaf (an empty set).
 */
export function collectFields(node: unknown, out: Map<string, OwnedField>, at: Step[] = []): void {
  if (!isRecord(node)) return;
  const keys = Object.keys(node);
  if (keys.length === 0 || Object.hasOwn(node, '.')) add(at, out);
  for (const key of keys) {
    if (key === '.') continue;
    if (key.startsWith('f:')) collectFields(node[key], out, [...at, { field: key.slice(2) }]);
    else if (key.startsWith('k:') || key.startsWith('v:') || key.startsWith('i:')) collectFields(node[key], out, [...at, { select: key }]);
    // Anything else is no FieldsV1 the apiserver writes: owning it is owning the node it sits in.
    else add(at, out);
  }
}

function add(steps: Step[], out: Map<string, OwnedField>): void {
  const id = steps.map((s) => ('field' in s ? `/${escapeToken(s.field)}` : `/[${s.select}]`)).join('');
  if (!out.has(id)) out.set(id, { id, steps });
}

/** isStatusField tells whether a field lies under `status`. */
export function isStatusField(field: OwnedField): boolean {
  const first = field.steps[0];
  return first !== undefined && 'field' in first && first.field === 'status';
}

/** Lists already indexed by a selector's key names, so each list is scanned once per key shape. */
type Indexes = WeakMap<unknown[], Map<string, Map<string, unknown>>>;

export function newIndexes(): Indexes {
  return new WeakMap();
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
  let byShape = indexes.get(list);
  if (byShape === undefined) {
    byShape = new Map();
    indexes.set(list, byShape);
  }
  let index = byShape.get(shape);
  if (index === undefined) {
    index = new Map();
    for (const item of list) {
      const k = keyOf(item);
      if (k !== undefined && !index.has(k)) index.set(k, item);
    }
    byShape.set(shape, index);
  }
  return index.get(key);
}
