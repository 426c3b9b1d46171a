import { describe, expect, it } from 'vitest';
import { delegatedPaths, inSubjects, matchesNamespace, matchesResource, type Requester, type Subjects } from '../../../src/policy/index.js';

describe('matchesNamespace', () => {
  const cases: Array<{ name: string; namespaces: string[]; namespace: string | undefined; want: boolean }> = [
    { name: 'an exact name', namespaces: ['prod'], namespace: 'prod', want: true },
    { name: 'not a longer name', namespaces: ['prod'], namespace: 'prod-eu', want: false },
    { name: 'not a shorter name', namespaces: ['prod-eu'], namespace: 'prod', want: false },
    { name: 'a prefix glob', namespaces: ['payments-*'], namespace: 'payments-eu', want: true },
    { name: 'a prefix glob, nothing after the prefix', namespaces: ['payments-*'], namespace: 'payments-', want: true },
    { name: 'not the prefix without its dash', namespaces: ['payments-*'], namespace: 'payments', want: false },
    { name: 'not a glob in the middle of the name', namespaces: ['payments-*'], namespace: 'old-payments-eu', want: false },
    { name: 'any entry of several', namespaces: ['prod', 'payments-*'], namespace: 'payments-us', want: true },
    { name: '* alone, any namespace', namespaces: ['*'], namespace: 'kube-system', want: true },
    { name: 'a cluster-scoped object (undefined)', namespaces: ['*'], namespace: undefined, want: false },
    { name: 'a cluster-scoped object ("")', namespaces: ['*'], namespace: '', want: false },
  ];
  it.each(cases)('$name: $want', ({ namespaces, namespace, want }) => {
    expect(matchesNamespace({ namespaces }, namespace)).toBe(want);
  });
});

describe('matchesResource', () => {
  const policy = {
    resources: [
      { apiGroups: ['apps'], resources: ['deployments', 'deployments/scale', 'statefulsets'] },
      { apiGroups: [''], resources: ['configmaps', 'secrets', 'pods/*'] },
      { apiGroups: ['*'], resources: ['*/scale'] },
      { apiGroups: ['batch'], resources: ['*'] },
    ],
  };
  const cases: Array<{ name: string; group: string; resource: string; sub?: string; want: boolean }> = [
    { name: 'a listed resource', group: 'apps', resource: 'deployments', want: true },
    { name: 'a listed subresource', group: 'apps', resource: 'deployments', sub: 'scale', want: true },
    { name: 'the implied /status of a listed resource (issue 11)', group: 'apps', resource: 'deployments', sub: 'status', want: true },
    { name: 'not an action subresource of a listed resource', group: 'apps', resource: 'deployments', sub: 'exec', want: false },
    { name: 'not a resource listed only in another group', group: 'extensions', resource: 'deployments', want: false },
    { name: 'the core group ""', group: '', resource: 'configmaps', want: true },
    { name: 'not a core resource in a named group', group: 'apps', resource: 'configmaps', want: false },
    { name: 'not an unlisted core resource', group: '', resource: 'services', want: false },
    { name: '"" subresource is no subresource', group: '', resource: 'secrets', sub: '', want: true },
    { name: 'name/* covers any subresource', group: '', resource: 'pods', sub: 'exec', want: true },
    { name: 'name/* does not cover the resource itself', group: '', resource: 'pods', want: false },
    { name: '*/scale in any group', group: 'example.com', resource: 'widgets', sub: 'scale', want: true },
    { name: '*/scale covers no other subresource', group: 'example.com', resource: 'widgets', sub: 'status', want: false },
    { name: '*/scale does not cover main resources', group: 'example.com', resource: 'widgets', want: false },
    { name: '* covers any main resource', group: 'batch', resource: 'cronjobs', want: true },
    { name: '* implies every /status (issue 11)', group: 'batch', resource: 'jobs', sub: 'status', want: true },
    { name: '* implies no action subresource', group: 'batch', resource: 'jobs', sub: 'proxy', want: false },
    { name: 'statefulsets/scale through */scale of another rule', group: 'apps', resource: 'statefulsets', sub: 'scale', want: true },
  ];
  it.each(cases)('$name: $want', ({ group, resource, sub, want }) => {
    expect(matchesResource(policy, group, resource, sub)).toBe(want);
  });

  it('a main resource entry guards the subresources that change it: /scale, /status (issue 11)', () => {
    const only = { resources: [{ apiGroups: ['apps'], resources: ['statefulsets'] }] };
    expect(matchesResource(only, 'apps', 'statefulsets', 'scale')).toBe(true);
    expect(matchesResource(only, 'apps', 'statefulsets', 'status')).toBe(true);
  });

  it('guards pods/eviction, ephemeralcontainers and resize with pods, and leaves exec, attach, binding open', () => {
    const pods = { resources: [{ apiGroups: [''], resources: ['pods'] }] };
    for (const sub of ['eviction', 'ephemeralcontainers', 'resize', 'status']) expect(matchesResource(pods, '', 'pods', sub)).toBe(true);
    for (const sub of ['exec', 'attach', 'portforward', 'proxy', 'binding', 'log']) expect(matchesResource(pods, '', 'pods', sub)).toBe(false);
  });

  it('leaves an implied subresource open only when openSubresources names it, never one listed in resources', () => {
    const openScale = [{ apiGroups: ['apps'], resources: ['statefulsets/scale'], reason: 'load tests' }];
    const implied = { resources: [{ apiGroups: ['apps'], resources: ['statefulsets', 'deployments'] }], openSubresources: openScale };
    expect(matchesResource(implied, 'apps', 'statefulsets', 'scale')).toBe(false);
    expect(matchesResource(implied, 'apps', 'deployments', 'scale')).toBe(true);
    expect(matchesResource(implied, 'apps', 'statefulsets', 'status')).toBe(true);
    const listed = { resources: [{ apiGroups: ['apps'], resources: ['statefulsets', 'statefulsets/scale'] }], openSubresources: openScale };
    expect(matchesResource(listed, 'apps', 'statefulsets', 'scale')).toBe(true);
  });

  it('needs the group and the resource in the same rule', () => {
    const split = {
      resources: [
        { apiGroups: ['apps'], resources: ['configmaps'] },
        { apiGroups: [''], resources: ['deployments'] },
      ],
    };
    expect(matchesResource(split, 'apps', 'deployments')).toBe(false);
  });
});

