import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPolicy, POLICY_DEFAULTS } from '../../../src/policy/index.js';
import { KUBERNETES_CONTROLLERS } from '../../../src/policy/kubernetes-controllers.js';

const load = (name: string) => loadPolicy(readFileSync(fileURLToPath(new URL(`testdata/${name}`, import.meta.url)), 'utf8'), name);

describe('defaults', () => {
  it('are the safe ones', () => {
    expect(POLICY_DEFAULTS).toEqual({
      mode: 'enforce',
      gitopsWriters: { users: [], groups: [] },
      delegations: [],
      breakGlass: { users: [], groups: [], maxDuration: '1h', incidentPattern: '\\S', minReasonLength: 10 },
      kubernetesControllers: { allow: ['*'], sharedIdentity: true },
    });
  });

  it('fill every optional field of a minimal policy', () => {
    expect(load('minimal.yaml')).toEqual({
      name: 'minimal',
      mode: 'enforce',
      namespaces: ['prod'],
      resources: [{ apiGroups: ['apps'], resources: ['deployments'] }],
      openSubresources: [],
      gitopsWriters: { users: [], groups: [] },
      delegations: [],
      breakGlass: {
        users: [],
        groups: [],
        maxDuration: '1h',
        maxDurationMs: 3_600_000,
        incidentPattern: '\\S',
        incident: /\S/,
        minReasonLength: 10,
      },
      kubernetesControllers: { controllers: [...KUBERNETES_CONTROLLERS], sharedIdentity: true },
    });
  });

  it('fill the fields a partial breakGlass and gitopsWriters leave out, keeping what is written', () => {
    const policy = load('breakglass-partial.yaml');
    expect(policy.gitopsWriters).toEqual({ users: [], groups: ['system:serviceaccounts:flux-system'] });
    expect(policy.breakGlass).toEqual({
      users: ['carol@example.com'],
      groups: [],
      maxDuration: '1h',
      maxDurationMs: 3_600_000,
      incidentPattern: '\\S',
      incident: /\S/,
      minReasonLength: 0,
    });
  });

  it('accept any incident with a visible character and nothing blank', () => {
    const { incident } = load('minimal.yaml').breakGlass;
    expect(['INC-1', 'jira PROJ-7', 'x'].map((s) => incident.test(s))).toEqual([true, true, true]);
    expect(['', '   ', '\t'].map((s) => incident.test(s))).toEqual([false, false, false]);
  });

  it('are never shared with a loaded policy', () => {
    const policy = load('minimal.yaml');
    policy.gitopsWriters.users.push('mallory');
    policy.breakGlass.groups.push('everyone');
    expect(POLICY_DEFAULTS.gitopsWriters.users).toEqual([]);
    expect(POLICY_DEFAULTS.breakGlass.groups).toEqual([]);
    expect(load('minimal.yaml').gitopsWriters.users).toEqual([]);
  });
});
