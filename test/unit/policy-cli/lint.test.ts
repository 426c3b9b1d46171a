/**
 * lintPolicy, table-driven: each risky choice, written into an otherwise clean policy document,
 * must produce its finding at the right field, and nothing else; the clean policy and the shipped
 * example must produce none.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lintPolicy, type Finding, type FindingLevel } from '../../../src/policy/lint.js';
import { loadPolicy, parsePolicy } from '../../../src/policy/load.js';
import type { GuardPolicyDocument } from '../../../src/policy/schema.js';

/** clean returns a policy document that lint has nothing to say about; each case edits a copy. */
function clean(): GuardPolicyDocument {
  return {
    apiVersion: 'driftgate.dev/v1alpha1',
    kind: 'GuardPolicy',
    metadata: { name: 'prod' },
    spec: {
      mode: 'enforce',
      namespaces: ['prod', 'payments-*'],
      resources: [
        { apiGroups: ['apps'], resources: ['deployments', 'deployments/scale'] },
        { apiGroups: [''], resources: ['configmaps', 'namespaces'] },
      ],
      gitopsWriters: { users: ['system:serviceaccount:argocd:argocd-application-controller'] },
      delegations: [{ users: ['system:serviceaccount:kube-system:horizontal-pod-autoscaler'], paths: ['/spec/replicas'] }],
      breakGlass: { users: ['carol@example.com'], groups: ['oncall'], maxDuration: '4h', incidentPattern: '^INC-[0-9]+$' },
    },
  };
}

interface Case {
  name: string;
  edit: (doc: GuardPolicyDocument) => void;
  /** Every finding expected, in order: field, level, and texts its `message; fix` must hold. */
  want: Array<{ field: string; level: FindingLevel; says: string[] }>;
}

const spec = (doc: GuardPolicyDocument): GuardPolicyDocument['spec'] => doc.spec;

