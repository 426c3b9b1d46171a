/**
 * Kubernetes' own controllers, and the few writes each must make in a guarded namespace. A
 * webhook that refuses them breaks the cluster, not just drift: a Deployment pruned in the
 * foreground stays Terminating forever without the garbage collector, a namespace being deleted
 * never goes without the namespace controller, pods cannot mount their service-account CA without
 * the root-ca-cert-publisher.
 *
 * Each grant is as narrow as the controller's real behaviour (kube-controller-manager v1.37,
 * read in its source and observed in test/e2e against the real controller-manager): the kind of
 * write, the objects, and the condition under which the controller makes it. Everything outside a
 * grant is judged like any other write. The list is data, so that `policy check` can print it,
 * `decide()` can apply it and the webhook renderer can compile it.
 *
 * Identities: under `--use-service-account-credentials=true` (kubeadm's default and every managed
 * Kubernetes we know of) each controller calls the apiserver as its own ServiceAccount in
 * kube-system; without it, all of them call as `system:kube-controller-manager`. The shared
 * identity is accepted for every grant only while the policy's `sharedIdentity` allows it.
 */

/** OwnerKind names the kind of a controller ownerReference, by API group and kind. */
export interface OwnerKind {
  group: string;
  kind: string;
}

/**
 * ControllerGrant is one kind of write a controller may make. Resources are named like the
 * apiserver names them (plural resource, "" for the core group).
 */
export type ControllerGrant =
  /** An UPDATE of an object being deleted that only removes the named finalizers (and, with them, ownerReferences). */
  | { kind: 'remove-finalizers'; finalizers: readonly string[] }
  /**
   * An UPDATE that only removes entries of metadata.ownerReferences (orphaning, dangling owners)
   * or turns their blockOwnerDeletion off (the collector's way out of a foreground-deletion cycle).
   */
  | { kind: 'remove-owner-references' }
  /**
   * A DELETE of an object whose every owner is of a kind the policy guards: the owner's own
   * deletion was then judged by driftgate, so deleting its dependents launders nothing.
   */
  | { kind: 'delete-dependents' }
  /**
   * A DELETE in a namespace being deleted (the Namespace is looked up: its deletionTimestamp is
   * set), only while the policy guards `namespaces`, so that deleting the namespace was judged.
   */
  | { kind: 'delete-in-terminating-namespace' }
  /** An UPDATE of a Namespace being deleted (or its finalize/status subresource) that only removes entries of spec.finalizers. */
  | { kind: 'finalize-terminating-namespace' }
  /** An UPDATE of `resource` that only adds or removes the one finalizer the controller owns. */
  | { kind: 'own-finalizer'; group: string; resource: string; finalizer: string }
  /** CREATE or UPDATE of the objects with exactly these names. */
  | { kind: 'write-named'; group: string; resource: string; names: readonly string[]; operations: readonly ('CREATE' | 'UPDATE')[] }
  /**
   * Any write of an object whose controller ownerReference is one of `owners`, while the policy
   * guards that owner's kind (otherwise a person could write the owner freely and have the
   * controller carry it into the guarded object).
   */
  | { kind: 'write-owned'; group: string; resource: string; owners: readonly OwnerKind[] }
  /** An UPDATE of the object or its status subresource that changes only fields under `paths`. */
  | { kind: 'change-paths'; group: string; resource: string; paths: readonly string[] };

/** KubernetesController is one controller of kube-controller-manager and what it may write. */
export interface KubernetesController {
  /** The controller's name, as `--controllers` spells it. */
  name: string;
  /** The username it calls the apiserver with under --use-service-account-credentials. */
  serviceAccount: string;
  /** One line for `policy check` and the docs: what it does in a guarded namespace. */
  why: string;
  grants: readonly ControllerGrant[];
}

/** SHARED_CONTROLLER_IDENTITY is the one user every controller acts as without --use-service-account-credentials. */
export const SHARED_CONTROLLER_IDENTITY = 'system:kube-controller-manager';

const sa = (name: string): string => `system:serviceaccount:kube-system:${name}`;

