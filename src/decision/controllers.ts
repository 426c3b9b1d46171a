/**
 * Does a write come from one of Kubernetes' own controllers, within what that controller must do?
 * The grants are the policy's (`policy/kubernetes-controllers.ts`); this file reads each one
 * against the request, strictly: a grant that cannot be checked from what the request (and, for
 * the namespace controller, the looked-up Namespace) carries does not apply.
 */
import type { AdmissionRequest, KubeObject } from '../admission/types.js';
import { SHARED_CONTROLLER_IDENTITY, type ControllerGrant, type KubernetesController, type OwnerKind } from '../policy/kubernetes-controllers.js';
import { guardsKind, matchesResource } from '../policy/match.js';
import type { GuardPolicy } from '../policy/types.js';
import type { RequestChange } from './change.js';
import { isRecord } from './normalize.js';
import { isWithin } from './pointer.js';
import { requestName } from './target-name.js';

/** ControllerVerdict says whether a built-in controller's grant lets the write through. */
export type ControllerVerdict =
  | { kind: 'granted'; controller: string }
  /** A grant applies only if the namespace is being deleted: look the Namespace up and decide again. */
  | { kind: 'needs-namespace'; namespace: string }
  | { kind: 'none' };

const NONE: ControllerVerdict = { kind: 'none' };

/** controllersOf returns the built-in controllers in force that the requester is. */
export function controllersOf(policy: GuardPolicy, username: string): KubernetesController[] {
  const { controllers, sharedIdentity } = policy.kubernetesControllers;
  if (sharedIdentity && username === SHARED_CONTROLLER_IDENTITY) return controllers;
  return controllers.filter((c) => c.serviceAccount === username);
}

/**
 * controllerVerdict returns whether one of Kubernetes' own controllers may make this write.
 * `namespace` is the request's Namespace object when the caller looked it up.
 */
export function controllerVerdict(request: AdmissionRequest, policy: GuardPolicy, change: RequestChange, namespace?: KubeObject): ControllerVerdict {
  const controllers = controllersOf(policy, request.userInfo.username);
  let needsNamespace = false;
  for (const controller of controllers) {
    for (const grant of controller.grants) {
      const verdict = check(grant, request, policy, change, namespace);
      if (verdict === 'granted') return { kind: 'granted', controller: controller.name };
      if (verdict === 'needs-namespace') needsNamespace = true;
    }
  }
  return needsNamespace && request.namespace ? { kind: 'needs-namespace', namespace: request.namespace } : NONE;
}

type GrantCheck = 'granted' | 'needs-namespace' | 'no';

function check(grant: ControllerGrant, request: AdmissionRequest, policy: GuardPolicy, change: RequestChange, namespace: KubeObject | undefined): GrantCheck {
  const sub = request.subResource ?? '';
  const yes = (ok: boolean): GrantCheck => (ok ? 'granted' : 'no');
  switch (grant.kind) {
    case 'remove-finalizers':
      return yes(
        sub === '' &&
          request.operation === 'UPDATE' &&
          isDeleting(request.oldObject) &&
          onlyUnder(change.paths, ['/metadata/finalizers', '/metadata/ownerReferences']) &&
          onlyRemoved(finalizers(request.oldObject), finalizers(request.object), (f) => grant.finalizers.includes(f)) &&
          onlyRemovedReferences(request.oldObject, request.object),
      );
    case 'remove-owner-references':
      return yes(
        sub === '' &&
          request.operation === 'UPDATE' &&
          onlyUnder(change.paths, ['/metadata/ownerReferences']) &&
          onlyRemovedReferences(request.oldObject, request.object),
      );
    case 'delete-dependents': {
      const owners = ownerReferences(request.oldObject);
      return yes(sub === '' && request.operation === 'DELETE' && owners.length > 0 && owners.every((ref) => ownerGuarded(policy, ref)));
    }
    case 'delete-in-terminating-namespace':
      // Unless Namespace deletes are judged, anyone allowed to delete a namespace would empty it of guarded objects.
      if (sub !== '' || request.operation !== 'DELETE' || !matchesResource(policy, '', 'namespaces')) return 'no';
      if (namespace === undefined) return 'needs-namespace';
      return yes(namespace.kind === 'Namespace' && namespace.metadata?.name === request.namespace && isTerminating(namespace));
    case 'finalize-terminating-namespace':
      return yes(
        isResource(request, '', 'namespaces') &&
          (sub === '' || sub === 'finalize' || sub === 'status') &&
          request.operation === 'UPDATE' &&
          isDeleting(request.oldObject) &&
          onlyUnder(change.paths, ['/spec/finalizers']) &&
          onlyRemoved(specFinalizers(request.oldObject), specFinalizers(request.object), () => true),
      );
    case 'own-finalizer': {
      if (!isResource(request, grant.group, grant.resource) || sub !== '' || request.operation !== 'UPDATE') return 'no';
      if (!onlyUnder(change.paths, ['/metadata/finalizers'])) return 'no';
      const before = finalizers(request.oldObject);
      const after = finalizers(request.object);
      const mine = (f: string): boolean => f === grant.finalizer;
      return yes(onlyRemoved(before, after, mine) || onlyRemoved(after, before, mine));
    }
    case 'write-named':
      return yes(
        isResource(request, grant.group, grant.resource) &&
          sub === '' &&
          (grant.operations as readonly string[]).includes(request.operation) &&
          grant.names.includes(requestName(request)),
      );
    case 'write-owned': {
      if (!isResource(request, grant.group, grant.resource) || (sub !== '' && sub !== 'status')) return 'no';
      if (request.operation === 'CONNECT') return 'no';
      // Adoption adds the controller reference and release removes it: either side may carry it.
      const sides =
        request.operation === 'CREATE' ? [request.object] : request.operation === 'DELETE' ? [request.oldObject] : [request.object, request.oldObject];
      const owners = grant.owners.filter((o) => guardsKind(policy, o.group, o.kind));
      return yes(sides.some((side) => hasControllerOwner(side, owners)));
    }
    case 'change-paths':
      return yes(
        isResource(request, grant.group, grant.resource) &&
          (sub === '' || sub === 'status') &&
          request.operation === 'UPDATE' &&
          change.paths.length > 0 &&
          change.paths.every((p) => grant.paths.some((owned) => isWithin(p, owned))),
      );
  }
}

