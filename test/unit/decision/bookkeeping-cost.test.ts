/**
 * managedFields comparison costs one pass over each field's value, however many entries name the
 * field. Regression (adversarial review of issue 11): 900 entries each owning `spec`, over a spec
 * holding a 6,500-item list, compared the list 900 times: a 64 KB review held the event loop for
 * seconds. Work is counted (reads of the list's items), never timed.
 */
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest, KubeObject } from '../../../src/admission/types.js';
import { bookkeepingPaths, MANAGED_FIELDS_PATH } from '../../../src/decision/bookkeeping.js';

const ITEMS = 6_500;
const ENTRIES = 900;

function counted(list: unknown[], reads: { n: number }): unknown[] {
  return new Proxy(list, {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads.n++;
      return Reflect.get(target, key, receiver);
    },
  });
}

function review(entries: unknown[], newEntries: unknown[], reads: { n: number }): AdmissionRequest {
  const obj = (z: number, managedFields: unknown[]): KubeObject => ({
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w', namespace: 'prod', managedFields },
    spec: {
      a: counted(
        Array.from({ length: ITEMS }, () => ({})),
        reads,
      ),
      z,
    },
  });
  return {
    uid: 'u',
    kind: { group: 'example.com', version: 'v1', kind: 'Widget' },
    resource: { group: 'example.com', version: 'v1', resource: 'widgets' },
    name: 'w',
    namespace: 'prod',
    operation: 'UPDATE',
    userInfo: { username: 'mallory@example.com' },
    oldObject: obj(1, entries),
    object: obj(2, newEntries),
  };
}

describe('managedFields comparison cost', () => {
  it('compares a field named by 900 entries once, and still sees what the request changed', () => {
    const reads = { n: 0 };
    const entries = Array.from({ length: ENTRIES }, (_, i) => ({
      manager: `m${i}`,
      operation: 'Update',
      apiVersion: 'example.com/v1',
      fieldsV1: { 'f:spec': {} },
    }));
    const paths = bookkeepingPaths(review(entries, [{ manager: 'k', operation: 'Update', apiVersion: 'example.com/v1', fieldsV1: { 'f:spec': {} } }], reads));
    // Every old manager lost `spec`, which the request did change (z: 1 → 2): the apiserver's own doing.
    expect(paths).toEqual([]);
    // One comparison of the two lists reads each side's items once.
    expect(reads.n).toBeLessThanOrEqual(2 * ITEMS + 10);
  });

  it('still reports a rewrite: an entry losing a field the request did not change', () => {
    const reads = { n: 0 };
    const entries = [{ manager: 'argocd-controller', operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:labels': {} } } }];
    expect(bookkeepingPaths(review(entries, [{ manager: 'k', operation: 'Update', apiVersion: 'example.com/v1', fieldsV1: { 'f:spec': {} } }], reads))).toEqual(
      [MANAGED_FIELDS_PATH],
    );
  });

  it('scans a list once per key shape, at most a few shapes: an entry naming hundreds of shapes is a rewrite, not a stall', () => {
    // Regression (second adversarial review of issue 11): every new key shape (`k:{"zN":1}`)
    // indexed the whole list again, so 1,600 shapes over 1,600 items took half a second.
    const SHAPES = 400;
    const reads = { n: 0 };
    const env = counted(
      Array.from({ length: ITEMS }, (_, i) => ({ name: `E${i}` })),
      reads,
    );
    const owned = Object.fromEntries(Array.from({ length: SHAPES }, (_, i) => [`k:{"z${i}":1}`, { '.': {} }]));
    const obj = (z: number, managedFields: unknown[]): KubeObject => ({
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: 'w', namespace: 'prod', managedFields },
      spec: { env, z },
    });
    const before = [{ manager: 'argocd-controller', operation: 'Apply', apiVersion: 'example.com/v1', fieldsV1: { 'f:spec': { 'f:z': {} } } }];
    const after = [...before, { manager: 'mallory', operation: 'Update', apiVersion: 'example.com/v1', fieldsV1: { 'f:spec': { 'f:env': owned } } }];
    const request: AdmissionRequest = {
      uid: 'u',
      kind: { group: 'example.com', version: 'v1', kind: 'Widget' },
      resource: { group: 'example.com', version: 'v1', resource: 'widgets' },
      name: 'w',
      namespace: 'prod',
      operation: 'UPDATE',
      userInfo: { username: 'mallory@example.com' },
      oldObject: obj(1, before),
      object: obj(1, after),
    };
    expect(bookkeepingPaths(request)).toEqual([MANAGED_FIELDS_PATH]);
    // A handful of index builds over the list (both objects share it here), never one per shape.
    expect(reads.n).toBeLessThanOrEqual(10 * ITEMS);
  });
});
