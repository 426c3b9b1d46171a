/**
 * A review judged on the worker thread (offload.ts) that needs an object it does not carry: the
 * decision crosses back as JSON text, so a NeedsObject's `finish` cannot travel with it; the
 * main thread finishes by judging again on the worker with the object found. The same three
 * outcomes as in place (test/unit/admission/admit.test.ts): found, not found, lookup failing
 * (fail closed). The real worker thread runs; only the parent lookup is the test's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe as group, expect, it } from 'vitest';
import { DEFAULT_REVIEW_LIMITS } from '../../../src/admission/limits.js';
import type { KubeObject } from '../../../src/admission/types.js';
import { type ParentLookup, type Prejudged, createAdmitter } from '../../../src/admission/admit.js';
import { decide } from '../../../src/decision/decide.js';
import type { ObjectRef, TicketDraft } from '../../../src/decision/types.js';
import { createOffload } from '../../../src/server/offload.js';
import { offlineStore } from '../../../src/tickets/offline.js';
import type { TicketStore } from '../../../src/tickets/types.js';
import { FIXED_NOW, TESTDATA, fixture, fixturePolicy } from '../../helpers/webhook.js';

const policy = fixturePolicy();
const review = fixture('scale-under-parent-window');
const parent = JSON.parse(readFileSync(join(TESTDATA, 'scale-under-parent-window', 'parent.json'), 'utf8')) as KubeObject;
const offload = createOffload({ limits: DEFAULT_REVIEW_LIMITS });
afterAll(() => offload.close());

function recordingStore(): TicketStore & { drafts: TicketDraft[] } {
  const drafts: TicketDraft[] = [];
  return {
    ...offlineStore(),
    drafts,
    record(draft) {
      drafts.push(draft);
      return Promise.resolve();
    },
  };
}

async function onTheWorker(): Promise<{ request: Parameters<ReturnType<typeof createAdmitter>['validate']>[0]; prejudged: Prejudged }> {
  const judged = await offload.judge(JSON.stringify(review), policy, FIXED_NOW, AbortSignal.timeout(30_000));
  if (!judged.ok) throw judged.error;
  return judged;
}

function admitterWith(parents: ParentLookup, tickets = recordingStore(), errors: unknown[] = []) {
  const admitter = createAdmitter({ policy: () => policy, now: () => FIXED_NOW, tickets, parents, onParentError: (_ref, err) => errors.push(err) });
  return { admitter, tickets, errors };
}

group('a /scale judged on the worker that needs its parent', () => {
  it('comes back asking for the parent, with the refusal that stands without it', async () => {
    const { prejudged } = await onTheWorker();
    const first = prejudged.first;
    if (first.kind !== 'needs-object') throw new Error(`want needs-object, got ${first.kind}`);
    expect(first.what).toBe('parent');
    expect(first.ref).toEqual({ group: 'apps', version: 'v1', resource: 'deployments', kind: '', namespace: 'prod', name: 'checkout-api' } satisfies ObjectRef);
    expect(first.refusal.code).toBe('drift');
  });

  it('found: judged again on the worker with it, the bypass recorded, the same decision as in place', async () => {
    const { request, prejudged } = await onTheWorker();
    const asked: ObjectRef[] = [];
    const { admitter, tickets } = admitterWith(async (ref) => {
      asked.push(ref);
      return parent;
    });
    const admitted = await admitter.validate(request, { prejudged, deadline: AbortSignal.timeout(30_000) });
    expect(asked).toHaveLength(1);
    expect(admitted.outcome).toBe('bypass');
    expect(admitted.answer.allowed).toBe(true);
    const inPlace = decide(review.request, policy, FIXED_NOW, parent);
    if (inPlace.kind !== 'bypass') throw new Error(`want bypass in place, got ${inPlace.kind}`);
    expect(tickets.drafts).toEqual([inPlace.ticket]);
  });

  it('not found: the refusal stands, nothing recorded', async () => {
    const { request, prejudged } = await onTheWorker();
    const { admitter, tickets } = admitterWith(async () => undefined);
    const admitted = await admitter.validate(request, { prejudged });
    expect(admitted.outcome).toBe('deny');
    expect(admitted.reasonCode).toBe('drift');
    expect(tickets.drafts).toEqual([]);
  });

  it('the lookup failing: refused (fail closed), the failure reported, nothing recorded', async () => {
    const { request, prejudged } = await onTheWorker();
    const { admitter, tickets, errors } = admitterWith(async () => {
      throw new Error('apiserver unreachable');
    });
    const admitted = await admitter.validate(request, { prejudged });
    expect(admitted.outcome).toBe('deny');
    expect(tickets.drafts).toEqual([]);
    expect(errors).toHaveLength(1);
  });

  it('the mutating webhook never waits for the parent: it answers from the refusal, allowed and unpatched', async () => {
    const { request, prejudged } = await onTheWorker();
    const { admitter } = admitterWith(async () => {
      throw new Error('the mutating webhook must not look the parent up');
    });
    const admitted = await admitter.mutate(request, { prejudged });
    expect(admitted.outcome).toBe('allow');
    expect(admitted.answer.allowed).toBe(true);
  });
});
