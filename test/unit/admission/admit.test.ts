/**
 * The admission path between decide() and the ticket store: the parent lookup it makes only when
 * the decision asks for it, and the one deadline that bounds the lookup and the recording
 * together. A recording store stands in for the journal (its durability has its own tests).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe as group, expect, it } from 'vitest';
import type { AdmissionRequest, KubeObject } from '../../../src/admission/types.js';
import { decide, decideOrAsk } from '../../../src/decision/decide.js';
import type { ObjectRef, TicketDraft } from '../../../src/decision/types.js';
import { DriftgateError } from '../../../src/errors.js';
import { type ParentLookup, createAdmitter } from '../../../src/admission/admit.js';
import { offlineStore } from '../../../src/tickets/offline.js';
import type { TicketStore } from '../../../src/tickets/types.js';
import { FIXED_NOW, TESTDATA, fixture, fixturePolicy } from '../../helpers/webhook.js';

const policy = fixturePolicy();
const scale = (): AdmissionRequest => fixture('scale-under-parent-window').request;
const parent = JSON.parse(readFileSync(join(TESTDATA, 'scale-under-parent-window', 'parent.json'), 'utf8')) as KubeObject;

/** recordingStore is a store that keeps what it is asked to record, and what signal came with it. */
function recordingStore(): TicketStore & { drafts: TicketDraft[]; signals: (AbortSignal | undefined)[] } {
  const drafts: TicketDraft[] = [];
  const signals: (AbortSignal | undefined)[] = [];
  return {
    ...offlineStore(),
    drafts,
    signals,
    record(draft, opts = {}) {
      drafts.push(draft);
      signals.push(opts.signal);
      return Promise.resolve();
    },
  };
}

function admitterWith(parents: ParentLookup | undefined, tickets = recordingStore(), errors: unknown[] = []) {
  const admitter = createAdmitter({
    policy: () => policy,
    now: () => FIXED_NOW,
    tickets,
    ...(parents === undefined ? {} : { parents }),
    onParentError: (_ref, err) => errors.push(err),
  });
  return { admitter, tickets, errors };
}

group('decideOrAsk', () => {
  it('asks for the parent of a refused /scale, naming it, and finishes the same decision with it', () => {
    const asked = decideOrAsk(scale(), policy, FIXED_NOW);
    if (asked.kind !== 'needs-object') throw new Error(`want needs-object, got ${asked.kind}`);
    expect(asked.what).toBe('parent');
    expect(asked.ref).toEqual({ group: 'apps', version: 'v1', resource: 'deployments', kind: '', namespace: 'prod', name: 'checkout-api' } satisfies ObjectRef);
    expect(asked.refusal.code).toBe('drift');
    expect(asked.finish(undefined)).toBe(asked.refusal);
    expect(asked.finish(parent)).toEqual(decide(scale(), policy, FIXED_NOW, parent));
    expect(asked.finish(parent).kind).toBe('bypass');
  });

  it('does not ask for a parent when the answer is already an allow (the HPA scaling)', () => {
    const hpa = fixture('hpa-scale').request;
    expect(decideOrAsk(hpa, policy, FIXED_NOW).kind).toBe('allow');
  });

  it('does not ask for a parent for a write to the object itself', () => {
    expect(decideOrAsk(fixture('human-memory-limit').request, policy, FIXED_NOW).kind).toBe('deny');
  });
});

group('the admitter looks the parent up only when the decision asks', () => {
  it('found: a /scale under the parent Deployment’s window is let through and recorded', async () => {
    const looked: ObjectRef[] = [];
    const { admitter, tickets } = admitterWith(async (ref) => {
      looked.push(ref);
      return parent;
    });
    const admitted = await admitter.validate(scale());
    expect(looked).toHaveLength(1);
    expect(looked[0]?.name).toBe('checkout-api');
    expect(admitted.outcome).toBe('bypass');
    expect(admitted.answer.allowed).toBe(true);
    expect(tickets.drafts.map((d) => d.id)).toEqual([admitted.ticketId]);
  });

  it('not found: the refusal stands and nothing is recorded', async () => {
    const { admitter, tickets, errors } = admitterWith(async () => undefined);
    const admitted = await admitter.validate(scale());
    expect(admitted.outcome).toBe('deny');
    expect(admitted.reasonCode).toBe('drift');
    expect(admitted.answer.status?.code).toBe(403);
    expect(tickets.drafts).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('lookup failing: fails closed (refused, nothing recorded) and reports the error', async () => {
    const failure = new DriftgateError('DG_KUBE_UNREACHABLE', 'GET /apis/apps/v1/namespaces/prod/deployments/checkout-api: connection refused');
    const { admitter, tickets, errors } = admitterWith(() => Promise.reject(failure));
    const admitted = await admitter.validate(scale());
    expect(admitted.outcome).toBe('deny');
    expect(admitted.answer.allowed).toBe(false);
    expect(tickets.drafts).toEqual([]);
    expect(errors).toEqual([failure]);
  });

  it('no lookup at all for a request that does not need one (the HPA scaling)', async () => {
    let calls = 0;
    const { admitter } = admitterWith(async () => {
      calls++;
      return parent;
    });
    expect((await admitter.validate(fixture('hpa-scale').request)).outcome).toBe('allow');
    expect((await admitter.validate(fixture('human-memory-limit').request)).outcome).toBe('deny');
    expect(calls).toBe(0);
  });
});

group('one deadline per request', () => {
  it('hands the parent lookup and the ticket store the same deadline', async () => {
    const seen: (AbortSignal | undefined)[] = [];
    const { admitter, tickets } = admitterWith(async (_ref, signal) => {
      seen.push(signal);
      return parent;
    });
    const deadline = new AbortController().signal;
    await admitter.validate(scale(), { deadline });
    expect(seen).toEqual([deadline]);
    expect(tickets.signals).toEqual([deadline]);
  });

  it('a parent lookup that uses up the deadline leaves none for the store: the bypass is refused (fail closed)', async () => {
    const controller = new AbortController();
    const { admitter, tickets } = admitterWith(async () => {
      controller.abort();
      return parent;
    });
    const admitted = await admitter.validate(scale(), { deadline: controller.signal });
    expect(admitted.outcome).toBe('deny');
    expect(admitted.reasonCode).toBe('ticket-not-recorded');
    expect(admitted.answer.status?.code).toBe(503);
    expect(admitted.answer.status?.message).toContain("took longer than the apiserver's timeout allows");
    expect(tickets.drafts).toHaveLength(1);
  });
});

group('the offline store', () => {
  it('answers a bypass as the server would, records nothing, and says so', async () => {
    const tickets = offlineStore();
    const admitter = createAdmitter({ policy: () => policy, now: () => FIXED_NOW, tickets });
    const admitted = await admitter.validate(fixture('break-glass-valid').request);
    expect(admitted.outcome).toBe('bypass');
    expect(await tickets.list()).toEqual([]);
    expect(tickets.describeStore()).toMatch(/^nowhere \(offline/);
  });
});
