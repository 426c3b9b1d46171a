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
import { collectFields, isStatusField, newIndexes, type OwnedField, valueAt } from './fields-v1.js';
import { escapeToken } from './pointer.js';

/** The annotation kubectl apply (and Argo CD's client-side sync) keep their last applied config in. */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The path a change to the last-applied configuration is reported at. */
export const LAST_APPLIED_PATH = `/metadata/annotations/${escapeToken(LAST_APPLIED)}`;

/** The path an explicit rewrite of managedFields is reported at. */
export const MANAGED_FIELDS_PATH = '/metadata/managedFields';

const ANCIENT = 'ancient-changes';

/**
 * bookkeepingPaths returns the bookkeeping paths an UPDATE rewrote (LAST_APPLIED_PATH,
 * MANAGED_FIELDS_PATH). `controller`: judged for one of Kubernetes' own controllers within its
 * grant, whose Update entry may gain fields it did not change.
 */
export function bookkeepingPaths(request: AdmissionRequest, opts: { controller?: boolean } = {}): string[] {
  if (request.operation !== 'UPDATE') return [];
  const before = request.oldObject ?? undefined;
  const after = request.object ?? undefined;
  const out: string[] = [];
  if (before?.metadata?.annotations?.[LAST_APPLIED] !== after?.metadata?.annotations?.[LAST_APPLIED]) out.push(LAST_APPLIED_PATH);
  if (managedFieldsRewritten(before, after, applierOf(request.options), opts.controller === true)) out.push(MANAGED_FIELDS_PATH);
  return out;
}

interface Entry {
  /** The apiserver's identity of an entry (BuildManagerIdentifier): an Update entry's includes its apiVersion. */
  key: string;
  manager: string;
  /** An Update entry (not an Apply one). */
  update: boolean;
  apiVersion: string;
  time: string;
  /** What may move without the fields moving: the time (and an Apply entry's apiVersion). */
  stamp: string;
  fields: Map<string, OwnedField>;
}

function entriesOf(obj: KubeObject | undefined): Entry[] | undefined {
  const list = obj?.metadata?.['managedFields'];
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) return [{ key: '?', manager: '?', update: false, apiVersion: '', time: '', stamp: JSON.stringify(list), fields: new Map() }];
  return list.map((raw: unknown) => {
    const e = isRecord(raw) ? raw : {};
    const text = (k: string): string => (typeof e[k] === 'string' ? e[k] : '');
    const manager = text('manager');
    const update = e['operation'] === 'Update';
    const apiVersion = text('apiVersion');
    const key = JSON.stringify([manager, e['operation'] ?? '', e['subresource'] ?? '', update ? apiVersion : '']);
    const stamp = JSON.stringify([update ? '' : apiVersion, e['time'] ?? '', e['fieldsType'] ?? '']);
    const fields = new Map<string, OwnedField>();
    collectFields(e['fieldsV1'], fields);
    return { key, manager, update, apiVersion, time: text('time'), stamp, fields };
  });
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

/** How many Update entries the apiserver keeps before folding the oldest into "ancient-changes". */
const MAX_UPDATE_MANAGERS = 10;

/** The `fieldManager` a PATCH named (a server-side apply is a PATCH, and must name one), if any. */
function applierOf(options: unknown): string | undefined {
  return isRecord(options) && options['kind'] === 'PatchOptions' && typeof options['fieldManager'] === 'string' ? options['fieldManager'] : undefined;
}

