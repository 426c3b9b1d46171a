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
import { normalize } from '../decision/normalize.js';
import { getAt, isWithin, parsePointer } from '../decision/pointer.js';
import { redactSecret } from '../decision/redact.js';
import { isRawJson, isRecord, parseJsonExact } from '../util/json.js';
import type { Evidence, Resolution, SettlementProgress, Ticket } from './types.js';

/** The annotation client-side apply (`kubectl apply`, Argo CD's default sync) keeps Git's manifest in. */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Field managers of GitOps controllers' server-side applies: Flux's kustomize-controller and
 * helm-controller, Argo CD with ServerSideApply=true. Only their Apply entries count as Git's.
 */
export const GITOPS_APPLY_MANAGERS: readonly string[] = ['kustomize-controller', 'helm-controller', 'argocd-controller'];

/**
 * Declaration is how the evidence says what Git declares:
 * - `manifest`: the manifest itself (client-side apply's last-applied annotation): a path it
 *   lacks is not Git's;
 * - `owned`: a server-side apply's field ownership: Git declares a path its manager owns, with
 *   the value the object holds;
 * - `changed`: a plain write by a GitOps identity: only the paths it changed are surely Git's;
 * - `in-sync`: a GitOps tool reporting the object in sync: every field Git declares equals the
 *   live one (the tools ignore fields Git does not declare: docs/security.md says what follows).
 */
export type Declaration =
  | { kind: 'manifest'; manifest: unknown }
  | { kind: 'owned'; fields: FieldsTree }
  | { kind: 'changed'; before: KubeObject | undefined }
  | { kind: 'in-sync' };

/** FieldsTree is a managedFields entry's fieldsV1 (f:, k:, v: and "." keys), merged over entries. */
export type FieldsTree = Record<string, unknown>;

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

type Value = { present: true; value: unknown } | { present: false };

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

/**
 * declarationOfWrite returns what a GitOps controller's write declares as Git's: the fields its
 * server-side apply owns, else the manifest client-side apply left in the last-applied annotation,
 * else only what the write changed.
 */
export function declarationOfWrite(
  object: KubeObject | undefined,
  oldObject: KubeObject | undefined,
  managers: readonly string[] = GITOPS_APPLY_MANAGERS,
): Declaration {
  const fields = appliedFields(object, managers);
  if (fields !== undefined) return { kind: 'owned', fields };
  const manifest = lastApplied(object);
  if (manifest !== undefined) return { kind: 'manifest', manifest };
  return { kind: 'changed', before: oldObject };
}

/** appliedFields returns the fields the named managers own through Apply, merged; undefined when they own none. */
export function appliedFields(object: KubeObject | undefined, managers: readonly string[]): FieldsTree | undefined {
  const entries = isRecord(object?.['metadata']) ? object['metadata']['managedFields'] : undefined;
  if (!Array.isArray(entries)) return undefined;
  let merged: FieldsTree | undefined;
  for (const entry of entries) {
    if (!isRecord(entry) || entry['operation'] !== 'Apply' || !managers.includes(String(entry['manager'])) || (entry['subresource'] ?? '') !== '') continue;
    if (isRecord(entry['fieldsV1'])) merged = mergeFields(merged ?? {}, entry['fieldsV1']);
  }
  return merged;
}

function mergeFields(into: FieldsTree, from: Record<string, unknown>): FieldsTree {
  const out: FieldsTree = { ...into };
  for (const [key, value] of Object.entries(from)) {
    const had = out[key];
    out[key] = isRecord(had) && isRecord(value) ? mergeFields(had, value) : value;
  }
  return out;
}

function lastApplied(object: KubeObject | undefined): unknown {
  const annotations = isRecord(object?.['metadata']) ? object['metadata']['annotations'] : undefined;
  const text = isRecord(annotations) ? annotations[LAST_APPLIED] : undefined;
  if (typeof text !== 'string') return undefined;
  try {
    const manifest = parseJsonExact(text);
    return isRecord(manifest) ? manifest : undefined;
  } catch {
    // A malformed annotation declares nothing: the write then counts for what it changed only.
    return undefined;
  }
}

