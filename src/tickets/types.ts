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

/** Resolution records who decided what about a ticket, when, and where it happened (e.g. a PR URL). */
export interface Resolution {
  decision: TicketDecision;
  by: string;
  ref: string;
  /** RFC 3339. */
  at: string;
}

/** Ticket is the folded view of every event recorded under one ticket id. */
export interface Ticket {
  id: string;
  object: ObjectRef;
  window: Window;
  state: TicketState;
  /** The earliest `at` among its changes. */
  openedAt: string;
  /** In the order they became durable, one per request uid. */
  changes: TicketChange[];
  resolution?: Resolution;
  /**
   * Resolutions undone because a change arrived after them (the window was still open). Kept so
   * the earlier decision stays visible; present only when there is one.
   */
  earlierResolutions?: Resolution[];
}

/** TicketEvent is one fact a store appends; tickets are the fold of these. */
export type TicketEvent = { type: 'change'; draft: TicketDraft } | { type: 'resolve'; id: string; resolution: Resolution };

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
   * DG_TICKET_CONFLICT naming the earlier decision when the ticket is already resolved.
   */
  resolve(id: string, resolution: Resolution): Promise<Ticket>;
  /** close resolves once pending writes have settled and resources are released. */
  close(): Promise<void>;
  /** describeStore returns where tickets live, for logs, e.g. `journal:/var/lib/driftgate/tickets.jsonl`. */
  describeStore(): string;
}
