/**
 * The `observe.driftgate.dev` entry (`manifests --settle`), judged by the apiserver's own CEL
 * (test/celcheck): it must select exactly the GitOps writers' writes to objects carrying a ticket
 * stamp (settlement needs those and nothing else), never error on any request the apiserver may
 * send, and cost next to nothing of the budget. Evaluated with failurePolicy Fail so that an
 * error would show; the entry itself is rendered Ignore, whatever the mode or override.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKPORT_TICKET } from '../../../src/decision/annotations.js';
import { OBSERVE_WEBHOOK, renderWebhooks, type ValidatingWebhook } from '../../../src/manifests/render.js';
import { inSubjects } from '../../../src/policy/match.js';
import type { GuardPolicy } from '../../../src/policy/index.js';
import { type CelCheck, startCelCheck } from '../../helpers/celcheck.js';
import { requestArb, worldPolicies } from './world.js';

let cel: CelCheck;
const policies = worldPolicies();

function observeEntry(policy: GuardPolicy, options: { failurePolicy?: 'Fail' | 'Ignore' } = {}): ValidatingWebhook {
  const [validating] = renderWebhooks(policy, { url: 'https://127.0.0.1:8443' }, '', { ...options, observeGitopsWrites: true });
  const entry = validating.webhooks.find((w) => w.name === OBSERVE_WEBHOOK);
  if (entry === undefined) throw new Error('no observe entry rendered');
  return entry;
}

/** What settlement needs: a GitOps writer's write to a stamped object (new or, for a DELETE, old). */
function wanted(policy: GuardPolicy, request: Record<string, unknown>): boolean {
  const user = request['userInfo'] as { username: string; groups?: string[] };
  const stamped = (o: unknown): boolean => {
    const annotations = (o as { metadata?: { annotations?: Record<string, string> } } | null)?.metadata?.annotations;
    return annotations !== undefined && annotations !== null && typeof annotations === 'object' && BACKPORT_TICKET in annotations;
  };
  return inSubjects(policy.gitopsWriters, user) && (stamped(request['object']) || stamped(request['oldObject']));
}

// Half the drawn requests carry a stamp, on the new object, the old one or both.
function stampSome(request: Record<string, unknown>, pick: number): Record<string, unknown> {
  const stamp = (o: unknown): void => {
    // Only where there is a map to put it in: a generated edit may have made metadata a string.
    if (o === null || typeof o !== 'object') return;
    const meta = ((o as Record<string, unknown>)['metadata'] ??= {}) as unknown;
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return;
    const annotations = (meta as Record<string, unknown>)['annotations'] ?? {};
    if (annotations === null || typeof annotations !== 'object' || Array.isArray(annotations)) return;
    (meta as Record<string, unknown>)['annotations'] = { ...annotations, [BACKPORT_TICKET]: 'web-inc-1-0123456789' };
  };
  if (pick % 4 === 1) stamp(request['object']);
  if (pick % 4 === 2) stamp(request['oldObject']);
  if (pick % 4 === 3) {
    stamp(request['object']);
    stamp(request['oldObject']);
  }
  return request;
}

beforeAll(async () => {
  cel = startCelCheck();
}, 600_000);

afterAll(async () => {
  await cel?.close();
});

