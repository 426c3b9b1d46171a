import { controllerNames } from '../../../src/policy/kubernetes-controllers.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { DriftgateError } from '../../../src/errors.js';
import { loadPolicy, parsePolicy, type GuardPolicy } from '../../../src/policy/index.js';

const testdata = (name: string): string => fileURLToPath(new URL(`testdata/${name}`, import.meta.url));
const example = (name: string): string => fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url));
const read = (path: string): string => readFileSync(path, 'utf8');

/** failure returns the DriftgateError `load` throws, or fails the test when it does not throw one. */
function failure(load: () => unknown): DriftgateError {
  try {
    load();
  } catch (err) {
    if (err instanceof DriftgateError) return err;
    throw err;
  }
  throw new Error('expected the policy to be refused');
}

describe('loadPolicy reads the examples', () => {
  it('examples/policy.yaml', () => {
    const policy = loadPolicy(read(example('policy.yaml')), 'examples/policy.yaml');
    const want: Omit<GuardPolicy, 'breakGlass' | 'kubernetesControllers'> = {
      name: 'prod',
      mode: 'enforce',
      namespaces: ['prod', 'payments-*'],
      resources: [
        { apiGroups: ['apps'], resources: ['deployments', 'deployments/scale', 'statefulsets'] },
        { apiGroups: [''], resources: ['configmaps', 'secrets', 'services', 'namespaces'] },
      ],
      openSubresources: [],
      gitopsWriters: {
        users: ['system:serviceaccount:argocd:argocd-application-controller'],
        groups: ['system:serviceaccounts:flux-system'],
      },
      delegations: [
        { users: ['system:serviceaccount:kube-system:horizontal-pod-autoscaler'], groups: [], paths: ['/spec/replicas'] },
        {
          users: [],
          groups: ['system:authenticated'],
          paths: ['/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt'],
        },
      ],
    };
    expect(policy).toMatchObject(want);
    // Left out, so every one of Kubernetes' own controllers passes for its writes, under either identity.
    expect(policy.kubernetesControllers.controllers.map((c) => c.name)).toEqual(controllerNames());
    expect(policy.kubernetesControllers.sharedIdentity).toBe(true);
    expect(policy.breakGlass).toEqual({
      users: ['carol@example.com'],
      groups: ['oncall'],
      maxDuration: '4h',
      maxDurationMs: 4 * 3_600_000,
      incidentPattern: '^INC-[0-9]+$',
      incident: /^INC-[0-9]+$/,
      minReasonLength: 10,
    });
  });

  it('examples/policy-warn.yaml', () => {
    const policy = loadPolicy(read(example('policy-warn.yaml')), 'examples/policy-warn.yaml');
    expect(policy.name).toBe('staging-trial');
    expect(policy.mode).toBe('warn');
    expect(policy.delegations).toEqual([]);
    expect(policy.breakGlass.users).toEqual([]);
    expect(policy.breakGlass.groups).toEqual([]);
  });

  it('reads JSON as well as YAML', () => {
    const policy = loadPolicy(read(testdata('policy.json')), 'policy.json');
    expect(policy).toMatchObject({
      name: 'from-json',
      mode: 'warn',
      namespaces: ['team-*'],
      delegations: [{ users: ['alice'], groups: [], paths: ['/data/feature-flag'] }],
      breakGlass: { groups: ['oncall'], maxDuration: '1h30m', maxDurationMs: 5_400_000 },
    });
  });

  it('gives the same policy for a document and its text', () => {
    const text = read(example('policy.yaml'));
    expect(parsePolicy(parseYaml(text))).toEqual(loadPolicy(text, 'examples/policy.yaml'));
  });

  it('ignores a byte order mark', () => {
    expect(loadPolicy(`\uFEFF${read(testdata('minimal.yaml'))}`, 'bom.yaml').name).toBe('minimal');
  });
});

interface InvalidCase {
  name: string;
  file: string;
  want: string[];
}

