/**
 * Skips compiled into webhook match conditions: CEL the apiserver evaluates before it calls
 * driftgate. A condition that evaluates to false makes the apiserver skip the call, so each
 * condition here is `!(proof)`: false exactly when CEL proves the request is one of the claims.
 *
 * Rules every expression keeps, because with failurePolicy Fail a condition that errors (and
 * none that is false) refuses the write, and the apiserver's measured behaviour is in
 * ../shared/design/CEL-NOTES.md:
 * - Nothing is read that may be absent without `?.`/`orValue` or a `has`/`in` test first:
 *   `request.subResource`, `userInfo.groups`, `metadata.annotations` are absent when empty, and
 *   `object` is null on DELETE, `oldObject` on CREATE.
 * - Cheap tests first (operation, subresource, identity): `&&` short-circuits, so only a
 *   requester a claim names pays for its diff.
 * - Every comprehension runs over something whose size was checked first, so that the cost of
 *   every condition together stays below the per-webhook budget whatever the object: a map too
 *   large for a cheap check makes the proof false, and the request goes to driftgate.
 */
import { RUNTIME_METADATA } from '../decision/normalize.js';
import { BREAK_GLASS_FOR, PREFIX as DRIFTGATE_PREFIX } from '../decision/annotations.js';
import { escapeToken, parsePointer } from '../decision/pointer.js';
import type { Subjects } from '../policy/types.js';
import { grantCel } from './grant-cel.js';
import type { Claim, Skip, Who } from './skips.js';

/** MatchCondition is a CEL expression the apiserver evaluates before calling the webhook. */
export interface MatchCondition {
  name: string;
  expression: string;
}

/** The apiserver's limits (k8s.io/apiserver/pkg/apis/cel, admissionregistration validation). */
export const CEL_LIMITS = {
  /** Cost units for all the match conditions of one webhook, per request. */
  webhookBudget: 2_500_000,
  /** Match conditions per webhook. */
  conditionsPerWebhook: 64,
};

/**
 * What the compiler spends, chosen so that the worst request stays well inside the budget:
 * - MAX_GROUPS: a requester with more groups is checked by driftgate (no real identity has that many).
 * - COST_PER_ENTRY: cost units a map entry costs in one transformMap and the comparison after it
 *   (measured with the apiserver's cost tracker: about 12, rounded up).
 * - SPEND: the share of the budget the compiled skips may use together, in the worst case.
 * - MAX_ENTRIES: no map is walked beyond this size, whatever the budget allows.
 */
const MAX_GROUPS = 256;
const COST_PER_ENTRY = 16;
const COST_PER_NODE = 64;
const SPEND = 0.6;
const MAX_ENTRIES = 4096;

/** The fields `normalize()` drops on every write: never part of a change decide() sees. */
const RUNTIME_POINTERS: readonly string[] = [...RUNTIME_METADATA.map((key) => `/metadata/${escapeToken(key)}`), '/status'];

/** More managedFields entries than this and the write goes to driftgate (real objects have a handful). */
const MAX_MANAGERS = 16;

/**
 * GitOps bookkeeping that normalization hides but decide() judges (decision/bookkeeping.ts): the
 * last-applied annotation is compared like any other annotation (it is not in RUNTIME_POINTERS),
 * and managedFields must show no rewrite. What the apiserver itself does on a write, updating
 * the requester's own entry, is one entry changed in place with the same manager, operation,
 * subresource, apiVersion and fields (its time moved), or one entry appended (a new manager). CEL
 * cannot tell whether an appended entry's fields are ones the request changed, which decide()
 * requires outside status, so only an Update entry owning status alone is appended here (for a
 * Kubernetes controller, any Update entry: below); any other first write of a manager reaches
 * driftgate. So: no list before, or the same list with at most one entry
 * differing that way or one such entry added at its end, and no two entries with the same key
 * (decide() reads entries by key).
 */
function managedFieldsKept(appended: string): string {
  return [
    '[oldObject.?metadata.?managedFields.orValue([])].exists(mo, [object.?metadata.?managedFields.orValue([])].exists(mn,',
    '  type(mo) == list && (mo.size() == 0 || (',
    `    type(mn) == list && mo.size() <= ${MAX_MANAGERS} && mn.all(e, type(e) == map) && mo.all(e, type(e) == map) &&`,
    `    ((mn.size() == mo.size() + 1 && mo.all(i, e, e == mn[i]) && [mn[mo.size()]].all(e, e.?apiVersion.orValue("") == object.?apiVersion.orValue("-") && ${appended})) || (mn.size() == mo.size() &&`,
    '    mn.transformList(i, e, e != mo[i], i).size() <= 1 &&',
    '    mn.all(i, e, e == mo[i] || (e.?manager.orValue("") == mo[i].?manager.orValue("") && e.?operation.orValue("") == mo[i].?operation.orValue("") &&',
    '      e.?subresource.orValue("") == mo[i].?subresource.orValue("") && e.?apiVersion.orValue("") == mo[i].?apiVersion.orValue("") &&',
    '      e.?fieldsV1.orValue(null) == mo[i].?fieldsV1.orValue(null))))) &&',
    '    mn.all(i, e, mn.all(j, f, i == j || e.?manager.orValue("") != f.?manager.orValue("") || e.?operation.orValue("") != f.?operation.orValue("") ||',
    '      e.?subresource.orValue("") != f.?subresource.orValue("")))))))',
  ].join('\n');
}