function managedFieldsRewritten(before: KubeObject | undefined, after: KubeObject | undefined, applier: string | undefined, controller: boolean): boolean {
  const objectVersion = typeof after?.apiVersion === 'string' ? after.apiVersion : '';
  const old = entriesOf(before);
  const now = entriesOf(after);
  if (old === undefined || old.length === 0) return false; // nothing to rewrite: the apiserver starts the list
  if (now === undefined || now.length === 0) return true; // cleared (a `[{}]` reset)
  // Each field is compared once, however many entries name it: comparing the value under a field
  // costs its size, and a crafted list naming one large field in hundreds of entries would
  // otherwise cost entries × size (a stall). Beyond the cap, the list is taken as rewritten.
  const indexes = newIndexes();
  const memo = new Map<string, { changed: boolean; present: boolean }>();
  // Several fields may name the same values (aliases: selectors naming absent keys resolve alike):
  // each pair of values is compared once, whatever the number of fields naming it.
  const compared = new WeakMap<object, WeakMap<object, boolean>>();
  const same = (was: unknown, is: unknown): boolean => {
    if (typeof was !== 'object' || was === null || typeof is !== 'object' || is === null) return sameJson(was, is);
    let row = compared.get(was);
    if (row === undefined) {
      row = new WeakMap();
      compared.set(was, row);
    }
    let known = row.get(is);
    if (known === undefined) {
      known = sameJson(was, is);
      row.set(is, known);
    }
    return known;
  };
  let overCap = false;
  const look = (field: OwnedField): { changed: boolean; present: boolean } => {
    let known = memo.get(field.id);
    if (known === undefined) {
      if (memo.size >= MAX_FIELDS_EXAMINED || indexes.exceeded) {
        overCap = true;
        return { changed: false, present: true };
      }
      const was = valueAt(before, field, indexes);
      const is = valueAt(after, field, indexes);
      // A node changes hands only when the write adds or removes it (its contents are fields of
      // their own); a leaf when its value changes.
      const changed = field.node ? (was === undefined) !== (is === undefined) : !same(was, is);
      known = { changed, present: is !== undefined };
      if (indexes.exceeded) overCap = true;
      memo.set(field.id, known);
    }
    return known;
  };
  const oldByKey = new Map(old.map((e) => [e.key, e]));
  const nowByKey = new Map(now.map((e) => [e.key, e]));
  if (nowByKey.size !== now.length) return true; // two entries one identity: never the apiserver's
  const folds = foldable(old, now, nowByKey, (f) => look(f).changed);
  // Fields another manager lost: the apiserver takes only those the request changed, or folds a
  // whole old entry into "ancient-changes".
  for (const o of old) {
    const n = nowByKey.get(o.key);
    if (n === undefined && folds.has(o)) continue;
    for (const f of o.fields.values()) {
      if (n !== undefined && n.fields.has(f.id)) continue;
      if (!look(f).changed || overCap) return true;
    }
  }
  let grown = 0;
  for (const n of now) {
    const o = oldByKey.get(n.key);
    const gained = [...n.fields.values()].filter((f) => o === undefined || !o.fields.has(f.id));
    const restamped = o === undefined || o.stamp !== n.stamp;
    if (gained.length === 0 && !restamped) continue;
    if (n.manager === ANCIENT && n.update && gained.every((f) => [...folds].some((e) => e.apiVersion === n.apiVersion && e.fields.has(f.id)))) continue;
    // A manager gains only fields its request changed: structured-merge-diff's Updater hands an
    // Update entry exactly those, and an Apply entry claiming values that were already there (a
    // no-op server-side apply under a new manager) leaves them co-owned, so the next sync that
    // drops them from Git no longer removes them. Either way the next sync changes: a rewrite.
    // A field no longer in the object keeps nothing alive (a mutating webhook renamed it), and
    // ownership of status is left out: no GitOps tool applies status, so it never decides what
    // a sync removes, and the apiserver's reset of status on main-resource writes makes "changed"
    // there unreliable.
    // One of Kubernetes' own controllers, within its grant, is not held to this: the apiserver
    // writes its Update entry, and the webhook's conditions could not decide its first write of
    // a field (CEL cannot tell changed fields from unchanged ones) while driftgate is down.
    const judged = !controller || !n.update;
    if (judged && gained.some((f) => !isStatusField(f) && look(f).present && !look(f).changed)) return true;
    // Fields are read in the object's version; the apiserver hands a manager fields only in the
    // version of the write, which is the object's here: gains in an entry of another version are
    // not its doing (and could not be read here anyway).
    if (n.apiVersion !== objectVersion && gained.some((f) => !isStatusField(f))) return true;
    // An Apply entry gains fields, or is moved to another version, only under a server-side
    // apply (a PATCH), which must name its manager.
    const moved = gained.length > 0 || (o !== undefined && o.apiVersion !== n.apiVersion);
    if (!n.update && moved && n.manager !== applier) return true;
    if (overCap) return true;
    grown++;
  }
  // One entry may grow or be restamped: the requester's own, written by the apiserver. A time
  // moved on an entry whose fields stay the same decides nothing about the next sync.
  return grown > 1;
}

/**
 * foldable returns the old entries the apiserver may have folded into "ancient-changes" on this
 * write (its capManagers): Update entries only, only while more than ten Update entries remain,
 * each into the bucket of its own apiVersion, which then holds its fields (but those the write
 * changed, taken from it first). Which entries are the oldest is not checked: a fold only moves
 * ownership between Update entries, which keeps every field alive alike.
 */
function foldable(old: readonly Entry[], now: readonly Entry[], nowByKey: ReadonlyMap<string, Entry>, changed: (f: OwnedField) => boolean): Set<Entry> {
  const out = new Set<Entry>();
  const vanished = old.filter((o) => !nowByKey.has(o.key));
  if (vanished.length === 0 || now.filter((e) => e.update).length !== MAX_UPDATE_MANAGERS) return out;
  for (const o of vanished) {
    if (!o.update || o.manager === ANCIENT) continue;
    const bucket = now.find((e) => e.manager === ANCIENT && e.update && e.apiVersion === o.apiVersion);
    if (bucket !== undefined && [...o.fields.values()].every((f) => bucket.fields.has(f.id) || changed(f))) out.add(o);
  }
  return out;
}
