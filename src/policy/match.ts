/**
 * Does a request fall under a policy, and who is its requester to it? Pure functions over the
 * validated GuardPolicy, used by `decide()` on every review.
 */
import { isImplied } from './subresources.js';
import type { GuardPolicy, ResourceRule, Subjects } from './types.js';

/** Requester is the identity the apiserver reports: a username and the groups it carries. */
export interface Requester {
  username: string;
  groups?: string[];
}

/**
 * matchesNamespace returns whether `namespace` is protected: named exactly, matched by a prefix
 * glob such as "payments-*", or by "*". Cluster-scoped objects (no namespace) never match.
 */
export function matchesNamespace(policy: Pick<GuardPolicy, 'namespaces'>, namespace: string | undefined): boolean {
  if (namespace === undefined || namespace === '') return false;
  return policy.namespaces.some((entry) => (entry.endsWith('*') ? namespace.startsWith(entry.slice(0, -1)) : entry === namespace));
}

function resourceEntryMatches(entry: string, resource: string, subResource: string | undefined): boolean {
  if (subResource === undefined) return entry === '*' || entry === resource;
  const slash = entry.indexOf('/');
  if (slash === -1) return false; // "deployments" and "*" leave subresources alone, unlike RBAC's "*".
  const main = entry.slice(0, slash);
  const sub = entry.slice(slash + 1);
  return (main === '*' || main === resource) && (sub === '*' || sub === subResource);
}

function ruleMatches(rules: readonly ResourceRule[], group: string, resource: string, sub: string | undefined): boolean {
  return rules.some(
    (rule) => (rule.apiGroups.includes(group) || rule.apiGroups.includes('*')) && rule.resources.some((entry) => resourceEntryMatches(entry, resource, sub)),
  );
}

/**
 * matchesResource returns whether the policy guards the resource. A rule covers it like an RBAC
 * rule: its apiGroups hold `group` (or "*") and its resources hold `resource`, or `resource/sub`
 * for a subresource ("*\/scale" every scale, "deployments/*" every subresource of deployments).
 * Guarding a resource also guards the subresources through which its stored state can change
 * (`/status`, `/scale`, `pods/eviction`…: subresources.ts), unless `openSubresources` leaves one
 * open; a subresource named in `resources` is guarded whatever `openSubresources` says. An empty
 * `subResource` means none, as the apiserver sends it.
 */
export function matchesResource(
  policy: Pick<GuardPolicy, 'resources'> & Partial<Pick<GuardPolicy, 'openSubresources'>>,
  group: string,
  resource: string,
  subResource?: string,
): boolean {
  const sub = subResource === '' ? undefined : subResource;
  if (ruleMatches(policy.resources, group, resource, sub)) return true;
  if (sub === undefined || !isImplied(group, resource, sub)) return false;
  return ruleMatches(policy.resources, group, resource, undefined) && !ruleMatches(policy.openSubresources ?? [], group, resource, sub);
}

/** inSubjects returns whether the user is named in `subjects` by username or by one of its groups. */
export function inSubjects(subjects: Subjects, user: Requester): boolean {
  if (subjects.users.includes(user.username)) return true;
  return (user.groups ?? []).some((group) => subjects.groups.includes(group));
}

/**
 * delegatedPaths returns the JSON Pointers the user may change: the union, without repeats and
 * in policy order, of the paths of every delegation naming the user.
 */
export function delegatedPaths(policy: Pick<GuardPolicy, 'delegations'>, user: Requester): string[] {
  const paths = new Set<string>();
  for (const delegation of policy.delegations) {
    if (inSubjects(delegation, user)) for (const path of delegation.paths) paths.add(path);
  }
  return [...paths];
}

/**
 * resourceOfKind returns the plural resource name Kubernetes conventionally gives a kind, the way
 * the apiserver guesses it (`meta.UnsafeGuessKindToResource`): lowercase, then "-s" → "-ses",
 * "-y" → "-ies", else "+s". An ownerReference names its owner by kind only; this is how driftgate
 * tells whether the owner is guarded. Kinds that break the convention are not guessed right and so
 * count as unguarded, which only ever refuses more.
 */
export function resourceOfKind(kind: string): string {
  const lower = kind.toLowerCase();
  if (lower === '') return '';
  if (lower.endsWith('s')) return `${lower}es`;
  if (lower.endsWith('y')) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

/** guardsKind returns whether the policy guards the main resource of a kind in an API group. */
export function guardsKind(policy: Pick<GuardPolicy, 'resources'>, group: string, kind: string): boolean {
  const resource = resourceOfKind(kind);
  return resource !== '' && matchesResource(policy, group, resource);
}
