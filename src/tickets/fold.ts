/**
 * Tickets as a fold over events. Stores keep facts (a change happened, a decision was taken) and
 * derive tickets from them, so that a retried or concurrent write can never leave a ticket
 * half-updated. The journal appends events and folds them here; the Kubernetes store keeps one
 * object per fact and folds them with the same shape checks and the same reopening rule
 * (kubernetes-objects.ts, `foldTicket`), so a journal and a cluster tell the same story.
 */
import { OPERATIONS } from '../admission/types.js';
import { cloneJson } from '../decision/normalize.js';
import type { TicketChange, TicketDraft } from '../decision/types.js';
import {
  CLOSERS,
  TICKET_DECISIONS,
  EVIDENCE_KINDS,
  type BackportCommit,
  type SettlementProgress,
  type TicketDecision,
  type Resolution,
  type Ticket,
  type TicketEvent,
  type TicketFilter,
  type TicketState,
} from './types.js';
import { isRecord } from '../util/json.js';

const STATE_AFTER: Readonly<Record<TicketDecision, TicketState>> = {
  backport: 'backported',
  revert: 'reverted',
  accept: 'accepted',
};

/** stateAfter returns the state a ticket takes on `decision`. */
export function stateAfter(decision: TicketDecision): TicketState {
  return STATE_AFTER[decision];
}

/**
 * foldEvents returns the tickets the events describe, oldest first (by `openedAt`, then id).
 * Changes are kept once per request uid, the first occurrence winning, because the apiserver
 * retries calls. The first resolution of an open ticket wins; a later one is a lost race and is
 * ignored, unless it is a person's override. A change after a resolution reopens the ticket, since
 * that decision did not cover it. A resolution for an unknown ticket is ignored.
 */
export function foldEvents(events: Iterable<TicketEvent>): Ticket[] {
  const tickets = new Map<string, Ticket>();
  for (const event of events) {
    if (event.type === 'change') applyChange(tickets, event.draft);
    else if (event.type === 'resolve') applyResolution(tickets, event.id, event.resolution);
    else if (event.type === 'settle') applySettlement(tickets, event.id, event.settlement);
    else applyBackport(tickets, event.id, event.backport);
  }
  return [...tickets.values()].sort(oldestFirst);
}

/**
 * copyOf returns a deep copy of a JSON value. Not structuredClone: a patch value may be an exact
 * integer beyond 2^53 kept as raw JSON (issue 11), which structuredClone refuses to copy; cloneJson
 * keeps it (it is frozen, so sharing it is safe).
 */
export function copyOf<T>(value: T): T {
  return cloneJson(value) as T;
}

function applyChange(tickets: Map<string, Ticket>, draft: TicketDraft): void {
  const ticket = tickets.get(draft.id);
  tickets.set(draft.id, ticket === undefined ? openTicket(draft) : withChange(ticket, copyOf(draft.change)));
}

/** openTicket returns the open ticket a first change starts, sharing nothing with `draft`. */
export function openTicket(draft: TicketDraft): Ticket {
  const change: TicketChange = copyOf(draft.change);
  return {
    id: draft.id,
    object: copyOf(draft.object),
    window: copyOf(draft.window),
    state: 'open',
    openedAt: change.at,
    changes: [change],
  };
}

/**
 * withChange returns the ticket once `change` is on it: the very same ticket when a change with
 * its request uid is already there (the apiserver retries calls; the first occurrence wins), else
 * a new ticket with the change last, opened at the earliest instant, and reopened if it was
 * resolved (that decision did not cover this change), the resolution kept in `earlierResolutions`.
 * Both stores apply changes through it, so a journal and a cluster tell the same story.
 */
export function withChange(ticket: Ticket, change: TicketChange): Ticket {
  if (ticket.changes.some((c) => c.requestUid === change.requestUid)) return ticket;
  const next: Ticket = { ...ticket, changes: [...ticket.changes, change] };
  if (earlier(change.at, ticket.openedAt)) next.openedAt = change.at;
  // What settlement found was about the earlier changes only.
  delete next.settlement;
  if (ticket.resolution !== undefined) {
    next.earlierResolutions = [...(ticket.earlierResolutions ?? []), ticket.resolution];
    delete next.resolution;
    next.state = 'open';
  }
  return next;
}

function applyResolution(tickets: Map<string, Ticket>, id: string, resolution: Resolution): void {
  const ticket = tickets.get(id);
  if (ticket === undefined || !mayResolve(ticket, resolution)) return;
  tickets.set(id, withResolution(ticket, resolution));
}

/**
 * mayResolve tells whether `resolution` may be recorded on `ticket`: an open ticket takes any
 * resolution; a closed one only a person's override (settlement never overrides anybody).
 */
export function mayResolve(ticket: Ticket, resolution: Resolution): boolean {
  return ticket.resolution === undefined || (resolution.override === true && resolution.closedBy !== 'settlement');
}

