/**
 * GitOps bookkeeping: the fields that decide what the next sync does rather than what runs.
 * `kubectl.kubernetes.io/last-applied-configuration` is what a client-side apply (kubectl, Argo CD)
 * compares against to know which fields to remove; `managedFields` is who owns which field under
 * server-side apply (Flux, Argo CD with SSA), which decides what an apply removes. Normalization
 * leaves both out of the diff (they are not intent, and the last-applied copy of a Secret holds
 * its values in clear), so this module says, separately, when a request rewrote them.
 *
 * The apiserver itself updates managedFields on every write: it adds or updates the entry of the
 * requester's own manager, and takes the fields the request changed away from the other managers
 * (dropping an entry left empty; folding the oldest Update entries into "ancient-changes" past ten).
 * Anything else — another manager's entry gaining fields, changing its time or version, or losing
 * fields the request did not change, or the whole list cleared — was sent by the client: an
 * explicit rewrite. No entry gains a field the request did not change (outside status), and an
 * Apply entry gains fields only under a server-side apply naming that manager (`fieldManager`,
 * which apply requires).
 * Known limits: one entry's time or apiVersion moving with its fields unchanged is accepted (it
 * decides nothing about what a sync removes, and is what the apiserver does for the requester);
 * a requester applying under another manager's name (`--field-manager=argocd-controller`) with
 * unchanged values looks exactly like that manager's own apply, and is not reported.
 */
import type { AdmissionRequest, KubeObject } from '../admission/types.js';
import { sameScalar } from '../util/json.js';
import { isRecord } from './normalize.js';
import { escapeToken, getAt } from './pointer.js';

/** The annotation kubectl apply (and Argo CD's client-side sync) keep their last applied config in. */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The path a change to the last-applied configuration is reported at. */
export const LAST_APPLIED_PATH = `/metadata/annotations/${escapeToken(LAST_APPLIED)}`;

/** The path an explicit rewrite of managedFields is reported at. */
export const MANAGED_FIELDS_PATH = '/metadata/managedFields';

const ANCIENT = 'ancient-changes';

/**
 * bookkeepingPaths returns the bookkeeping paths an UPDATE rewrote (LAST_APPLIED_PATH,
 * MANAGED_FIELDS_PATH).
 */
export function bookkeepingPaths(request: AdmissionRequest): string[] {
  if (request.operation !== 'UPDATE') return [];
  const before = request.oldObject ?? undefined;
  const after = request.object ?? undefined;
  const out: string[] = [];
  if (before?.metadata?.annotations?.[LAST_APPLIED] !== after?.metadata?.annotations?.[LAST_APPLIED]) out.push(LAST_APPLIED_PATH);
  if (managedFieldsRewritten(before, after, fieldManagerOf(request.options))) out.push(MANAGED_FIELDS_PATH);
  return out;
}

interface Entry {
  key: string;
  manager: string;
  /** An Update entry (not an Apply one); see below. */
  update: boolean;
  stamp: string;
  fields: Set<string>;
}

function entriesOf(obj: KubeObject | undefined): Entry[] | undefined {
  const list = obj?.metadata?.['managedFields'];
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) return [{ key: '?', manager: '?', update: false, stamp: JSON.stringify(list), fields: new Set() }];
  return list.map((raw: unknown) => {
    const e = isRecord(raw) ? raw : {};
    const manager = typeof e['manager'] === 'string' ? e['manager'] : '';
    const key = JSON.stringify([manager, e['operation'] ?? '', e['subresource'] ?? '']);
    const stamp = JSON.stringify([e['apiVersion'] ?? '', e['time'] ?? '', e['fieldsType'] ?? '']);
    const fields = new Set<string>();
    collectFields(e['fieldsV1'], [], fields);
    return { key, manager, update: e['operation'] === 'Update', stamp, fields };
  });
}

/**
 * collectFields turns a FieldsV1 set into JSON Pointers, one per owned leaf. A list item ("k:",
 * "v:", "i:") is reported as its list: pointers name list elements by index, which a key such as
 * `k:{"name":"app"}` does not give, and the list is the narrowest path both can agree on.
 */
function collectFields(node: unknown, at: string[], out: Set<string>): void {
  if (!isRecord(node)) return;
  const keys = Object.keys(node);
  if (keys.length === 0) out.add(pointer(at));
  for (const key of keys) {
    if (key === '.') out.add(pointer(at));
    else if (key.startsWith('f:')) collectFields(node[key], [...at, key.slice(2)], out);
    else out.add(pointer(at));
  }
}

