/**
 * The API calls `driftgate break-glass` makes, over the shared KubeClient: API discovery for
 * KIND/NAME, "who am I" (SelfSubjectReview), the policy the cluster runs, the object, and the
 * annotation PATCH. Each failure becomes a DriftgateError a responder can act on; a refusal by
 * driftgate's own webhook is passed on in its own words, apart from a Kubernetes RBAC refusal.
 */
import type { KubeObject } from '../admission/types.js';
import type { ObjectRef } from '../decision/types.js';
import { DriftgateError } from '../errors.js';
import { KubeApiError, resourcePath, type KubeClient } from '../kube/client.js';
import { loadPolicy } from '../policy/load.js';
import type { Requester } from '../policy/match.js';
import type { GuardPolicy } from '../policy/types.js';
import type { MergePatch } from './plan.js';
import { type ApiResource, type ApiResourceList, requestedGroupVersion, resourceLabel, resourcesOf } from './resolve-kind.js';

/** Where manifests/install.yaml and the chart install the policy the webhook runs. */
export const POLICY_CONFIGMAP = { namespace: 'driftgate-system', name: 'driftgate-policy', key: 'policy.yaml' } as const;

interface ApiGroupList {
  groups?: { name?: string; preferredVersion?: { version?: string }; versions?: { version?: string }[] }[];
}

/**
 * discover returns the cluster's main resources, core first and then the groups in the order
 * `GET /apis` lists them (the apiserver's priority), each at its preferred version, plus the
 * group/version `kind` names explicitly (`deployments.v1.apps`). A group whose list fails (an
 * aggregated API that is down) is skipped, as kubectl skips it.
 */
export async function discover(client: KubeClient, kind: string): Promise<ApiResource[]> {
  const [core, groups] = await Promise.all([
    client.request<ApiResourceList>({ method: 'GET', path: '/api/v1' }),
    client.request<ApiGroupList>({ method: 'GET', path: '/apis' }),
  ]);
  const wanted = requestedGroupVersion(kind);
  const paths = (groups.groups ?? []).flatMap((g) => {
    const name = g.name ?? '';
    const preferred = g.preferredVersion?.version ?? g.versions?.[0]?.version;
    const out = preferred === undefined || name === '' ? [] : [`/apis/${name}/${preferred}`];
    if (wanted !== undefined && wanted.group === name && wanted.version !== preferred) out.push(`/apis/${name}/${wanted.version ?? ''}`);
    return out;
  });
  const lists = await Promise.all(paths.map((path) => client.request<ApiResourceList>({ method: 'GET', path }).catch(() => undefined)));
  return [core, ...lists].flatMap((list) => (list === undefined ? [] : resourcesOf(list)));
}

interface SelfSubjectReview {
  status?: { userInfo?: { username?: string; groups?: string[] } };
}

/** WhoAmI is the user the apiserver authenticates (after impersonation), or why it could not say. */
export type WhoAmI = { kind: 'user'; user: Requester } | { kind: 'unknown'; why: string };

/** whoAmI asks the apiserver who the request comes from, with a SelfSubjectReview (Kubernetes 1.28+). */
export async function whoAmI(client: KubeClient): Promise<WhoAmI> {
  try {
    const review = await client.request<SelfSubjectReview>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    const info = review.status?.userInfo;
    if (info?.username === undefined) return { kind: 'unknown', why: 'the SelfSubjectReview named no user' };
    return { kind: 'user', user: { username: info.username, groups: info.groups ?? [] } };
  } catch (err) {
    return { kind: 'unknown', why: err instanceof Error ? err.message : String(err) };
  }
}

/** ClusterPolicy is the GuardPolicy the cluster runs, or why it could not be read. */
export type ClusterPolicy = { kind: 'policy'; policy: GuardPolicy } | { kind: 'unknown'; why: string };