/** Anyone's appended entry: an Update entry owning status alone. */
const MANAGED_FIELDS_KEPT = managedFieldsKept(
  'e.?operation.orValue("") == "Update" && [e.?fieldsV1.orValue({})].all(fv, type(fv) == map && fv.all(k, k == "f:status"))',
);

/**
 * A Kubernetes controller's appended entry: any Update entry. decide() does not hold a granted
 * controller to "gains only what it changed" (the apiserver writes its entry; what it may change
 * is its grant), so its first write of a field, such as the deployment controller's first
 * revision stamp, is still decided here while driftgate is down.
 */
const MANAGED_FIELDS_KEPT_BY_CONTROLLER = managedFieldsKept('e.?operation.orValue("") == "Update"');

/** The conditions of one webhook that encode its skips, and what their worst request costs. */
export interface CompiledSkips {
  conditions: MatchCondition[];
  /** Upper bound of their cost together, in the apiserver's cost units. */
  worstCost: number;
  /** The largest map a diff walks; a larger one sends the request to driftgate. */
  maxEntries: number;
}

/**
 * compileSkips returns the match conditions for `skips`, with room left for `reserved` other
 * conditions of the same webhook. Skips past the apiserver's 64 conditions are left out (their
 * requests reach driftgate, which allows them): a longer list would make the configuration
 * invalid.
 */
export function compileSkips(skips: readonly Skip[], reserved: number): CompiledSkips {
  const kept = skips.filter((skip) => celSafe(skip) && compilable(skip.claim)).slice(0, Math.max(0, CEL_LIMITS.conditionsPerWebhook - reserved));
  const tries = kept.map((skip) => {
    const paths = diffPathsOf(skip.claim);
    return paths === undefined ? undefined : trieOf(RUNTIME_POINTERS, paths);
  });
  // Every diff may run on the same request (anyone's no-op condition, several delegations naming
  // one group), so the map size limit is what keeps their sum within the budget.
  const walkedNodes = tries.reduce((sum, trie) => sum + (trie === undefined ? 0 : innerNodes(trie)), 0);
  const fixed = kept.length * fixedCost();
  const perNodeBudget = walkedNodes === 0 ? Infinity : (CEL_LIMITS.webhookBudget * SPEND - fixed) / walkedNodes;
  const maxEntries = Math.max(0, Math.min(MAX_ENTRIES, Math.floor((perNodeBudget - COST_PER_NODE) / (2 * COST_PER_ENTRY))));
  const conditions = kept.map((skip, i) => ({ name: skip.name, expression: `!(${proofOf(skip.who, skip.claim, tries[i], maxEntries)})` }));
  return { conditions, worstCost: fixed + walkedNodes * (COST_PER_NODE + 2 * COST_PER_ENTRY * maxEntries), maxEntries };
}

/** The pointers a claim's diff ignores (besides runtime fields), or undefined when it has no diff. */
function diffPathsOf(claim: Claim): readonly string[] | undefined {
  if (claim.kind === 'update-within') return claim.paths;
  if (claim.kind === 'grant') return grantCel(claim.grant, claim.policy)?.diffPaths;
  return undefined;
}

function compilable(claim: Claim): boolean {
  return claim.kind !== 'grant' || grantCel(claim.grant, claim.policy) !== undefined;
}

function fixedCost(): number {
  // Identity (groups bounded by MAX_GROUPS, each a lookup in a short list), the annotations test
  // (bounded by MAX_ANNOTATIONS, twice: the grants may run it before their diff), and the
  // managedFields test (its pairwise key check bounded by MAX_MANAGERS squared), twice too.
  return MAX_GROUPS * 8 + 2 * (MAX_ANNOTATIONS * 2 * 12 + 200) + 2 * MAX_MANAGERS * MAX_MANAGERS * 24;
}

