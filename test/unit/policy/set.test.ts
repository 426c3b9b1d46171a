/**
 * Several GuardPolicies: they never overlap (issue 14, "GuardPolicy is a Kubernetes resource").
 * Overlap is decided per namespaces entry (names, prefix globs, "*"), and a request is judged by
 * the one policy guarding its namespace; a set that cannot be trusted refuses (fail closed).
 */
import { describe, expect, it } from 'vitest';
import { decideOrAskUnder, decideUnder } from '../../../src/decision/in-force.js';
import { entriesOverlap, overlapMessage, overlapsOf, type PolicySet, policyFor } from '../../../src/policy/set.js';
import type { GuardPolicy } from '../../../src/policy/types.js';
import { FIXED_NOW, fixture, fixturePolicy } from '../../helpers/webhook.js';

function named(name: string, namespaces: string[], patch: Partial<GuardPolicy> = {}): GuardPolicy {
  return { ...fixturePolicy(), name, namespaces, ...patch };
}

describe('entriesOverlap', () => {
  const cases: Array<[string, string, boolean]> = [
    ['prod', 'prod', true],
    ['prod', 'staging', false],
    ['payments-*', 'payments-eu', true],
    ['payments-eu', 'payments-*', true],
    ['payments-*', 'pay*', true],
    ['pay*', 'payments-*', true],
    ['payments-*', 'orders-*', false],
    ['*', 'anything', true],
    ['*', 'x-*', true],
    ['payments-*', 'payments', false],
  ];
  for (const [a, b, want] of cases) {
    it(`${a} and ${b}: ${want ? 'overlap' : 'disjoint'}`, () => expect(entriesOverlap(a, b)).toBe(want));
  }
});

describe('overlapsOf', () => {
  it('names the entry, its index and the other policy, with the fix', () => {
    const found = overlapsOf(['staging', 'payments-eu'], [named('payments', ['payments-*'])]);
    expect(found).toEqual([{ policy: 'payments', entry: 'payments-eu', index: 1, theirs: 'payments-*' }]);
    expect(overlapMessage(found[0]!)).toBe(
      'spec.namespaces[1]: "payments-eu" overlaps "payments-*", which is already guarded by GuardPolicy payments; a namespace is guarded by one policy only: remove it here, or move the rules into payments',
    );
  });

  it('finds nothing between disjoint policies', () => {
    expect(overlapsOf(['prod'], [named('a', ['staging', 'payments-*'])])).toEqual([]);
  });
});

describe('a request is judged by the one policy guarding its namespace', () => {
  const prod = named('prod', ['prod']);
  // The same rules but warn mode: a drift in "payments-eu" is let through with a warning.
  const payments = named('payments', ['payments-*'], { mode: 'warn' });
  const set: PolicySet = { policies: [prod, payments] };
  const drift = fixture('human-memory-limit').request;

  it('picks by namespace (a Namespace object by its own name)', () => {
    expect(policyFor(set, 'prod')?.name).toBe('prod');
    expect(policyFor(set, 'payments-eu')?.name).toBe('payments');
    expect(policyFor(set, 'dev')).toBeUndefined();
    expect(policyFor(set, undefined)).toBeUndefined();
  });

  it("refuses a drift in prod under prod's policy, naming it", () => {
    const d = decideUnder(drift, set, FIXED_NOW);
    expect(d.kind).toBe('deny');
    if (d.kind === 'deny') expect(d.message).toContain('GuardPolicy prod');
  });

  it("lets the same drift through in payments-eu with payments' warning (warn mode)", () => {
    const d = decideUnder({ ...drift, namespace: 'payments-eu' }, set, FIXED_NOW);
    expect(d).toMatchObject({ kind: 'allow', code: 'warn-mode' });
  });

  it('leaves a namespace no policy guards alone', () => {
    expect(decideOrAskUnder({ ...drift, namespace: 'dev' }, set, FIXED_NOW)).toMatchObject({ kind: 'allow', code: 'unprotected-namespace' });
  });

  it('one policy (a file) decides exactly as decide() does', () => {
    expect(decideUnder(drift, prod, FIXED_NOW)).toMatchObject({ kind: 'deny', code: 'drift' });
  });

  it('refuses everything it is asked while no policy can be trusted (fail closed), saying why and what to do', () => {
    const closed: PolicySet = { policies: [], closed: 'none of the 2 GuardPolicies is valid' };
    const d = decideUnder({ ...drift, namespace: 'dev' }, closed, FIXED_NOW);
    expect(d.kind).toBe('deny');
    if (d.kind !== 'deny') return;
    expect(d.code).toBe('no-policy');
    expect(d.message).toContain('none of the 2 GuardPolicies is valid');
    expect(d.message).toContain('kubectl get guardpolicies');
  });

  it('an empty set that is not closed (no GuardPolicy at all) guards nothing', () => {
    expect(decideUnder(drift, { policies: [] }, FIXED_NOW)).toMatchObject({ kind: 'allow', code: 'unprotected-namespace' });
  });
});
