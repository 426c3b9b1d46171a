/**
 * A policy swapped while driftgate serves (issue 14, "taken live"): the admitter asks the live
 * policy on every review, so the very next review is judged under the new one, on the main thread
 * and on the judging worker alike (a large review is handed the policy in force when it arrives).
 * And GuardPolicy writes reach /validate-policy, refused with policy check's messages.
 * Real app, real worker thread, real HTTP over loopback; the clock is fixed.
 */
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_REVIEW_LIMITS } from '../../src/admission/limits.js';
import { createAdmitter } from '../../src/admission/admit.js';
import { createPolicyAdmission } from '../../src/controller/policy-admission.js';
import { createLivePolicy } from '../../src/policy/live.js';
import type { PolicyInForce } from '../../src/policy/set.js';
import type { GuardPolicy } from '../../src/policy/types.js';
import { createApp } from '../../src/server/app.js';
import { createLogger } from '../../src/server/logger.js';
import { createMetrics } from '../../src/server/metrics.js';
import { createOffload } from '../../src/server/offload.js';
import { offlineStore } from '../../src/tickets/offline.js';
import { FIXED_NOW, LogSink, fixture, fixturePolicy } from '../helpers/webhook.js';

const enforce: GuardPolicy = fixturePolicy();
const warn: GuardPolicy = { ...fixturePolicy(), mode: 'warn' };
const live = createLivePolicy({ policies: [enforce] });
const offload = createOffload({ limits: DEFAULT_REVIEW_LIMITS });
/** What each review sent to the worker was judged under. */
const judgedUnder: PolicyInForce[] = [];
const spied = {
  ...offload,
  judge: (...args: Parameters<typeof offload.judge>) => {
    judgedUnder.push(args[1]);
    return offload.judge(...args);
  },
};
afterAll(() => offload.close());
const metrics = createMetrics({ processMetrics: false });
const app = createApp({
  admitter: createAdmitter({ policy: () => live.current(), now: () => FIXED_NOW, tickets: offlineStore() }),
  logger: createLogger({ destination: new LogSink() }),
  metrics,
  storeKind: 'journal',
  ready: () => true,
  offload: spied,
  policyAdmission: createPolicyAdmission({ inForce: () => live.current().policies, target: { service: { namespace: 'driftgate-system', name: 'driftgate' } } }),
});

/** A developer's memory-limit change in prod; `large` adds 20,000 unchanged values, so the worker judges it. */
function review(large: boolean): unknown {
  const r = structuredClone(fixture('human-memory-limit'));
  if (large) {
    const filler = Array.from({ length: 20_000 }, () => 1);
    for (const o of [r.request.object, r.request.oldObject] as Array<Record<string, Record<string, unknown>>>) o['spec'] = { ...o['spec'], filler };
  }
  return r;
}

function validate(body: unknown): Promise<{ allowed: boolean; warnings?: string[]; status?: { message: string } }> {
  return request(app)
    .post('/validate')
    .set('Content-Type', 'application/json')
    .send(JSON.stringify(body))
    .then((res) => (res.body as { response: { allowed: boolean; warnings?: string[]; status?: { message: string } } }).response);
}

describe('a swapped policy applies from the next review on', () => {
  it('small reviews (judged in place): refused under enforce, let through with a warning once warn is swapped in, refused again after', async () => {
    live.swap({ policies: [enforce] });
    expect((await validate(review(false))).allowed).toBe(false);
    live.swap({ policies: [warn] });
    const allowed = await validate(review(false));
    expect(allowed.allowed).toBe(true);
    expect(allowed.warnings?.[0]).toMatch(/^driftgate \(warn mode, would refuse\)/);
    live.swap({ policies: [enforce] });
    expect((await validate(review(false))).allowed).toBe(false);
  });

  it('large reviews (judged on the worker) are judged under the policy in force when they arrive', async () => {
    judgedUnder.length = 0;
    live.swap({ policies: [enforce] });
    const refused = await validate(review(true));
    expect(refused.allowed).toBe(false);
    live.swap({ policies: [warn] });
    const allowed = await validate(review(true));
    expect(allowed.allowed).toBe(true);
    expect(judgedUnder.map((p) => ('policies' in p ? p.policies.map((x) => x.mode) : [p.mode]))).toEqual([['enforce'], ['warn']]);
  });

  it('with no valid policy in force, the worker refuses too (fail closed), saying why', async () => {
    live.swap({ policies: [], closed: 'none of the 1 GuardPolicy is valid' });
    const refused = await validate(review(true));
    expect(refused.allowed).toBe(false);
    expect(refused.status?.message).toMatch(/^\[driftgate\/no-policy\] .*none of the 1 GuardPolicy is valid/);
    live.swap({ policies: [enforce] });
  });
});

describe('POST /validate-policy', () => {
  function policyReview(spec: unknown): unknown {
    return {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'gp-http',
        kind: { group: 'driftgate.dev', version: 'v1alpha1', kind: 'GuardPolicy' },
        resource: { group: 'driftgate.dev', version: 'v1alpha1', resource: 'guardpolicies' },
        name: 'orders',
        operation: 'CREATE',
        userInfo: { username: 'alice@example.com' },
        object: { apiVersion: 'driftgate.dev/v1alpha1', kind: 'GuardPolicy', metadata: { name: 'orders' }, spec },
        oldObject: null,
      },
    };
  }

  it('refuses a bad policy with the path message, and counts it under its own webhook label', async () => {
    const res = await request(app)
      .post('/validate-policy')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(policyReview({ namespaces: ['orders'], resources: [{ apiGroups: ['v1'], resources: ['configmaps'] }] })));
    expect(res.status).toBe(200);
    const response = (res.body as { response: { uid: string; allowed: boolean; status: { message: string } } }).response;
    expect(response.uid).toBe('gp-http');
    expect(response.allowed).toBe(false);
    expect(response.status.message).toContain('spec.resources[0].apiGroups[0]: "v1" is a version, not an API group');
    expect(await metrics.registry.metrics()).toContain('driftgate_admission_requests_total{webhook="validate-policy",operation="CREATE",decision="deny"} 1');
  });

  it("refuses one overlapping the policy in force (the fixture's prod, payments-*)", async () => {
    const res = await request(app)
      .post('/validate-policy')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(policyReview({ namespaces: ['payments-us'], resources: [{ apiGroups: ['apps'], resources: ['deployments'] }] })));
    expect((res.body as { response: { status: { message: string } } }).response.status.message).toContain('already guarded by GuardPolicy prod');
  });

  it('allows a good one', async () => {
    const res = await request(app)
      .post('/validate-policy')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(policyReview({ namespaces: ['orders'], resources: [{ apiGroups: ['apps'], resources: ['deployments'] }] })));
    expect((res.body as { response: { allowed: boolean } }).response.allowed).toBe(true);
  });

  it('answers garbage with an AdmissionReview refusal (400), like the other routes', async () => {
    const res = await request(app).post('/validate-policy').set('Content-Type', 'application/json').send('{"nope":');
    expect(res.status).toBe(400);
    expect((res.body as { response: { allowed: boolean } }).response.allowed).toBe(false);
  });
});
