/**
 * The GuardPolicy CustomResourceDefinition, derived from the one policy schema (schema.ts) so the
 * two cannot drift: charts/render.sh writes the chart's CRD from `guardPolicyCrd()`, and a test
 * fails when the chart's copy differs from it.
 *
 * What the translation changes, and why:
 * - `additionalProperties: false` is not allowed next to `properties` in a structural schema. The
 *   apiserver prunes unknown fields instead, and kubectl (server-side field validation, Strict by
 *   default) refuses a misspelt key with `unknown field "spec.delegation"`, which is what the
 *   schema's `false` is there for.
 * - `const` becomes a one-value `enum`; `uniqueItems` (refused in a CRD: quadratic to check)
 *   becomes `x-kubernetes-list-type: set`, which the apiserver checks the same way.
 * - `metadata` is the apiserver's own; a CRD may not constrain more than its name, and a
 *   cluster-scoped object's name is already a DNS subdomain, as the policy schema requires.
 * - `status` is added: driftgate writes it (status.ts), through the status subresource, so a
 *   writer of the spec cannot forge it and driftgate's status writes never change the spec.
 * The rules beyond the schema (durations, regular expressions, overlapping namespaces) are
 * checked by driftgate's own webhook on /validate-policy, with the same messages as `policy check`.
 */
import { GUARD_POLICY_SCHEMA, POLICY_API_VERSION, POLICY_KIND } from './schema.js';

/** The CRD's group, version and plural, as the API paths name them. */
export const GUARD_POLICY_GROUP = 'driftgate.dev';
export const GUARD_POLICY_VERSION = 'v1alpha1';
export const GUARD_POLICY_PLURAL = 'guardpolicies';
/** GUARD_POLICIES_PATH is the API path of the (cluster-scoped) GuardPolicy collection. */
export const GUARD_POLICIES_PATH = `/apis/${GUARD_POLICY_GROUP}/${GUARD_POLICY_VERSION}/${GUARD_POLICY_PLURAL}`;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** openApiOf returns a JSON Schema (draft-07) node as a structural OpenAPI v3 schema node. */
export function openApiOf(node: unknown): Json {
  if (Array.isArray(node)) return node.map(openApiOf);
  if (node === null || typeof node !== 'object') return node as Json;
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    if (key === '$schema' || key === '$id' || key === 'title') continue;
    if (key === 'additionalProperties' && value === false) continue;
    if (key === 'const') {
      out['enum'] = [value as Json];
      continue;
    }
    if (key === 'uniqueItems') {
      if (value === true) out['x-kubernetes-list-type'] = 'set';
      continue;
    }
    out[key] = key === 'properties' ? propertiesOf(value) : openApiOf(value);
  }
  return out;
}

function propertiesOf(value: unknown): Json {
  const out: { [key: string]: Json } = {};
  for (const [name, schema] of Object.entries(value as Record<string, unknown>)) out[name] = openApiOf(schema);
  return out;
}

const condition = {
  type: 'object',
  required: ['type', 'status'],
  properties: {
    type: { type: 'string', description: 'Ready: this generation is the one in force. Invalid: it was refused (message says why).' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    reason: { type: 'string' },
    message: { type: 'string' },
    observedGeneration: { type: 'integer', format: 'int64' },
    lastTransitionTime: { type: 'string', format: 'date-time' },
  },
} as const;

/** GUARD_POLICY_STATUS_SCHEMA is the OpenAPI schema of what driftgate writes to a GuardPolicy's status. */
export const GUARD_POLICY_STATUS_SCHEMA = {
  type: 'object',
  description: 'Written by driftgate only (the status subresource).',
  properties: {
    observedGeneration: { type: 'integer', format: 'int64', description: 'The metadata.generation driftgate last judged.' },
    conditions: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      items: condition,
    },
    rendered: {
      type: 'object',
      description: 'What driftgate enforces from the generation in force, and the hash of the webhook rules rendered from it.',
      properties: {
        mode: { type: 'string' },
        namespaces: { type: 'array', items: { type: 'string' } },
        resources: { type: 'array', items: { type: 'string' } },
        webhookRulesHash: { type: 'string' },
      },
    },
  },
} as const;

/** statusSchema returns the status schema with `inForce.spec` typed as the spec itself. */
function statusSchema(spec: Json): Json {
  const status = openApiOf(GUARD_POLICY_STATUS_SCHEMA) as { [key: string]: Json };
  const properties = status['properties'] as { [key: string]: Json };
  return {
    ...status,
    properties: {
      ...properties,
      inForce: {
        type: 'object',
        description:
          'The generation in force and its spec, kept so that a restarted or new replica enforces the same policy while the newest generation is Invalid.',
        properties: { generation: { type: 'integer', format: 'int64' }, spec },
      },
    },
  };
}

/** guardPolicyCrd returns the GuardPolicy CustomResourceDefinition (without the chart's labels). */
export function guardPolicyCrd(): Record<string, Json> {
  const policy = openApiOf(GUARD_POLICY_SCHEMA) as { [key: string]: Json };
  const properties = policy['properties'] as { [key: string]: Json };
  const schema: Json = {
    ...policy,
    description:
      'GuardPolicy (driftgate.dev/v1alpha1): which live objects belong to GitOps, and who besides the GitOps controller may change them. docs/policy-reference.md',
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: properties['spec'] ?? null,
      status: statusSchema(properties['spec'] ?? null),
    },
  };
  const [group] = POLICY_API_VERSION.split('/');
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${GUARD_POLICY_PLURAL}.${GUARD_POLICY_GROUP}` },
    spec: {
      group: group ?? GUARD_POLICY_GROUP,
      scope: 'Cluster',
      names: {
        kind: POLICY_KIND,
        listKind: `${POLICY_KIND}List`,
        plural: GUARD_POLICY_PLURAL,
        singular: 'guardpolicy',
        shortNames: ['gp'],
        categories: ['driftgate'],
      },
      versions: [
        {
          name: GUARD_POLICY_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}