const invalid: InvalidCase[] = [
  {
    name: 'reports every problem at once, each at its field',
    file: 'invalid-every-problem-at-once.yaml',
    want: [
      'kind: must be GuardPolicy',
      'spec.mode: "audit" is not allowed; use enforce or warn',
      'spec.namespaces[1]: "pay*ments" is not allowed; only a trailing * is a glob, e.g. payments-*',
      'spec.delegations[1].paths[0]: "spec/replicas" is not a JSON Pointer; write /spec/replicas',
      'spec.delegatons: unknown field; did you mean delegations?',
      'spec.breakGlass.maxDuration: "4 hours" is not a duration; write 4h or 30m',
      'spec.breakGlass.incidentPattern: "^(INC-[0-9]+$" is not a regular expression (Unterminated group); fix it, e.g. ^INC-[0-9]+$',
    ],
  },
  {
    name: 'names each missing required field with an example',
    file: 'invalid-missing-required.yaml',
    want: [
      'metadata.name: required; name the policy, e.g. prod',
      'spec.namespaces: required; list the namespaces to protect, e.g. ["prod"]',
      'spec.resources: required; list the resources to protect, e.g. [{apiGroups: ["apps"], resources: ["deployments"]}]',
    ],
  },
  {
    name: 'names missing top-level fields',
    file: 'invalid-missing-everything.yaml',
    want: [
      'apiVersion: required; write driftgate.dev/v1alpha1',
      'kind: required; write GuardPolicy',
      'spec: required; say what to protect, see examples/policy.yaml',
    ],
  },
  {
    name: 'suggests the field a misspelt key resembles',
    file: 'invalid-typos.yaml',
    want: [
      'metadata.name: required; name the policy, e.g. prod',
      'metadata.nmae: unknown field; did you mean name?',
      'spec.namespace: unknown field; did you mean namespaces?',
      'spec.namespaces: required; list the namespaces to protect, e.g. ["prod"]',
      'spec.resources[0].apiGroup: unknown field; did you mean apiGroups?',
      'spec.resources[0].apiGroups: required; list API groups, e.g. ["apps"], or [""] for the core group',
      'spec.gitopsWriter: unknown field; did you mean gitopsWriters?',
      'spec.breakGlass.user: unknown field; did you mean users?',
      'spec.breakGlass.maxduration: unknown field; did you mean maxDuration?',
      'spec.colour: unknown field; allowed fields are mode, namespaces, resources, openSubresources, gitopsWriters, delegations, breakGlass, kubernetesControllers',
    ],
  },
  {
    name: 'refuses paths that are not JSON Pointers to a field',
    file: 'invalid-pointers.yaml',
    want: [
      'spec.delegations[0].paths[0]: "" names the whole object; a delegation must name a field, e.g. /spec/replicas',
      'spec.delegations[0].paths[1]: "/" names no field; write the field to delegate, e.g. /spec/replicas',
      'spec.delegations[0].paths[2]: "spec.replicas" is not a JSON Pointer; write /spec/replicas',
      'spec.delegations[0].paths[3]: "/metadata/annotations/a~2b" is not a JSON Pointer; escape ~ as ~0 and / as ~1',
      'spec.delegations[0].paths[4]: "/spec//replicas" has an empty segment; write /spec/replicas',
      'spec.delegations[0].paths[5]: "/spec/replicas/" has an empty segment; write /spec/replicas',
      'spec.delegations[1].paths: must not be empty; list the delegated fields as JSON Pointers, e.g. ["/spec/replicas"]',
    ],
  },
  {
    name: 'refuses subjects that name nobody',
    file: 'invalid-empty-subjects.yaml',
    want: [
      'spec.gitopsWriters: names nobody; list at least one user or group, or leave gitopsWriters out',
      'spec.delegations[0]: names nobody; list at least one user or group the delegation applies to',
      'spec.delegations[1]: names nobody; list at least one user or group the delegation applies to',
    ],
  },
  {
    name: 'says which type each field needs',
    file: 'invalid-wrong-types.yaml',
    want: [
      'metadata.name: must be a string; name the policy, e.g. prod',
      'spec.mode: 1 is not allowed; use enforce or warn',
      'spec.namespaces: must be a list; list the namespaces to protect, e.g. ["prod"]',
      'spec.resources: must be a list; list the resources to protect, e.g. [{apiGroups: ["apps"], resources: ["deployments"]}]',
      'spec.gitopsWriters.users: must be a list; list usernames, e.g. ["carol@example.com"]',
      'spec.gitopsWriters.groups[0]: must be a string; write a group name, e.g. oncall',
      'spec.delegations: must be a list; list delegations, e.g. [{users: ["..."], paths: ["/spec/replicas"]}]',
      'spec.breakGlass.maxDuration: 4 is not a duration; write 4h or 30m',
      'spec.breakGlass.incidentPattern: must be a string; write a regular expression, e.g. ^INC-[0-9]+$',
      'spec.breakGlass.minReasonLength: must be a whole number; write a whole number of characters, e.g. 10',
    ],
  },
  {
    name: 'says how to write API groups and resources',
    file: 'invalid-resources.yaml',
    want: [
      'spec.resources[0].apiGroups[0]: "apps/v1" is not an API group; write apps (the group without its version)',
      'spec.resources[0].apiGroups[1]: "v1" is a version, not an API group; write "" for the core group or a group such as apps',
      'spec.resources[0].apiGroups[2]: "Apps" is not an API group; write "" for the core group, "*" for all groups, or a group such as apps',
      'spec.resources[0].resources[0]: "Deployments" is not a resource; write deployments',
      'spec.resources[0].resources[1]: "deployments/" is not a resource; write a lowercase plural such as deployments, deployments/scale, * or */scale',
      'spec.resources[0].resources[2]: "deploy ments" is not a resource; write a lowercase plural such as deployments, deployments/scale, * or */scale',
      'spec.resources[1].apiGroups: must not be empty; list API groups, e.g. ["apps"], or [""] for the core group',
      'spec.resources[1].resources: must not be empty; list resources, e.g. ["deployments", "deployments/scale"]',
      'spec.resources[2].apiGroups: required; list API groups, e.g. ["apps"], or [""] for the core group',
    ],
  },
  {
    name: 'allows only a trailing * in a namespace glob',
    file: 'invalid-namespaces.yaml',
    want: [
      'metadata.name: "Prod_Policy" is not a valid name; use lowercase letters, digits, - and ., e.g. prod',
      'spec.namespaces[0]: "Prod" is not a namespace; use lowercase letters, digits and -, e.g. prod or payments-*',
      'spec.namespaces[1]: "pay*ments" is not allowed; only a trailing * is a glob, e.g. payments-*',
      'spec.namespaces[2]: "*-prod" is not allowed; only a trailing * is a glob, e.g. payments-*',
      'spec.namespaces[3]: must not be empty; write a namespace or a prefix glob, e.g. prod or payments-*',
      'spec.namespaces[4]: "payments-**" is not allowed; only a trailing * is a glob, e.g. payments-*',
    ],
  },
  {
    name: 'checks break-glass limits beyond the schema',
    file: 'invalid-break-glass.yaml',
    want: [
      'spec.breakGlass.maxDuration: "0s" must be longer than zero; write 4h or 30m',
      'spec.breakGlass.incidentPattern: "[z-a]" is not a regular expression (Range out of order in character class); fix it, e.g. ^INC-[0-9]+$',
      'spec.breakGlass.minReasonLength: must be 0 or more; write a whole number of characters, e.g. 10',
    ],
  },
  {
    name: 'names the expected apiVersion and kind',
    file: 'invalid-header.yaml',
    want: ['apiVersion: must be driftgate.dev/v1alpha1', 'kind: must be GuardPolicy'],
  },
  {
    name: 'refuses a document that is not a mapping',
    file: 'invalid-not-a-mapping.yaml',
    want: ['document: must be a mapping; write a GuardPolicy mapping, see examples/policy.yaml'],
  },
  {
    name: 'names the line of a YAML syntax error',
    file: 'invalid-yaml-syntax.yaml',
    want: ['line 7, column 3: Flow sequence in block collection must be sufficiently indented and end with a ]'],
  },
  {
    name: 'refuses a key written twice',
    file: 'invalid-duplicate-key.yaml',
    want: ['line 7, column 3: Map keys must be unique'],
  },
  {
    name: 'names the line of a JSON syntax error',
    file: 'invalid-json-syntax.json',
    want: ['document: unexpected "\\"" at line 4 column 3 (offset 70); the file is not valid JSON'],
  },
  {
    name: 'refuses more than one document',
    file: 'invalid-two-documents.yaml',
    want: ['document: the file holds 2 YAML documents; keep one GuardPolicy per file'],
  },
  {
    name: 'refuses an empty file',
    file: 'invalid-empty.yaml',
    want: ['document: the file is empty; write a GuardPolicy, see examples/policy.yaml'],
  },
];

