/**
 * Normalization: the object as a person would have written it in Git, without the fields the
 * apiserver, controllers and driftgate itself keep up to date. A diff of two normalized objects
 * is the intended change and nothing else.
 */
import type { KubeObject } from '../admission/types.js';
import { isDriftgateAnnotation } from './annotations.js';

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
const RUNTIME_METADATA: readonly string[] = [
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
const RUNTIME_ANNOTATIONS: readonly string[] = ['kubectl.kubernetes.io/last-applied-configuration'];

/** isRecord tells whether `v` is a JSON object (not null, not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * cloneJson returns a deep copy of a JSON value. Keys holding undefined are left out, as
 * JSON.stringify would, so that a value built in code and one parsed from the wire compare equal.
 */
export function cloneJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(cloneJson);
  if (!isRecord(v)) return v;
  // Object.fromEntries defines own properties, so a "__proto__" key from the wire stays a plain
  // key instead of replacing the copy's prototype.
  return Object.fromEntries(
    Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => [k, cloneJson(x)]),
  );
}

/**
 * normalize returns a deep copy of `obj` without runtime fields (`status` and the metadata and
 * annotations listed above), or undefined when there is no object (the old side of a CREATE,
 * the new side of a DELETE). The input is never modified.
 */
export function normalize(obj: KubeObject | null | undefined): KubeObject | undefined {
  if (!isRecord(obj)) return undefined;
  const copy = cloneJson(obj) as KubeObject;
  // status is written through its own subresource by controllers: never part of intent.
  delete copy.status;
  const meta = copy.metadata;
  if (isRecord(meta)) {
    for (const field of RUNTIME_METADATA) delete meta[field];
    const annotations = meta.annotations;
    if (isRecord(annotations)) {
      for (const key of Object.keys(annotations)) {
        if (isDriftgateAnnotation(key) || RUNTIME_ANNOTATIONS.includes(key)) delete annotations[key];
      }
    }
    // An empty map and a missing one mean the same to the apiserver; dropping both forms keeps
    // the removals above (and a tool writing `{}`) from showing up as a change of their own.
    for (const field of ['annotations', 'labels'] as const) {
      const map = meta[field];
      if (isRecord(map) && Object.keys(map).length === 0) delete meta[field];
    }
  }
  return copy;
}
