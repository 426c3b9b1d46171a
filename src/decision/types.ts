/**
 * What `decide()` returns. A union, so that every caller handles every outcome: an allow (with
 * the reason it was allowed), a deny (with a message a responder can act on) or a bypass (allowed
 * only once its ticket is recorded). Allow and bypass carry the mutation the mutating webhook
 * applies; the validating webhook ignores it.
 */
import type { JsonPatchOp, KubeObject, Operation } from '../admission/types.js';

/** Why a write was allowed. Stable: used as a metric label and in logs. */
export type AllowCode =
  | 'unprotected-namespace'
  | 'unguarded-resource'
  | 'gitops-writer'
  | 'no-drift'
  | 'delegated'
  | 'kubernetes-controller'
  | 'window-opened'
  | 'warn-mode';

/** Why a write was refused. Stable: used as a metric label and in logs. */
export type DenyCode =
  | 'drift'
  | 'break-glass-forbidden'
  | 'break-glass-invalid'
  | 'driftgate-annotation'
  | 'incomplete-request'
  | 'ticket-not-recorded'
  /** No valid GuardPolicy is in force (policies taken from the cluster): fail closed. */
  | 'no-policy';

/** ObjectRef names the object a change applies to (the parent for a subresource). */
export interface ObjectRef {
  group: string;
  version: string;
  resource: string;
  kind: string;
  namespace: string;
  name: string;
  subResource?: string;
}

/** Window is a validated break-glass window. */
export interface Window {
  until: string;
  reason: string;
  incident: string;
}

/**
 * TicketChange is one write let through under a window: everything security needs and the exact
 * change (Secret values already redacted by the diff).
 */
export interface TicketChange {
  requestUid: string;
  at: string;
  username: string;
  groups: string[];
  operation: Operation;
  subResource?: string;
  /** Normalized RFC 6902 patch from old to new: what to carry into Git. */
  patch: JsonPatchOp[];
  /** Its inverse: what reverts the live object to what it was. */
  revert: JsonPatchOp[];
  /** For an action subresource (exec, eviction…): its options object, redacted like any diff. */
  action?: unknown;
}

/** TicketDraft is what the bypass asks the ticket store to record. */
export interface TicketDraft {
  id: string;
  object: ObjectRef;
  window: Window;
  change: TicketChange;
}

interface Common {
  /** Warnings shown by kubectl, never a reason to refuse. */
  warnings: string[];
  /** The changed paths (JSON Pointers) after normalization; empty when not computed. */
  changedPaths: string[];
}

export interface Allow extends Common {
  kind: 'allow';
  code: AllowCode;
  /** RFC 6902 mutation for the mutating webhook (empty when nothing to patch). */
  mutation: JsonPatchOp[];
}

export interface Deny extends Common {
  kind: 'deny';
  code: DenyCode;
  /** The whole denial text, starting with its source tag, e.g. "[driftgate/drift] …". */
  message: string;
}

export interface Bypass extends Common {
  kind: 'bypass';
  ticket: TicketDraft;
  mutation: JsonPatchOp[];
}

export type Decision = Allow | Deny | Bypass;

/**
 * NeedsObject is what `decideOrAsk()` returns when the request is refused so far and an object it
 * does not carry could change that: the parent of a subresource (a /scale, an eviction…) may hold
 * the window that lets it through; the Namespace tells whether the namespace controller is
 * finishing its deletion. The caller looks `ref` up and calls `finish` with it (undefined when it
 * does not exist or could not be read: then the refusal stands, fail closed).
 */
export interface NeedsObject {
  kind: 'needs-object';
  what: 'parent' | 'namespace';
  ref: ObjectRef;
  /** The answer without the object. */
  refusal: Deny;
  finish(found: KubeObject | undefined): Decision;
}