/**
 * withResolution returns the ticket closed by `resolution` (check `mayResolve` first): an earlier
 * resolution it overrides is kept in `earlierResolutions`, and settlement's progress goes, since
 * the ticket is no longer open. Both stores resolve through it.
 */
export function withResolution(ticket: Ticket, resolution: Resolution): Ticket {
  const next: Ticket = { ...ticket, resolution: copyOf(resolution), state: stateAfter(resolution.decision) };
  if (ticket.resolution !== undefined) next.earlierResolutions = [...(ticket.earlierResolutions ?? []), ticket.resolution];
  delete next.settlement;
  return next;
}

function applySettlement(tickets: Map<string, Ticket>, id: string, settlement: SettlementProgress): void {
  const ticket = tickets.get(id);
  if (ticket !== undefined) tickets.set(id, withSettlement(ticket, settlement));
}

/**
 * withSettlement returns the ticket carrying settlement's latest finding, or the very same ticket
 * when the finding no longer applies: the ticket is closed, or a change arrived after the finding
 * (it judged the earlier changes only). Both stores apply findings through it.
 */
export function withSettlement(ticket: Ticket, settlement: SettlementProgress): Ticket {
  if (ticket.state !== 'open') return ticket;
  if (ticket.changes.some((c) => earlier(settlement.at, c.at))) return ticket;
  return { ...ticket, settlement: copyOf(settlement) };
}

function applyBackport(tickets: Map<string, Ticket>, id: string, backport: BackportCommit): void {
  const ticket = tickets.get(id);
  if (ticket !== undefined) tickets.set(id, withBackport(ticket, backport));
}

/**
 * withBackport returns the ticket with `backport` among its commits: the very same ticket when
 * that commit is already there, else a new one with it last. Its state does not change: a commit
 * on a branch is not yet Git's truth. Both stores apply backports through it.
 */
export function withBackport(ticket: Ticket, backport: BackportCommit): Ticket {
  if ((ticket.backports ?? []).some((b) => b.commit === backport.commit)) return ticket;
  return { ...ticket, backports: [...(ticket.backports ?? []), copyOf(backport)] };
}

// Replicas' clocks and retries mean durable order need not be time order; compare instants.
function earlier(a: string, b: string): boolean {
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  return Number.isFinite(ta) && Number.isFinite(tb) ? ta < tb : a < b;
}

/** oldestFirst orders tickets by `openedAt` (as instants), then by id: the order `list()` promises. */
export function oldestFirst(a: Ticket, b: Ticket): number {
  if (a.openedAt !== b.openedAt) return earlier(a.openedAt, b.openedAt) ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** filterTickets returns the tickets matching every field of `filter`, in their order. */
export function filterTickets(tickets: readonly Ticket[], filter: TicketFilter = {}): Ticket[] {
  const since = filter.since?.getTime();
  return tickets.filter(
    (t) =>
      (filter.state === undefined || t.state === filter.state) &&
      (filter.namespace === undefined || t.object.namespace === filter.namespace) &&
      (filter.incident === undefined || t.window.incident === filter.incident) &&
      (since === undefined || t.changes.some((c) => Date.parse(c.at) >= since)),
  );
}

/** CheckedEvent is an event that passed the shape check, or what was wrong with it. */
export type CheckedEvent = { ok: true; event: TicketEvent } | { ok: false; problem: string };

/**
 * checkEvent returns the value as a TicketEvent when it has the shape one (every field a fold or
 * a renderer reads), or the first problem found, naming the field.
 */
export function checkEvent(value: unknown): CheckedEvent {
  if (!isRecord(value)) return fail('the event is not an object');
  if (value['type'] === 'change') {
    const problem = draftProblem(value['draft']);
    return problem === undefined ? { ok: true, event: value as TicketEvent } : fail(problem);
  }
  if (value['type'] === 'resolve') {
    const problem = nonEmpty(value, 'id', '') ?? resolutionProblem(value['resolution']);
    return problem === undefined ? { ok: true, event: value as TicketEvent } : fail(problem);
  }
  if (value['type'] === 'settle') {
    const problem = nonEmpty(value, 'id', '') ?? settlementProblem(value['settlement'], 'settlement.');
    return problem === undefined ? { ok: true, event: value as TicketEvent } : fail(problem);
  }
  if (value['type'] === 'backport') {
    const problem = nonEmpty(value, 'id', '') ?? backportProblem(value['backport'], 'backport.');
    return problem === undefined ? { ok: true, event: value as TicketEvent } : fail(problem);
  }
  return fail(`type is ${JSON.stringify(value['type'])}, not "change", "resolve", "settle" or "backport"`);
}

function fail(problem: string): CheckedEvent {
  return { ok: false, problem };
}

function draftProblem(draft: unknown): string | undefined {
  if (!isRecord(draft)) return 'draft is not an object';
  const { object, window, change } = draft;
  if (!isRecord(object)) return 'draft.object is not an object';
  if (!isRecord(window)) return 'draft.window is not an object';
  if (!isRecord(change)) return 'draft.change is not an object';
  return (
    nonEmpty(draft, 'id', 'draft.') ??
    strings(object, ['group', 'version', 'resource', 'kind', 'namespace', 'name'], 'draft.object.') ??
    optionalString(object, 'subResource', 'draft.object.') ??
    strings(window, ['until', 'reason', 'incident'], 'draft.window.') ??
    nonEmpty(change, 'requestUid', 'draft.change.') ??
    strings(change, ['at', 'username'], 'draft.change.') ??
    optionalString(change, 'subResource', 'draft.change.') ??
    changeProblem(change)
  );
}

function changeProblem(change: Record<string, unknown>): string | undefined {
  const { groups, operation, patch, revert } = change;
  if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) return 'draft.change.groups is not a list of strings';
  if (!OPERATIONS.includes(operation as never)) return `draft.change.operation ${JSON.stringify(operation)} is not an admission operation`;
  return opsProblem(patch, 'draft.change.patch') ?? opsProblem(revert, 'draft.change.revert');
}

