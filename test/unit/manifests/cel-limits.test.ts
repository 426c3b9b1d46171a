/**
 * Never refuse by accident: no rendered condition errors on a request the apiserver may send, and
 * the conditions of one webhook together never exhaust its CEL budget, however large the object.
 * Evaluated by the apiserver's own code (test/celcheck) with failurePolicy Fail, where an error or
 * an exhausted budget would refuse the write. Issue 12. The real apiserver repeats the large
 * cases end to end (test/e2e/availability.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CEL_LIMITS, compileSkips } from '../../../src/manifests/conditions.js';
import { renderWebhooks, type ValidatingWebhook } from '../../../src/manifests/render.js';
import { skipsOf } from '../../../src/manifests/skips.js';
import { parsePolicy } from '../../../src/policy/index.js';
import { type CelCheck, startCelCheck } from '../../helpers/celcheck.js';

let cel: CelCheck;

// Every delegation names the same group, so one requester runs every diff at once: the worst case
// for the budget. The paths give the diffs many inner nodes.
const SHARED_GROUP = 'everyone-delegated';
const policy = parsePolicy({
  apiVersion: 'driftgate.dev/v1alpha1',
  kind: 'GuardPolicy',
  metadata: { name: 'limits' },
  spec: {
    namespaces: ['prod', 'pay-*'],
    resources: [{ apiGroups: ['*'], resources: ['*', '*/scale', '*/status'] }],
    gitopsWriters: { users: ['argo'], groups: ['flux'] },
    delegations: [
      { groups: [SHARED_GROUP], paths: ['/data/flags.json'] },
      { groups: [SHARED_GROUP], paths: ['/spec/replicas'] },
      { groups: [SHARED_GROUP], paths: ['/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt'] },
      { groups: [SHARED_GROUP], paths: ['/metadata/annotations/deployment.kubernetes.io~1revision'] },
      { groups: [SHARED_GROUP], paths: ['/spec/a/b/c/d/e', '/spec/a/b/x/y'] },
      { groups: [SHARED_GROUP], paths: ['/metadata/labels/tier'] },
    ],
  },
});
const [validating] = renderWebhooks(policy, { url: 'https://127.0.0.1:8443' }, '');
const webhook = validating.webhooks[0] as ValidatingWebhook;
const worst = compileSkips(skipsOf(policy), 1);

function map(size: number, prefix = 'k'): Record<string, string> {
  return Object.fromEntries(Array.from({ length: size }, (_, i) => [`${prefix}${i}`, `v${i}`]));
}

function request(over: Record<string, unknown>): Record<string, unknown> {
  return {
    uid: 'u',
    kind: { group: '', version: 'v1', kind: 'ConfigMap' },
    resource: { group: '', version: 'v1', resource: 'configmaps' },
    name: 'flags',
    namespace: 'prod',
    operation: 'UPDATE',
    userInfo: { username: 'worker', groups: [SHARED_GROUP] },
    ...over,
  };
}

function configMap(data: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'flags', namespace: 'prod', resourceVersion: '1', ...extra }, data };
}

beforeAll(async () => {
  cel = startCelCheck();
  expect(await cel.define('limits', { ...webhook, failurePolicy: 'Fail' })).toEqual([]);
}, 600_000);

afterAll(async () => {
  await cel?.close();
});

