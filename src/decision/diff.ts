/**
 * The normalized diff: what a write changed, as the RFC 6902 patch to carry into Git, the patch
 * that reverts it, and the leaf paths it touched (what delegations and messages reason about).
 * Both sides are normalized and Secret values redacted before anything is compared.
 */
import type { JsonPatchOp, KubeObject } from '../admission/types.js';
import { sameScalar } from '../util/json.js';
import { isRecord, normalize, setOwn } from './normalize.js';
import { escapeToken } from './pointer.js';
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
 *
 * The cost is linear in the size of both objects whatever their shape (issue 11): every walk is
 * a loop over an explicit stack, so no depth can overflow the call stack, and a node's pointer is
 * its parent's pointer plus one token, so a leaf 300 levels down costs what a leaf at the top
 * does. (V8 joins long strings lazily, so building a pointer from its parent's copies nothing.)
 */
export function normalizedDiff(oldObj: KubeObject | null | undefined, newObj: KubeObject | null | undefined): Change {
  const before = prepare(oldObj);
  const after = prepare(newObj);
  const forward = new Diff();
  forward.root(before, after);
  const backward = new Diff();
  backward.root(after, before);
  return { patch: forward.ops, revert: backward.ops, paths: forward.paths };
}

/**
 * leafPaths returns the JSON Pointer of every leaf of `value` (a scalar, or an empty map or
 * list), keys sorted; none for undefined, which is no value at all.
 */
export function leafPaths(value: unknown): string[] {
  const out: string[] = [];
  if (value === undefined) return out;
  collectLeaves(value, '', out);
  return out;
}

function prepare(obj: KubeObject | null | undefined): KubeObject | undefined {
  const normal = normalize(obj);
  return normal === undefined ? undefined : redactSecret(normal);
}

/**
 * A pair of maps or lists being compared, and how far: the walk's explicit call stack. Its depth
 * is the objects' depth; each pair of nodes is visited once.
 */
type Frame =
  | { kind: 'map'; a: Record<string, unknown>; b: Record<string, unknown>; prefix: string; keys: string[]; next: number }
  | { kind: 'list'; a: unknown[]; b: unknown[]; at: string; prefix: string; next: number };

class Diff {
  readonly ops: JsonPatchOp[] = [];
  readonly paths: string[] = [];

  root(a: KubeObject | undefined, b: KubeObject | undefined): void {
    if (a === undefined && b === undefined) return;
    if (a === undefined) {
      this.ops.push({ op: 'add', path: '', value: canonical(b) });
      collectLeaves(b, '', this.paths);
    } else if (b === undefined) {
      this.ops.push({ op: 'replace', path: '', value: null });
      collectLeaves(a, '', this.paths);
    } else {
      this.walk(a, b);
    }
  }

  // One pass over both trees, in document order (keys sorted, lists by index), so the same change
  // always gives the same bytes and golden files stay stable. A loop over an explicit stack of
  // frames rather than recursion: no depth can overflow the call stack.
  private walk(rootA: unknown, rootB: unknown): void {
    const stack: Frame[] = [];
    this.visit(rootA, rootB, '', stack);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as Frame;
      if (top.kind === 'map') {
        const key = top.keys[top.next++];
        if (key === undefined) {
          stack.pop();
          continue;
        }
        const at = top.prefix + escapeToken(key);
        // A whole missing subtree is added (or removed) in one operation, which applies whether
        // or not its parents' other keys exist; `paths` still names each of its leaves.
        if (!has(top.b, key)) {
          this.ops.push({ op: 'remove', path: at });
          collectLeaves(top.a[key], at, this.paths);
        } else if (!has(top.a, key)) {
          this.ops.push({ op: 'add', path: at, value: canonical(top.b[key]) });
          collectLeaves(top.b[key], at, this.paths);
        } else {
          this.visit(top.a[key], top.b[key], at, stack);
        }
      } else {
        const i = top.next++;
        if (i < top.a.length && i < top.b.length) {
          this.visit(top.a[i], top.b[i], top.prefix + String(i), stack);
        } else {
          stack.pop();
          this.tail(top.a, top.b, top.prefix);
        }
      }
    }
  }

  // Compares one pair: scalars at once, maps and lists by pushing a frame the loop works through.
  // A key holding undefined counts as absent, as JSON.stringify has it.
  private visit(a: unknown, b: unknown, at: string, stack: Frame[]): void {
    // sameScalar: integers beyond 2^53 arrive as raw JSON and compare by their digits.
    if (sameScalar(a, b)) return;
    if (isRecord(a) && isRecord(b)) {
      const keys = Object.keys(a).filter((k) => a[k] !== undefined);
      for (const k of Object.keys(b)) if (b[k] !== undefined && (a[k] === undefined || !Object.hasOwn(a, k))) keys.push(k);
      keys.sort();
      stack.push({ kind: 'map', a, b, prefix: at + '/', keys, next: 0 });
    } else if (Array.isArray(a) && Array.isArray(b)) {
      // By index, not by identity: a list's meaning in Kubernetes depends on its merge key,
      // which this room does not know; index diffs are always valid and easy to review.
      stack.push({ kind: 'list', a, b, at, prefix: at + '/', next: 0 });
    } else {
      this.ops.push({ op: 'replace', path: at, value: canonical(b) });
      replacedLeaves(a, b, at, this.paths);
    }
  }

  // The elements one list has beyond the other: added, or removed last first so that each index
  // still names the element it meant when its turn comes.
  private tail(a: unknown[], b: unknown[], prefix: string): void {
    const common = Math.min(a.length, b.length);
    for (let i = common; i < b.length; i++) {
      const at = prefix + String(i);
      this.ops.push({ op: 'add', path: at, value: canonical(b[i]) });
      collectLeaves(b[i], at, this.paths);
    }
    for (let i = a.length - 1; i >= common; i--) this.ops.push({ op: 'remove', path: prefix + String(i) });
    for (let i = common; i < a.length; i++) collectLeaves(a[i], prefix + String(i), this.paths);
  }
}