/** KUBERNETES_CONTROLLERS is the built-in list, in the order `policy check` prints it. */
export const KUBERNETES_CONTROLLERS: readonly KubernetesController[] = Object.freeze([
  {
    name: 'garbage-collector',
    serviceAccount: sa('generic-garbage-collector'),
    why: 'finishes foreground and orphan deletions and deletes the dependents of deleted owners',
    grants: [{ kind: 'remove-finalizers', finalizers: ['foregroundDeletion', 'orphan'] }, { kind: 'remove-owner-references' }, { kind: 'delete-dependents' }],
  },
  {
    name: 'namespace-controller',
    serviceAccount: sa('namespace-controller'),
    why: 'deletes every object of a namespace that is being deleted, then finalizes the namespace',
    grants: [{ kind: 'delete-in-terminating-namespace' }, { kind: 'finalize-terminating-namespace' }],
  },
  {
    name: 'root-ca-cert-publisher',
    serviceAccount: sa('root-ca-cert-publisher'),
    why: 'publishes the cluster CA as ConfigMap kube-root-ca.crt, which every pod mounts',
    grants: [{ kind: 'write-named', group: '', resource: 'configmaps', names: ['kube-root-ca.crt'], operations: ['CREATE', 'UPDATE'] }],
  },
  {
    name: 'serviceaccount-controller',
    serviceAccount: sa('service-account-controller'),
    why: 'creates the default ServiceAccount of every namespace',
    grants: [{ kind: 'write-named', group: '', resource: 'serviceaccounts', names: ['default'], operations: ['CREATE'] }],
  },
  {
    name: 'deployment-controller',
    serviceAccount: sa('deployment-controller'),
    why: "stamps a Deployment's revision annotation and manages the ReplicaSets it owns",
    grants: [
      { kind: 'change-paths', group: 'apps', resource: 'deployments', paths: ['/metadata/annotations/deployment.kubernetes.io~1revision'] },
      { kind: 'write-owned', group: 'apps', resource: 'replicasets', owners: [{ group: 'apps', kind: 'Deployment' }] },
    ],
  },
  {
    name: 'replicaset-controller',
    serviceAccount: sa('replicaset-controller'),
    why: 'creates and deletes the pods its ReplicaSets own',
    grants: [{ kind: 'write-owned', group: '', resource: 'pods', owners: [{ group: 'apps', kind: 'ReplicaSet' }] }],
  },
  {
    name: 'statefulset-controller',
    serviceAccount: sa('statefulset-controller'),
    why: 'manages the pods and revisions its StatefulSets own',
    grants: [
      { kind: 'write-owned', group: '', resource: 'pods', owners: [{ group: 'apps', kind: 'StatefulSet' }] },
      { kind: 'write-owned', group: 'apps', resource: 'controllerrevisions', owners: [{ group: 'apps', kind: 'StatefulSet' }] },
    ],
  },
  {
    name: 'daemonset-controller',
    serviceAccount: sa('daemon-set-controller'),
    why: 'manages the pods and revisions its DaemonSets own',
    grants: [
      { kind: 'write-owned', group: '', resource: 'pods', owners: [{ group: 'apps', kind: 'DaemonSet' }] },
      { kind: 'write-owned', group: 'apps', resource: 'controllerrevisions', owners: [{ group: 'apps', kind: 'DaemonSet' }] },
    ],
  },
  {
    name: 'job-controller',
    serviceAccount: sa('job-controller'),
    why: 'creates and deletes the pods its Jobs own',
    grants: [{ kind: 'write-owned', group: '', resource: 'pods', owners: [{ group: 'batch', kind: 'Job' }] }],
  },
  {
    name: 'cronjob-controller',
    serviceAccount: sa('cronjob-controller'),
    why: 'creates and deletes the Jobs its CronJobs own',
    grants: [{ kind: 'write-owned', group: 'batch', resource: 'jobs', owners: [{ group: 'batch', kind: 'CronJob' }] }],
  },
  {
    // Runs in cloud-controller-manager (or kube-controller-manager's legacy cloud loops), as this
    // ServiceAccount under --use-service-account-credentials.
    name: 'service-controller',
    serviceAccount: sa('service-controller'),
    why: 'adds its cleanup finalizer to LoadBalancer Services and removes it once the load balancer is gone',
    grants: [{ kind: 'own-finalizer', group: '', resource: 'services', finalizer: 'service.kubernetes.io/load-balancer-cleanup' }],
  },
  {
    name: 'endpointslice-controller',
    serviceAccount: sa('endpointslice-controller'),
    why: 'keeps the EndpointSlices of each Service',
    grants: [{ kind: 'write-owned', group: 'discovery.k8s.io', resource: 'endpointslices', owners: [{ group: '', kind: 'Service' }] }],
  },
]);

/** controllerNames returns the names of the built-in list. */
export function controllerNames(): string[] {
  return KUBERNETES_CONTROLLERS.map((c) => c.name);
}