function isResource(request: AdmissionRequest, group: string, resource: string): boolean {
  return request.resource.group === group && request.resource.resource === resource;
}

function onlyUnder(paths: string[], prefixes: string[]): boolean {
  return paths.length > 0 && paths.every((p) => prefixes.some((prefix) => isWithin(p, prefix)));
}

function isDeleting(obj: KubeObject | null | undefined): boolean {
  const ts = obj?.metadata?.['deletionTimestamp'];
  return typeof ts === 'string' && ts !== '';
}

function isTerminating(ns: KubeObject): boolean {
  if (isDeleting(ns)) return true;
  const status = ns['status'];
  return isRecord(status) && status['phase'] === 'Terminating';
}

function finalizers(obj: KubeObject | null | undefined): string[] {
  const list = obj?.metadata?.['finalizers'];
  return Array.isArray(list) ? list.filter((f): f is string => typeof f === 'string') : [];
}

/**
 * onlyRemoved tells whether `after` is `before` with some entries taken out, each of them
 * `removable`, and nothing added, changed or reordered.
 */
function onlyRemoved(before: string[], after: string[], removable: (entry: string) => boolean): boolean {
  let i = 0;
  for (const entry of before) {
    if (i < after.length && after[i] === entry) i++;
    else if (!removable(entry)) return false;
  }
  return i === after.length;
}

function ownerReferences(obj: KubeObject | null | undefined): Record<string, unknown>[] {
  const list = obj?.metadata?.['ownerReferences'];
  return Array.isArray(list) ? list.filter(isRecord) : [];
}

function specFinalizers(obj: KubeObject | null | undefined): string[] {
  const spec = obj?.['spec'];
  const list = isRecord(spec) ? spec['finalizers'] : undefined;
  return Array.isArray(list) ? list.filter((f): f is string => typeof f === 'string') : [];
}

/**
 * referenceKey identifies an ownerReference for comparison, leaving out blockOwnerDeletion: the
 * collector turns it off to break foreground-deletion cycles, which is no change of ownership
 * (turning it on is checked apart). Keys are sorted so that serialization order never matters.
 */
function referenceKey(ref: Record<string, unknown>): string {
  const kept = Object.keys(ref)
    .filter((k) => k !== 'blockOwnerDeletion')
    .sort();
  return JSON.stringify(kept.map((k) => [k, ref[k]]));
}

/**
 * onlyRemovedReferences tells whether the new ownerReferences are the old ones with some taken
 * out or with blockOwnerDeletion turned off, and nothing added or otherwise changed.
 */
function onlyRemovedReferences(before: KubeObject | null | undefined, after: KubeObject | null | undefined): boolean {
  const now = ownerReferences(after);
  // Turning blockOwnerDeletion on is not the collector's to do.
  const old = ownerReferences(before);
  // A set of the blocking uids keeps this linear: a crafted object with thousands of references
  // must not cost references squared.
  const blocking = new Set(old.filter((o) => o['blockOwnerDeletion'] === true).map((o) => o['uid']));
  if (now.some((r) => r['blockOwnerDeletion'] === true && !blocking.has(r['uid']))) return false;
  return onlyRemoved(old.map(referenceKey), now.map(referenceKey), () => true);
}

/** ownerGuarded tells whether the policy guards the kind an ownerReference names. */
function ownerGuarded(policy: GuardPolicy, ref: Record<string, unknown>): boolean {
  const group = groupOf(ref['apiVersion']);
  return group !== undefined && typeof ref['kind'] === 'string' && guardsKind(policy, group, ref['kind']);
}

function groupOf(apiVersion: unknown): string | undefined {
  if (typeof apiVersion !== 'string') return undefined;
  const slash = apiVersion.indexOf('/');
  return slash === -1 ? '' : apiVersion.slice(0, slash);
}

function hasControllerOwner(obj: KubeObject | null | undefined, owners: readonly OwnerKind[]): boolean {
  return ownerReferences(obj).some((ref) => ref['controller'] === true && owners.some((o) => o.kind === ref['kind'] && o.group === groupOf(ref['apiVersion'])));
}