// Whether the evidence says Git declares the object at all (for a ticket that created it).
function declaresObject(declaration: Declaration): boolean {
  if (declaration.kind === 'manifest') return isRecord(declaration.manifest);
  if (declaration.kind === 'owned') return Object.keys(declaration.fields).length > 0;
  if (declaration.kind === 'changed') return declaration.before !== undefined;
  return true;
}

// Compared as the diff compares: runtime fields dropped, a Secret's values as fingerprints (the
// ticket holds nothing else, and nothing here may hold a Secret's value longer than a comparison).
function comparable(object: unknown): KubeObject | undefined {
  return isRecord(object) ? redactSecret(normalize(object as KubeObject)) : undefined;
}

function declaredBy(declaration: Declaration, live: KubeObject | undefined): (path: string, after: Value) => boolean {
  switch (declaration.kind) {
    case 'in-sync':
      return () => true;
    case 'manifest': {
      const manifest = comparable(declaration.manifest);
      return (path, after) => same(valueAt(manifest, path), after);
    }
    case 'owned': {
      const fields = declaration.fields;
      // Ownership is read against the object the tool applied (the live one): keyed list items are found there.
      return (path, after) => owns(fields, live, path) === after.present;
    }
    case 'changed': {
      const old = comparable(declaration.before);
      return (path, after) => !same(valueAt(old, path), after);
    }
  }
}

// Whether the fieldsV1 tree covers `path` in `object` (the object the apply produced). List items
// are keyed by their merge key (k:{…}), by value (v:…) or by index (i:N), so an index in the path
// is mapped to its item's key through the object. A path that goes deeper than the tree (an
// atomic value) is covered by its owner.
function owns(fields: FieldsTree, object: unknown, path: string): boolean {
  let node: unknown = fields;
  let here: unknown = object;
  for (const token of parsePointer(path)) {
    if (!isRecord(node)) return false;
    if (Object.keys(node).length === 0 || (Object.keys(node).length === 1 && '.' in node)) return true;
    let next: unknown;
    if (Array.isArray(here) && /^(0|[1-9]\d*)$/.test(token)) {
      const item: unknown = here[Number(token)];
      next = node[`i:${token}`] ?? Object.entries(node).find(([key]) => itemKeyed(key, item))?.[1];
      here = item;
    } else {
      next = node[`f:${token}`];
      here = isRecord(here) ? here[token] : undefined;
    }
    if (next === undefined) return false;
    node = next;
  }
  return true;
}

// Whether a k:{…} or v:… key of fieldsV1 names `item`.
function itemKeyed(key: string, item: unknown): boolean {
  try {
    if (key.startsWith('v:')) return equalJson(parseJsonExact(key.slice(2)), item);
    if (!key.startsWith('k:') || !isRecord(item)) return false;
    const keyed = parseJsonExact(key.slice(2));
    return isRecord(keyed) && Object.entries(keyed).every(([k, v]) => equalJson(v, item[k]));
  } catch {
    return false;
  }
}

function valueAt(object: unknown, path: string): Value {
  if (object === undefined) return { present: false };
  const value = path === '' ? object : getAt(object, path);
  return value === undefined ? { present: false } : { present: true, value };
}

function same(a: Value, b: Value): boolean {
  if (!a.present || !b.present) return a.present === b.present;
  return equalJson(a.value, b.value);
}

/** equalJson tells whether two JSON values are equal, exact integers (raw JSON) compared by their digits. */
export function equalJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (isRawJson(a) || isRawJson(b)) return digits(a) !== undefined && digits(a) === digits(b);
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => equalJson(v, b[i]));
  if (isRecord(a)) {
    if (!isRecord(b)) return false;
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && equalJson(a[k], b[k]));
  }
  return false;
}

function digits(v: unknown): string | undefined {
  if (isRawJson(v)) return v.rawJSON;
  return typeof v === 'number' && Number.isInteger(v) ? String(v) : undefined;
}

function before(a: string, b: string): boolean {
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  return Number.isFinite(ta) && Number.isFinite(tb) ? ta < tb : a < b;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