describe('loadPolicy refuses invalid policies', () => {
  it.each(invalid)('$name ($file)', ({ file, want }) => {
    const err = failure(() => loadPolicy(read(testdata(file)), file));
    expect(err.code).toBe('DG_POLICY_INVALID');
    const count = want.length === 1 ? '1 problem' : `${want.length} problems`;
    expect(err.message).toBe(`${file}: the GuardPolicy is invalid (${count})`);
    expect(err.details).toEqual(want);
  });

  it('names the document "policy" when parsePolicy is given no source', () => {
    expect(failure(() => parsePolicy(null)).message).toBe('policy: the GuardPolicy is invalid (1 problem)');
  });

  it('quotes keys that are not plain names', () => {
    const doc = parseYaml(read(testdata('minimal.yaml'))) as Record<string, unknown>;
    expect(failure(() => parsePolicy({ ...doc, 'odd key': 1 })).details).toEqual([
      '["odd key"]: unknown field; allowed fields are apiVersion, kind, metadata, spec',
    ]);
  });

  // Whatever is written at a field, the reader gets our sentence at a path, never ajv's words.
  it('never lets raw validator wording through', () => {
    const base = parseYaml(read(example('policy.yaml'))) as { spec: Record<string, unknown> };
    const fields = ['mode', 'namespaces', 'resources', 'gitopsWriters', 'delegations', 'breakGlass'];
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.jsonValue(), (field, value) => {
        let details: readonly string[] = [];
        try {
          parsePolicy({ ...base, spec: { ...base.spec, [field]: value } });
        } catch (err) {
          if (!(err instanceof DriftgateError)) throw err;
          details = err.details;
        }
        for (const line of details) {
          expect(line).toMatch(/^spec[.[].*?: \S/);
          expect(line).not.toMatch(/must NOT|must match|is not valid;|see docs\/policy-reference/);
        }
      }),
    );
  });
});
