/**
 * Normalization: the object as a person would have written it in Git, without the fields the
 * apiserver, controllers and driftgate itself keep up to date. A diff of two normalized objects
 * is the intended change and nothing else.
 */
import type { KubeObject } from '../admission/types.js';
import { isDriftgateAnnotation } from './annotations.js';
import { isRecord } from '../util/json.js';

/**
 * Dropped from `metadata`, each because it is runtime state, not intent:
 * - resourceVersion: the etcd revision, changes on every write.
 * - generation: bumped by the apiserver whenever spec changes.
 * - uid: assigned on create, cannot be carried into Git.
 * - creationTimestamp: set by the apiserver.
 * - managedFields: server-side-apply bookkeeping of who last wrote which field.
 * - selfLink: derived from the object's location (and deprecated).
 * - deletionTimestamp, deletionGracePeriodSeconds: the apiserver's graceful-deletion state.
 * Kept on purpose: ownerReferences, finalizers, labels and the other annotations, which are intent.
 */
export const RUNTIME_METADATA: readonly string[] = [
  'resourceVersion',
  'generation',
  'uid',
  'creationTimestamp',
  'managedFields',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
];

/**
 * Dropped from `metadata.annotations` (besides every `driftgate.dev/` key, which is driftgate's
 * own bookkeeping and never part of a change to backport):
 * - kubectl.kubernetes.io/last-applied-configuration: a copy of the config `kubectl apply`
 *   sent, not intent of its own; it would report every applied change twice, and for a Secret
 *   it holds the values in clear.
 */
export const RUNTIME_ANNOTATIONS: readonly string[] = ['kubectl.kubernetes.io/last-applied-configuration'];

// Re-exported for diff.ts and redact.ts; its one home is src/util/json.ts.
export { isRecord };

/**
 * cloneJson returns a deep copy of a JSON value. Keys holding undefined are left out, as
 * JSON.stringify would, so that a value built in code and one parsed from the wire compare equal.
 */
export function cloneJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(cloneJson);
  if (!isRecord(v)) return v;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) {
    const value = v[key];
    if (value !== undefined) setOwn(out, key, cloneJson(value));
  }
  return out;
}

/**
 * setOwn sets an own, enumerable property. A plain assignment of a "__proto__" key (which
 * JSON.parse can produce from the wire) would replace the object's prototype instead.
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * normalize returns `obj` without runtime fields (`status` and the metadata and annotations
 * listed above), or undefined when there is no object (the old side of a CREATE, the new side of
 * a DELETE). The input is never modified: the top level, `metadata`, its labels and annotations are copied,
 * and everything below is shared with the input (read-only from here on). Copying only what
 * changes matters: managedFields and status are about half of a real object, and a deep copy
 * of both sides was most of the cost of a decision.
 */
export function normalize(obj: KubeObject | null | undefined): KubeObject | undefined {
  if (!isRecord(obj)) return undefined;
  const copy: KubeObject = {};
  for (const key of Object.keys(obj)) {
    // status is written through its own subresource by controllers: never part of intent.
    if (key === 'status' || obj[key] === undefined) continue;
    setOwn(copy, key, key === 'metadata' && isRecord(obj[key]) ? normalMetadata(obj[key]) : obj[key]);
  }
  return copy;
}

function normalMetadata(meta: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(meta)) {
    const value = meta[key];
    if (value === undefined || RUNTIME_METADATA.includes(key)) continue;
    if (key === 'annotations' && isRecord(value)) {
      const kept: Record<string, unknown> = {};
      for (const name of Object.keys(value)) {
        if (value[name] !== undefined && !isDriftgateAnnotation(name) && !RUNTIME_ANNOTATIONS.includes(name)) setOwn(kept, name, value[name]);
      }
      // An empty map and a missing one mean the same to the apiserver; dropping both forms keeps
      // the removals above (and a tool writing `{}`) from showing up as a change of their own.
      if (Object.keys(kept).length > 0) out[key] = kept;
    } else if (key === 'labels' && isRecord(value)) {
      if (Object.keys(value).length > 0) out[key] = { ...value };
    } else {
      setOwn(out, key, value);
    }
  }
  return out;
}
