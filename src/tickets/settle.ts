/**
 * Settlement: judging what GitOps did to a ticket's changes, from what driftgate can read, and
 * turning that into a closure (backported, reverted) or a finding that names what remains. Pure:
 * the observation (an object a GitOps controller wrote, or the live object while an Argo CD
 * Application / Flux Kustomization reports it in sync) comes in as an argument, and so does `now`.
 *
 * Per JSON Pointer the ticket changed, with `before` the value before the window and `after` the
 * responder's value:
 * - undone: the live object holds `before` again (self-heal, a sync of Git's old value, a revert),
 *   or the object is gone (pruned or deleted by GitOps) and the change with it;
 * - carried: the live object holds `after` AND Git declares `after` there, which is what the
 *   evidence must show (see `Declaration`);
 * - remaining: anything else. A field Git does not declare stays as the responder left it after a
 *   sync, so "live still holds it" alone never counts as carried: that would close tickets whose
 *   changes Git never received.
 * All carried: backported. All undone: reverted. Some of each and none remaining: Git describes
 * production again, part by carrying and part by undoing, closed as backported with both lists on
 * the evidence. Anything remaining: the ticket stays open and says which paths.
 */
import type { KubeObject } from '../admission/types.js';
import { isWithin } from '../decision/pointer.js';
import { type Declaration, type Value, comparable, declaredBy, declaresObject, same, valueAt } from './git-declaration.js';
import type { Evidence, Resolution, SettlementProgress, Ticket } from './types.js';

/** Observation is what settlement judges: the object as it is (undefined: deleted), and what Git declares. */
export interface Observation {
  live: KubeObject | undefined;
  declaration: Declaration;
  /** RFC 3339: when the evidence holds (the write, or the tool's comparison); must follow every change. */
  at: string;
}

/** Assessment is the judgement of one observation. */
export type Assessment =
  | { kind: 'settled'; decision: 'backport' | 'revert'; carried: string[]; undone: string[] }
  | { kind: 'partial'; carried: string[]; undone: string[]; remaining: string[] }
  | { kind: 'unsettled'; remaining: string[]; why: string };

/** TicketPath is one JSON Pointer the ticket changed, its value before the window (when known) and after. */
export interface TicketPath {
  path: string;
  before: Value | undefined;
  after: Value;
}

/**
 * ticketPaths returns the pointers of the main object the ticket's changes set or removed, in the
 * order first changed, with the value before the first change and after the last. Left out: what
 * no GitOps tool carries (status, runtime metadata, driftgate's own annotations, an action
 * subresource's options). A `/scale` change is the main object's `/spec/replicas`.
 */
export function ticketPaths(ticket: Ticket): TicketPath[] {
  const paths = new Map<string, TicketPath>();
  for (const change of ticket.changes) {
    const sub = change.subResource ?? '';
    if (sub !== '' && sub !== 'scale') continue;
    for (const op of change.patch) {
      if (op.op === 'test') continue;
      const path = sub === 'scale' ? (op.path === '/spec/replicas' ? op.path : undefined) : op.path;
      if (path === undefined || !gitCarries(path)) continue;
      const after: Value = op.op === 'remove' || (path === '' && op.value === null) ? { present: false } : { present: true, value: op.value };
      const known = paths.get(path);
      if (known !== undefined) {
        known.after = after;
        continue;
      }
      const inverse = change.revert.find((r) => r.path === op.path && r.op !== 'test');
      const before: Value | undefined =
        inverse === undefined
          ? undefined
          : inverse.op === 'remove' || (path === '' && inverse.value === null)
            ? { present: false }
            : { present: true, value: inverse.value };
      paths.set(path, { path, before, after });
    }
  }
  return [...paths.values()];
}

function gitCarries(path: string): boolean {
  if (isWithin(path, '/status')) return false;
  if (['uid', 'resourceVersion', 'generation', 'managedFields', 'creationTimestamp', 'deletionTimestamp'].some((k) => isWithin(path, `/metadata/${k}`)))
    return false;
  return !path.startsWith('/metadata/annotations/driftgate.dev~1');
}

