/**
 * What the apiserver may decide without calling driftgate: the writes `decide()` allows anyway,
 * unpatched and unticketed, named from the policy. Each `Skip` is one claim ("these identities,
 * this kind of write: allowed"); `conditions.ts` compiles the claims into CEL match conditions.
 *
 * Every source below is a function from the policy to claims, so another source (Kubernetes' own
 * controllers, once `decide()` knows them) adds one function here and nothing in the compiler.
 * A claim must hold for every request it covers, whatever else the request carries: the
 * differential test (test/unit/manifests/differential.test.ts) checks each one against
 * `decide()` through Kubernetes' own CEL implementation.
 */
import type { Operation } from '../admission/types.js';
import { isWithin } from '../decision/pointer.js';
import { SHARED_CONTROLLER_IDENTITY, type ControllerGrant } from '../policy/kubernetes-controllers.js';
import { matchesResource } from '../policy/match.js';
import type { GuardPolicy, Subjects } from '../policy/types.js';

/** Who a claim covers: named users and groups, or every requester. */
export type Who = { anyone: true } | Subjects;

/** What a claim covers. */
export type Claim =
  /** Every request of these operations (GitOps writers: decide() allows them before reading anything else). */
  | { kind: 'any-request'; operations: readonly Operation[] }
  /** An UPDATE of a `/scale` subresource by an owner of /spec/replicas (only the replica count reaches decide()). */
  | { kind: 'scale' }
  /**
   * An UPDATE of the main resource or its `/status` whose old and new objects differ only under
   * `paths` (JSON Pointers) and under the fields normalization drops, with no break-glass
   * annotation opened, changed or to rewrite.
   */
  | { kind: 'update-within'; paths: readonly string[] }
  /**
   * One grant of Kubernetes' own controllers (policy/kubernetes-controllers.ts), as far as CEL
   * can check it (grant-cel.ts says how far, grant by grant).
   */
  | { kind: 'grant'; grant: ControllerGrant; policy: GuardPolicy };

/** Skip is one claim about what `decide()` allows, unpatched and unticketed. */
export interface Skip {
  /** The match condition's name: a qualified name, unique per webhook. */
  name: string;
  who: Who;
  claim: Claim;
}

/** A source of skips: reads the policy (or a built-in list) and returns its claims. */
export type SkipSource = (policy: GuardPolicy) => Skip[];

/** GitOps writers are Git: decide() allows whatever they send before looking at it. */
export const gitopsSkips: SkipSource = (policy) =>
  hasSubjects(policy.gitopsWriters)
    ? [{ name: 'skip-gitops-writers', who: policy.gitopsWriters, claim: { kind: 'any-request', operations: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] } }]
    : [];

/**
 * Each delegation: its UPDATEs that stay inside its paths, and, when it owns /spec/replicas, its
 * `/scale` UPDATEs. One condition per delegation rather than one per identity: a requester named
 * by two delegations owns the union in decide(), and a write spanning both then still reaches
 * driftgate, which allows it; the other way round would need the identities' union in CEL.
 */
export const delegationSkips: SkipSource = (policy) =>
  policy.delegations.flatMap((delegation, i) => {
    if (!hasSubjects(delegation)) return [];
    const who: Subjects = { users: delegation.users, groups: delegation.groups };
    const skips: Skip[] = [{ name: `skip-delegation-${i}-update`, who, claim: { kind: 'update-within', paths: delegation.paths } }];
    if (delegation.paths.some((owned) => isWithin('/spec/replicas', owned))) {
      skips.push({ name: `skip-delegation-${i}-scale`, who, claim: { kind: 'scale' } });
    }
    return skips;
  });

/**
 * Anyone's UPDATE that changes nothing decide() reads: a no-op apply, a controller's status
 * write through `/status`, a write moving only runtime fields. decide() allows them as no-drift.
 */
export const noDriftSkips: SkipSource = () => [{ name: 'skip-no-drift', who: { anyone: true }, claim: { kind: 'update-within', paths: [] } }];

/**
 * Kubernetes' own controllers in force, one claim per grant, under the identities decide()
 * accepts for them (their ServiceAccount, and the shared controller-manager identity when the
 * policy allows it). A grant that only a looked-up object can prove (the namespace controller's
 * deletes need the Namespace) makes no claim: those writes still reach driftgate.
 */
export const kubernetesControllerSkips: SkipSource = (policy) => {
  const { controllers, sharedIdentity } = policy.kubernetesControllers;
  return controllers.flatMap((controller) => {
    const who: Subjects = { users: sharedIdentity ? [controller.serviceAccount, SHARED_CONTROLLER_IDENTITY] : [controller.serviceAccount], groups: [] };
    return controller.grants
      .filter((grant) => grant.kind !== 'delete-in-terminating-namespace' && guards(policy, grant))
      .map((grant, i): Skip => ({ name: `skip-${controller.name}-${i}`.slice(0, 63), who, claim: { kind: 'grant', grant, policy } }));
  });
};

/** Whether the webhooks can see a write the grant is about: a grant of an unguarded kind needs no condition. */
function guards(policy: GuardPolicy, grant: ControllerGrant): boolean {
  if (!('resource' in grant)) return true;
  return matchesResource(policy, grant.group, grant.resource) || matchesResource(policy, grant.group, grant.resource, 'status');
}

/** The sources the renderer compiles, in the order their conditions are written. */
export const SKIP_SOURCES: readonly SkipSource[] = [gitopsSkips, noDriftSkips, delegationSkips, kubernetesControllerSkips];

/** skipsOf returns every claim the sources make about `policy`, in source order. */
export function skipsOf(policy: GuardPolicy, sources: readonly SkipSource[] = SKIP_SOURCES): Skip[] {
  return sources.flatMap((source) => source(policy));
}

function hasSubjects(subjects: Subjects): boolean {
  return subjects.users.length > 0 || subjects.groups.length > 0;
}