/** clusterPolicy reads the policy from the ConfigMap driftgate mounts (driftgate-system/driftgate-policy, key policy.yaml). */
export async function clusterPolicy(client: KubeClient): Promise<ClusterPolicy> {
  const { namespace, name, key } = POLICY_CONFIGMAP;
  const source = `ConfigMap ${namespace}/${name}`;
  try {
    const cm = await client.request<{ data?: Record<string, string> }>({ method: 'GET', path: `/api/v1/namespaces/${namespace}/configmaps/${name}` });
    const text = cm.data?.[key];
    if (text === undefined) return { kind: 'unknown', why: `${source} has no key ${key}` };
    return { kind: 'policy', policy: loadPolicy(text, `${source} (${key})`) };
  } catch (err) {
    const why =
      err instanceof DriftgateError && err.code === 'DG_KUBE_FORBIDDEN'
        ? `you may not read ${source}`
        : err instanceof DriftgateError && err.code === 'DG_KUBE_NOT_FOUND'
          ? `${source} does not exist`
          : `${source}: ${err instanceof Error ? err.message : String(err)}`;
    return { kind: 'unknown', why };
  }
}

/** getObject returns the live object, or throws naming it when it is missing or unreadable. */
export async function getObject(client: KubeClient, ref: ObjectRef): Promise<KubeObject> {
  try {
    return await client.request<KubeObject>({ method: 'GET', path: resourcePath(ref) });
  } catch (err) {
    if (err instanceof DriftgateError && err.code === 'DG_KUBE_NOT_FOUND') {
      throw new DriftgateError(
        'DG_KUBE_NOT_FOUND',
        `${resourceLabel(ref)} "${ref.name}" not found in namespace ${ref.namespace}; check the name and namespace with: kubectl get ${resourceLabel(ref)} -n ${ref.namespace}`,
        { cause: err },
      );
    }
    if (err instanceof DriftgateError && err.code === 'DG_KUBE_FORBIDDEN') {
      throw new DriftgateError(
        'DG_KUBE_FORBIDDEN',
        `you may not get ${resourceLabel(ref)} in namespace ${ref.namespace} (Kubernetes RBAC, not driftgate: ${apiMessage(err)}); ask a cluster admin for get and patch on ${resourceLabel(ref)} there`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** apiMessage returns the apiserver's own message of a client error, or the error's message when it has none (unreachable). */
export function apiMessage(err: DriftgateError): string {
  return err instanceof KubeApiError ? err.apiMessage : err.message;
}

/**
 * patchAnnotations sends a merge patch of annotations and returns the object as stored. A refusal
 * by driftgate's webhook (its message carries a "[driftgate/" tag) is thrown with the apiserver's
 * message as it is; any other 403 is Kubernetes RBAC, and said so.
 */
export async function patchAnnotations(client: KubeClient, ref: ObjectRef, patch: MergePatch, who: string): Promise<KubeObject> {
  try {
    return await client.request<KubeObject>({ method: 'PATCH', path: resourcePath(ref), body: patch, contentType: 'application/merge-patch+json' });
  } catch (err) {
    if (!(err instanceof DriftgateError)) throw err;
    const message = apiMessage(err);
    if (message.includes('[driftgate/')) throw new DriftgateError(err.code, message, { cause: err });
    if (err.code === 'DG_KUBE_FORBIDDEN') {
      throw new DriftgateError(
        'DG_KUBE_FORBIDDEN',
        `${who} may not patch ${resourceLabel(ref)} in namespace ${ref.namespace}: Kubernetes RBAC refused it, not driftgate (${message}); ask a cluster admin for a Role with patch on ${resourceLabel(ref)} there`,
        { cause: err },
      );
    }
    if (err.code === 'DG_KUBE_NOT_FOUND')
      throw new DriftgateError(err.code, `${resourceLabel(ref)} "${ref.name}" was deleted in namespace ${ref.namespace} meanwhile; nothing to annotate`, {
        cause: err,
      });
    throw err;
  }
}
