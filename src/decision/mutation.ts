/**
 * The mutating webhook's patch, decided here so that it stays pure and table-tested: a relative
 * `break-glass-for` becomes an absolute `break-glass-until` (a window must end at a fixed time, or
 * every write would slide it), and a bypass is stamped with its ticket id. Idempotent: run again
 * on the patched object, it returns no operations (the apiserver may reinvoke mutating webhooks).
 */
import type { AdmissionRequest, JsonPatchOp } from '../admission/types.js';
import { escapeToken } from './pointer.js';
import { BACKPORT_TICKET, BREAK_GLASS_FOR, BREAK_GLASS_UNTIL } from './annotations.js';
import { effectiveUntil, formatTime } from './breakglass.js';
import { parseDuration } from '../policy/duration.js';

/**
 * MutationOptions: `convertFor` only when decide() found the requester allowed to break glass and
 * the window they wrote valid now (the mutating webhook never turns a `-for` into an `-until` for
 * anyone else); `ticketId` only for a bypass.
 */
export interface MutationOptions {
  convertFor: boolean;
  ticketId?: string;
}

/** mutationOf returns the RFC 6902 operations to apply to the request's object (often none). */
export function mutationOf(request: AdmissionRequest, now: Date, opts: MutationOptions): JsonPatchOp[] {
  const { ticketId } = opts;
  // Only the object being written can be patched: not a DELETE, not a Scale or an Eviction.
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return [];
  if (request.subResource !== undefined && request.subResource !== '') return [];
  const metadata = request.object?.metadata;
  if (metadata === undefined) return [];

  const current = metadata.annotations ?? {};
  const wanted: Record<string, string> = { ...current };
  const forText = current[BREAK_GLASS_FOR];
  const forMs = forText === undefined ? undefined : parseDuration(forText.trim());
  if (opts.convertFor && forMs !== undefined && forMs > 0) {
    const until = effectiveUntil(current, now);
    if (until !== undefined) {
      wanted[BREAK_GLASS_UNTIL] = formatTime(until);
      delete wanted[BREAK_GLASS_FOR];
    }
  }
  if (ticketId !== undefined) wanted[BACKPORT_TICKET] = ticketId;

  const ops: JsonPatchOp[] = [];
  if (metadata.annotations === undefined) {
    if (Object.keys(wanted).length > 0) ops.push({ op: 'add', path: '/metadata/annotations', value: wanted });
    return ops;
  }
  for (const key of Object.keys(current).sort()) {
    if (!(key in wanted)) ops.push({ op: 'remove', path: `/metadata/annotations/${escapeToken(key)}` });
  }
  for (const key of Object.keys(wanted).sort()) {
    const value = wanted[key];
    if (value === undefined || current[key] === value) continue;
    ops.push({ op: key in current ? 'replace' : 'add', path: `/metadata/annotations/${escapeToken(key)}`, value });
  }
  return ops;
}
