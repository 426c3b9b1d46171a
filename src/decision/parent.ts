import type { AdmissionRequest } from '../admission/types.js';
import type { ObjectRef } from './types.js';

/**
 * Subresources whose request object is not the guarded object itself (a Scale, an Eviction,
 * PodExecOptions…): they carry no annotations, so a break-glass window can only be read on the
 * parent object, which the caller looks up and passes to `decide()`.
 */
const PARENT_SUBRESOURCES = new Set(['scale', 'eviction', 'binding', 'exec', 'attach', 'portforward', 'proxy']);

/**
 * parentOf returns the object to look up before deciding, or undefined when the request carries
 * everything `decide()` needs.
 */
export function parentOf(request: AdmissionRequest): ObjectRef | undefined {
  const sub = request.subResource;
  if (sub === undefined || sub === '' || !PARENT_SUBRESOURCES.has(sub)) return undefined;
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
  return request.operation === 'CONNECT' || request.subResource === 'eviction' || request.subResource === 'binding';
}
