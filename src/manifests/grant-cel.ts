/**
 * Kubernetes' controllers' grants (policy/kubernetes-controllers.ts) in CEL: for each grant, a
 * test that implies what decide/controllers.ts checks, so a request it passes is one decide()
 * grants. Where the exact check is out of CEL's reach the test is narrower (the write then still
 * reaches driftgate, which grants it); each narrowing is said below.
 *
 * Every test here is written to never error, like the rest of the conditions (conditions.ts).
 */
import { BREAK_GLASS_FOR } from '../decision/annotations.js';
import type { ControllerGrant, OwnerKind } from '../policy/kubernetes-controllers.js';
import { guardsKind } from '../policy/match.js';
import type { GuardPolicy } from '../policy/types.js';

/** GrantCel is a grant's test, plus the JSON Pointers its diff ignores when it is one. */
export interface GrantCel {
  /** CEL that implies the grant; `diff` is where the compiler puts the diff (conditions.ts). */
  test: (diff: string) => string;
  /** The pointers outside of which nothing may change, when the grant is about a change. */
  diffPaths?: readonly string[];
}

/** More owner references or finalizers than this and the write goes to driftgate (real objects have a handful). */
const MAX_LIST = 64;

const SUB = 'request.?subResource.orValue("")';

/**
 * The mutating webhook would rewrite a relative break-glass window on a CREATE or UPDATE the grant
 * lets through (decide() returns mutationOf() with the grant): such a write must reach it.
 */
const NOTHING_TO_PATCH = `(object == null || !(${JSON.stringify(BREAK_GLASS_FOR)} in object.?metadata.?annotations.orValue({})))`;

function list(items: readonly string[]): string {
  return `[${items.map((item) => JSON.stringify(item)).join(', ')}]`;
}

function resourceIs(group: string, resource: string): string {
  return `request.resource.group == ${JSON.stringify(group)} && request.resource.resource == ${JSON.stringify(resource)}`;
}

/** A list at `path` of `obj` (optional chain text), [] when absent; a non-list makes the test false. */
function listAt(obj: string, field: string): string {
  return `${obj}.?metadata.?${field}.orValue([])`;
}

/** decide()'s requestName(): the request's name, else the new object's, else the old one's. */
const REQUEST_NAME = [
  '(request.?name.orValue("") != "" ? request.name',
  ': (object != null && object.?metadata.?name.orValue("") != "") ? object.metadata.name',
  ': oldObject != null ? oldObject.?metadata.?name.orValue("") : "")',
].join(' ');

function ownedBy(side: string, owners: readonly OwnerKind[]): string {
  const kinds = owners
    .map((o) => {
      const group = o.group === '' ? '!r.apiVersion.contains("/")' : `r.apiVersion.startsWith(${JSON.stringify(`${o.group}/`)})`;
      return `(r.?kind.orValue("") == ${JSON.stringify(o.kind)} && ${group})`;
    })
    .join(' || ');
  const refs = listAt(side, 'ownerReferences');
  return (
    `(${side} != null && type(${refs}) == list && ${refs}.size() <= ${MAX_LIST} && ${refs}.exists(r, type(r) == map && ` +
    `r.?controller.orValue(false) == true && type(r.?apiVersion.orValue(0)) == string && (${kinds})))`
  );
}

/**
 * decide()'s guardsKind() for an ownerReference `r`: the policy guards the main resource its kind
 * names (resourceOfKind's pluralization, on an ASCII kind), in its API group.
 */
function ownerKindGuarded(policy: GuardPolicy): string {
  const group = '(r.apiVersion.contains("/") ? r.apiVersion.split("/")[0] : "")';
  const lower = 'r.kind.lowerAscii()';
  const resource = `(${lower}.endsWith("s") ? ${lower} + "es" : ${lower}.endsWith("y") ? ${lower}.substring(0, ${lower}.size() - 1) + "ies" : ${lower} + "s")`;
  const rules = policy.resources.map((rule) => {
    const groups = rule.apiGroups.includes('*') ? 'true' : `${group} in ${list(rule.apiGroups)}`;
    const mains = rule.resources.filter((entry) => !entry.includes('/'));
    if (mains.length === 0) return 'false';
    return `(${groups} && ${mains.includes('*') ? 'true' : `${resource} in ${list(mains)}`})`;
  });
  return (
    'type(r) == map && type(r.?apiVersion.orValue(0)) == string && type(r.?kind.orValue(0)) == string && ' +
    `r.kind.matches("^[A-Za-z0-9]+$") && (${rules.length === 0 ? 'false' : rules.join(' || ')})`
  );
}

