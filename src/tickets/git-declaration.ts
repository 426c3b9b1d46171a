/**
 * What Git declares, as the evidence of settlement shows it: a GitOps write's manifest (client-side
 * apply's last-applied annotation), a GitOps server-side apply's field ownership (managedFields),
 * what a plain GitOps write changed, or a tool's in-sync report; and the value comparisons that
 * read it. Pure; settle.ts judges a ticket with it.
 */
import type { KubeObject } from '../admission/types.js';
import { normalize } from '../decision/normalize.js';
import { getAt, parsePointer } from '../decision/pointer.js';
import { redactSecret } from '../decision/redact.js';
import { isRawJson, isRecord, parseJsonExact } from '../util/json.js';

/** The annotation client-side apply (`kubectl apply`, Argo CD's default sync) keeps Git's manifest in. */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Field managers of GitOps controllers' server-side applies: Flux's kustomize-controller and
 * helm-controller, Argo CD with ServerSideApply=true. Only their Apply entries count as Git's.
 */
export const GITOPS_APPLY_MANAGERS: readonly string[] = ['kustomize-controller', 'helm-controller', 'argocd-controller'];

/**
 * Declaration is how the evidence says what Git declares:
 * - `manifest`: the manifest itself (client-side apply's last-applied annotation): a path it
 *   lacks is not Git's;
 * - `owned`: a server-side apply's field ownership: Git declares a path its manager owns, with
 *   the value the object holds;
 * - `changed`: a plain write by a GitOps identity: only the paths it changed are surely Git's;
 * - `in-sync`: a GitOps tool reporting the object in sync: every field Git declares equals the
 *   live one (the tools ignore fields Git does not declare: docs/security.md says what follows).
 */
export type Declaration =
  | { kind: 'manifest'; manifest: unknown }
  | { kind: 'owned'; fields: FieldsTree }
  | { kind: 'changed'; before: KubeObject | undefined }
  | { kind: 'in-sync' };

/** FieldsTree is a managedFields entry's fieldsV1 (f:, k:, v: and "." keys), merged over entries. */
export type FieldsTree = Record<string, unknown>;

/** Value is a field's value, or its absence (JSON has no undefined). */
export type Value = { present: true; value: unknown } | { present: false };

/**
 * declarationOfWrite returns what a GitOps controller's write declares as Git's: the fields its
 * server-side apply owns, else the manifest client-side apply left in the last-applied annotation,
 * else only what the write changed.
 */
export function declarationOfWrite(
  object: KubeObject | undefined,
  oldObject: KubeObject | undefined,
  managers: readonly string[] = GITOPS_APPLY_MANAGERS,
): Declaration {
  const fields = appliedFields(object, managers);
  if (fields !== undefined) return { kind: 'owned', fields };
  const manifest = lastApplied(object);
  if (manifest !== undefined) return { kind: 'manifest', manifest };
  return { kind: 'changed', before: oldObject };
}

/** appliedFields returns the fields the named managers own through Apply, merged; undefined when they own none. */
export function appliedFields(object: KubeObject | undefined, managers: readonly string[]): FieldsTree | undefined {
  const entries = isRecord(object?.['metadata']) ? object['metadata']['managedFields'] : undefined;
  if (!Array.isArray(entries)) return undefined;
  let merged: FieldsTree | undefined;
  for (const entry of entries) {
    if (!isRecord(entry) || entry['operation'] !== 'Apply' || !managers.includes(String(entry['manager'])) || (entry['subresource'] ?? '') !== '') continue;
    if (isRecord(entry['fieldsV1'])) merged = mergeFields(merged ?? {}, entry['fieldsV1']);
  }
  return merged;
}

function mergeFields(into: FieldsTree, from: Record<string, unknown>): FieldsTree {
  const out: FieldsTree = { ...into };
  for (const [key, value] of Object.entries(from)) {
    const had = out[key];
    out[key] = isRecord(had) && isRecord(value) ? mergeFields(had, value) : value;
  }
  return out;
}

function lastApplied(object: KubeObject | undefined): unknown {
  const annotations = isRecord(object?.['metadata']) ? object['metadata']['annotations'] : undefined;
  const text = isRecord(annotations) ? annotations[LAST_APPLIED] : undefined;
  if (typeof text !== 'string') return undefined;
  try {
    const manifest = parseJsonExact(text);
    return isRecord(manifest) ? manifest : undefined;
  } catch {
    // A malformed annotation declares nothing: the write then counts for what it changed only.
    return undefined;
  }
}

