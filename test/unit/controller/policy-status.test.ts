/**
 * From GuardPolicy objects to the policies in force and their status (issue 14): a valid
 * generation goes in force and says Ready; an invalid one never replaces the one in force (kept
 * in memory, and in status.inForce for a restarted replica); overlapping policies: the one in
 * force keeps its namespaces, and among new ones the older object wins. Status writes are
 * compared first, so several replicas converge instead of fighting.
 */
import { describe, expect, it } from 'vitest';
import { closedReason } from '../../../src/controller/guardpolicy-watch.js';
import { type Accepted, judgePolicies, type PolicyObject, type PolicyStatus, statusToWrite } from '../../../src/controller/policy-status.js';

const TARGET = { service: { namespace: 'driftgate-system', name: 'driftgate' } };

function spec(namespaces: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { mode: 'enforce', namespaces, resources: [{ apiGroups: ['apps'], resources: ['deployments'] }], ...extra };
}

function object(name: string, generation: number, s: unknown, created = '2026-12-01T00:00:00Z', status?: PolicyStatus): PolicyObject {
  return { metadata: { name, generation, creationTimestamp: created, resourceVersion: String(100 + generation) }, spec: s, ...(status ? { status } : {}) };
}

const BAD = spec(['prod'], { breakGlass: { groups: ['oncall'], maxDuration: '0s' } });

describe('judgePolicies', () => {
  it('puts a valid policy in force and says Ready, with what was rendered from it', () => {
    const j = judgePolicies([object('prod', 1, spec(['prod']))], new Map(), TARGET);
    expect(j.inForce.map((p) => p.name)).toEqual(['prod']);
    const status = j.statuses.get('prod');
    expect(status?.observedGeneration).toBe(1);
    expect(status?.conditions).toEqual([
      { type: 'Ready', status: 'True', reason: 'InForce', message: 'generation 1 is in force', observedGeneration: 1 },
      { type: 'Invalid', status: 'False', reason: 'Valid', message: '', observedGeneration: 1 },
    ]);
    expect(status?.rendered).toMatchObject({ mode: 'enforce', namespaces: ['prod'], resources: ['apps/deployments'] });
    expect(status?.rendered?.webhookRulesHash).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(status?.inForce).toEqual({ generation: 1, spec: spec(['prod']) });
  });

  it('the webhook rules hash follows what the webhooks would select, and only that', () => {
    const a = judgePolicies([object('prod', 1, spec(['prod']))], new Map(), TARGET).statuses.get('prod')?.rendered?.webhookRulesHash;
    const b = judgePolicies([object('prod', 2, spec(['prod', 'orders']))], new Map(), TARGET).statuses.get('prod')?.rendered?.webhookRulesHash;
    const same = judgePolicies([object('prod', 3, spec(['prod'], { breakGlass: { groups: ['x'] } }))], new Map(), TARGET).statuses.get('prod')?.rendered
      ?.webhookRulesHash;
    expect(a).not.toBe(b);
    expect(same).toBe(a);
  });

  it('an invalid generation never replaces the one in force: Invalid with the path message, the earlier generation stays', () => {
    const first = judgePolicies([object('prod', 1, spec(['prod']))], new Map(), TARGET);
    const second = judgePolicies([object('prod', 2, BAD)], first.accepted, TARGET);
    expect(second.inForce).toHaveLength(1);
    expect(second.accepted.get('prod')?.generation).toBe(1);
    expect(second.inForce[0]?.breakGlass.maxDuration).toBe('1h');
    const status = second.statuses.get('prod');
    expect(status?.observedGeneration).toBe(2);
    expect(status?.conditions?.find((c) => c.type === 'Invalid')).toMatchObject({ status: 'True', reason: 'Invalid' });
    expect(status?.conditions?.find((c) => c.type === 'Invalid')?.message).toContain('spec.breakGlass.maxDuration: "0s" must be longer than zero');
    expect(status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      message: 'generation 2 is refused; generation 1 stays in force',
    });
    expect(status?.inForce?.generation).toBe(1);
    expect(second.invalid.get('prod')).toContain('maxDuration');
  });

  it('a restarted replica enforces the same generation, read back from status.inForce', () => {
    const first = judgePolicies([object('prod', 1, spec(['prod']))], new Map(), TARGET);
    const written = first.statuses.get('prod');
    const restarted = judgePolicies([object('prod', 2, BAD, undefined, written)], new Map(), TARGET);
    expect(restarted.accepted.get('prod')?.generation).toBe(1);
    expect(restarted.inForce.map((p) => p.name)).toEqual(['prod']);
  });

  it('a forged or broken status.inForce is validated again and ignored', () => {
    const forged: PolicyStatus = { inForce: { generation: 1, spec: { namespaces: 'not a list' } } };
    const j = judgePolicies([object('prod', 2, BAD, undefined, forged)], new Map(), TARGET);
    expect(j.inForce).toEqual([]);
    expect(j.statuses.get('prod')?.conditions?.[0]?.message).toBe(
      'generation 2 is refused and no earlier generation was ever in force: this policy guards nothing',
    );
  });

  it('a status claiming the current generation is not trusted: the spec itself is judged', () => {
    const weak = spec(['prod'], { gitopsWriters: { groups: ['system:authenticated'] } });
    const forged: PolicyStatus = { inForce: { generation: 2, spec: weak } };
    const j = judgePolicies([object('prod', 2, spec(['prod']), undefined, forged)], new Map(), TARGET);
    expect(j.inForce[0]?.gitopsWriters.groups).toEqual([]);
    const invalidNow = judgePolicies([object('prod', 2, BAD, undefined, forged)], new Map(), TARGET);
    expect(invalidNow.inForce).toEqual([]);
  });

  it('an invalid policy that was never valid guards nothing, and says so', () => {
    const j = judgePolicies([object('prod', 1, BAD)], new Map(), TARGET);
    expect(j.inForce).toEqual([]);
    expect(j.statuses.get('prod')?.inForce).toBeUndefined();
    expect(closedReason(1, j.inForce.length)).toBe('none of the 1 GuardPolicy is valid');
  });

  it('a policy selecting only namespaces driftgate never guards is Invalid (the webhooks would select nothing)', () => {
    const j = judgePolicies([object('sys', 1, spec(['kube-system']))], new Map(), TARGET);
    expect(j.inForce).toEqual([]);
    expect(j.invalid.get('sys')).toContain('never guards');
  });

  it('overlapping new policies: the older object keeps the namespaces, the newer is Invalid (Overlaps)', () => {
    const older = object('payments', 1, spec(['payments-*']), '2026-12-01T00:00:00Z');
    const newer = object('eu', 1, spec(['payments-eu']), '2026-12-01T00:00:05Z');
    const j = judgePolicies([newer, older], new Map(), TARGET);
    expect(j.inForce.map((p) => p.name)).toEqual(['payments']);
    expect(j.statuses.get('eu')?.conditions?.find((c) => c.type === 'Invalid')).toMatchObject({ status: 'True', reason: 'Overlaps' });
    expect(j.invalid.get('eu')).toContain('already guarded by GuardPolicy payments');
  });

  it('a policy in force keeps its namespaces when an older policy is edited to take them', () => {
    const a1 = object('a', 1, spec(['prod']), '2026-12-01T00:00:00Z');
    const b1 = object('b', 1, spec(['orders']), '2026-12-01T00:00:05Z');
    const before = judgePolicies([a1, b1], new Map(), TARGET);
    const a2 = object('a', 2, spec(['prod', 'orders']), '2026-12-01T00:00:00Z');
    const after = judgePolicies([a2, b1], before.accepted, TARGET);
    expect(after.accepted.get('a')?.generation).toBe(1);
    expect(after.accepted.get('b')?.generation).toBe(1);
    expect(after.invalid.get('a')).toContain('spec.namespaces[1]: "orders" is already guarded by GuardPolicy b');
  });

  it('disjoint policies are all in force, oldest first', () => {
    const j = judgePolicies(
      [object('b', 1, spec(['orders']), '2026-12-01T00:00:05Z'), object('a', 1, spec(['prod']), '2026-12-01T00:00:00Z')],
      new Map(),
      TARGET,
    );
    expect(j.inForce.map((p) => p.name)).toEqual(['a', 'b']);
    expect(closedReason(2, 2)).toBeUndefined();
  });

  it('a deleted object leaves force', () => {
    const before = judgePolicies([object('a', 1, spec(['prod']))], new Map(), TARGET);
    const after = judgePolicies([], before.accepted, TARGET);
    expect(after.inForce).toEqual([]);
    expect(after.accepted.size).toBe(0);
    expect(closedReason(0, 0)).toBeUndefined();
  });

  it('a fixed generation goes in force again', () => {
    const first = judgePolicies([object('prod', 1, BAD)], new Map<string, Accepted>(), TARGET);
    const fixed = judgePolicies([object('prod', 2, spec(['prod']))], first.accepted, TARGET);
    expect(fixed.accepted.get('prod')?.generation).toBe(2);
    expect(fixed.invalid.size).toBe(0);
  });
});

