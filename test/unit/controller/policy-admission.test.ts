/**
 * driftgate's check of GuardPolicy writes (/validate-policy): a bad policy is refused with the
 * path-qualified messages of `policy check`, an overlapping one names the policy it overlaps,
 * a good one passes (with lint warnings), and anything else that reaches it passes untouched.
 */
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../../src/admission/types.js';
import { createPolicyAdmission } from '../../../src/controller/policy-admission.js';
import type { GuardPolicy } from '../../../src/policy/types.js';
import { fixturePolicy } from '../../helpers/webhook.js';

const TARGET = { service: { namespace: 'driftgate-system', name: 'driftgate' } };

function write(spec: unknown, name = 'prod', operation: 'CREATE' | 'UPDATE' = 'CREATE'): AdmissionRequest {
  return {
    uid: 'gp-1',
    kind: { group: 'driftgate.dev', version: 'v1alpha1', kind: 'GuardPolicy' },
    resource: { group: 'driftgate.dev', version: 'v1alpha1', resource: 'guardpolicies' },
    name,
    operation,
    userInfo: { username: 'alice@example.com', groups: ['platform'] },
    object: { apiVersion: 'driftgate.dev/v1alpha1', kind: 'GuardPolicy', metadata: { name, generation: 1, uid: 'u', managedFields: [] }, spec },
    oldObject: null,
  };
}

const good = { namespaces: ['prod'], resources: [{ apiGroups: ['apps'], resources: ['deployments'] }] };

function check(others: GuardPolicy[] = []) {
  return createPolicyAdmission({ inForce: () => others, target: TARGET });
}

describe('checking GuardPolicy writes', () => {
  it('allows a good policy (server-set metadata such as uid and managedFields are not the policy)', () => {
    expect(check()(write(good)).allowed).toBe(true);
  });

  it('refuses a bad one with every problem, path-qualified, as policy check words them', () => {
    const answer = check()(write({ ...good, breakGlass: { groups: ['oncall'], maxDuration: '0s', incidentPattern: '(' } }));
    expect(answer.allowed).toBe(false);
    expect(answer.status?.code).toBe(422);
    const message = answer.status?.message ?? '';
    expect(message).toContain('GuardPolicy prod is invalid (2 problems)');
    expect(message).toContain('spec.breakGlass.maxDuration: "0s" must be longer than zero; write 4h or 30m');
    expect(message).toContain('spec.breakGlass.incidentPattern: "(" is not a regular expression');
  });

  it('refuses a policy whose namespaces another policy in force already guards, naming it', () => {
    const payments: GuardPolicy = { ...fixturePolicy(), name: 'payments', namespaces: ['payments-*'] };
    const answer = check([payments])(write({ ...good, namespaces: ['prod', 'payments-eu'] }, 'eu'));
    expect(answer.allowed).toBe(false);
    expect(answer.status?.message).toContain('spec.namespaces[1]: "payments-eu" overlaps "payments-*", which is already guarded by GuardPolicy payments');
  });

  it("an update is not compared with the policy's own generation in force", () => {
    const prod: GuardPolicy = { ...fixturePolicy(), name: 'prod', namespaces: ['prod'] };
    expect(check([prod])(write({ ...good, namespaces: ['prod', 'orders'] }, 'prod', 'UPDATE')).allowed).toBe(true);
  });

  it('warns (never refuses) about risky choices, as policy check does', () => {
    const answer = check()(write({ ...good, delegations: [{ groups: ['system:authenticated'], paths: ['/spec'] }] }));
    expect(answer.allowed).toBe(true);
    expect((answer.warnings ?? []).join('\n')).toContain('spec.delegations[0]');
  });

  it('lets anything but a GuardPolicy create or update through untouched', () => {
    const other = { ...write(good), resource: { group: 'apps', version: 'v1', resource: 'deployments' } };
    expect(check()(other).allowed).toBe(true);
    expect(check()({ ...write(good), operation: 'DELETE' }).allowed).toBe(true);
    expect(check()({ ...write(good), subResource: 'status' }).allowed).toBe(true);
  });

  it.each([
    ['no spec', undefined],
    ['a spec that is a string', 'namespaces: [prod]'],
    ['a spec that is a list', [good]],
    ['namespaces of the wrong type', { ...good, namespaces: 'prod' }],
    ['a namespace with control characters', { ...good, namespaces: ['pr\u001b[31mod'] }],
    ['a prototype key', JSON.parse('{"__proto__": {"mode": "warn"}, "namespaces": ["prod"], "resources": []}')],
  ])('refuses %s with a message naming the field, never a crash', (_name, spec) => {
    const answer = check()(write(spec));
    expect(answer.allowed).toBe(false);
    expect(answer.status?.message).toMatch(/^GuardPolicy prod is invalid \(\d+ problems?\):\n {2}- (spec|document)/);
    expect(answer.status?.message).not.toContain('\u001b');
    expect(answer.status?.message).not.toMatch(/\n\s+at /);
  });

  it('refuses a GuardPolicy write that carries no object (it cannot be checked)', () => {
    expect(check()({ ...write(good), object: null }).allowed).toBe(false);
  });
});
