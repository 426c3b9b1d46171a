/**
 * The subresources of kube-apiserver v1.37 through which a guarded object's desired state can
 * change, and those left out on purpose, each with its reason. Guarding a resource guards the
 * former by default: listing `statefulsets` must not leave `kubectl scale sts` open.
 *
 * Source: the REST storage maps of k8s.io/kubernetes v1.37.2, pkg/registry/<group>/rest/storage_*.go
 * (`storage[resource+"/…"]`), plus apiextensions (CRDs and custom resources: status, scale) and
 * kube-aggregator (apiservices/status). Every built-in `/status` is listed there; `/scale` exists
 * for deployments, statefulsets, replicasets, replicationcontrollers and any custom resource that
 * declares it, so both are implied for every guarded resource (a rule naming a subresource a kind
 * lacks matches nothing). docs/policy-reference.md prints this table.
 */

/** IMPLIED_EVERYWHERE lists the subresources implied for every guarded resource. */
export const IMPLIED_EVERYWHERE: readonly string[] = ['status', 'scale'];

/**
 * IMPLIED_BY_KIND lists the subresources implied only for one resource of one group ("" is core):
 * each one writes the stored object (or deletes it) on the way.
 */
export const IMPLIED_BY_KIND: Readonly<Record<string, readonly string[]>> = {
  // eviction deletes the pod; ephemeralcontainers (kubectl debug) and resize (in-place resources)
  // change its spec.
  '/pods': ['eviction', 'ephemeralcontainers', 'resize'],
  // finalize rewrites spec.finalizers of a Namespace.
  '/namespaces': ['finalize'],
  // approval writes the Approved/Denied condition that decides whether a certificate is issued.
  'certificates.k8s.io/certificatesigningrequests': ['approval'],
};

/**
 * NOT_IMPLIED says why each remaining v1.37 subresource of a guardable kind is left out. A policy
 * may still guard any of them by naming it (e.g. "pods/exec").
 */
export const NOT_IMPLIED: Readonly<Record<string, string>> = {
  'pods/exec': 'an action on a running container (CONNECT); it changes no stored field. Name "pods/exec" to guard it',
  'pods/attach': 'an action on a running container (CONNECT); it changes no stored field. Name "pods/attach" to guard it',
  'pods/portforward': 'a network stream to a pod (CONNECT); it changes no stored field. Name "pods/portforward" to guard it',
  'pods/proxy': 'an HTTP proxy to a pod (CONNECT); it changes no stored field. Name "pods/proxy" to guard it',
  'services/proxy': 'an HTTP proxy to a service (CONNECT); it changes no stored field. Name "services/proxy" to guard it',
  'nodes/proxy': 'an HTTP proxy to a node (CONNECT); nodes are cluster-scoped and never guarded',
  'pods/log': 'read-only (GET); the apiserver never sends reads to admission',
  'pods/binding':
    "the scheduler's assignment of a pending pod to a node: it only sets nodeName on a pod that has none (the apiserver refuses to rebind), which no manifest in Git sets. Name \"pods/binding\" to guard it",
  'serviceaccounts/token': 'issues a short-lived token (a TokenRequest); nothing is stored on the ServiceAccount. Name "serviceaccounts/token" to guard it',
};

/** impliedSubresources returns the subresources guarding `group`/`resource` implies ("*" implies them all). */
export function impliedSubresources(group: string, resource: string): string[] {
  if (resource === '*') return [...IMPLIED_EVERYWHERE, ...new Set(Object.values(IMPLIED_BY_KIND).flat())];
  return [...IMPLIED_EVERYWHERE, ...(IMPLIED_BY_KIND[`${group}/${resource}`] ?? [])];
}

/** isImplied tells whether guarding `group`/`resource` implies `subResource`. */
export function isImplied(group: string, resource: string, subResource: string): boolean {
  if (IMPLIED_EVERYWHERE.includes(subResource)) return true;
  return (IMPLIED_BY_KIND[`${group}/${resource}`] ?? []).includes(subResource);
}
