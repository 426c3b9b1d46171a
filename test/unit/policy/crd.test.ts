/**
 * One source of truth for the GuardPolicy schema (issue 14): the CRD's OpenAPI schema is derived
 * from src/policy/schema.ts, and the chart's CRD is that derivation, rendered (charts/render.sh).
 * A field added to the policy schema and not to the chart, or a hand edit of the chart, fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { guardPolicyCrd, openApiOf } from '../../../src/policy/crd.js';
import { GUARD_POLICY_SCHEMA } from '../../../src/policy/schema.js';

const ROOT = join(import.meta.dirname, '../../..');
const CHART_CRD = join(ROOT, 'charts/driftgate/templates/crd-guardpolicies.yaml');

/** The chart's CRD as data: Helm's one template line (the labels) left out. */
function chartCrd(): Record<string, unknown> {
  const text = readFileSync(CHART_CRD, 'utf8').replace(/^ {2}labels:\n {4}\{\{-[^\n]*\n/m, '');
  return parse(text) as Record<string, unknown>;
}

type Node = { [key: string]: unknown };

/** Every property path of a JSON Schema, e.g. spec.breakGlass.maxDuration, spec.resources[].apiGroups. */
function paths(node: unknown, at = ''): string[] {
  if (node === null || typeof node !== 'object') return [];
  const n = node as Node;
  const out: string[] = [];
  for (const [name, child] of Object.entries((n['properties'] as Node | undefined) ?? {})) {
    const p = at === '' ? name : `${at}.${name}`;
    out.push(p, ...paths(child, p));
  }
  if (n['items'] !== undefined) out.push(...paths(n['items'], `${at}[]`));
  return out;
}

describe('the GuardPolicy CRD', () => {
  it('the chart holds exactly the CRD derived from the policy schema (render with npm run render:chart)', () => {
    const { metadata: chartMeta, ...chart } = chartCrd() as { metadata: Node };
    const { metadata, ...derived } = guardPolicyCrd() as { metadata: Node };
    expect(chart).toEqual(derived);
    expect(chartMeta['name']).toBe(metadata['name']);
  });

  it("has every field of the policy schema's spec, with its constraints", () => {
    const crd = guardPolicyCrd() as { spec: { versions: Array<{ schema: { openAPIV3Schema: Node } }> } };
    const root = crd.spec.versions[0]?.schema.openAPIV3Schema as Node;
    const spec = (root['properties'] as Node)['spec'];
    expect(spec).toEqual(openApiOf(GUARD_POLICY_SCHEMA.properties.spec));
    const want = paths(GUARD_POLICY_SCHEMA.properties.spec);
    expect(paths(spec)).toEqual(want);
    expect(want).toContain('breakGlass.maxDuration');
    expect(want).toContain('resources[].apiGroups');
  });

  it('is structural: no additionalProperties false, no uniqueItems, no $schema anywhere (the apiserver refuses them)', () => {
    const text = JSON.stringify(guardPolicyCrd());
    expect(text).not.toContain('"additionalProperties":false');
    expect(text).not.toContain('uniqueItems');
    expect(text).not.toContain('$schema');
    expect(text).toContain('"x-kubernetes-list-type":"set"');
  });

  it('is cluster-scoped with a status subresource, so only driftgate (RBAC on guardpolicies/status) writes the status', () => {
    const crd = guardPolicyCrd() as { spec: { scope: string; versions: Array<{ subresources: unknown }> } };
    expect(crd.spec.scope).toBe('Cluster');
    expect(crd.spec.versions[0]?.subresources).toEqual({ status: {} });
  });
});