/** The pointer of `key` below `at`. */
function child(at: string, key: string): string {
  return at + '/' + escapeToken(key);
}

/**
 * The leaves of a replaced value, old then new, each named once. A scalar replaced by a scalar
 * is one path; a map replaced by a list can share paths ("/0") only through keys that look like
 * indices, so only that rare case pays for a set.
 */
function replacedLeaves(a: unknown, b: unknown, at: string, out: string[]): void {
  const aIsLeaf = !hasChildren(a);
  const bIsLeaf = !hasChildren(b);
  if (aIsLeaf && bIsLeaf) {
    out.push(at);
  } else if (aIsLeaf) {
    out.push(at);
    collectLeaves(b, at, out);
  } else if (bIsLeaf) {
    collectLeaves(a, at, out);
    out.push(at);
  } else {
    const both: string[] = [];
    collectLeaves(a, at, both);
    collectLeaves(b, at, both);
    // A loop, not push(...set): spreading a long list into arguments overflows the stack.
    for (const path of new Set(both)) out.push(path);
  }
}

function hasChildren(value: unknown): boolean {
  return (Array.isArray(value) && value.length > 0) || (isRecord(value) && Object.keys(value).length > 0);
}

function collectLeaves(value: unknown, at: string, out: string[]): void {
  if (!hasChildren(value)) {
    out.push(at);
    return;
  }
  // Depth first, keys sorted, through an explicit stack (children pushed last first).
  const stack: { value: unknown; at: string }[] = [{ value, at }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const v = top.value;
    if (Array.isArray(v) && v.length > 0) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], at: child(top.at, String(i)) });
    } else if (isRecord(v) && Object.keys(v).length > 0) {
      const keys = Object.keys(v).sort();
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string;
        stack.push({ value: v[key], at: child(top.at, key) });
      }
    } else {
      out.push(top.at);
    }
  }
}

// A copy with every map's keys sorted: a value in a patch reads the same whatever order the
// apiserver (or a test) wrote its keys in, so tickets and golden files stay byte-stable. A loop,
// not recursion, for the same reason as the walk.
function copyOf(v: unknown): unknown {
  return Array.isArray(v) ? [] : isRecord(v) ? {} : v;
}

function canonical(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const root = copyOf(value);
  const stack: { from: unknown; to: unknown }[] = [{ from: value, to: root }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const { from, to } = top;
    if (Array.isArray(from) && Array.isArray(to)) {
      for (const item of from) {
        const copy = copyOf(item);
        to.push(copy);
        if (copy !== item) stack.push({ from: item, to: copy });
      }
    } else if (isRecord(from) && isRecord(to)) {
      for (const key of Object.keys(from).sort()) {
        const item = from[key];
        const copy = copyOf(item);
        setOwn(to, key, copy);
        if (copy !== item) stack.push({ from: item, to: copy });
      }
    }
  }
  return root;
}

function has(o: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(o, key) && o[key] !== undefined;
}
