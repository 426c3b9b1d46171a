/**
 * Leader election over a Lease (issue 14: one writer among the replicas), driven by an injected
 * clock against an in-memory Lease that refuses stale writes the way the apiserver does
 * (resourceVersion), so every step of the state machine is deterministic.
 */
import { describe, expect, it } from 'vitest';
import { DriftgateError } from '../../../src/errors.js';
import { LeaderElector, type LeaseApi, type LeaseObject, leaseStep } from '../../../src/controller/lease.js';

const DURATION = 15_000;

function lease(holder: string, rv: string, durationSeconds = 15): LeaseObject {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'driftgate', namespace: 'driftgate-system', resourceVersion: rv },
    spec: { holderIdentity: holder, leaseDurationSeconds: durationSeconds },
  };
}

describe('leaseStep', () => {
  const cases: Array<{
    name: string;
    lease: LeaseObject | undefined;
    observed?: { resourceVersion: string; at: number };
    now: number;
    want: ReturnType<typeof leaseStep>;
  }> = [
    { name: 'no Lease yet: create it', lease: undefined, now: 0, want: { kind: 'create' } },
    { name: 'held by me: renew', lease: lease('me', '5'), now: 0, want: { kind: 'renew' } },
    { name: 'released (empty holder): take it at once', lease: lease('', '5'), now: 0, want: { kind: 'takeover', from: '' } },
    {
      name: 'held by another, first seen now: wait a full duration from now (never trust their clock)',
      lease: lease('other', '5'),
      now: 1_000,
      want: { kind: 'standby', holder: 'other', expiresAt: 16_000 },
    },
    {
      name: 'held by another, unchanged since seen, not yet expired: stand by',
      lease: lease('other', '5'),
      observed: { resourceVersion: '5', at: 1_000 },
      now: 15_999,
      want: { kind: 'standby', holder: 'other', expiresAt: 16_000 },
    },
    {
      name: 'held by another, unchanged for a full duration: take over',
      lease: lease('other', '5'),
      observed: { resourceVersion: '5', at: 1_000 },
      now: 16_000,
      want: { kind: 'takeover', from: 'other' },
    },
    {
      name: 'held by another who renewed since (new resourceVersion): the wait starts again',
      lease: lease('other', '6'),
      observed: { resourceVersion: '5', at: 1_000 },
      now: 20_000,
      want: { kind: 'standby', holder: 'other', expiresAt: 35_000 },
    },
    {
      name: "the holder's own leaseDurationSeconds counts, not ours",
      lease: lease('other', '5', 60),
      observed: { resourceVersion: '5', at: 0 },
      now: 30_000,
      want: { kind: 'standby', holder: 'other', expiresAt: 60_000 },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(leaseStep(c.lease, 'me', c.now, c.observed, DURATION)).toEqual(c.want);
    });
  }
});

/** MemoryLease is one Lease with optimistic concurrency, like the apiserver's. */
class MemoryLease {
  current: LeaseObject | undefined;
  #rv = 0;
  down = false;

  api(): LeaseApi {
    return {
      get: async () => {
        if (this.down) throw new DriftgateError('DG_KUBE_UNREACHABLE', 'apiserver down');
        return this.current === undefined ? undefined : structuredClone(this.current);
      },
      create: async (l) => {
        if (this.down) throw new DriftgateError('DG_KUBE_UNREACHABLE', 'apiserver down');
        if (this.current !== undefined) throw new DriftgateError('DG_KUBE_CONFLICT', 'already exists');
        this.current = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++this.#rv) } };
        return structuredClone(this.current);
      },
      update: async (l) => {
        if (this.down) throw new DriftgateError('DG_KUBE_UNREACHABLE', 'apiserver down');
        if (this.current?.metadata.resourceVersion !== l.metadata.resourceVersion) throw new DriftgateError('DG_KUBE_CONFLICT', 'stale');
        this.current = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++this.#rv) } };
        return structuredClone(this.current);
      },
    };
  }
}

