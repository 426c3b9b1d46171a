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

/** The prefix of every break-glass window annotation (until, for, reason, incident and any other). */
export const BREAK_GLASS_PREFIX = 'driftgate.dev/break-glass-';

/** isWindowAnnotation tells whether an annotation describes a break-glass window (only break-glass users may write it). */
export function isWindowAnnotation(key: string): boolean {
  return key.startsWith(BREAK_GLASS_PREFIX);
}

/**
 * Set by `driftgate break-glass open` when it pauses a GitOps controller for one object, removed by
 * `close`. The CLI writes it as the responder, so the webhook cannot tell it from a hand-written
 * one: it is guarded like a window's annotations (only a requester allowed to break glass, only
 * with a window valid now).
 */
export const PAUSED_GITOPS = 'driftgate.dev/paused-gitops';

/** isBreakGlassAnnotation tells whether only a requester allowed to break glass may add, change or remove the annotation. */
export function isBreakGlassAnnotation(key: string): boolean {
  return isWindowAnnotation(key) || key === PAUSED_GITOPS;
}

/**
 * isDriftgateOnlyAnnotation tells whether an annotation is written by driftgate's own patch alone
 * (`backport-ticket`, and any other `driftgate.dev/` key driftgate does not hand to responders):
 * nobody may set, change or remove it by hand.
 */
export function isDriftgateOnlyAnnotation(key: string): boolean {
  return isDriftgateAnnotation(key) && !isBreakGlassAnnotation(key);
}
