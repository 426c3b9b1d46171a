/**
 * The settlement poller's Lease against a small in-memory stand-in for the Lease API (get,
 * create, update with resourceVersion checks): one holder at a time, renewal, takeover only after
 * the duration, a lost race and an unreachable API both read as "not held", and a poller that
 * does not hold it reads nothing. The e2e test runs the real one against the real apiserver.
 */
import { describe, expect, it } from 'vitest';
import { createLease } from '../../../src/controller/settlement-lease.js';
import { settleFromSyncStatusOnce } from '../../../src/controller/sync-status.js';
import { KubeApiError, type KubeClient, type KubeRequest } from '../../../src/kube/client.js';
import { createLogger } from '../../../src/server/logger.js';
import { createMetrics } from '../../../src/server/metrics.js';
import type { TicketStore } from '../../../src/tickets/types.js';
import { LogSink } from '../../helpers/webhook.js';

interface Stored {
  metadata: { resourceVersion?: string };
  [k: string]: unknown;
}

function fakeApi(): { client: KubeClient; object: () => Stored | undefined; down: { value: boolean } } {
  let stored: Stored | undefined;
  let version = 0;
  const down = { value: false };
  const client: KubeClient = {
    server: 'https://fake',
    watch: () => Promise.resolve(),
    async request<T>(req: KubeRequest): Promise<T> {
      if (down.value) throw new KubeApiError('DG_KUBE_UNREACHABLE', 'connection refused', 0, 'connection refused');
      const body = req.body as Stored | undefined;
      if (req.method === 'GET') {
        if (stored === undefined) throw new KubeApiError('DG_KUBE_NOT_FOUND', 'not found', 404, 'not found');
        return structuredClone(stored) as T;
      }
      if (req.method === 'POST') {
        if (stored !== undefined) throw new KubeApiError('DG_KUBE_CONFLICT', 'already exists', 409, 'already exists');
        stored = { ...structuredClone(body as Stored), metadata: { ...(body as Stored).metadata, resourceVersion: String(++version) } };
        return structuredClone(stored) as T;
      }
      if (req.method === 'PUT') {
        if (stored === undefined || body === undefined || body.metadata.resourceVersion !== stored.metadata.resourceVersion)
          throw new KubeApiError('DG_KUBE_CONFLICT', 'conflict', 409, 'the object has been modified');
        stored = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(++version) } };
        return structuredClone(stored) as T;
      }
      throw new Error(`unexpected ${req.method}`);
    },
  };
  return { client, object: () => stored, down };
}

describe('the settlement Lease', () => {
  const clock = { now: new Date('2026-01-01T00:00:00Z') };
  const lease = (client: KubeClient, identity: string) =>
    createLease({ client, namespace: 'driftgate-system', name: 'driftgate-settlement', identity, durationMs: 15_000, now: () => clock.now });

  it('is held by one replica, renewed by it, and taken over only once it stopped renewing for the duration', async () => {
    const api = fakeApi();
    const a = lease(api.client, 'a');
    const b = lease(api.client, 'b');
    expect(await a.hold()).toBe(true);
    expect(await b.hold()).toBe(false);
    clock.now = new Date(clock.now.getTime() + 10_000);
    expect(await a.hold()).toBe(true);
    clock.now = new Date(clock.now.getTime() + 14_000);
    expect(await b.hold()).toBe(false);
    clock.now = new Date(clock.now.getTime() + 2_000);
    expect(await b.hold()).toBe(true);
    expect(api.object()).toMatchObject({ spec: { holderIdentity: 'b', leaseTransitions: 1, leaseDurationSeconds: 15 } });
    expect(await a.hold()).toBe(false);
  });

  it('reads a lost race and an unreachable API as not held, and never throws', async () => {
    const api = fakeApi();
    const results = await Promise.all([lease(api.client, 'a').hold(), lease(api.client, 'b').hold()]);
    expect(results.filter(Boolean)).toHaveLength(1);
    api.down.value = true;
    await expect(lease(api.client, 'a').hold()).resolves.toBe(false);
  });

  it('keeps a replica that does not hold it from polling at all', async () => {
    let calls = 0;
    const client: KubeClient = {
      server: 'https://fake',
      watch: () => Promise.resolve(),
      request: () => {
        calls++;
        return Promise.reject(new Error('must not be called'));
      },
    };
    const store = { list: () => Promise.reject(new Error('must not be called')) } as unknown as TicketStore;
    await settleFromSyncStatusOnce({
      store,
      client,
      tools: ['argocd', 'flux'],
      now: () => clock.now,
      logger: createLogger({ destination: new LogSink() }),
      metrics: createMetrics({ processMetrics: false }),
      intervalMs: 1000,
      lease: { hold: () => Promise.resolve(false) },
    });
    expect(calls).toBe(0);
  });
});