function proofOf(who: Who, claim: Claim, trie: Trie | undefined, maxEntries: number): string {
  const identity = whoCel(who);
  switch (claim.kind) {
    case 'any-request':
      return and([`request.operation in ${celList(claim.operations)}`, identity]);
    case 'scale':
      return and(['request.operation == "UPDATE"', 'request.?subResource.orValue("") == "scale"', identity, COMPLETE, ANNOTATIONS_KEPT, MANAGED_FIELDS_KEPT]);
    case 'update-within':
      return and([
        'request.operation == "UPDATE"',
        'request.?subResource.orValue("") in ["", "status"]',
        identity,
        COMPLETE,
        ANNOTATIONS_KEPT,
        MANAGED_FIELDS_KEPT,
        diffWithin(trie ?? trieOf(RUNTIME_POINTERS, []), 'object', 'oldObject', 0, maxEntries),
      ]);
    case 'grant': {
      const cel = grantCel(claim.grant, claim.policy);
      if (cel === undefined) return 'false';
      // A grant about a change also needs the window untouched: when its diff is empty, decide()
      // falls through to the window checks (a window opened is judged at once).
      const diff =
        trie === undefined ? 'true' : and([ANNOTATIONS_KEPT, MANAGED_FIELDS_KEPT_BY_CONTROLLER, diffWithin(trie, 'object', 'oldObject', 0, maxEntries)]);
      // A grant holds only when the write rewrites no GitOps bookkeeping (decide() judges that).
      const bookkeeping = `(request.operation != "UPDATE" || (${ANNOTATIONS_KEPT} && ${MANAGED_FIELDS_KEPT_BY_CONTROLLER}))`;
      return and([identity, COMPLETE, bookkeeping, cel.test(diff)]);
    }
  }
}

/**
 * driftgate's own annotations untouched, and the last-applied configuration too: decide() judges
 * any edit of a `driftgate.dev/` annotation (a window opened, changed or removed, a ticket stamp,
 * driftgate's other keys) and any change of the last-applied configuration (GitOps bookkeeping,
 * decision/bookkeeping.ts) even when nothing else moved, and normalization hides both from the
 * diff. No `break-glass-for` either, which the mutating webhook would rewrite. More than
 * MAX_ANNOTATIONS annotations and the write goes to driftgate.
 */
const MAX_ANNOTATIONS = 512;
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const ANNOTATIONS_KEPT = [
  `[object.?metadata.?annotations.orValue({})].exists(na, [oldObject.?metadata.?annotations.orValue({})].exists(oa,`,
  `  type(na) == map && type(oa) == map && na.size() <= ${MAX_ANNOTATIONS} && oa.size() <= ${MAX_ANNOTATIONS} &&`,
  `  !(${celString(BREAK_GLASS_FOR)} in na) &&`,
  `  (${celString(LAST_APPLIED)} in na) == (${celString(LAST_APPLIED)} in oa) && (!(${celString(LAST_APPLIED)} in na) || na[${celString(LAST_APPLIED)}] == oa[${celString(LAST_APPLIED)}]) &&`,
  `  na.all(k, !k.startsWith(${celString(DRIFTGATE_PREFIX)}) || (k in oa && na[k] == oa[k])) &&`,
  `  oa.all(k, !k.startsWith(${celString(DRIFTGATE_PREFIX)}) || k in na)))`,
].join('\n');

/** decide() refuses what it cannot judge in full: an UPDATE without both objects, a CREATE without one, a DELETE without the old. */
const COMPLETE = '(request.operation == "DELETE" || type(object) == map) && (request.operation == "CREATE" || type(oldObject) == map)';

/** subjectsCel returns CEL that is true when the requester is one of `subjects` (users or groups), never erroring. */
export function subjectsCel(subjects: Subjects): string {
  return whoCel(subjects);
}

function whoCel(who: Who): string {
  if ('anyone' in who) return 'true';
  const tests: string[] = [];
  if (who.users.length > 0) tests.push(`request.userInfo.?username.orValue("") in ${celList(who.users)}`);
  if (who.groups.length > 0) {
    const groups = 'request.userInfo.?groups.orValue([])';
    tests.push(`(${groups}.size() <= ${MAX_GROUPS} && ${groups}.exists(g, g in ${celList(who.groups)}))`);
  }
  return tests.length === 1 ? (tests[0] as string) : `(${tests.join(' || ')})`;
}

/**
 * A trie of JSON Pointer tokens; a leaf is ignored with everything below it. A `delegated` leaf
 * may also make up a whole subtree present on one side only (decide() sees that subtree's leaves,
 * all within the delegation); a `runtime` one may not, because normalization drops it and leaves
 * an empty map behind, which decide() sees as a change of its own.
 */
interface Trie {
  leaf: 'runtime' | 'delegated' | undefined;
  children: Map<string, Trie>;
}

