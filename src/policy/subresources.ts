/**
 * The subresources of kube-apiserver v1.37 through which a guarded object's desired state can
 * change, and those left out on purpose, each with its reason. Guarding a resource guards the
 * former by default: listing `statefulsets` must not leave `kubectl scale sts` open.
 *
 * Source: the REST storage maps of k8s.io/kubernetes v1.37.2, pkg/registry/<group>/rest/storage_*.go
 * (`storage[resource+"/…"]`), plus apiextensions (CRDs and custom resources: status, scale) and
 * kube-aggregator (apiservices/status). A custom resource may declare `/status` and `/scale`, so
 * both are implied for any resource not listed below. docs/policy-reference.md prints this table.
 */

/** Implied for a resource driftgate does not know: a custom resource may declare both. */
export const IMPLIED_UNKNOWN: readonly string[] = ['status', 'scale'];

/**
 * BUILTIN lists, for each built-in resource ("group/resource", "" the core group) that a
 * namespace-scoped policy can guard, the v1.37 subresources guarding it implies: every one that
 * writes the stored object (or deletes it). A resource listed with none has no such subresource.
 */
export const BUILTIN: Readonly<Record<string, readonly string[]>> = {
  // eviction deletes the pod; ephemeralcontainers (kubectl debug) and resize (in-place resources)
  // change its spec; status is judged like the object when it touches metadata or spec.
  '/pods': ['status', 'eviction', 'ephemeralcontainers', 'resize'],
  '/replicationcontrollers': ['status', 'scale'],
  '/services': ['status'],
  '/persistentvolumeclaims': ['status'],
  '/resourcequotas': ['status'],
  '/namespaces': ['status'],
  '/configmaps': [],
  '/secrets': [],
  '/serviceaccounts': [],
  '/endpoints': [],
  '/podtemplates': [],
  '/limitranges': [],
  '/events': [],
  'apps/deployments': ['status', 'scale'],
  'apps/statefulsets': ['status', 'scale'],
  'apps/replicasets': ['status', 'scale'],
  'apps/daemonsets': ['status'],
  'apps/controllerrevisions': [],
  'batch/jobs': ['status'],
  'batch/cronjobs': ['status'],
  'autoscaling/horizontalpodautoscalers': ['status'],
  'policy/poddisruptionbudgets': ['status'],
  'networking.k8s.io/ingresses': ['status'],
  'networking.k8s.io/networkpolicies': [],
  'discovery.k8s.io/endpointslices': [],
  'coordination.k8s.io/leases': [],
  'events.k8s.io/events': [],
  'rbac.authorization.k8s.io/roles': [],
  'rbac.authorization.k8s.io/rolebindings': [],
  'resource.k8s.io/resourceclaims': ['status'],
  'resource.k8s.io/resourceclaimtemplates': [],
  'storage.k8s.io/csistoragecapacities': [],
  // Cluster-scoped, listed for completeness: approval decides whether a certificate is issued.
  'certificates.k8s.io/certificatesigningrequests': ['status', 'approval'],
};

const ALL_IMPLIED: readonly string[] = [...new Set([...IMPLIED_UNKNOWN, ...Object.values(BUILTIN).flat()])];

/**
 * NOT_IMPLIED says why each remaining v1.37 subresource of a guardable kind is left out. A policy
 * may still guard any of them by naming it (e.g. "pods/exec").
 */
export const NOT_IMPLIED: Readonly<Record<string, string>> = {
  'pods/exec': 'an action on a running container (CONNECT); it changes no stored field',
  'pods/attach': 'an action on a running container (CONNECT); it changes no stored field',
  'pods/portforward': 'a network stream to a pod (CONNECT); it changes no stored field',
  'pods/proxy': 'an HTTP proxy to a pod (CONNECT); it changes no stored field',
  'services/proxy': 'an HTTP proxy to a service (CONNECT); it changes no stored field',
  'nodes/proxy': 'an HTTP proxy to a node (CONNECT); nodes are cluster-scoped and never guarded',
  'pods/log': 'read-only (GET); the apiserver never sends reads to admission',
  'pods/binding':
    "the scheduler's assignment of a pending pod to a node: it only sets nodeName on a pod that has none (the apiserver refuses to rebind), which no manifest in Git sets",
  'namespaces/finalize':
    "the namespace controller's last step of a namespace deletion (the DELETE itself is judged): guarding it by default would stall every deletion of a guarded namespace",
  'serviceaccounts/token': 'issues a short-lived token (a TokenRequest); nothing is stored on the ServiceAccount',
};

/**
 * impliedSubresources returns the subresources guarding `group`/`resource` implies. A group or
 * resource of "*" stands for any: the union of what each could imply.
 */
export function impliedSubresources(group: string, resource: string): string[] {
  if (resource === '*') return [...ALL_IMPLIED];
  if (group === '*') {
    const named = Object.entries(BUILTIN)
      .filter(([key]) => key.endsWith(`/${resource}`))
      .flatMap(([, subs]) => subs);
    return [...new Set([...IMPLIED_UNKNOWN, ...named])];
  }
  return [...(BUILTIN[`${group}/${resource}`] ?? IMPLIED_UNKNOWN)];
}

/** isImplied tells whether guarding `group`/`resource` implies `subResource`. */
export function isImplied(group: string, resource: string, subResource: string): boolean {
  return (BUILTIN[`${group}/${resource}`] ?? IMPLIED_UNKNOWN).includes(subResource);
}