/** grantCel returns the CEL test of one grant under `policy`, or undefined when CEL cannot check it. */
export function grantCel(grant: ControllerGrant, policy: GuardPolicy): GrantCel | undefined {
  switch (grant.kind) {
    case 'remove-finalizers': {
      // Narrower than decide(): the granted finalizers all go at once (the collector removes the
      // one it finished; another, kept, makes the write reach driftgate) and ownerReferences stay.
      const before = listAt('oldObject', 'finalizers');
      const after = listAt('object', 'finalizers');
      return {
        diffPaths: ['/metadata/finalizers'],
        test: (diff) =>
          [
            'request.operation == "UPDATE"',
            `${SUB} == ""`,
            'object != null && oldObject != null',
            '[oldObject.?metadata.?deletionTimestamp.orValue("")].exists(t, type(t) == string && t != "")',
            `type(${before}) == list && type(${after}) == list && ${before}.size() <= ${MAX_LIST} && ${after}.size() <= ${MAX_LIST}`,
            `${before}.filter(f, !(f in ${list(grant.finalizers)})) == ${after}`,
            NOTHING_TO_PATCH,
            diff,
          ].join(' &&\n'),
      };
    }
    case 'remove-owner-references': {
      // The new references are the old ones with some taken out, in order: filtering the old list
      // by membership in the new one gives back the new list exactly when it is such a subsequence.
      const before = listAt('oldObject', 'ownerReferences');
      const after = listAt('object', 'ownerReferences');
      return {
        diffPaths: ['/metadata/ownerReferences'],
        test: (diff) =>
          [
            'request.operation == "UPDATE"',
            `${SUB} == ""`,
            'object != null && oldObject != null',
            `type(${before}) == list && type(${after}) == list && ${before}.size() <= ${MAX_LIST} && ${after}.size() <= ${MAX_LIST}`,
            `${before}.filter(r, r in ${after}) == ${after}`,
            NOTHING_TO_PATCH,
            diff,
          ].join(' &&\n'),
      };
    }
    case 'delete-dependents': {
      // Every owner of a guarded kind: the owner's own deletion was judged by driftgate.
      const refs = listAt('oldObject', 'ownerReferences');
      return {
        test: () =>
          [
            'request.operation == "DELETE"',
            `${SUB} == ""`,
            'oldObject != null',
            `type(${refs}) == list && ${refs}.size() > 0 && ${refs}.size() <= ${MAX_LIST}`,
            `${refs}.all(r, ${ownerKindGuarded(policy)})`,
          ].join(' &&\n'),
      };
    }
    case 'delete-in-terminating-namespace':
      // Only the Namespace object says whether it is terminating, and CEL has no way to read it.
      return undefined;
    case 'write-named':
      return {
        test: () =>
          [
            resourceIs(grant.group, grant.resource),
            `${SUB} == ""`,
            `request.operation in ${list(grant.operations)}`,
            `${REQUEST_NAME} in ${list(grant.names)}`,
            NOTHING_TO_PATCH,
          ].join(' &&\n'),
      };
    case 'write-owned': {
      // Only under an owner of a kind the policy guards (whose own writes driftgate judged).
      const owners = grant.owners.filter((o) => guardsKind(policy, o.group, o.kind));
      if (owners.length === 0) return undefined;
      return {
        test: () =>
          [
            resourceIs(grant.group, grant.resource),
            `${SUB} in ["", "status"]`,
            'request.operation in ["CREATE", "UPDATE", "DELETE"]',
            `(${ownedBy('object', owners)} || ${ownedBy('oldObject', owners)})`,
            NOTHING_TO_PATCH,
          ].join(' &&\n'),
      };
    }
    case 'own-finalizer': {
      // Adds or removes its one finalizer, and nothing else: one list is the other without it.
      const before = listAt('oldObject', 'finalizers');
      const after = listAt('object', 'finalizers');
      const mine = JSON.stringify(grant.finalizer);
      return {
        diffPaths: ['/metadata/finalizers'],
        test: (diff) =>
          [
            resourceIs(grant.group, grant.resource),
            `${SUB} == ""`,
            'request.operation == "UPDATE"',
            'object != null && oldObject != null',
            `type(${before}) == list && type(${after}) == list && ${before}.size() <= ${MAX_LIST} && ${after}.size() <= ${MAX_LIST}`,
            `(${before}.filter(f, f != ${mine}) == ${after} || ${after}.filter(f, f != ${mine}) == ${before})`,
            NOTHING_TO_PATCH,
            diff,
          ].join(' &&\n'),
      };
    }
    case 'finalize-terminating-namespace':
      // The namespace controller's last step; its deletes before it need the Namespace looked up
      // anyway (above), so a namespace cannot finish deleting while driftgate is down.
      return undefined;
    case 'change-paths':
      return {
        diffPaths: grant.paths,
        test: (diff) =>
          [
            resourceIs(grant.group, grant.resource),
            `${SUB} in ["", "status"]`,
            'request.operation == "UPDATE"',
            'object != null && oldObject != null',
            NOTHING_TO_PATCH,
            diff,
          ].join(' &&\n'),
      };
  }
}
