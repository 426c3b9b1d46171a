/**
 * What the Kubernetes store keeps in the API server, and how a ticket is read back from it.
 *
 * One BackportTicket object per fact, created once and never updated: a recorded change, a
 * resolution (a person's or settlement's), a person's override of an earlier resolution, what
 * settlement found on a partly settled ticket, a backport commit. Each is named deterministically
 * from the ticket id and what makes the fact unique (the request uid, the number of changes a
 * resolution decided on, the override's or the finding's content, the commit), so a retried create
 * meets its own earlier object (409 AlreadyExists: already recorded) and two replicas never write
 * the same object, so they never conflict. Every object carries the label
 * `driftgate.dev/ticket`; the ticket is the fold of the objects under it (`foldTicket`).
 *
 * Objects written by driftgate before this layout (one object per ticket, named by the ticket id,
 * every change in `spec.changes`) are still read: such an object is a bundle of facts, folded with
 * the ones recorded since. Nothing rewrites them, so no migration is needed (docs/operators.md).
 */
import { createHash } from 'node:crypto';
import type { ObjectRef, TicketChange, Window } from '../decision/types.js';
import { backportProblem, checkEvent, copyOf, mayResolve, settlementProblem, stateAfter, withResolution, withSettlement } from './fold.js';
import { TICKET_STATES, type BackportCommit, type Resolution, type SettlementProgress, type Ticket, type TicketState } from './types.js';
import { isRecord } from '../util/json.js';

/** BACKPORT_TICKETS names the custom resource tickets are stored as. */
export const BACKPORT_TICKETS = { group: 'driftgate.dev', version: 'v1alpha1', resource: 'backporttickets', kind: 'BackportTicket' } as const;

/** TICKET_LABEL carries the ticket id on every object of the ticket: `get` selects by it. */
export const TICKET_LABEL = 'driftgate.dev/ticket';
/** EVENT_LABEL says which fact an object records: change, resolve, settle or backport. */
export const EVENT_LABEL = 'driftgate.dev/event';
/** NAMESPACE_LABEL carries the guarded object's namespace, sanitized by `labelValue`. */
export const NAMESPACE_LABEL = 'driftgate.dev/namespace';
/** INCIDENT_LABEL carries the window's incident, sanitized by `labelValue`. */
export const INCIDENT_LABEL = 'driftgate.dev/incident';

/** EventKind is the fact one object records. */
export type EventKind = 'change' | 'resolve' | 'settle' | 'backport';

/** EventSpec is the spec of an object that records one fact of one ticket. */
export interface EventSpec {
  ticket: string;
  event: EventKind;
  /** The guarded object and the window, on every event so that each object reads on its own (kubectl get). */
  object: ObjectRef;
  window: Window;
  change?: TicketChange;
  resolution?: Resolution;
  /** For a resolution: how many changes the ticket had when it was decided. A later change reopens it. */
  covers?: number;
  /** What settlement found on an open, partly settled ticket (event settle); a later change makes it stale. */
  settlement?: SettlementProgress;
  backport?: BackportCommit;
}

/** LegacySpec is a whole ticket in one object, as driftgate wrote it before one object per fact: the ticket itself, its id being the object's name. */
export type LegacySpec = Omit<Ticket, 'id'>;

/** BackportTicketObject is a BackportTicket as sent to and served by the API. */
export interface BackportTicketObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; [field: string]: unknown };
  spec: EventSpec | LegacySpec;
  [field: string]: unknown;
}

/**
 * isTicketId says whether `id` can name a ticket here: a label value and a DNS label, which the
 * ids driftgate derives (src/decision/ticket-id.ts) always are.
 */
export function isTicketId(id: string): boolean {
  return id.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(id);
}

// A short digest: a request uid or a commit comes from outside, and a name must be a DNS subdomain.
function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 20);
}

/** changeName returns the object name of the change with `requestUid` on ticket `id`: the same on every retry and replica. */
export function changeName(id: string, requestUid: string): string {
  return `${id}.c-${digest(requestUid)}`;
}

/**
 * resolutionName returns the object name of the resolution of ticket `id` decided on its first
 * `covers` changes: one name per set of changes, so two decisions on them meet and the second is
 * refused. A person's override is not a race to be first: it is named after its content (`.o-`),
 * the same on a retry, and folds after the decision it overrides.
 */