// Whether the evidence says Git declares the object at all (for a ticket that created it).
export function declaresObject(declaration: Declaration): boolean {
  if (declaration.kind === 'manifest') return isRecord(declaration.manifest);
  if (declaration.kind === 'owned') return Object.keys(declaration.fields).length > 0;
  if (declaration.kind === 'changed') return declaration.before !== undefined;
  return true;
}

// Compared as the diff compares: runtime fields dropped, a Secret's values as fingerprints (the
// ticket holds nothing else, and nothing here may hold a Secret's value longer than a comparison).
/** comparable returns the object without runtime fields, a Secret's values as fingerprints. */
export function comparable(object: unknown): KubeObject | undefined {
  return isRecord(object) ? redactSecret(normalize(object as KubeObject)) : undefined;
}

/** declaredBy returns whether Git declares `after` at a path, by the evidence; `live` is the object the ownership is read against. */
export function declaredBy(declaration: Declaration, live: KubeObject | undefined): (path: string, after: Value) => boolean {
  switch (declaration.kind) {
    case 'in-sync':
      return () => true;
    case 'manifest': {
      const manifest = comparable(declaration.manifest);
      return (path, after) => same(valueAt(manifest, path), after);
    }
    case 'owned': {
      const fields = declaration.fields;
      // Ownership is read against the object the tool applied (the live one): keyed list items are found there.
      return (path, after) => owns(fields, live, path) === after.present;
    }
    case 'changed': {
      const old = comparable(declaration.before);
      return (path, after) => !same(valueAt(old, path), after);
    }
  }
}

// Whether the fieldsV1 tree covers `path` in `object` (the object the apply produced). List items
// are keyed by their merge key (k:{…}), by value (v:…) or by index (i:N), so an index in the path
// is mapped to its item's key through the object. A path that goes deeper than the tree (an
// atomic value) is covered by its owner.
function owns(fields: FieldsTree, object: unknown, path: string): boolean {
  let node: unknown = fields;
  let here: unknown = object;
  for (const token of parsePointer(path)) {
    if (!isRecord(node)) return false;
    if (Object.keys(node).length === 0 || (Object.keys(node).length === 1 && '.' in node)) return true;
    let next: unknown;
    if (Array.isArray(here) && /^(0|[1-9]\d*)$/.test(token)) {
      const item: unknown = here[Number(token)];
      next = node[`i:${token}`] ?? Object.entries(node).find(([key]) => itemKeyed(key, item))?.[1];
      here = item;
    } else {
      next = node[`f:${token}`];
      here = isRecord(here) ? here[token] : undefined;
    }
    if (next === undefined) return false;
    node = next;
  }
  return true;
}

// Whether a k:{…} or v:… key of fieldsV1 names `item`.
function itemKeyed(key: string, item: unknown): boolean {
  try {
    if (key.startsWith('v:')) return equalJson(parseJsonExact(key.slice(2)), item);
    if (!key.startsWith('k:') || !isRecord(item)) return false;
    const keyed = parseJsonExact(key.slice(2));
    return isRecord(keyed) && Object.entries(keyed).every(([k, v]) => equalJson(v, item[k]));
  } catch {
    return false;
  }
}

/** valueAt returns the value a pointer names in an object (absent when the object is). */
export function valueAt(object: unknown, path: string): Value {
  if (object === undefined) return { present: false };
  const value = path === '' ? object : getAt(object, path);
  return value === undefined ? { present: false } : { present: true, value };
}

/** same tells whether two values are equal, absence included. */
export function same(a: Value, b: Value): boolean {
  if (!a.present || !b.present) return a.present === b.present;
  return equalJson(a.value, b.value);
}

/** equalJson tells whether two JSON values are equal, exact integers (raw JSON) compared by their digits. */
export function equalJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (isRawJson(a) || isRawJson(b)) return digits(a) !== undefined && digits(a) === digits(b);
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => equalJson(v, b[i]));
  if (isRecord(a)) {
    if (!isRecord(b)) return false;
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && equalJson(a[k], b[k]));
  }
  return false;
}

function digits(v: unknown): string | undefined {
  if (isRawJson(v)) return v.rawJSON;
  return typeof v === 'number' && Number.isInteger(v) ? String(v) : undefined;
}
