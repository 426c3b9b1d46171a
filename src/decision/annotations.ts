/** The annotations driftgate reads and writes. The names are a public contract: keep them. */
export const PREFIX = 'driftgate.dev/';
export const BREAK_GLASS_UNTIL = 'driftgate.dev/break-glass-until';
export const BREAK_GLASS_FOR = 'driftgate.dev/break-glass-for';
export const BREAK_GLASS_REASON = 'driftgate.dev/break-glass-reason';
export const BREAK_GLASS_INCIDENT = 'driftgate.dev/break-glass-incident';
/** Written only by driftgate's mutating webhook. */
export const BACKPORT_TICKET = 'driftgate.dev/backport-ticket';

/** isDriftgateAnnotation tells whether an annotation key belongs to driftgate (never backported). */
export function isDriftgateAnnotation(key: string): boolean {
  return key.startsWith(PREFIX);
}
