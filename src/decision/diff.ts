/**
 * The normalized diff: what a write changed, as the RFC 6902 patch to carry into Git, the patch
 * that reverts it, and the leaf paths it touched (what delegations and messages reason about).
 * Both sides are normalized and Secret values redacted before anything is compared.
 */
import type { JsonPatchOp, KubeObject } from '../admission/types.js';
import { isRecord, normalize } from './normalize.js';
import { sameScalar } from '../util/json.js';
import { toPointer } from './pointer.js';
import { redactSecret } from './redact.js';

/** Change is one write seen through normalization and redaction. */
export interface Change {
  /** RFC 6902 patch turning the normalized old object into the normalized new one. */
  patch: JsonPatchOp[];
  /** RFC 6902 patch turning the normalized new object back into the old one. */
  revert: JsonPatchOp[];
  /** JSON Pointers of every changed leaf (a scalar, or an empty map or list): keys sorted, lists by index. */
  paths: string[];
}

/**
 * normalizedDiff returns the Change from `oldObj` to `newObj`; null or undefined stands for "no
 * object" (the old side of a CREATE, the new side of a DELETE).
 *
 * A CREATE or DELETE changes the whole document, so it is one operation at the root "":
 * CREATE is `add "" <object>` (RFC 6902 §4.1: adding at the root makes the value the whole
 * document) and DELETE is `replace "" null`, the document becoming JSON null, which is how the
 * missing side is written. `remove ""` was not chosen: RFC 6902 does not say what document is
 * left after removing the root, so no tool can be relied on to read it as we mean it.
 * `paths` lists every leaf of the object.
 */
export function normalizedDiff(oldObj: KubeObject | null | undefined, newObj: KubeObject | null | undefined): Change {
  const before = prepare(oldObj);
  const after = prepare(newObj);
  const forward = new Diff();
  forward.root(before, after);
  const backward = new Diff();
  backward.root(after, before);
  return { patch: forward.ops, revert: backward.ops, paths: [...new Set(forward.paths)] };
}

/**
 * leafPaths returns the JSON Pointer of every leaf of `value` (a scalar, or an empty map or
 * list), keys sorted; none for undefined, which is no value at all.
 */
export function leafPaths(value: unknown): string[] {
  const out: string[] = [];
  if (value === undefined) return out;
  collectLeaves(value, [], out);
  return out;
}

function prepare(obj: KubeObject | null | undefined): KubeObject | undefined {
  const normal = normalize(obj);
  return normal === undefined ? undefined : redactSecret(normal);
}

class Diff {
  readonly ops: JsonPatchOp[] = [];
  readonly paths: string[] = [];

  root(a: KubeObject | undefined, b: KubeObject | undefined): void {
    if (a === undefined && b === undefined) return;
    if (a === undefined) {
      this.ops.push({ op: 'add', path: '', value: canonical(b) });
      collectLeaves(b, [], this.paths);
    } else if (b === undefined) {
      this.ops.push({ op: 'replace', path: '', value: null });
      collectLeaves(a, [], this.paths);
    } else {
      this.walk(a, b, []);
    }
  }

  // One pass over both trees: each pair of nodes is visited once (no equality check per
  // ancestor), and `at` is one path stack pushed and popped, turned into a pointer only when an
  // operation is emitted. A key holding undefined counts as absent, as JSON.stringify has it.
  private walk(a: unknown, b: unknown, at: string[]): void {
    // sameScalar: integers beyond 2^53 arrive as raw JSON and compare by their digits.
    if (sameScalar(a, b)) return;
    if (isRecord(a) && isRecord(b)) {
      // Sorted keys: the same change always gives the same bytes, so golden files stay stable.
      const keys = Object.keys(a).filter((k) => a[k] !== undefined);
      for (const k of Object.keys(b)) if (b[k] !== undefined && (a[k] === undefined || !Object.hasOwn(a, k))) keys.push(k);
      keys.sort();
      for (const key of keys) {
        at.push(key);
        if (!has(b, key)) this.remove(a[key], at);
        else if (!has(a, key)) this.add(b[key], at);
        else this.walk(a[key], b[key], at);
        at.pop();
      }
    } else if (Array.isArray(a) && Array.isArray(b)) {
      // By index, not by identity: a list's meaning in Kubernetes depends on its merge key,
      // which this room does not know; index diffs are always valid and easy to review.
      const common = Math.min(a.length, b.length);
      for (let i = 0; i < common; i++) {
        at.push(String(i));
        this.walk(a[i], b[i], at);
        at.pop();
      }
      for (let i = common; i < b.length; i++) this.add(b[i], [...at, String(i)]);
      // Last first, so each index still names the element it meant when its turn comes.
      for (let i = a.length - 1; i >= common; i--) this.ops.push({ op: 'remove', path: toPointer([...at, String(i)]) });
      for (let i = common; i < a.length; i++) collectLeaves(a[i], [...at, String(i)], this.paths);
    } else {
      this.ops.push({ op: 'replace', path: toPointer(at), value: canonical(b) });
      collectLeaves(a, at, this.paths);
      collectLeaves(b, at, this.paths);
    }
  }

  // A whole missing subtree is added (or removed) in one operation, which applies whether or not
  // its parents' other keys exist; `paths` still names each of its leaves.
  private add(value: unknown, at: string[]): void {
    this.ops.push({ op: 'add', path: toPointer(at), value: canonical(value) });
    collectLeaves(value, at, this.paths);
  }

  private remove(value: unknown, at: string[]): void {
    this.ops.push({ op: 'remove', path: toPointer(at) });
    collectLeaves(value, at, this.paths);
  }
}

function collectLeaves(value: unknown, at: string[], out: string[]): void {
  if (Array.isArray(value) && value.length > 0) {
    value.forEach((v, i) => collectLeaves(v, [...at, String(i)], out));
  } else if (isRecord(value) && Object.keys(value).length > 0) {
    for (const key of Object.keys(value).sort()) collectLeaves(value[key], [...at, key], out);
  } else {
    out.push(toPointer(at));
  }
}

// A copy with every map's keys sorted: a value in a patch reads the same whatever order the
// apiserver (or a test) wrote its keys in, so tickets and golden files stay byte-stable.
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (!isRecord(value)) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, canonical(value[k])]),
  );
}

function has(o: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(o, key) && o[key] !== undefined;
}