function trieOf(runtime: readonly string[], delegated: readonly string[]): Trie {
  const root: Trie = { leaf: undefined, children: new Map() };
  const insert = (pointer: string, kind: 'runtime' | 'delegated'): void => {
    let node = root;
    for (const token of parsePointer(pointer)) {
      if (node.leaf !== undefined) return; // already ignored, from here down
      let next = node.children.get(token);
      if (next === undefined) {
        next = { leaf: undefined, children: new Map() };
        node.children.set(token, next);
      }
      node = next;
    }
    if (node.leaf === undefined) node.leaf = kind;
    node.children.clear();
  };
  for (const pointer of runtime) insert(pointer, 'runtime');
  for (const pointer of delegated) insert(pointer, 'delegated');
  return root;
}

function innerNodes(trie: Trie): number {
  if (trie.leaf !== undefined) return 0;
  let count = 1;
  for (const child of trie.children.values()) count += innerNodes(child);
  return count;
}

/**
 * diffWithin returns CEL that is true when the values `a` (new) and `b` (old) differ only under
 * the trie's leaves. Two maps are compared without the trie's keys (`transformMap` drops them),
 * then each inner key recursively; an inner key present on one side only must hold nothing but
 * delegated leaves there (`kubectl rollout restart` adds the whole annotations map). Anything
 * else (a list, a scalar, null, a map against a non-map) must be equal as a whole: an ignored
 * field inside a list is not ignored, which only costs a webhook call.
 */
function diffWithin(trie: Trie, a: string, b: string, depth: number, maxEntries: number): string {
  if (trie.leaf !== undefined) return 'true';
  const keys = celList([...trie.children.keys()]);
  const maps = [
    `${a}.size() <= ${maxEntries}`,
    `${b}.size() <= ${maxEntries}`,
    `${a}.transformMap(k, v, !(k in ${keys}), v) == ${b}.transformMap(k, v, !(k in ${keys}), v)`,
  ];
  for (const [key, child] of trie.children) {
    if (child.leaf !== undefined) continue;
    const k = celString(key);
    const [na, nb] = [`a${depth + 1}`, `b${depth + 1}`];
    maps.push(
      [
        `((${k} in ${a} && ${k} in ${b}) ? [${a}[${k}]].exists(${na}, [${b}[${k}]].exists(${nb},\n${diffWithin(child, na, nb, depth + 1, maxEntries)}))`,
        `: ${k} in ${a} ? [${a}[${k}]].exists(${na}, ${onlyDelegated(child, na, depth + 1, maxEntries)})`,
        `: ${k} in ${b} ? [${b}[${k}]].exists(${nb}, ${onlyDelegated(child, nb, depth + 1, maxEntries)})`,
        ': true)',
      ].join('\n'),
    );
  }
  return `((type(${a}) == map && type(${b}) == map) ? (${maps.join(' && ')}) : ${a} == ${b})`;
}

/**
 * onlyDelegated returns CEL that is true when `v`, a value present on one side only, is a
 * non-empty map whose every key is a delegated leaf of the trie or an inner key holding the same
 * again: every leaf decide() sees in it then lies within a delegation.
 */
function onlyDelegated(trie: Trie, v: string, depth: number, maxEntries: number): string {
  const k = `k${depth}`;
  const delegatedLeaves = [...trie.children].filter(([, child]) => child.leaf === 'delegated').map(([key]) => key);
  const clauses: string[] = [];
  if (delegatedLeaves.length > 0) clauses.push(`${k} in ${celList(delegatedLeaves)}`);
  for (const [key, child] of trie.children) {
    if (child.leaf !== undefined) continue;
    const x = `x${depth + 1}`;
    clauses.push(`(${k} == ${celString(key)} && [${v}[${celString(key)}]].exists(${x}, ${onlyDelegated(child, x, depth + 1, maxEntries)}))`);
  }
  if (clauses.length === 0) return 'false';
  return `(type(${v}) == map && ${v}.size() > 0 && ${v}.size() <= ${maxEntries} && ${v}.all(${k}, ${clauses.join(' || ')}))`;
}

function and(parts: readonly string[]): string {
  return parts.filter((part) => part !== 'true').join(' &&\n');
}

/**
 * A CEL string literal. JSON's escapes are CEL's (\" \\ \n \uXXXX…), except that CEL refuses a
 * lone UTF-16 surrogate, which `celSafe` keeps out.
 */
export function celString(text: string): string {
  return JSON.stringify(text);
}

function celList(items: readonly string[]): string {
  return `[${items.map(celString).join(', ')}]`;
}

/** Whether every string of the skip can be written as a CEL literal; one that cannot is left out. */
function celSafe(skip: Skip): boolean {
  const strings: string[] = [];
  if (!('anyone' in skip.who)) strings.push(...subjectsOf(skip.who));
  const paths = diffPathsOf(skip.claim);
  if (paths !== undefined) strings.push(...paths);
  return strings.every((text) => !LONE_SURROGATE.test(text));
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function subjectsOf(subjects: Subjects): string[] {
  return [...subjects.users, ...subjects.groups];
}
