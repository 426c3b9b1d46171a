/**
 * The Lease over the API, and the switch an operator sets on it to turn the webhooks off on
 * purpose (`driftgate webhooks disable`). The switch lives on the Lease because the Lease
 * outlives the webhook configurations it protects (deleting them is the point of turning off),
 * every keeper already reads it, and its RBAC is already granted by name.
 */
import type { KubeClient } from '../kube/client.js';
import { DriftgateError } from '../errors.js';
import type { LeaseApi, LeaseObject } from './lease.js';

/** DISABLED_ANNOTATION holds the reason the webhooks were turned off on purpose; its presence is the switch. */
export const DISABLED_ANNOTATION = 'driftgate.dev/webhooks-disabled';
/** DISABLED_AT_ANNOTATION says when (RFC 3339), for the person reading it later. */
export const DISABLED_AT_ANNOTATION = 'driftgate.dev/webhooks-disabled-at';

/** LeaseRef names the Lease. */
export interface LeaseRef {
  namespace: string;
  name: string;
}

function leasePath(ref: LeaseRef, named: boolean): string {
  const base = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(ref.namespace)}/leases`;
  return named ? `${base}/${encodeURIComponent(ref.name)}` : base;
}

/** kubeLeaseApi returns the LeaseApi of `ref` over the client. */
export function kubeLeaseApi(client: KubeClient, ref: LeaseRef): LeaseApi {
  const signal = (): AbortSignal => AbortSignal.timeout(5_000);
  return {
    async get() {
      try {
        return await client.request<LeaseObject>({ method: 'GET', path: leasePath(ref, true), signal: signal() });
      } catch (err) {
        if (err instanceof DriftgateError && err.code === 'DG_KUBE_NOT_FOUND') return undefined;
        throw err;
      }
    },
    create: (lease) =>
      client.request<LeaseObject>({
        method: 'POST',
        path: leasePath(ref, false),
        body: { ...lease, metadata: { ...lease.metadata, name: ref.name, namespace: ref.namespace, labels: { 'app.kubernetes.io/name': 'driftgate' } } },
        signal: signal(),
      }),
    update: (lease) => client.request<LeaseObject>({ method: 'PUT', path: leasePath(ref, true), body: lease, signal: signal() }),
  };
}

/** DisableSwitch is the switch as read from the Lease. */
export type DisableSwitch = { disabled: false } | { disabled: true; reason: string; at: string };

/** switchOf returns the switch a Lease carries (an absent Lease: not disabled). */
export function switchOf(lease: LeaseObject | undefined): DisableSwitch {
  const reason = lease?.metadata.annotations?.[DISABLED_ANNOTATION];
  if (reason === undefined) return { disabled: false };
  return { disabled: true, reason, at: lease?.metadata.annotations?.[DISABLED_AT_ANNOTATION] ?? '' };
}

/**
 * setSwitch turns the webhooks off (reason given) or back on (undefined) on the Lease, creating
 * the Lease when no keeper ever ran. A merge patch of the annotations only: it never disturbs the
 * holder's renewals (which keep annotations as they read them).
 */
export async function setSwitch(client: KubeClient, ref: LeaseRef, reason: string | undefined, now: Date): Promise<void> {
  const annotations =
    reason === undefined
      ? { [DISABLED_ANNOTATION]: null, [DISABLED_AT_ANNOTATION]: null }
      : { [DISABLED_ANNOTATION]: reason, [DISABLED_AT_ANNOTATION]: now.toISOString() };
  try {
    await client.request({
      method: 'PATCH',
      path: leasePath(ref, true),
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations } },
    });
  } catch (err) {
    if (!(err instanceof DriftgateError && err.code === 'DG_KUBE_NOT_FOUND')) throw err;
    if (reason === undefined) return;
    await client.request({
      method: 'POST',
      path: leasePath(ref, false),
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: ref.name, namespace: ref.namespace, labels: { 'app.kubernetes.io/name': 'driftgate' }, annotations },
        spec: {},
      },
    });
  }
}
