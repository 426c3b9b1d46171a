/**
 * Several GuardPolicies in one cluster, and how they combine: they never overlap. Each namespace is
 * guarded by at most one policy, so a request is judged by exactly one policy's rules (its GitOps
 * writers, delegations, break-glass), never by a blend that nobody wrote. A policy whose namespaces
 * overlap another's is refused at admission (driftgate's /validate-policy webhook), and should one
 * get stored anyway (the webhook not yet registered), the older policy keeps the namespaces and the
 * newer one is Invalid until it is narrowed (status.ts). docs/policy-reference.md, "Several policies".
 */
import type { GuardPolicy } from './types.js';

/**
 * PolicySet is what driftgate judges by when policies come from the cluster: the valid
 * GuardPolicies in force, whose namespaces never overlap.
 */
export interface PolicySet {
  policies: readonly GuardPolicy[];
  /**
   * Set while no policy can be trusted (GuardPolicies exist but none is valid, or they have not
   * been read yet): every review that reaches driftgate is then refused with this reason (fail
   * closed). The webhooks' match conditions still let GitOps and Kubernetes' controllers through.
   */
  closed?: string;
}

/** PolicyInForce is one policy (`serve --policy FILE`, `review`) or the set taken from the cluster. */
export type PolicyInForce = GuardPolicy | PolicySet;

/** isPolicySet tells a set from a single policy. */
export function isPolicySet(inForce: PolicyInForce): inForce is PolicySet {
  return 'policies' in inForce;
}

/** entryMatches returns whether a namespaces entry ("prod", "payments-*", "*") covers `namespace`. */
function entryMatches(entry: string, namespace: string): boolean {
  return entry.endsWith('*') ? namespace.startsWith(entry.slice(0, -1)) : entry === namespace;
}

/**
 * policyFor returns the policy of the set that guards `namespace` (the request's, or a Namespace
 * object's own name, as decide() reads it), or undefined when none does.
 */
export function policyFor(set: PolicySet, namespace: string | undefined): GuardPolicy | undefined {
  if (namespace === undefined || namespace === '') return undefined;
  return set.policies.find((policy) => policy.namespaces.some((entry) => entryMatches(entry, namespace)));
}

/**
 * entriesOverlap returns whether some namespace could match both entries: two names when equal, a
 * name and a glob when the glob covers the name, two globs when one prefix starts the other.
 */
export function entriesOverlap(a: string, b: string): boolean {
  const aGlob = a.endsWith('*');
  const bGlob = b.endsWith('*');
  if (!aGlob && !bGlob) return a === b;
  if (aGlob && !bGlob) return entryMatches(a, b);
  if (!aGlob && bGlob) return entryMatches(b, a);
  const pa = a.slice(0, -1);
  const pb = b.slice(0, -1);
  return pa.startsWith(pb) || pb.startsWith(pa);
}

/** Overlap names one pair of entries two policies share. */
export interface Overlap {
  /** The other policy. */
  policy: string;
  /** The entry of the policy being checked, its index, and the other policy's entry it overlaps. */
  entry: string;
  index: number;
  theirs: string;
}

/** overlapsOf returns, for each of `namespaces` that some policy of `others` also covers, the first such overlap. */
export function overlapsOf(namespaces: readonly string[], others: readonly Pick<GuardPolicy, 'name' | 'namespaces'>[]): Overlap[] {
  const found: Overlap[] = [];
  namespaces.forEach((entry, index) => {
    for (const other of others) {
      const theirs = other.namespaces.find((t) => entriesOverlap(entry, t));
      if (theirs !== undefined) {
        found.push({ policy: other.name, entry, index, theirs });
        return;
      }
    }
  });
  return found;
}

/** overlapMessage returns the path-qualified line for one overlap, saying how to fix it. */
export function overlapMessage(o: Overlap): string {
  const what = o.entry === o.theirs ? `${JSON.stringify(o.entry)} is` : `${JSON.stringify(o.entry)} overlaps ${JSON.stringify(o.theirs)}, which is`;
  return `spec.namespaces[${o.index}]: ${what} already guarded by GuardPolicy ${o.policy}; a namespace is guarded by one policy only: remove it here, or move the rules into ${o.policy}`;
}
