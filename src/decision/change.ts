/**
 * What a request changes, as the normalized diff of the object it writes. Subresources map onto
 * their parent's fields (a `/scale` is the parent's `/spec/replicas`, so a delegation of that
 * path applies to it) or, for actions such as exec and eviction, onto the whole object.
 */
import type { AdmissionRequest, JsonPatchOp, KubeObject } from '../admission/types.js';
import { normalizedDiff, type Change } from './diff.js';
import { isActionSubresource } from './parent.js';
import { normalize } from './normalize.js';
import { redactSecret } from './redact.js';

/** RequestChange is the change plus, for an action subresource, the action's own request object. */
export interface RequestChange extends Change {
  /** For exec, eviction and the like: the normalized (and redacted) options object. */
  action?: KubeObject;
}

/** changeOf returns what the request changes, empty when only runtime or driftgate fields moved. */
export function changeOf(request: AdmissionRequest): RequestChange {
  if (isActionSubresource(request)) {
    // An action has no field diff: it acts on the whole object, which no delegation can own.
    const action = request.object ? normalize(redactSecret(request.object)) : undefined;
    return { patch: [], revert: [], paths: [''], ...(action === undefined ? {} : { action }) };
  }
  if (request.subResource === 'scale') return scaleChange(request.oldObject, request.object);
  switch (request.operation) {
    case 'CREATE':
      return normalizedDiff(null, request.object ?? null);
    case 'DELETE':
      return normalizedDiff(request.oldObject ?? null, null);
    default:
      return normalizedDiff(request.oldObject ?? null, request.object ?? null);
  }
}

function replicasOf(scale: KubeObject | null | undefined): unknown {
  const spec = scale?.['spec'];
  return typeof spec === 'object' && spec !== null ? (spec as Record<string, unknown>)['replicas'] : undefined;
}

function scaleChange(oldScale: KubeObject | null | undefined, newScale: KubeObject | null | undefined): RequestChange {
  const before = replicasOf(oldScale);
  const after = replicasOf(newScale);
  if (before === after) return { patch: [], revert: [], paths: [] };
  const patch: JsonPatchOp[] =
    after === undefined ? [{ op: 'remove', path: '/spec/replicas' }] : [{ op: before === undefined ? 'add' : 'replace', path: '/spec/replicas', value: after }];
  const revert: JsonPatchOp[] =
    before === undefined
      ? [{ op: 'remove', path: '/spec/replicas' }]
      : [{ op: after === undefined ? 'add' : 'replace', path: '/spec/replicas', value: before }];
  return { patch, revert, paths: ['/spec/replicas'] };
}