describe('observe.driftgate.dev', () => {
  it('is rendered fail-open (Ignore, 1 s) whatever the mode or the failure-policy override, and only on request', () => {
    const shared = policies['shared'] as GuardPolicy;
    for (const entry of [observeEntry(shared), observeEntry(shared, { failurePolicy: 'Fail' })]) {
      expect(entry).toMatchObject({ failurePolicy: 'Ignore', timeoutSeconds: 1, sideEffects: 'NoneOnDryRun' });
      expect(entry.clientConfig).toEqual({ url: 'https://127.0.0.1:8443/observe' });
      expect(entry.rules.every((r) => r.resources.every((res) => !res.includes('/')))).toBe(true);
    }
    const [plain] = renderWebhooks(shared, { url: 'https://127.0.0.1:8443' }, '');
    expect(plain.webhooks.map((w) => w.name)).not.toContain(OBSERVE_WEBHOOK);
  });

  it('selects exactly the GitOps writes to stamped objects, never errors, and costs little (12,000 generated requests)', async () => {
    for (const [key, policy] of Object.entries(policies)) {
      expect(await cel.define(key, { ...observeEntry(policy), failurePolicy: 'Fail' }), `${key} compiles`).toEqual([]);
    }
    const drawn = fc.sample(fc.tuple(requestArb(Object.keys(policies)), fc.nat()), { numRuns: 12_000, seed: 1515 });
    const problems: string[] = [];
    let selected = 0;
    let maxCost = 0;
    for (let i = 0; i < drawn.length; i += 64) {
      const batch = drawn.slice(i, i + 64).map(([g, pick]) => ({ key: g.policy, request: stampSome(g.request, pick) }));
      const answers = await Promise.all(batch.map((b) => cel.evaluate(b.key, b.request)));
      for (const [j, answer] of answers.entries()) {
        const { key, request } = batch[j] as { key: string; request: Record<string, unknown> };
        // The entry's rules name main resources only: a subresource request never reaches its conditions.
        if (request['subResource'] !== undefined) continue;
        maxCost = Math.max(maxCost, answer.cost);
        const want = wanted(policies[key] as GuardPolicy, request);
        if (answer.matches) selected += 1;
        if (answer.error !== '') problems.push(`errors: ${answer.error} on ${JSON.stringify(request)}`);
        // The namespace condition also narrows: a request outside the policy's namespaces is not wanted either.
        else if (answer.matches && !want) problems.push(`selects a write settlement does not need: ${JSON.stringify(request)}`);
        else if (
          !answer.matches &&
          want &&
          (policies[key] as GuardPolicy).namespaces.some(
            (n) => n === '*' || n === request['namespace'] || (n.endsWith('*') && String(request['namespace']).startsWith(n.slice(0, -1))),
          )
        )
          problems.push(`misses a GitOps write to a stamped object: ${JSON.stringify(request)}`);
      }
      if (problems.length > 5) break;
    }
    expect(problems.slice(0, 5)).toEqual([]);
    expect(selected).toBeGreaterThan(200);
    // A few dozen units against a budget of 2,500,000 per webhook (CEL-NOTES.md).
    expect(maxCost).toBeLessThan(1_000);
  }, 600_000);

  it('does not error on odd shapes: no metadata, annotations null, no groups, DELETE and CREATE', async () => {
    const policy = policies['shared'] as GuardPolicy;
    await cel.define('odd', { ...observeEntry(policy), failurePolicy: 'Fail' });
    const base = {
      uid: 'u',
      kind: { group: '', version: 'v1', kind: 'ConfigMap' },
      resource: { group: '', version: 'v1', resource: 'configmaps' },
      name: 'cm',
      namespace: 'prod',
      userInfo: { username: 'system:serviceaccount:argocd:argocd-application-controller' },
    };
    const cm = (metadata: unknown): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'ConfigMap', ...(metadata === undefined ? {} : { metadata }) });
    const cases = [
      { operation: 'UPDATE', object: cm(undefined), oldObject: cm(undefined), want: false },
      { operation: 'UPDATE', object: cm({ name: 'cm', annotations: null }), oldObject: cm({ name: 'cm' }), want: false },
      { operation: 'DELETE', object: null, oldObject: cm({ name: 'cm', annotations: { [BACKPORT_TICKET]: 't' } }), want: true },
      { operation: 'CREATE', object: cm({ name: 'cm', annotations: { [BACKPORT_TICKET]: 't' } }), oldObject: null, want: true },
      { operation: 'UPDATE', object: cm({ name: 'cm', annotations: { other: 'x' } }), oldObject: cm({ name: 'cm' }), want: false },
    ];
    for (const { want, ...c } of cases) {
      const answer = await cel.evaluate('odd', { ...base, ...c });
      expect(answer.error, JSON.stringify(c)).toBe('');
      expect(answer.matches, JSON.stringify(c)).toBe(want);
    }
    // A responder (not a GitOps writer) writing a stamped object is not observed: /validate judges it.
    const responder = await cel.evaluate('odd', {
      ...base,
      userInfo: { username: 'dave@example.com', groups: ['oncall'] },
      operation: 'UPDATE',
      object: cm({ name: 'cm', annotations: { [BACKPORT_TICKET]: 't' } }),
      oldObject: cm({ name: 'cm', annotations: { [BACKPORT_TICKET]: 't' } }),
    });
    expect(responder).toMatchObject({ error: '', matches: false });
  });
});