describe('statusToWrite: compare before write', () => {
  const t0 = new Date('2026-12-01T00:00:00Z');
  const t1 = new Date('2026-12-01T00:01:00Z');
  const desired = judgePolicies([object('prod', 1, spec(['prod']))], new Map(), TARGET).statuses.get('prod') as PolicyStatus;

  it('stamps lastTransitionTime on a first write', () => {
    const next = statusToWrite(undefined, desired, t0);
    expect(next?.conditions?.every((c) => c.lastTransitionTime === t0.toISOString())).toBe(true);
  });

  it('writes nothing when the status already says the same, whatever the key order or the time (a second replica)', () => {
    const written = statusToWrite(undefined, desired, t0) as PolicyStatus;
    const reordered = JSON.parse(
      JSON.stringify({ inForce: written.inForce, rendered: written.rendered, conditions: written.conditions, observedGeneration: 1 }),
    );
    expect(statusToWrite(reordered, desired, t1)).toBeUndefined();
  });

  it('keeps the time of a condition whose status did not change, and stamps the one that did', () => {
    const written = statusToWrite(undefined, desired, t0) as PolicyStatus;
    const invalid = judgePolicies([object('prod', 2, BAD)], new Map(), TARGET).statuses.get('prod') as PolicyStatus;
    const next = statusToWrite(written, invalid, t1);
    expect(next?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(t1.toISOString());
    const sameGen = statusToWrite(written, { ...desired, conditions: desired.conditions?.map((c) => ({ ...c, message: `${c.message}.` })) }, t1);
    expect(sameGen?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(t0.toISOString());
  });
});