const CASES: Case[] = [
  {
    name: 'an opted-out subresource is named as a gap, with its reason (issue 11)',
    edit: (d) => void (spec(d).openSubresources = [{ apiGroups: ['apps'], resources: ['deployments/status'], reason: 'status writers not yet named' }]),
    want: [{ field: 'spec.openSubresources[0].resources[0]', level: 'warning', says: ['"deployments/status" is left open', 'status writers not yet named'] }],
  },
  {
    name: 'an opt-out of a subresource spec.resources names opens nothing',
    edit: (d) => void (spec(d).openSubresources = [{ apiGroups: ['apps'], resources: ['deployments/scale'], reason: 'r' }]),
    want: [{ field: 'spec.openSubresources[0].resources[0]', level: 'warning', says: ['"deployments/scale" opens nothing'] }],
  },
  {
    name: 'guarding services names services/proxy, left open by design',
    edit: (d) => void spec(d).resources[1]?.resources.push('services'),
    want: [{ field: 'spec.resources[1].resources[2]', level: 'info', says: ['not guarded, by design: services/proxy', 'add "services/proxy"'] }],
  },
  {
    name: 'a delegation of /spec owns everything below it',
    edit: (d) => void (spec(d).delegations = [{ users: ['x'], paths: ['/spec/replicas', '/spec'] }]),
    want: [{ field: 'spec.delegations[0].paths[1]', level: 'warning', says: ['"/spec" is too broad', 'every field below it'] }],
  },
  {
    name: 'a delegation of /metadata owns every label and annotation',
    edit: (d) => void (spec(d).delegations = [{ groups: ['g'], paths: ['/metadata'] }]),
    want: [{ field: 'spec.delegations[0].paths[0]', level: 'warning', says: ['"/metadata" is too broad'] }],
  },
  {
    name: 'system:authenticated as a GitOps writer',
    edit: (d) => void (spec(d).gitopsWriters = { users: ['argocd'], groups: ['system:authenticated'] }),
    want: [{ field: 'spec.gitopsWriters.groups[0]', level: 'warning', says: ['every signed-in identity', 'as a GitOps writer'] }],
  },
  {
    name: 'system:serviceaccounts as a GitOps writer',
    edit: (d) => void (spec(d).gitopsWriters = { groups: ['system:serviceaccounts'] }),
    want: [{ field: 'spec.gitopsWriters.groups[0]', level: 'warning', says: ['every service account'] }],
  },
  {
    name: 'system:unauthenticated may break glass',
    edit: (d) => void (spec(d).breakGlass = { ...spec(d).breakGlass, groups: ['oncall', 'system:unauthenticated'] }),
    want: [{ field: 'spec.breakGlass.groups[1]', level: 'warning', says: ['every anonymous request', 'open break-glass windows'] }],
  },
  {
    name: 'system:authenticated may break glass',
    edit: (d) => void (spec(d).breakGlass = { ...spec(d).breakGlass, groups: ['system:authenticated'] }),
    want: [{ field: 'spec.breakGlass.groups[0]', level: 'warning', says: ['every signed-in identity', 'open break-glass windows'] }],
  },
  {
    name: 'system:anonymous as a GitOps writer',
    edit: (d) => void (spec(d).gitopsWriters = { users: ['system:anonymous'] }),
    want: [{ field: 'spec.gitopsWriters.users[0]', level: 'warning', says: ['every anonymous request'] }],
  },
  {
    name: 'a window longer than a day',
    edit: (d) => void (spec(d).breakGlass = { ...spec(d).breakGlass, maxDuration: '72h' }),
    want: [{ field: 'spec.breakGlass.maxDuration', level: 'warning', says: ['"72h"', 'longer than 24h'] }],
  },
  {
    name: 'exactly a day is still fine',
    edit: (d) => void (spec(d).breakGlass = { ...spec(d).breakGlass, maxDuration: '24h' }),
    want: [],
  },
  {
    name: 'kube-system, which the webhooks never guard',
    edit: (d) => void (spec(d).namespaces = ['prod', 'kube-system']),
    want: [{ field: 'spec.namespaces[1]', level: 'warning', says: ['"kube-system" has no effect', 'never send kube-system'] }],
  },
  {
    name: 'kube-public and kube-node-lease',
    edit: (d) => void (spec(d).namespaces = ['kube-public', 'kube-node-lease']),
    want: [
      { field: 'spec.namespaces[0]', level: 'warning', says: ['"kube-public" has no effect'] },
      { field: 'spec.namespaces[1]', level: 'warning', says: ['"kube-node-lease" has no effect'] },
    ],
  },
  {
    name: 'a prefix that takes in the system namespaces',
    edit: (d) => void (spec(d).namespaces = ['kube-*']),
    want: [{ field: 'spec.namespaces[0]', level: 'warning', says: ['also matches kube-system, kube-public, kube-node-lease'] }],
  },
  {
    name: 'every namespace',
    edit: (d) => void (spec(d).namespaces = ['*']),
    want: [{ field: 'spec.namespaces[0]', level: 'warning', says: ['"*" protects every namespace'] }],
  },
  {
    name: '* in apiGroups *',
    edit: (d) => void (spec(d).resources = [{ apiGroups: ['*'], resources: ['*'] }]),
    want: [
      { field: 'spec.resources[0].resources[0]', level: 'warning', says: ['every API group', 'leases', 'events', 'refused'] },
      { field: 'spec.resources[0].resources[0]', level: 'info', says: ['not guarded, by design: pods/exec', 'services/proxy', 'serviceaccounts/token'] },
      { field: 'spec.resources', level: 'warning', says: ['endpoints is guarded', 'endpoint-controller'] },
      { field: 'spec.resources', level: 'warning', says: ['events is guarded'] },
      { field: 'spec.resources', level: 'warning', says: ['jobs.batch is guarded', 'ttl-after-finished'] },
      { field: 'spec.resources', level: 'warning', says: ['pods is guarded', 'pod garbage collector'] },
      { field: 'spec.resources', level: 'warning', says: ['persistentvolumeclaims is guarded', 'statefulset'] },
      { field: 'spec.resources', level: 'warning', says: ['leases.coordination.k8s.io is guarded'] },
    ],
  },
  {
    name: '* in the core group',
    edit: (d) =>
      void (spec(d).resources = [
        { apiGroups: ['apps'], resources: ['deployments'] },
        { apiGroups: [''], resources: ['configmaps', 'namespaces', '*'] },
      ]),
    want: [
      { field: 'spec.resources[1].resources[2]', level: 'warning', says: ['every resource in the core group', 'pods'] },
      { field: 'spec.resources[1].resources[2]', level: 'info', says: ['not guarded, by design: pods/exec'] },
      // pods are guarded, the workloads that control them (apps, batch) are not.
      { field: 'spec.resources', level: 'warning', says: ['pods is guarded but the ReplicaSet that controls them is not', 'replicaset-controller'] },
      { field: 'spec.resources', level: 'warning', says: ['the StatefulSet that controls them is not'] },
      { field: 'spec.resources', level: 'warning', says: ['the DaemonSet that controls them is not'] },
      { field: 'spec.resources', level: 'warning', says: ['the Job that controls them is not'] },
      { field: 'spec.resources', level: 'warning', says: ['endpoints is guarded'] },
      { field: 'spec.resources', level: 'warning', says: ['events is guarded'] },
      { field: 'spec.resources', level: 'warning', says: ['pods is guarded'] },
      { field: 'spec.resources', level: 'warning', says: ['persistentvolumeclaims is guarded'] },
    ],
  },
  {
    name: 'pods/status, which kubelets write: status alone, which passes (issue 11), so no warning',
    edit: (d) => void (spec(d).resources = [{ apiGroups: [''], resources: ['namespaces', 'pods/status'] }]),
    want: [],
  },
  {
    name: 'namespaces left unguarded: deleting a protected namespace would stall',
    edit: (d) => void (spec(d).resources = [{ apiGroups: ['apps'], resources: ['deployments'] }]),
    want: [{ field: 'spec.resources', level: 'warning', says: ['namespaces is not guarded', 'never finishes deleting'] }],
  },
  {
    name: 'namespaces left unguarded is no news in warn mode (nothing is refused)',
    edit: (d) => {
      spec(d).resources = [{ apiGroups: ['apps'], resources: ['deployments'] }];
      spec(d).mode = 'warn';
    },
    want: [{ field: 'spec.mode', level: 'info', says: ['nothing is enforced'] }],
  },
  {
    name: 'a derived kind guarded without the kind that controls it',
    edit: (d) =>
      void (spec(d).resources = [
        { apiGroups: [''], resources: ['namespaces'] },
        { apiGroups: ['batch'], resources: ['jobs'] },
      ]),
    want: [
      { field: 'spec.resources', level: 'warning', says: ['jobs is guarded but the CronJob that controls them is not', 'guard cronjobs (apiGroups batch)'] },
      { field: 'spec.resources', level: 'warning', says: ['jobs.batch is guarded', 'ttl-after-finished'] },
    ],
  },
  {
    name: 'the garbage collector left out while deployments are guarded',
    edit: (d) => void (spec(d).kubernetesControllers = { allow: ['namespace-controller', 'root-ca-cert-publisher', 'deployment-controller'] }),
    want: [{ field: 'spec.kubernetesControllers.allow', level: 'warning', says: ['garbage-collector is left out', 'stay Terminating'] }],
  },
  {
    name: 'every controller turned off while deployments and configmaps are guarded',
    edit: (d) => void (spec(d).kubernetesControllers = { allow: [] }),
    want: [
      { field: 'spec.kubernetesControllers.allow', level: 'warning', says: ['garbage-collector is left out'] },
      { field: 'spec.kubernetesControllers.allow', level: 'warning', says: ['namespace-controller is left out', 'never finishes'] },
      { field: 'spec.kubernetesControllers.allow', level: 'warning', says: ['root-ca-cert-publisher is left out', 'service-account CA'] },
      { field: 'spec.kubernetesControllers.allow', level: 'warning', says: ['deployment-controller is left out'] },
    ],
  },
  {
    name: 'a controller left out whose kinds are not guarded is no news',
    edit: (d) =>
      void (spec(d).kubernetesControllers = { allow: ['garbage-collector', 'namespace-controller', 'root-ca-cert-publisher', 'deployment-controller'] }),
    want: [],
  },
  {
    name: '*/scale in every group is a deliberate, narrow choice',
    edit: (d) =>
      void (spec(d).resources = [
        { apiGroups: ['*'], resources: ['*/scale'] },
        { apiGroups: [''], resources: ['namespaces'] },
      ]),
    want: [],
  },
  {
    name: 'an incident pattern without anchors',
    edit: (d) => void (spec(d).breakGlass = { ...spec(d).breakGlass, incidentPattern: 'INC-[0-9]+' }),
    want: [{ field: 'spec.breakGlass.incidentPattern', level: 'warning', says: ['not anchored at either end', '"xINC-0y"', '^INC-[0-9]+$'] }],
  },
  {
    name: 'an incident pattern anchored at the start only',
    edit: (d) => void (spec(d).breakGlass = { ...spec(d).breakGlass, incidentPattern: '^INC-\\d+' }),
    want: [{ field: 'spec.breakGlass.incidentPattern', level: 'warning', says: ['not anchored at the end', '"INC-1y"'] }],
  },
  {
    name: 'an escaped dollar is no anchor',
    edit: (d) => void (spec(d).breakGlass = { ...spec(d).breakGlass, incidentPattern: '^INC-\\d+\\$' }),
    want: [{ field: 'spec.breakGlass.incidentPattern', level: 'warning', says: ['not anchored at the end'] }],
  },
  {
    name: 'an alternation that anchors each end once',
    edit: (d) => void (spec(d).breakGlass = { ...spec(d).breakGlass, incidentPattern: '^INC-\\d+|SEV-\\d+$' }),
    want: [{ field: 'spec.breakGlass.incidentPattern', level: 'warning', says: ['each alternative needs its own ^ and $', '^(?:INC-\\d+|SEV-\\d+)$'] }],
  },
  {
    name: 'an alternation inside an anchored group is fine',
    edit: (d) => void (spec(d).breakGlass = { ...spec(d).breakGlass, incidentPattern: '^(INC|SEV)-[0-9]{2,}$' }),
    want: [],
  },
  {
    name: 'the default incident pattern accepts anything (info, as somebody may break glass)',
    edit: (d) => void (spec(d).breakGlass = { groups: ['oncall'] }),
    want: [{ field: 'spec.breakGlass.incidentPattern', level: 'info', says: ['accepts any incident reference'] }],
  },
  {
    name: 'the default incident pattern is no news when nobody may break glass',
    edit: (d) => void delete spec(d).breakGlass,
    want: [],
  },
  {
    name: 'a GitOps writer who may also break glass',
    edit: (d) => void (spec(d).gitopsWriters = { users: ['carol@example.com'], groups: ['oncall'] }),
    want: [
      { field: 'spec.breakGlass.users[0]', level: 'warning', says: ['"carol@example.com" is also a GitOps writer', 'changes nothing'] },
      { field: 'spec.breakGlass.groups[0]', level: 'warning', says: ['"oncall" is also a GitOps writer'] },
    ],
  },
  {
    name: 'warn mode enforces nothing',
    edit: (d) => void (spec(d).mode = 'warn'),
    want: [{ field: 'spec.mode', level: 'info', says: ['nothing is enforced'] }],
  },
];