export function resolutionName(id: string, covers: number, resolution?: Resolution): string {
  return resolution?.override === true ? `${id}.o-${covers}-${digest(JSON.stringify(resolution))}` : `${id}.r-${covers}`;
}

/** settlementName returns the object name of settlement's finding `settlement` on ticket `id`: the same on a retry. */
export function settlementName(id: string, settlement: SettlementProgress): string {
  return `${id}.s-${digest(JSON.stringify(settlement))}`;
}

/** backportName returns the object name of the backport commit `commit` of ticket `id`. */
export function backportName(id: string, commit: string): string {
  return `${id}.b-${digest(commit)}`;
}

/**
 * labelValue returns `text` as a valid label value: characters other than letters, digits, '-',
 * '_' and '.' become '-', at most 63 characters, starting and ending with a letter or digit.
 * Different texts may meet on one value, which is why labels only ever narrow a search.
 */
export function labelValue(text: string): string {
  return text
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

/** eventObject returns the BackportTicket object that records `spec` under `name` in `namespace`. */
export function eventObject(name: string, namespace: string, spec: EventSpec): BackportTicketObject {
  return {
    apiVersion: `${BACKPORT_TICKETS.group}/${BACKPORT_TICKETS.version}`,
    kind: BACKPORT_TICKETS.kind,
    metadata: {
      name,
      namespace,
      labels: {
        [TICKET_LABEL]: spec.ticket,
        [EVENT_LABEL]: spec.event,
        [NAMESPACE_LABEL]: labelValue(spec.object.namespace),
        [INCIDENT_LABEL]: labelValue(spec.window.incident),
      },
    },
    spec,
  };
}

/** Facts is everything the objects of one ticket say, before folding. */
export interface Facts {
  id: string;
  /** A ticket written before one object per fact, when there is one. */
  legacy?: Ticket;
  changes: { change: TicketChange; object: ObjectRef; window: Window }[];
  resolutions: { resolution: Resolution; covers: number }[];
  settlements: SettlementProgress[];
  backports: BackportCommit[];
}

/** ReadObject is what one API object says, or the first problem with it, naming the field. */
export type ReadObject =
  | { ok: true; kind: 'event'; id: string; spec: EventSpec }
  | { ok: true; kind: 'legacy'; ticket: Ticket }
  | { ok: false; name: string; problem: string };

/**
 * readObject returns the fact (or, for an object in the earlier layout, the whole ticket) an API
 * object holds: the API server checks only what the CRD schema says, and anyone allowed to create
 * BackportTickets may have written it.
 */
export function readObject(value: unknown): ReadObject {
  const meta = isRecord(value) && isRecord(value['metadata']) ? value['metadata'] : {};
  const name = typeof meta['name'] === 'string' ? meta['name'] : '';
  const bad = (problem: string): ReadObject => ({ ok: false, name: name === '' ? '(unnamed)' : name, problem });
  if (name === '') return bad('metadata.name is missing');
  const spec = isRecord(value) ? value['spec'] : undefined;
  if (!isRecord(spec)) return bad('spec is not an object');
  if (spec['event'] === undefined) {
    const legacy = legacyTicket(name, spec);
    return typeof legacy === 'string' ? bad(legacy) : { ok: true, kind: 'legacy', ticket: legacy };
  }
  const problem = eventProblem(spec);
  return problem === undefined ? { ok: true, kind: 'event', id: spec['ticket'] as string, spec: spec as unknown as EventSpec } : bad(problem);
}

function eventProblem(spec: Record<string, unknown>): string | undefined {
  const { ticket, event, object, window, change, resolution, covers, settlement, backport } = spec;
  if (typeof ticket !== 'string' || !isTicketId(ticket)) return 'spec.ticket is not a ticket id';
  if (event === 'change') {
    // The fold's own shape check, so that the journal and this store accept exactly the same changes.
    const checked = checkEvent({ type: 'change', draft: { id: ticket, object, window, change } });
    return checked.ok ? undefined : checked.problem.replace(/^draft\./, 'spec.');
  }
  if (event === 'resolve') {
    if (!Number.isInteger(covers) || (covers as number) < 1) return 'spec.covers is not a whole number of changes';
    const checked = checkEvent({ type: 'resolve', id: ticket, resolution });
    return checked.ok ? undefined : `spec.${checked.problem}`;
  }
  if (event === 'settle') {
    const checked = checkEvent({ type: 'settle', id: ticket, settlement });
    return checked.ok ? undefined : `spec.${checked.problem}`;
  }
  if (event === 'backport') return backportProblem(backport, 'spec.backport.');
  return `spec.event ${JSON.stringify(event)} is not one of change, resolve, settle, backport`;
}

// The ticket an object of the earlier layout holds, or the first problem with it.
function legacyTicket(name: string, spec: Record<string, unknown>): Ticket | string {
  const { object, window, state, openedAt, changes, resolution, earlierResolutions, backports, settlement } = spec;
  if (!TICKET_STATES.includes(state as TicketState)) return `spec.state ${JSON.stringify(state)} is not one of ${TICKET_STATES.join(', ')}`;
  if (typeof openedAt !== 'string') return 'spec.openedAt is not a string';
  if (!Array.isArray(changes) || changes.length === 0) return 'spec.changes is not a non-empty list';
  for (const [i, change] of changes.entries()) {
    const checked = checkEvent({ type: 'change', draft: { id: name, object, window, change } });
    if (!checked.ok) return checked.problem.replace(/^draft\.change\./, `spec.changes[${i}].`).replace(/^draft\./, 'spec.');
  }
  const resolutions: unknown = earlierResolutions ?? [];
  if (!Array.isArray(resolutions)) return 'spec.earlierResolutions is not a list';
  const given: [string, unknown][] = resolutions.map((r, i) => [`spec.earlierResolutions[${i}].`, r]);
  if (resolution !== undefined) given.unshift(['spec.', resolution]);
  for (const [field, r] of given) {
    const checked = checkEvent({ type: 'resolve', id: name, resolution: r });
    if (!checked.ok) return `${field}${checked.problem}`;
  }
  const commits: unknown = backports ?? [];
  if (!Array.isArray(commits)) return 'spec.backports is not a list';
  for (const [i, b] of commits.entries()) {
    const problem = backportProblem(b, `spec.backports[${i}].`);
    if (problem !== undefined) return problem;
  }
  if (settlement !== undefined) {
    const problem = settlementProblem(settlement, 'spec.settlement.');
    if (problem !== undefined) return problem;
  }
  const decided = resolution === undefined ? 'open' : stateAfter((resolution as Resolution).decision);
  if (decided !== state)
    return `spec.state is ${JSON.stringify(state)} but ${resolution === undefined ? 'there is no spec.resolution' : `spec.resolution says ${decided}`}`;
  return {
    id: name,
    object: object as Ticket['object'],
    window: window as Ticket['window'],
    state: state as TicketState,
    openedAt,
    changes: changes as TicketChange[],
    ...(resolution === undefined ? {} : { resolution: resolution as Resolution }),
    ...(resolutions.length === 0 ? {} : { earlierResolutions: resolutions as Resolution[] }),
    ...(commits.length === 0 ? {} : { backports: commits as BackportCommit[] }),
    ...(settlement === undefined ? {} : { settlement: settlement as SettlementProgress }),
  };
}

/** emptyFacts returns the facts of a ticket nothing is known of yet. */
export function emptyFacts(id: string): Facts {
  return { id, changes: [], resolutions: [], settlements: [], backports: [] };
}

/** addFact adds what one object says to the facts of its ticket. */
export function addFact(facts: Facts, read: Exclude<ReadObject, { ok: false }>): void {
  if (read.kind === 'legacy') {
    facts.legacy = read.ticket;
    return;
  }
  const { spec } = read;
  if (spec.event === 'change' && spec.change !== undefined) facts.changes.push({ change: spec.change, object: spec.object, window: spec.window });
  else if (spec.event === 'resolve' && spec.resolution !== undefined && spec.covers !== undefined)
    facts.resolutions.push({ resolution: spec.resolution, covers: spec.covers });
  else if (spec.event === 'settle' && spec.settlement !== undefined) facts.settlements.push(spec.settlement);
  else if (spec.event === 'backport' && spec.backport !== undefined) facts.backports.push(spec.backport);
}

/**
 * foldTicket returns the ticket the facts describe, or undefined when they hold no change (a
 * resolution or a commit alone is no ticket). Changes are kept once per request uid and ordered by
 * time (objects carry no durable order, and replicas' clocks may disagree by a little).
 *
 * Resolutions are replayed in the order they were decided: by how many changes they covered, the
 * first decision on those changes (`.r-N`, a person's or settlement's) before the overrides of it,
 * overrides by time. Each goes through the journal's own rule (`mayResolve`, `withResolution`): an
 * open ticket takes any resolution, a closed one only a person's override, which keeps the earlier
 * one in `earlierResolutions`. A resolution that covered fewer changes than came after it was
 * undone by the next change and is kept in `earlierResolutions` too, as the journal keeps it.
 * Settlement's latest finding is kept only on an open ticket with no change after it (`withSettlement`).
 */
export function foldTicket(facts: Facts): Ticket | undefined {
  const legacy = facts.legacy;
  const first = facts.changes[0];
  const base = legacy ?? (first === undefined ? undefined : { object: first.object, window: first.window });
  if (base === undefined) return undefined;
  const seen = new Set<string>();
  const changes: TicketChange[] = [];
  for (const change of [...(legacy?.changes ?? []), ...facts.changes.map((c) => c.change)]) {
    if (seen.has(change.requestUid)) continue;
    seen.add(change.requestUid);
    changes.push(copyOf(change));
  }
  // Stable: among equal instants, the earlier layout's order (its durable order) is kept.
  changes.sort((a, b) => instant(a.at) - instant(b.at));
  const firstChange = changes[0] as TicketChange;
  let ticket: Ticket = {
    id: facts.id,
    object: copyOf(base.object),
    window: copyOf(base.window),
    state: 'open',
    openedAt: firstChange.at,
    changes,
    ...(legacy?.earlierResolutions === undefined ? {} : { earlierResolutions: copyOf(legacy.earlierResolutions) }),
  };
  // A resolution never covers more changes than the ticket has (a retried change counted twice
  // by an older driftgate, say): it then decided on all of them.
  const covered = (covers: number): number => Math.min(covers, changes.length);
  const decided: { resolution: Resolution; covers: number }[] = [...facts.resolutions];
  if (legacy?.resolution !== undefined) decided.push({ resolution: legacy.resolution, covers: legacy.changes.length });
  decided.sort(
    (a, b) =>
      covered(a.covers) - covered(b.covers) ||
      Number(a.resolution.override === true) - Number(b.resolution.override === true) ||
      instant(a.resolution.at) - instant(b.resolution.at),
  );
  let decidedOn = 0;
  for (const { resolution, covers } of decided) {
    // A change recorded after the decision in force reopened the ticket: that decision did not cover it.
    if (ticket.resolution !== undefined && decidedOn < covered(covers)) ticket = reopened(ticket);
    if (!mayResolve(ticket, resolution)) continue; // a lost race: the first decision stands
    ticket = withResolution(ticket, resolution);
    decidedOn = covered(covers);
  }
  if (ticket.resolution !== undefined && decidedOn < changes.length) ticket = reopened(ticket);
  ticket.state = ticket.resolution === undefined ? 'open' : stateAfter(ticket.resolution.decision);
  const backports: BackportCommit[] = [];
  for (const b of [...(legacy?.backports ?? []), ...[...facts.backports].sort((x, y) => instant(x.at) - instant(y.at))]) {
    if (!backports.some((k) => k.commit === b.commit)) backports.push(copyOf(b));
  }
  if (backports.length > 0) ticket.backports = backports;
  const findings = [...(legacy?.settlement === undefined ? [] : [legacy.settlement]), ...facts.settlements];
  const latest = findings.reduce<SettlementProgress | undefined>((last, s) => (last === undefined || instant(s.at) >= instant(last.at) ? s : last), undefined);
  return latest === undefined ? ticket : withSettlement(ticket, latest);
}

// The ticket reopened by a change its resolution did not cover, the resolution kept as an earlier one.
function reopened(ticket: Ticket): Ticket {
  const next: Ticket = { ...ticket, state: 'open', earlierResolutions: [...(ticket.earlierResolutions ?? []), ticket.resolution as Resolution] };
  delete next.resolution;
  return next;
}

// An unparsable time sorts first rather than throwing: the shape check accepted it as a string.
function instant(at: string): number {
  const t = Date.parse(at);
  return Number.isFinite(t) ? t : 0;
}
