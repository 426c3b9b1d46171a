/**
 * Backport tickets: one per break-glass window on one object, holding every change let through
 * under that window until someone decides what becomes of it. The store is the durable half of
 * the bypass path: a bypass is answered only after `record()` has resolved.
 */
import type { ObjectRef, TicketChange, TicketDraft, Window } from '../decision/types.js';

/** TicketState is where a ticket stands; only `open` may still change. */
export type TicketState = 'open' | 'backported' | 'reverted' | 'accepted';

/** TICKET_STATES lists every state, for flag and shape checks. */
export const TICKET_STATES: readonly TicketState[] = ['open', 'backported', 'reverted', 'accepted'];

/** TicketDecision is what a person decided about the drift a ticket records. */
export type TicketDecision = 'backport' | 'revert' | 'accept';

/** TICKET_DECISIONS lists every decision, for flag and shape checks. */
export const TICKET_DECISIONS: readonly TicketDecision[] = ['backport', 'revert', 'accept'];

/**
 * Closer says who closed a ticket: a person, through `tickets resolve`, or driftgate's
 * settlement, from what GitOps did (a write of the same value, an Application or Kustomization
 * in sync at a later revision). Absent on resolutions recorded before it existed: those were all
 * a person's.
 */
export type Closer = 'person' | 'settlement';

/** CLOSERS lists every closer, for shape checks. */
export const CLOSERS: readonly Closer[] = ['person', 'settlement'];

/**
 * Evidence is one fact that shows a closure holds. `commit` is what `tickets backport` made; the
 * other two are what settlement observes: a GitOps controller's own write of the object (its
 * identity, time and request uid), or the owning Argo CD Application / Flux Kustomization
 * reporting the object in sync at a revision after the window.
 */
export type Evidence =
  | { kind: 'commit'; commit: string; branch: string; repo?: string }
  | ({ kind: 'gitops-write'; username: string; at: string; requestUid: string } & Settled)
  | ({ kind: 'sync-status'; tool: 'argocd' | 'flux'; namespace: string; name: string; revision: string; at: string } & Settled);

/**
 * Settled says, for evidence settlement gathered, which of the ticket's paths it showed carried
 * into Git (live and Git hold the responder's value) and which undone (live holds the value from
 * before the window). Absent on evidence recorded before settlement said so.
 */
export interface Settled {
  carried?: string[];
  undone?: string[];
}

/** EVIDENCE_KINDS lists every kind of evidence, for shape checks. */
export const EVIDENCE_KINDS: readonly Evidence['kind'][] = ['commit', 'gitops-write', 'sync-status'];

/** Resolution records who decided what about a ticket, when, and where it happened (e.g. a PR URL). */
export interface Resolution {
  decision: TicketDecision;
  /** The person, or for settlement the controller, that closed it. */
  by: string;
  /** The reference a reviewer follows: a pull request URL, a commit, an incident note. */
  ref: string;
  /** RFC 3339. */
  at: string;
  /** Who closed it; absent means a person (every resolution before settlement existed). */
  closedBy?: Closer;
  /** What shows the closure holds; settlement always gives some, a person may. */
  evidence?: Evidence[];
  /**
   * True when a person recorded this over an earlier closure (`tickets resolve --override`): the
   * earlier one is kept in `earlierResolutions`. Only a person overrides; settlement never does.
   */
  override?: boolean;
}

/**
 * SettlementProgress is what settlement last found about an open ticket whose changes GitOps has
 * only partly settled: the paths carried into Git, the paths undone, and the paths that remain,
 * with the evidence it read. A later change on the ticket makes it stale, so the fold drops it.
 */
export interface SettlementProgress {
  /** RFC 3339: when settlement made the finding. */
  at: string;
  carried: string[];
  undone: string[];
  /** The JSON Pointers GitOps has neither carried nor undone yet. */
  remaining: string[];
  evidence: Evidence[];
}

