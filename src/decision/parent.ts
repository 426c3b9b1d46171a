import type { AdmissionRequest } from '../admission/types.js';
import type { ObjectRef } from './types.js';

/**
 * Subresources whose request object is the guarded object itself (a Deployment for
 * `deployments/status`, a Pod for `pods/ephemeralcontainers`): they are judged like a write to the
 * object, and a window is read from the object as sent. Every other subresource (a Scale, an
 * Eviction, a Binding, PodExecOptions, a TokenRequest…) carries an object of its own, whose
 * metadata says nothing about the guarded object: its window is read on the parent alone, which
 * the caller looks up and passes to `decide()`.
 */
const OBJECT_SUBRESOURCES = new Set(['status', 'ephemeralcontainers', 'resize', 'finalize', 'approval']);

/** isObjectRequest tells whether the request's object is the guarded object (no subresource, or one in OBJECT_SUBRESOURCES). */
export function isObjectRequest(request: AdmissionRequest): boolean {
  const sub = request.subResource;
  return sub === undefined || sub === '' || OBJECT_SUBRESOURCES.has(sub);
}

/**
 * parentOf returns the object to look up before deciding, or undefined when the request carries
 * everything `decide()` needs.
 */
export function parentOf(request: AdmissionRequest): ObjectRef | undefined {
  if (isObjectRequest(request)) return undefined;
  if (request.name === undefined || request.name === '' || request.namespace === undefined) return undefined;
  return {
    group: request.resource.group,
    version: request.resource.version,
    resource: request.resource.resource,
    kind: '',
    namespace: request.namespace,
    name: request.name,
  };
}

/** isActionSubresource tells whether a subresource is an action (exec, eviction…) rather than fields. */
export function isActionSubresource(request: AdmissionRequest): boolean {
  if (request.operation === 'CONNECT') return true;
  if (isObjectRequest(request) || request.subResource === 'scale') return false;
  return true;
}