describe('inSubjects', () => {
  const subjects: Subjects = { users: ['carol@example.com'], groups: ['oncall', 'system:serviceaccounts:flux-system'] };
  const cases: Array<{ name: string; user: Requester; want: boolean }> = [
    { name: 'a named user', user: { username: 'carol@example.com' }, want: true },
    { name: 'a named user, whatever their groups', user: { username: 'carol@example.com', groups: ['dev'] }, want: true },
    { name: 'a member of a named group', user: { username: 'dave@example.com', groups: ['dev', 'oncall'] }, want: true },
    { name: 'not a user in no named group', user: { username: 'dave@example.com', groups: ['dev'] }, want: false },
    { name: 'not a user without groups', user: { username: 'dave@example.com' }, want: false },
    { name: 'not a group name used as a username', user: { username: 'oncall' }, want: false },
    { name: 'not a username used as a group', user: { username: 'eve', groups: ['carol@example.com'] }, want: false },
    { name: 'not a different case', user: { username: 'Carol@example.com' }, want: false },
  ];
  it.each(cases)('$name: $want', ({ user, want }) => {
    expect(inSubjects(subjects, user)).toBe(want);
  });

  it('nobody is in empty subjects', () => {
    expect(inSubjects({ users: [], groups: [] }, { username: 'carol@example.com', groups: ['oncall'] })).toBe(false);
  });
});

describe('delegatedPaths', () => {
  const policy = {
    delegations: [
      { users: ['hpa'], groups: [], paths: ['/spec/replicas'] },
      { users: ['deploy-controller'], groups: [], paths: ['/metadata/annotations/deployment.kubernetes.io~1revision'] },
      { users: [], groups: ['system:authenticated'], paths: ['/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt'] },
      { users: ['hpa'], groups: [], paths: ['/spec/replicas', '/spec/paused'] },
    ],
  };
  const restartedAt = '/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt';
  const cases: Array<{ name: string; user: Requester; want: string[] }> = [
    { name: 'the union of a user’s delegations, without repeats', user: { username: 'hpa' }, want: ['/spec/replicas', '/spec/paused'] },
    {
      name: 'delegations by user and by group together',
      user: { username: 'hpa', groups: ['system:authenticated'] },
      want: ['/spec/replicas', restartedAt, '/spec/paused'],
    },
    { name: 'by group only', user: { username: 'carol', groups: ['system:authenticated'] }, want: [restartedAt] },
    { name: 'nothing for someone not delegated', user: { username: 'mallory' }, want: [] },
  ];
  it.each(cases)('$name', ({ user, want }) => {
    expect(delegatedPaths(policy, user)).toEqual(want);
  });
});