/**
 * BackportCommit is a commit `tickets backport` made in a Git checkout, carrying the ticket's
 * changes into the manifests. It does not close the ticket: the commit sits on a branch until it
 * is merged and synced, which a person (or settlement) then records as the resolution.
 */
export interface BackportCommit {
  commit: string;
  branch: string;
  /** The files it changed, relative to the repository root. */
  files: string[];
  /** How many of the ticket's changes it carried: a later change under the window needs another. */
  changes: number;
  by: string;
  /** RFC 3339. */
  at: string;
  /** The checkout's `origin` URL, when it has one. */
  repo?: string;
}

/** Ticket is the folded view of every event recorded under one ticket id. */
export interface Ticket {
  id: string;
  object: ObjectRef;
  window: Window;
  state: TicketState;
  /** The earliest `at` among its changes. */
  openedAt: string;
  /** One per request uid: in the order they became durable (journal), or by time (Kubernetes store, whose objects carry no order). */
  changes: TicketChange[];
  resolution?: Resolution;
  /**
   * Resolutions undone because a change arrived after them (the window was still open). Kept so
   * the earlier decision stays visible; present only when there is one.
   */
  earlierResolutions?: Resolution[];
  /** Commits `tickets backport` made for it, oldest first; present only when there is one. */
  backports?: BackportCommit[];
  /** What settlement last found while the ticket is open and only partly settled; present only then. */
  settlement?: SettlementProgress;
}

/** TicketEvent is one fact a store appends; tickets are the fold of these. */
export type TicketEvent =
  | { type: 'change'; draft: TicketDraft }
  | { type: 'resolve'; id: string; resolution: Resolution }
  | { type: 'backport'; id: string; backport: BackportCommit }
  | { type: 'settle'; id: string; settlement: SettlementProgress };

/** TicketFilter narrows `list()`; every given field must match. */
export interface TicketFilter {
  state?: TicketState;
  namespace?: string;
  /** The window's incident, exactly. */
  incident?: string;
  /** Only tickets with a change at or after this instant. */
  since?: Date;
}

/** TicketStore keeps tickets durably; the journal and the Kubernetes store implement it. */
export interface TicketStore {
  /**
   * record resolves once the change is durable; it is idempotent per `change.requestUid` (the
   * apiserver may retry a call). Rejects with DG_TICKET_TIMEOUT when `signal` aborts first, or a
   * store error (DG_JOURNAL_IO, DG_TICKET_STORE, …); either way the bypass must be refused.
   */
  record(draft: TicketDraft, opts?: { signal?: AbortSignal }): Promise<void>;
  /** list returns the tickets matching `filter`, oldest first. */
  list(filter?: TicketFilter): Promise<Ticket[]>;
  /** get returns one ticket, or throws DG_TICKET_NOT_FOUND naming the id. */
  get(id: string): Promise<Ticket>;
  /**
   * resolve records a decision once it is durable and returns the resolved ticket; throws
   * DG_TICKET_CONFLICT naming the earlier decision when the ticket is already resolved, unless the
   * resolution is a person's `override` (then the earlier one moves to `earlierResolutions`).
   */
  resolve(id: string, resolution: Resolution): Promise<Ticket>;
  /**
   * recordBackport adds a commit `tickets backport` made to the ticket, once durable, and returns
   * the ticket; the same commit twice is kept once. Throws DG_TICKET_NOT_FOUND naming the id.
   */
  recordBackport(id: string, backport: BackportCommit): Promise<Ticket>;
  /**
   * recordSettlement keeps what settlement found about an open, partly settled ticket (the paths
   * that remain), once durable, and returns the ticket. Ignored on a ticket that is no longer open
   * or that changed after `settlement.at`. Throws DG_TICKET_NOT_FOUND naming the id.
   */
  recordSettlement(id: string, settlement: SettlementProgress): Promise<Ticket>;
  /** close resolves once pending writes have settled and resources are released. */
  close(): Promise<void>;
  /** describeStore returns where tickets live, for logs, e.g. `journal:/var/lib/driftgate/tickets.jsonl`. */
  describeStore(): string;
}
