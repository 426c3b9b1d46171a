import { describe, expect, test } from 'vitest';
import type { KubeObject } from '../../../src/admission/types.js';
import { normalizedDiff } from '../../../src/decision/diff.js';
import { normalize } from '../../../src/decision/normalize.js';

const live = (): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'checkout-api',
    namespace: 'prod',
    uid: '6f1c2a9e-3b7d-4d0a-9a51-2f8e4c7b1d03',
    resourceVersion: '184467',
    generation: 7,
    creationTimestamp: '2025-01-14T09:12:44Z',
    selfLink: '/apis/apps/v1/namespaces/prod/deployments/checkout-api',
    deletionTimestamp: '2025-03-02T12:00:00Z',
    deletionGracePeriodSeconds: 30,
    managedFields: [{ manager: 'argocd-controller', operation: 'Apply' }],
    ownerReferences: [{ apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', name: 'shop-prod', uid: 'u1' }],
    finalizers: ['foregroundDeletion'],
    labels: { app: 'checkout-api' },
    annotations: {
      'deployment.kubernetes.io/revision': '7',
      'kubectl.kubernetes.io/last-applied-configuration': '{"kind":"Deployment"}\n',
      'driftgate.dev/break-glass-until': '2025-03-02T14:00:00Z',
      'driftgate.dev/backport-ticket': 'bt-1',
    },
  },
  spec: { replicas: 3, template: { metadata: { creationTimestamp: null } } },
  status: { replicas: 3 },
});

describe('normalize', () => {
  test('drops runtime fields and keeps intent', () => {
    expect(normalize(live())).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'checkout-api',
        namespace: 'prod',
        ownerReferences: [{ apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', name: 'shop-prod', uid: 'u1' }],
        finalizers: ['foregroundDeletion'],
        labels: { app: 'checkout-api' },
        annotations: { 'deployment.kubernetes.io/revision': '7' },
      },
      // Only the object's own metadata is runtime; a pod template's fields are intent.
      spec: { replicas: 3, template: { metadata: { creationTimestamp: null } } },
    });
  });

  test('drops the annotations map its removals leave empty, and empty label maps', () => {
    const obj = live();
    obj.metadata = {
      name: 'checkout-api',
      labels: {},
      annotations: { 'driftgate.dev/break-glass-for': '2h', 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
    };
    expect(normalize(obj)?.metadata).toEqual({ name: 'checkout-api' });
  });

  test('never modifies its input', () => {
    const obj = live();
    const before = structuredClone(obj);
    const normal = normalize(obj);
    expect(obj).toEqual(before);
    normal!.metadata!.labels!['app'] = 'changed';
    expect(obj).toEqual(before);
  });

  test.each([null, undefined])('has no object for %s', (missing) => {
    expect(normalize(missing)).toBeUndefined();
  });

  test('keeps a "__proto__" key from the wire as a plain key', () => {
    const obj = JSON.parse('{"kind":"ConfigMap","data":{"__proto__":{"polluted":"yes"}}}') as KubeObject;
    const normal = normalize(obj);
    expect(Object.getPrototypeOf(normal?.['data'])).toBe(Object.prototype);
    expect(Object.hasOwn(normal?.['data'] as object, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  test('treats keys holding undefined as absent, as JSON would', () => {
    // normalize copies only what it changes (top level, metadata); deeper, the diff reads an
    // undefined value as no value.
    expect(normalize({ kind: 'ConfigMap', status: undefined, metadata: { name: 'x', uid: undefined } })).toEqual({
      kind: 'ConfigMap',
      metadata: { name: 'x' },
    });
    expect(Object.keys(normalize({ kind: 'ConfigMap', data: undefined }) ?? {})).toEqual(['kind']);
    expect(normalizedDiff({ kind: 'ConfigMap', data: { a: undefined, b: '1' } }, { kind: 'ConfigMap', data: { b: '1' } })).toEqual({
      patch: [],
      revert: [],
      paths: [],
    });
    expect(normalizedDiff({ kind: 'ConfigMap', data: { b: '1' } }, { kind: 'ConfigMap', data: { a: undefined, b: '1' } })).toEqual({
      patch: [],
      revert: [],
      paths: [],
    });
  });
});
