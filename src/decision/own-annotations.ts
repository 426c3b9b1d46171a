/**
 * What a request does to driftgate's own annotations. Normalization hides them from the diff (they
 * are never part of a change to backport), so they are looked at here, apart: a window's
 * annotations may be written only by a requester allowed to break glass, and an annotation only
 * driftgate writes (the ticket stamp) by driftgate's own patch alone.
 */
import type { AdmissionRequest } from '../admission/types.js';
import { BACKPORT_TICKET, isBreakGlassAnnotation, isDriftgateOnlyAnnotation } from './annotations.js';
import { isObjectRequest } from './parent.js';

/** OwnAnnotationEdit lists the driftgate annotations a request adds, changes or removes. */
export interface OwnAnnotationEdit {
  /** Break-glass annotations (window and GitOps-pause marker) written, sorted. */
  breakGlass: string[];
  /** Annotations only driftgate writes, other than the ticket stamp, written by hand. */
  driftgateOnly: string[];
  /** The ticket stamp, when the request sets, changes or removes it: its new value (undefined when removed). */
  ticketStamp?: { value: string | undefined };
}

/**
 * ownAnnotationEdit returns what a CREATE or UPDATE does to driftgate's annotations of the object
 * itself; nothing for a DELETE, a CONNECT or a subresource whose request object is not the
 * guarded object (an Eviction's own annotations are never the object's).
 */
export function ownAnnotationEdit(request: AdmissionRequest): OwnAnnotationEdit {
  const edit: OwnAnnotationEdit = { breakGlass: [], driftgateOnly: [] };
  if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || !isObjectRequest(request)) return edit;
  const before = (request.operation === 'UPDATE' ? request.oldObject?.metadata?.annotations : undefined) ?? {};
  const after = request.object?.metadata?.annotations ?? {};
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const key of [...keys].sort()) {
    if (before[key] === after[key]) continue;
    if (isBreakGlassAnnotation(key)) edit.breakGlass.push(key);
    else if (key === BACKPORT_TICKET) edit.ticketStamp = { value: after[key] };
    else if (isDriftgateOnlyAnnotation(key)) edit.driftgateOnly.push(key);
  }
  return edit;
}
