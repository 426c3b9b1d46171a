/**
 * (The webhook keeper elects its leader with the fuller LeaderElector of lease.ts, renewing on a
 * timer; this lighter Lease is asked once per polling round and holds its own Lease object.
 * Folding the poller onto the keeper's election is a follow-up.)
 *
 * One writer among replicas for cluster-wide work (the sync-status poller), through a
 * coordination.k8s.io/v1 Lease, as Kubernetes' own controllers elect a leader: the holder renews
 * it every round; another replica takes it over only once it has not been renewed for its
 * duration. Every write is guarded by resourceVersion, so two replicas racing for it conflict and
 * one wins. Losing the Lease costs nothing but a round: the work is idempotent (a ticket already
 * closed is left alone), so a short overlap after a takeover is harmless.
 */
import { isDriftgateError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { isRecord } from '../util/json.js';

/** LeaseOptions name the Lease and who holds it. */
export interface LeaseOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  /** This replica, e.g. its pod name and a random suffix. */
  identity: string;
  /** How long a holder that stops renewing keeps it; at least two rounds. */
  durationMs: number;
  now: () => Date;
}

/** Lease says whether this replica holds the Lease now, renewing or taking it when it may. */
export interface Lease {
  /** hold returns true when this replica holds the Lease for the next round. Never throws. */
  hold(): Promise<boolean>;
}

interface LeaseObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

/** createLease returns a Lease over the API; a failure to reach it reads as "not held". */
export function createLease(opts: LeaseOptions): Lease {
  const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(opts.namespace)}/leases`;
  const seconds = Math.max(1, Math.ceil(opts.durationMs / 1000));
  const microTime = (d: Date): string => d.toISOString().replace('Z', '000Z');

  async function read(): Promise<LeaseObject | undefined> {
    try {
      return await opts.client.request<LeaseObject>({ method: 'GET', path: `${path}/${encodeURIComponent(opts.name)}`, signal: AbortSignal.timeout(5_000) });
    } catch (err) {
      if (isDriftgateError(err) && err.code === 'DG_KUBE_NOT_FOUND') return undefined;
      throw err;
    }
  }

  return {
    async hold() {
      try {
        const now = opts.now();
        const found = await read();
        if (found === undefined) {
          const spec = {
            holderIdentity: opts.identity,
            leaseDurationSeconds: seconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          };
          const body: LeaseObject = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: opts.name, namespace: opts.namespace }, spec };
          await opts.client.request({ method: 'POST', path, body, signal: AbortSignal.timeout(5_000) });
          return true;
        }
        const spec = isRecord(found.spec) ? found.spec : {};
        const ours = spec.holderIdentity === opts.identity;
        const renewed = Date.parse(spec.renewTime ?? '');
        const expired = !Number.isFinite(renewed) || renewed + (spec.leaseDurationSeconds ?? seconds) * 1000 < now.getTime();
        if (!ours && !expired) return false;
        const next: LeaseObject = {
          ...found,
          spec: {
            ...spec,
            holderIdentity: opts.identity,
            leaseDurationSeconds: seconds,
            renewTime: microTime(now),
            ...(ours ? {} : { acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
          },
        };
        await opts.client.request({ method: 'PUT', path: `${path}/${encodeURIComponent(opts.name)}`, body: next, signal: AbortSignal.timeout(5_000) });
        return true;
      } catch {
        // A conflict (another replica won the race) or an unreachable API: not ours this round.
        return false;
      }
    },
  };
}
