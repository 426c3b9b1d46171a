/**
 * Properties of decide() that no table can cover: whatever the object and the change, a
 * requester who is neither a GitOps writer, nor delegated the changed field, nor allowed to break
 * glass is never let through; and the mutation is idempotent (the apiserver may reinvoke it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest, KubeObject, Operation } from '../../../src/admission/types.js';
import { decide } from '../../../src/decision/decide.js';
import { isWithin } from '../../../src/decision/pointer.js';
import { loadPolicy } from '../../../src/policy/load.js';

const policy = loadPolicy(readFileSync(join(import.meta.dirname, 'testdata', 'policy.yaml'), 'utf8'), 'policy.yaml');
const NOW = new Date('2026-11-24T03:00:00Z');
const PRIVILEGED_GROUPS = new Set(['oncall', 'system:serviceaccounts:flux-system']);
const PRIVILEGED_USERS = new Set([...policy.gitopsWriters.users, ...policy.breakGlass.users, ...policy.delegations.flatMap((d) => d.users)]);

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);
const user = fc.record({
  username: fc
    .oneof(
      name.map((n) => `${n}@example.com`),
      name.map((n) => `system:serviceaccount:team:${n}`),
    )
    .filter((u) => !PRIVILEGED_USERS.has(u)),
  groups: fc
    .array(fc.oneof(name, fc.constant('system:authenticated'), fc.constant('developers')), { maxLength: 4 })
    .map((g) => g.filter((x) => !PRIVILEGED_GROUPS.has(x))),
});
const windowAnnotations = fc.option(
  fc.record({
    'driftgate.dev/break-glass-until': fc.constantFrom('2026-11-24T04:00:00Z', 'tomorrow', '2026-11-24T02:00:00Z'),
    'driftgate.dev/break-glass-reason': fc.constantFrom('checkout OOMKilled under load', 'x'),
    'driftgate.dev/break-glass-incident': fc.constantFrom('INC-1', 'urgent'),
  }),
  { nil: undefined },
);
// A change to a field nobody but Git owns: anything outside the delegated paths.
const field = fc.constantFrom('image', 'memory', 'env', 'label', 'newKey', 'replicasAndImage');

function deployment(annotations: Record<string, string> | undefined): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'prod', resourceVersion: '1', labels: { app: 'web' }, ...(annotations ? { annotations } : {}) },
    spec: {
      replicas: 2,
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'app', image: 'web:1', env: [{ name: 'A', value: '1' }], resources: { limits: { memory: '512Mi' } } }] },
      },
    },
  };
}

function changed(obj: KubeObject, what: string, value: string): KubeObject {
  const o = structuredClone(obj) as KubeObject & { spec: { replicas: number; template: { spec: { containers: Record<string, unknown>[] } } } };
  const c = o.spec.template.spec.containers[0] as Record<string, unknown> & { resources: { limits: Record<string, string> } };
  switch (what) {
    case 'image':
      c['image'] = `web:${value}-x`;
      break;
    case 'memory':
      c.resources.limits['memory'] = `${value.length + 1}Gi`;
      break;
    case 'env':
      c['env'] = [{ name: 'A', value: `${value}-x` }];
      break;
    case 'label':
      o.metadata = { ...o.metadata, labels: { app: 'web', extra: value } };
      break;
    case 'newKey':
      c['args'] = [value];
      break;
    default:
      o.spec.replicas = 7;
      c['image'] = `web:${value}-y`;
  }
  return o;
}

describe('decide properties', () => {
  it('never lets an unprivileged requester change a field that is not delegated to them', () => {
    fc.assert(
      fc.property(user, field, name, windowAnnotations, fc.constantFrom<Operation>('UPDATE', 'CREATE', 'DELETE'), (u, what, value, ann, op) => {
        const before = deployment(ann);
        const after = changed(before, what, value);
        const request: AdmissionRequest = {
          uid: 'u',
          kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
          resource: { group: 'apps', version: 'v1', resource: 'deployments' },
          name: 'web',
          namespace: 'prod',
          operation: op,
          userInfo: u,
          object: op === 'DELETE' ? null : after,
          oldObject: op === 'CREATE' ? null : before,
        };
        const got = decide(request, policy, NOW);
        expect(got.kind).toBe('deny');
      }),
      { numRuns: 500 },
    );
  });

  it('is idempotent: deciding again on the mutated object patches nothing', () => {
    fc.assert(
      fc.property(fc.constantFrom('5m', '30m', '1h', '4h'), fc.boolean(), (duration, alsoChange) => {
        const before = deployment(undefined);
        const annotated = deployment({
          'driftgate.dev/break-glass-for': duration,
          'driftgate.dev/break-glass-reason': 'checkout OOMKilled under load',
          'driftgate.dev/break-glass-incident': 'INC-7',
        });
        const after = alsoChange ? changed(annotated, 'memory', 'x') : annotated;
        const request: AdmissionRequest = {
          uid: 'u',
          kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
          resource: { group: 'apps', version: 'v1', resource: 'deployments' },
          name: 'web',
          namespace: 'prod',
          operation: 'UPDATE',
          userInfo: { username: 'dave@example.com', groups: ['oncall'] },
          object: after,
          oldObject: before,
        };
        const first = decide(request, policy, NOW);
        expect(first.kind).not.toBe('deny');
        if (first.kind === 'deny') return;
        expect(first.mutation.length).toBeGreaterThan(0);
        const patchedObject = jsonpatch.applyPatch(structuredClone(after), first.mutation, true, false).newDocument as KubeObject;
        // A later reinvocation, a little later, on the already-patched object.
        const again = decide({ ...request, object: patchedObject }, policy, new Date(NOW.getTime() + 2_000));
        expect(again.kind).toBe(first.kind);
        if (again.kind === 'deny') return;
        expect(again.mutation).toEqual([]);
        if (first.kind === 'bypass' && again.kind === 'bypass') expect(again.ticket.id).toBe(first.ticket.id);
      }),
    );
  });

  it('keeps the delegated paths of the policy under test meaningful', () => {
    expect(policy.delegations.some((d) => d.paths.some((p) => isWithin('/spec/replicas', p)))).toBe(true);
  });
});