describe('rendered conditions on hostile and huge requests', () => {
  it('bounds the worst case of all conditions together below the per-webhook budget', () => {
    expect(worst.worstCost).toBeLessThan(CEL_LIMITS.webhookBudget);
    expect(worst.maxEntries).toBeGreaterThan(100);
  });

  const odd: Array<{ name: string; request: Record<string, unknown> }> = [
    { name: 'no groups, no subresource, no namespace', request: request({ namespace: undefined, userInfo: { username: 'x' } }) },
    { name: 'an empty username', request: request({ userInfo: { username: '' } }) },
    { name: 'DELETE: object null', request: request({ operation: 'DELETE', oldObject: configMap({ a: '1' }), object: null }) },
    { name: 'CREATE: oldObject null', request: request({ operation: 'CREATE', object: configMap({ a: '1' }), oldObject: null }) },
    {
      name: 'UPDATE without metadata',
      request: request({ object: { apiVersion: 'v1', kind: 'ConfigMap', data: { a: '1' } }, oldObject: { apiVersion: 'v1', kind: 'ConfigMap' } }),
    },
    {
      name: 'a custom resource whose spec is a list on one side and a string on the other',
      request: request({
        kind: { group: 'x.io', version: 'v1', kind: 'Thing' },
        resource: { group: 'x.io', version: 'v1', resource: 'things' },
        object: { apiVersion: 'x.io/v1', kind: 'Thing', metadata: { name: 't' }, spec: [1, 2] },
        oldObject: { apiVersion: 'x.io/v1', kind: 'Thing', metadata: { name: 't' }, spec: 'x' },
      }),
    },
    {
      name: 'a custom resource with nulls where maps are expected',
      request: request({
        kind: { group: 'x.io', version: 'v1', kind: 'Thing' },
        resource: { group: 'x.io', version: 'v1', resource: 'things' },
        object: { apiVersion: 'x.io/v1', kind: 'Thing', metadata: { name: 't', annotations: null, labels: null }, spec: null, data: null },
        oldObject: { apiVersion: 'x.io/v1', kind: 'Thing', metadata: { name: 't' }, spec: { a: { b: null } } },
      }),
    },
    {
      name: 'a /scale of a Deployment',
      request: request({
        kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
        resource: { group: 'apps', version: 'v1', resource: 'deployments' },
        subResource: 'scale',
        object: { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web' }, spec: { replicas: 5 } },
        oldObject: { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web' }, spec: {} },
      }),
    },
    {
      name: 'a pod exec (CONNECT, no oldObject)',
      request: request({
        kind: { group: '', version: 'v1', kind: 'PodExecOptions' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        subResource: 'exec',
        operation: 'CONNECT',
        object: { apiVersion: 'v1', kind: 'PodExecOptions', command: ['sh'] },
        oldObject: null,
      }),
    },
    {
      name: 'a Namespace with no name anywhere',
      request: request({
        kind: { group: '', version: 'v1', kind: 'Namespace' },
        resource: { group: '', version: 'v1', resource: 'namespaces' },
        namespace: undefined,
        name: undefined,
        object: { apiVersion: 'v1', kind: 'Namespace', metadata: {} },
        oldObject: { apiVersion: 'v1', kind: 'Namespace', metadata: {} },
      }),
    },
    {
      name: 'the garbage collector writing an object with 10,000 owner references and finalizers',
      request: request({
        userInfo: { username: 'system:serviceaccount:kube-system:generic-garbage-collector', groups: ['system:serviceaccounts'] },
        object: configMap(
          { a: '1' },
          {
            ownerReferences: Array.from({ length: 10_000 }, (_, i) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: `o${i}`, uid: `u${i}` })),
            finalizers: Array.from({ length: 10_000 }, (_, i) => `f${i}`),
          },
        ),
        oldObject: configMap(
          { a: '1' },
          {
            deletionTimestamp: '2026-11-24T02:00:00Z',
            ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'o0', uid: 'u0' }],
            finalizers: ['foregroundDeletion'],
          },
        ),
      }),
    },
    {
      name: 'a requester with 5,000 groups',
      request: request({
        userInfo: { username: 'x', groups: Array.from({ length: 5000 }, (_, i) => `g${i}`) },
        object: configMap({ a: '1' }),
        oldObject: configMap({ a: '1' }),
      }),
    },
  ];
  for (const c of odd) {
    it(`does not error on ${c.name}`, async () => {
      const answer = await cel.evaluate('limits', c.request);
      expect(answer.error).toBe('');
      expect(answer.cost).toBeLessThan(worst.worstCost);
      for (const r of answer.results) expect(r.value, r.name).not.toMatch(/^error/);
    });
  }

  it('skips a 1 MiB ConfigMap whose delegated key alone changed, cheaply', async () => {
    const big = 'x'.repeat(1024 * 1024 - 200);
    const answer = await cel.evaluate(
      'limits',
      request({ object: configMap({ blob: big, 'flags.json': 'on' }), oldObject: configMap({ blob: big, 'flags.json': 'off' }) }),
    );
    expect(answer).toMatchObject({ error: '', matches: false });
    expect(answer.cost).toBeLessThan(10_000);
  });

  it('calls driftgate, without error, for a 1 MiB ConfigMap whose other key changed', async () => {
    const big = 'x'.repeat(1024 * 1024 - 200);
    const answer = await cel.evaluate(
      'limits',
      request({ object: configMap({ blob: `${big}y`, 'flags.json': 'on' }), oldObject: configMap({ blob: big, 'flags.json': 'on' }) }),
    );
    expect(answer).toMatchObject({ error: '', matches: true });
  });

  for (const keys of [10_000, 50_000]) {
    it(`falls back to calling driftgate, without error or exhausted budget, for a ConfigMap of ${keys} keys`, async () => {
      const data = map(keys);
      const answer = await cel.evaluate(
        'limits',
        request({ object: configMap({ ...data, 'flags.json': 'on' }), oldObject: configMap({ ...data, 'flags.json': 'off' }) }),
      );
      expect(answer).toMatchObject({ error: '', matches: true });
      expect(answer.cost).toBeLessThan(CEL_LIMITS.webhookBudget);
    });
  }

  it('keeps every diff at its size limit together under the budget (the worst request)', async () => {
    const n = worst.maxEntries;
    // Every inner node of every trie holds n entries, on both sides, and only a runtime field
    // differs: every diff (each delegation's and the no-op one) walks every node to its limit.
    const wide = (inner: Record<string, unknown>) => ({ ...map(n - Object.keys(inner).length, 'f'), ...inner });
    const obj = (replicas: number, resourceVersion: string) => ({
      apiVersion: 'x.io/v1',
      kind: 'Thing',
      metadata: wide({
        name: 't',
        resourceVersion,
        labels: wide({ tier: String(replicas) }),
        annotations: wide({ 'deployment.kubernetes.io/revision': String(replicas) }),
      }),
      data: wide({ 'flags.json': String(replicas) }),
      spec: wide({
        replicas,
        template: wide({ metadata: wide({ annotations: wide({}) }) }),
        a: wide({ b: wide({ c: wide({ d: wide({ e: replicas }) }), x: wide({ y: replicas }) }) }),
      }),
      ...map(n - 5, 'top'),
    });
    const answer = await cel.evaluate(
      'limits',
      request({
        kind: { group: 'x.io', version: 'v1', kind: 'Thing' },
        resource: { group: 'x.io', version: 'v1', resource: 'things' },
        object: obj(1, '2'),
        oldObject: obj(1, '1'),
      }),
    );
    expect(answer).toMatchObject({ error: '', matches: false });
    // Each diff ran to the end: the cost is of the order the bound assumes, and within it.
    expect(answer.cost).toBeGreaterThan(worst.worstCost / 10);
    expect(answer.cost).toBeLessThanOrEqual(worst.worstCost);
    expect(answer.cost).toBeLessThan(CEL_LIMITS.webhookBudget);
  });
});