function opsProblem(ops: unknown, field: string): string | undefined {
  if (!Array.isArray(ops)) return `${field} is not a list`;
  const bad = ops.findIndex((op) => !isRecord(op) || typeof op['op'] !== 'string' || typeof op['path'] !== 'string');
  return bad === -1 ? undefined : `${field}[${bad}] is not a JSON Patch operation`;
}

function resolutionProblem(resolution: unknown): string | undefined {
  if (!isRecord(resolution)) return 'resolution is not an object';
  if (!TICKET_DECISIONS.includes(resolution['decision'] as never)) {
    return `resolution.decision ${JSON.stringify(resolution['decision'])} is not one of ${TICKET_DECISIONS.join(', ')}`;
  }
  const closedBy = resolution['closedBy'];
  if (closedBy !== undefined && !CLOSERS.includes(closedBy as never))
    return `resolution.closedBy ${JSON.stringify(closedBy)} is not one of ${CLOSERS.join(', ')}`;
  const override = resolution['override'];
  if (override !== undefined && typeof override !== 'boolean') return 'resolution.override is not true or false';
  if (override === true && closedBy === 'settlement') return 'resolution.override is true but closedBy is settlement: only a person overrides';
  return strings(resolution, ['by', 'ref', 'at'], 'resolution.') ?? evidenceProblem(resolution['evidence'], 'resolution.evidence');
}

/** settlementProblem returns what is wrong with a recorded settlement finding, naming the field under `prefix`, or undefined. */
export function settlementProblem(settlement: unknown, prefix: string): string | undefined {
  if (!isRecord(settlement)) return `${prefix.replace(/\.$/, '')} is not an object`;
  for (const key of ['carried', 'undone', 'remaining']) {
    const list = settlement[key];
    if (!Array.isArray(list) || !list.every((p) => typeof p === 'string')) return `${prefix}${key} is not a list of strings`;
  }
  if (!Array.isArray(settlement['evidence'])) return `${prefix}evidence is not a list`;
  return strings(settlement, ['at'], prefix) ?? evidenceProblem(settlement['evidence'], `${prefix}evidence`);
}

// Only the kind is required of each item: settlement may add fields to a kind later, and the
// renderers show what they recognise and name the kind for the rest.
function evidenceProblem(evidence: unknown, field: string): string | undefined {
  if (evidence === undefined) return undefined;
  if (!Array.isArray(evidence)) return `${field} is not a list`;
  const bad = evidence.findIndex((e) => !isRecord(e) || !EVIDENCE_KINDS.includes(e['kind'] as never));
  return bad === -1 ? undefined : `${field}[${bad}].kind is not one of ${EVIDENCE_KINDS.join(', ')}`;
}

/** backportProblem returns what is wrong with a recorded backport commit, naming the field under `prefix`, or undefined. */
export function backportProblem(backport: unknown, prefix: string): string | undefined {
  if (!isRecord(backport)) return `${prefix.replace(/\.$/, '')} is not an object`;
  const files = backport['files'];
  if (!Array.isArray(files) || !files.every((f) => typeof f === 'string')) return `${prefix}files is not a list of strings`;
  if (!Number.isInteger(backport['changes'])) return `${prefix}changes is not a whole number`;
  return nonEmpty(backport, 'commit', prefix) ?? strings(backport, ['branch', 'by', 'at'], prefix) ?? optionalString(backport, 'repo', prefix);
}

function strings(value: Record<string, unknown>, keys: readonly string[], prefix: string): string | undefined {
  const bad = keys.find((k) => typeof value[k] !== 'string');
  return bad === undefined ? undefined : `${prefix}${bad} is not a string`;
}

function nonEmpty(value: Record<string, unknown>, key: string, prefix: string): string | undefined {
  const v = value[key];
  return typeof v === 'string' && v !== '' ? undefined : `${prefix}${key} is not a non-empty string`;
}

function optionalString(value: Record<string, unknown>, key: string, prefix: string): string | undefined {
  return value[key] === undefined || typeof value[key] === 'string' ? undefined : `${prefix}${key} is not a string`;
}
