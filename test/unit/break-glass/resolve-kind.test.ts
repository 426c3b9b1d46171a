/**
 * KIND/NAME resolution against a discovery fixture shaped as a kube-apiserver answers it: every
 * spelling kubectl accepts lands on the same resource, and a typo is answered with close matches.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ApiResourceList, closeMatches, parseTarget, requestedGroupVersion, resolveKind, resourcesOf } from '../../../src/breakglass/resolve-kind.js';

const fixture = JSON.parse(readFileSync(join(import.meta.dirname, 'testdata/discovery.json'), 'utf8')) as { lists: ApiResourceList[] };
const resources = fixture.lists.flatMap(resourcesOf);

describe('parseTarget', () => {
  it('splits KIND/NAME', () => {
    expect(parseTarget('deploy/checkout-api')).toEqual({ kind: 'deploy', name: 'checkout-api' });
    expect(parseTarget('deployments.apps/x')).toEqual({ kind: 'deployments.apps', name: 'x' });
  });

  it.each(['checkout-api', '/x', 'deploy/', 'deploy/a/b'])('refuses %j, saying how to write it', (text) => {
    expect(() => parseTarget(text)).toThrow(`"${text}" is not KIND/NAME; write e.g. deploy/checkout-api, configmap/settings or deployments.apps/checkout-api`);
  });
});

describe('resourcesOf', () => {
  it('leaves subresources out and reads group and version from groupVersion', () => {
    const apps = resources.filter((r) => r.group === 'apps').map((r) => r.resource);
    expect(apps).toEqual(['daemonsets', 'deployments', 'replicasets', 'statefulsets']);
    expect(resources.find((r) => r.resource === 'configmaps')).toEqual({
      group: '',
      version: 'v1',
      resource: 'configmaps',
      singular: 'configmap',
      kind: 'ConfigMap',
      shortNames: ['cm'],
      namespaced: true,
    });
  });

  it('falls back to the lowercase Kind when singularName is empty (older apiservers)', () => {
    const [only] = resourcesOf({ groupVersion: 'v1', resources: [{ name: 'configmaps', singularName: '', kind: 'ConfigMap', namespaced: true }] });
    expect(only?.singular).toBe('configmap');
  });
});

describe('resolveKind', () => {
  const cases: [string, string, string][] = [
    ['deploy', 'apps', 'deployments'],
    ['deployment', 'apps', 'deployments'],
    ['deployments', 'apps', 'deployments'],
    ['Deployment', 'apps', 'deployments'],
    ['deployments.apps', 'apps', 'deployments'],
    ['deployment.apps', 'apps', 'deployments'],
    ['deploy.apps', 'apps', 'deployments'],
    ['deployments.v1.apps', 'apps', 'deployments'],
    ['configmap', '', 'configmaps'],
    ['cm', '', 'configmaps'],
    ['sts', 'apps', 'statefulsets'],
    ['secret', '', 'secrets'],
    ['svc', '', 'services'],
    ['bt', 'driftgate.dev', 'backporttickets'],
    // The same name in two groups: core first, as the apiserver orders groups; a group picks the other.
    ['ev', '', 'events'],
    ['events.events.k8s.io', 'events.k8s.io', 'events'],
  ];
  it.each(cases)('resolves %s to %s %s', (kind, group, resource) => {
    expect(resolveKind(kind, resources)).toMatchObject({ group, resource });
  });

  it('names close matches for a typo, with their short names', () => {
    expect(() => resolveKind('deploymnet', resources)).toThrow(
      'unknown kind "deploymnet": the cluster\'s API lists no namespaced resource of that name; did you mean deployments.apps (deploy)? list them with: kubectl api-resources --namespaced',
    );
  });

  it('says so when nothing is close', () => {
    expect(() => resolveKind('frobnicators', resources)).toThrow(
      'unknown kind "frobnicators": the cluster\'s API lists no namespaced resource of that name; no resource has a close name; list them with: kubectl api-resources --namespaced',
    );
  });

  it('does not find a kind in a group that lacks it', () => {
    expect(() => resolveKind('deployments.batch', resources)).toThrow('unknown kind "deployments.batch"');
  });

  it('refuses a cluster-scoped kind', () => {
    expect(() => resolveKind('ns', resources)).toThrow(
      'namespaces (ns) is cluster-scoped; break-glass windows are for namespaced objects, which driftgate protects',
    );
    expect(() => resolveKind('clusterrole', resources)).toThrow('clusterroles.rbac.authorization.k8s.io (clusterrole) is cluster-scoped');
  });

  it('never resolves a subresource', () => {
    expect(() => resolveKind('scale', resources)).toThrow('unknown kind "scale"');
  });
});

describe('closeMatches', () => {
  it('counts prefixes and small typos, best first', () => {
    expect(closeMatches('secrt', resources)).toEqual(['secrets']);
    expect(closeMatches('statefulst', resources)).toEqual(['statefulsets.apps (sts)']);
    expect(closeMatches('configm', resources)).toEqual(['configmaps (cm)']);
  });
});

describe('requestedGroupVersion', () => {
  it('reads an explicit version, for discovery to list it', () => {
    expect(requestedGroupVersion('deployments.v1beta2.apps')).toEqual({ group: 'apps', version: 'v1beta2' });
    expect(requestedGroupVersion('deployments.apps')).toBeUndefined();
  });
});