// The clean policy guards namespaces, whose namespaces/finalize is a gap by design (issue 11):
// it is checked once, in its own test, and left out of every other comparison.
function isFinalizeGap(f: Finding): boolean {
  return f.level === 'info' && f.message.startsWith('not guarded, by design: namespaces/finalize');
}

function lint(doc: GuardPolicyDocument): Finding[] {
  return lintPolicy(parsePolicy(doc)).filter((f) => !isFinalizeGap(f));
}

describe('lintPolicy', () => {
  it('finds nothing in a clean policy', () => {
    expect(lint(clean())).toEqual([]);
  });

  it('names namespaces/finalize as a gap by design when namespaces are guarded, without offering to guard it', () => {
    const gaps = lintPolicy(parsePolicy(clean())).filter(isFinalizeGap);
    expect(gaps.map((f) => f.field)).toEqual(['spec.resources[1].resources[1]']);
    expect(gaps[0]?.fix).toContain('stall namespace deletion');
  });

  it('finds nothing risky in examples/policy.yaml, and names its one gap by design (services/proxy)', () => {
    const path = fileURLToPath(new URL('../../../examples/policy.yaml', import.meta.url));
    const got = lintPolicy(loadPolicy(readFileSync(path, 'utf8'), path)).filter((f) => !isFinalizeGap(f));
    expect(got.map((f) => [f.level, f.field])).toEqual([['info', 'spec.resources[1].resources[2]']]);
    expect(got[0]?.message).toContain('services/proxy');
  });

  for (const c of CASES) {
    it(c.name, () => {
      const doc = clean();
      c.edit(doc);
      const got = lint(doc);
      expect(got.map((f) => [f.field, f.level])).toEqual(c.want.map((w) => [w.field, w.level]));
      c.want.forEach((w, i) => {
        for (const text of w.says) expect(`${got[i]?.message ?? ''}; ${got[i]?.fix ?? ''}`).toContain(text);
        // Every finding says what to do instead, not only what is wrong.
        expect(got[i]?.fix).not.toBe('');
      });
    });
  }

  it('reports every risky choice at once, in document order', () => {
    const doc = clean();
    doc.spec.mode = 'warn';
    doc.spec.namespaces = ['*'];
    doc.spec.gitopsWriters = { groups: ['system:authenticated'] };
    doc.spec.delegations = [{ users: ['x'], paths: ['/spec'] }];
    doc.spec.breakGlass = { groups: ['oncall'], maxDuration: '48h', incidentPattern: 'INC' };
    expect(lint(doc).map((f) => f.field)).toEqual([
      'spec.mode',
      'spec.namespaces[0]',
      'spec.gitopsWriters.groups[0]',
      'spec.delegations[0].paths[0]',
      'spec.breakGlass.maxDuration',
      'spec.breakGlass.incidentPattern',
    ]);
  });
});
