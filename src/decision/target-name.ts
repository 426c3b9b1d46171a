import type { AdmissionRequest } from '../admission/types.js';

/**
 * requestName returns the name of the object a request writes, or '' while it has none (a
 * generateName CREATE). The request's own `name` is empty on some DELETEs (the namespace
 * controller's deletecollection sends one review per object, unnamed), so the objects are read too.
 */
export function requestName(request: AdmissionRequest): string {
  return request.name || request.object?.metadata?.name || request.oldObject?.metadata?.name || '';
}
