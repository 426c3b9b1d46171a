/**
 * The webhook configurations `serve --manage-webhooks` keeps for the GuardPolicy objects in force:
 * one policy renders exactly as `driftgate manifests` does; several share one pair, each webhook
 * named after its policy; none leaves configurations without webhooks (nothing guarded).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderWebhooks } from '../../../src/manifests/render.js';
import { renderPolicySet } from '../../../src/manifests/render-set.js';
import { loadPolicy } from '../../../src/policy/load.js';

const ROOT = join(import.meta.dirname, '../../..');
const FILE = join(ROOT, 'examples/policy.yaml');
const prod = loadPolicy(readFileSync(FILE, 'utf8'), FILE);
const payments = { ...prod, name: 'payments', namespaces: ['payments-*'] };
const TARGET = { service: { namespace: 'driftgate-system', name: 'driftgate' } };

describe('renderPolicySet', () => {
  it('renders one policy exactly as driftgate manifests does', () => {
    expect(renderPolicySet([prod], TARGET, 'Q0E=')).toEqual(renderWebhooks(prod, TARGET, 'Q0E='));
  });

  it("holds every policy's webhooks in one pair, each named after its policy, nothing dropped", () => {
    const [validating, mutating] = renderPolicySet([prod, payments], TARGET, 'Q0E=');
    const alone = [renderWebhooks(prod, TARGET, 'Q0E='), renderWebhooks(payments, TARGET, 'Q0E=')] as const;
    expect(validating.webhooks.map((w) => w.name)).toEqual([
      ...alone[0][0].webhooks.map((w) => `${prod.name}.${w.name}`),
      ...alone[1][0].webhooks.map((w) => `payments.${w.name}`),
    ]);
    expect(new Set(mutating.webhooks.map((w) => w.name)).size).toBe(mutating.webhooks.length);
    // Each webhook keeps its own policy's namespace selection.
    expect(validating.webhooks.find((w) => w.name.startsWith('payments.'))?.namespaceSelector).toEqual(alone[1][0].webhooks[0]?.namespaceSelector);
    expect(validating.metadata.annotations['driftgate.dev/policy']).toBe(`${prod.name}, payments`);
  });

  it('renders configurations without webhooks when no policy is in force', () => {
    const [validating, mutating] = renderPolicySet([], TARGET, 'Q0E=', { name: 'dg' });
    expect([validating.metadata.name, mutating.metadata.name]).toEqual(['dg', 'dg']);
    expect([validating.webhooks, mutating.webhooks]).toEqual([[], []]);
  });
});