function pointer(at: string[]): string {
  return at.map((t) => `/${escapeToken(t)}`).join('');
}

/**
 * explained tells whether the request changed the value at `field` (anything: status, driftgate's
 * own annotations, which the normalized diff leaves out, included), which is when the apiserver
 * takes its ownership from another manager.
 */
function explained(field: string, before: KubeObject | undefined, after: KubeObject | undefined): boolean {
  return !sameJson(getAt(before, field), getAt(after, field));
}

function sameJson(a: unknown, b: unknown): boolean {
  if (sameScalar(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a).filter((k) => a[k] !== undefined);
    return keys.length === Object.keys(b).filter((k) => b[k] !== undefined).length && keys.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
  }
  return false;
}

/**
 * Most distinct fields a managedFields comparison examines. A real object's managers own a few
 * hundred fields; a list crafted to hold thousands only ever comes from a client rewriting it.
 */
const MAX_FIELDS_EXAMINED = 20_000;

/** The `fieldManager` the request named (UpdateOptions, PatchOptions), if any. */
function fieldManagerOf(options: unknown): string | undefined {
  return isRecord(options) && typeof options['fieldManager'] === 'string' ? options['fieldManager'] : undefined;
}

function managedFieldsRewritten(before: KubeObject | undefined, after: KubeObject | undefined, fieldManager: string | undefined): boolean {
  const old = entriesOf(before);
  const now = entriesOf(after);
  if (old === undefined || old.length === 0) return false; // nothing to rewrite: the apiserver starts the list
  if (now === undefined || now.length === 0) return true; // cleared (a `[{}]` reset)
  // Each field is compared once, however many entries name it: comparing the value under a field
  // costs its size, and a crafted list naming one large field in hundreds of entries would
  // otherwise cost entries × size (a stall). Beyond the cap, the list is taken as rewritten.
  const memo = new Map<string, boolean>();
  let overCap = false;
  const changed = (field: string): boolean => {
    let known = memo.get(field);
    if (known === undefined) {
      if (memo.size >= MAX_FIELDS_EXAMINED) {
        overCap = true;
        return false;
      }
      known = explained(field, before, after);
      memo.set(field, known);
    }
    return known;
  };
  const oldByKey = new Map(old.map((e) => [e.key, e]));
  const nowByKey = new Map(now.map((e) => [e.key, e]));
  const ancient = new Set(now.filter((e) => e.manager === ANCIENT).flatMap((e) => [...e.fields]));
  // Fields another manager lost: the apiserver takes only those the request changed, or folds a
  // whole old entry into "ancient-changes".
  const folded = new Set<string>();
  for (const o of old) {
    const n = nowByKey.get(o.key);
    for (const f of o.fields) {
      if (n !== undefined && n.fields.has(f)) continue;
      if (n === undefined && ancient.has(f)) folded.add(f);
      else if (!changed(f) || overCap) return true;
    }
  }
  let grown = 0;
  for (const n of now) {
    const o = oldByKey.get(n.key);
    const gained = [...n.fields].filter((f) => o === undefined || !o.fields.has(f));
    const restamped = o === undefined || o.stamp !== n.stamp;
    if (gained.length === 0 && !restamped) continue;
    if (n.manager === ANCIENT && gained.every((f) => folded.has(f))) continue;
    // A manager gains only fields its request changed: structured-merge-diff's Updater hands an
    // Update entry exactly those, and an Apply entry claiming values that were already there (a
    // no-op server-side apply under a new manager) leaves them co-owned, so the next sync that
    // drops them from Git no longer removes them. Either way the next sync changes: a rewrite.
    // Ownership of status is left out: no GitOps tool applies status, so it never decides what a
    // sync removes, and the apiserver's reset of status on main-resource writes makes "changed"
    // there unreliable.
    if (gained.some((f) => !isStatus(f) && !changed(f))) return true;
    // An Apply entry gains fields only under a server-side apply, which must name its manager.
    if (!n.update && n.manager !== ANCIENT && gained.length > 0 && n.manager !== fieldManager) return true;
    if (overCap) return true;
    grown++;
  }
  // One entry may grow or be restamped: the requester's own, written by the apiserver. A time or
  // version moved on an entry whose fields stay the same decides nothing about the next sync.
  return grown > 1;
}

function isStatus(field: string): boolean {
  return field === '/status' || field.startsWith('/status/');
}