function elector(store: MemoryLease, identity: string, clock: { now: number }, log: string[]): LeaderElector {
  return new LeaderElector({
    api: store.api(),
    identity,
    durationMs: DURATION,
    renewMs: 5_000,
    renewDeadlineMs: 10_000,
    now: () => clock.now,
    onStartedLeading: () => log.push(`${identity} leads`),
    onStoppedLeading: () => log.push(`${identity} stops`),
    onEvent: () => undefined,
  });
}

describe('LeaderElector', () => {
  it('lets exactly one of two replicas lead, the other takes over once the leader falls silent for a lease duration', async () => {
    const store = new MemoryLease();
    const clock = { now: 0 };
    const log: string[] = [];
    const a = elector(store, 'a', clock, log);
    const b = elector(store, 'b', clock, log);
    await a.tick();
    await b.tick();
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
    expect(store.current?.spec.holderIdentity).toBe('a');

    // a renews on time: b keeps standing by, whatever the time.
    for (const t of [5_000, 10_000, 15_000, 20_000]) {
      clock.now = t;
      await a.tick();
      await b.tick();
      expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
    }

    // a is killed (no more ticks): b waits a full duration from the last change it saw.
    clock.now = 34_999;
    await b.tick();
    expect(b.isLeader()).toBe(false);
    clock.now = 35_000;
    await b.tick();
    expect(b.isLeader()).toBe(true);
    expect(store.current?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });

    // a comes back: it sees b hold it and does not lead.
    await a.tick();
    expect(a.isLeader()).toBe(false);
    expect(log).toEqual(['a leads', 'b leads', 'a stops']);
  });

  it('makes a leader that cannot renew stop before anyone may take over (renew deadline < duration)', async () => {
    const store = new MemoryLease();
    const clock = { now: 0 };
    const log: string[] = [];
    const a = elector(store, 'a', clock, log);
    await a.tick();
    store.down = true;
    clock.now = 9_999;
    await a.tick();
    expect(a.isLeader()).toBe(true);
    clock.now = 10_000;
    await a.tick();
    expect(a.isLeader()).toBe(false);
    expect(log).toEqual(['a leads', 'a stops']);
  });

  it('lets only one of two replicas win a race to create the Lease', async () => {
    const store = new MemoryLease();
    const clock = { now: 0 };
    const log: string[] = [];
    const a = elector(store, 'a', clock, log);
    const b = elector(store, 'b', clock, log);
    await Promise.all([a.tick(), b.tick()]);
    expect([a.isLeader(), b.isLeader()].filter(Boolean)).toHaveLength(1);
  });

  it('keeps annotations on the Lease (the disable switch) through renewals', async () => {
    const store = new MemoryLease();
    const clock = { now: 0 };
    const a = elector(store, 'a', clock, []);
    await a.tick();
    if (store.current !== undefined) store.current.metadata.annotations = { 'driftgate.dev/webhooks-disabled': 'INC-1' };
    clock.now = 5_000;
    await a.tick();
    expect(store.current?.metadata.annotations).toEqual({ 'driftgate.dev/webhooks-disabled': 'INC-1' });
  });

  it('releases the Lease on stop, so the other replica takes over at its next look', async () => {
    const store = new MemoryLease();
    const clock = { now: 0 };
    const log: string[] = [];
    const a = elector(store, 'a', clock, log);
    const b = elector(store, 'b', clock, log);
    await a.tick();
    await b.tick();
    await a.stop();
    clock.now = 1;
    await b.tick();
    expect(b.isLeader()).toBe(true);
  });

  it('refuses timings where a leader could still act after another took over', () => {
    expect(
      () =>
        new LeaderElector({
          ...{ api: new MemoryLease().api(), identity: 'a', durationMs: 10_000, renewMs: 5_000, renewDeadlineMs: 12_000 },
          now: () => 0,
          onStartedLeading: () => undefined,
          onStoppedLeading: () => undefined,
          onEvent: () => undefined,
        }),
    ).toThrow(/renew deadline/);
  });
});