/** assess returns what the observation shows about the ticket's changes. */
export function assess(ticket: Ticket, observation: Observation): Assessment {
  const paths = ticketPaths(ticket);
  if (paths.length === 0)
    return { kind: 'unsettled', remaining: [], why: 'the ticket changes nothing a GitOps tool carries (status, or an action such as exec)' };
  const stale = ticket.changes.find((c) => !before(c.at, observation.at));
  if (stale !== undefined) {
    return { kind: 'unsettled', remaining: paths.map((p) => p.path), why: `the evidence (${observation.at}) does not follow the change at ${stale.at}` };
  }
  const live = comparable(observation.live);
  const declared = declaredBy(observation.declaration, observation.live);
  const carried: string[] = [];
  const undone: string[] = [];
  const remaining: string[] = [];
  for (const p of paths) {
    if (p.path === '') {
      // A whole object created or deleted under the window: judged by existence, since the live
      // object has gained defaults and runtime fields the recorded one never had.
      const exists = live !== undefined;
      if (exists !== p.after.present && p.before !== undefined && exists === p.before.present) undone.push('');
      else if (exists === p.after.present && (!exists || declaresObject(observation.declaration))) carried.push('');
      else remaining.push('');
      continue;
    }
    const now = valueAt(live, p.path);
    // The object gone (a prune, a GitOps delete): every change made on it went with it, unless
    // the ticket's own change was that deletion.
    const gone = live === undefined && p.after.present;
    if (gone || (p.before !== undefined && same(now, p.before) && !same(p.before, p.after))) undone.push(p.path);
    else if (same(now, p.after) && declared(p.path, p.after)) carried.push(p.path);
    else remaining.push(p.path);
  }
  if (remaining.length === 0) return { kind: 'settled', decision: carried.length === 0 ? 'revert' : 'backport', carried, undone };
  if (carried.length + undone.length === 0) return { kind: 'unsettled', remaining, why: 'GitOps has neither carried nor undone any of its changes yet' };
  return { kind: 'partial', carried, undone, remaining };
}

/** SettlementStep is what to record on the store after an assessment. */
export type SettlementStep =
  | { kind: 'resolve'; resolution: Resolution }
  | { kind: 'progress'; settlement: SettlementProgress }
  | { kind: 'nothing'; why: string };

/**
 * nextStep returns what to record for an assessment backed by `evidence` (its carried and undone
 * lists are filled in here): a closure by settlement, a finding naming what remains (unless the
 * ticket already carries the same finding), or nothing. `by` names the GitOps writer or tool.
 */
export function nextStep(ticket: Ticket, assessment: Assessment, evidence: Evidence, by: string, ref: string, now: Date): SettlementStep {
  if (ticket.state !== 'open') return { kind: 'nothing', why: `the ticket is already ${ticket.state}` };
  if (assessment.kind === 'unsettled') return { kind: 'nothing', why: assessment.why };
  const shown = { ...evidence, carried: assessment.carried, undone: assessment.undone } as Evidence;
  const at = now.toISOString();
  if (assessment.kind === 'settled') {
    return { kind: 'resolve', resolution: { decision: assessment.decision, by, ref, at, closedBy: 'settlement', evidence: [shown] } };
  }
  const known = ticket.settlement;
  if (
    known !== undefined &&
    sameList(known.remaining, assessment.remaining) &&
    sameList(known.carried, assessment.carried) &&
    sameList(known.undone, assessment.undone)
  ) {
    return { kind: 'nothing', why: 'the ticket already says the same paths remain' };
  }
  return { kind: 'progress', settlement: { at, carried: assessment.carried, undone: assessment.undone, remaining: assessment.remaining, evidence: [shown] } };
}

function before(a: string, b: string): boolean {
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  return Number.isFinite(ta) && Number.isFinite(tb) ? ta < tb : a < b;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
