/**
 * Kubernetes' own controllers in decide(): every grant of the built-in list, both ways. Each case
 * is what kube-controller-manager v1.37 really sends (observed in test/e2e against the real
 * controller-manager), built as a base object plus the case's difference, and its neighbour one
 * step beyond the grant, which is refused like any other drift.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest, KubeObject, Operation } from '../../../src/admission/types.js';
import { decide, decideOrAsk } from '../../../src/decision/decide.js';
import type { Decision } from '../../../src/decision/types.js';
import { parse as parseYaml } from 'yaml';
import { loadPolicy, parsePolicy } from '../../../src/policy/load.js';
import type { GuardPolicy } from '../../../src/policy/types.js';
import { KUBERNETES_CONTROLLERS } from '../../../src/policy/kubernetes-controllers.js';

const NOW = new Date('2026-11-24T03:00:00Z');
const POLICY_TEXT = readFileSync(join(import.meta.dirname, 'testdata', 'policy.yaml'), 'utf8');
const POLICY = loadPolicy(POLICY_TEXT, 'policy.yaml');
/** The shared policy, guarding every kind in prod, so that derived objects (pods, ReplicaSets…) are guarded too. */
const GUARD_ALL = variant((spec) => {
  spec['resources'] = [{ apiGroups: ['*'], resources: ['*', '*/status'] }];
});

const sa = (name: string): string => `system:serviceaccount:kube-system:${name}`;
const GC = sa('generic-garbage-collector');
const NS_CONTROLLER = sa('namespace-controller');
const SHARED = 'system:kube-controller-manager';

const deployment = (meta: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'checkout-api', namespace: 'prod', uid: 'd-1', resourceVersion: '10', labels: { app: 'checkout' }, ...meta },
  spec: { replicas: 2, template: { spec: { containers: [{ name: 'app', image: 'checkout:v1' }] } } },
});
const replicaSetOwner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'checkout-api-7d9', uid: 'rs-1', controller: true, blockOwnerDeletion: true };
const deploymentOwner = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'checkout-api', uid: 'd-1', controller: true, blockOwnerDeletion: true };
const DELETING = { deletionTimestamp: '2026-11-24T02:59:00Z', deletionGracePeriodSeconds: 0 };

const configMap = (name: string, meta: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'prod', ...meta },
  data: { 'ca.crt': '-----BEGIN CERTIFICATE-----' },
});
const pod = (meta: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'checkout-api-7d9-x2z', namespace: 'prod', ...meta },
  spec: { containers: [{ name: 'app', image: 'checkout:v1' }] },
});
const service = (meta: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'prod', ...meta },
  spec: { type: 'LoadBalancer', ports: [{ port: 443 }] },
});
const job = (): KubeObject => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: {
    name: 'nightly-1',
    namespace: 'prod',
    ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'nightly', uid: 'cj-1', controller: true }],
  },
  spec: { template: { spec: { containers: [{ name: 'job', image: 'report:v1' }] } } },
});
const namespace = (meta: Record<string, unknown> = {}, phase = 'Active'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: 'prod', ...meta },
  status: { phase },
});

const RESOURCES: Record<string, { group: string; version: string; resource: string; kind: string }> = {
  deployments: { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment' },
  replicasets: { group: 'apps', version: 'v1', resource: 'replicasets', kind: 'ReplicaSet' },
  configmaps: { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap' },
  serviceaccounts: { group: '', version: 'v1', resource: 'serviceaccounts', kind: 'ServiceAccount' },
  pods: { group: '', version: 'v1', resource: 'pods', kind: 'Pod' },
  namespaces: { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace' },
  services: { group: '', version: 'v1', resource: 'services', kind: 'Service' },
  jobs: { group: 'batch', version: 'v1', resource: 'jobs', kind: 'Job' },
};

interface Req {
  user: string;
  groups?: string[];
  operation: Operation;
  resource: keyof typeof RESOURCES;
  subResource?: string;
  /** The request's own name; the namespace controller's DELETEs carry none. */
  name?: string;
  object?: KubeObject | null;
  oldObject?: KubeObject | null;
}

function request(r: Req): AdmissionRequest {
  const res = RESOURCES[r.resource];
  if (res === undefined) throw new Error(`unknown resource ${r.resource}`);
  const groups =
    r.groups ??
    (r.user.startsWith('system:serviceaccount:kube-system:')
      ? ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated']
      : ['system:authenticated']);
  return {
    uid: 'c0ffee00-0000-4000-8000-000000000001',
    kind: { group: res.group, version: res.version, kind: res.kind },
    resource: { group: res.group, version: res.version, resource: res.resource },
    ...(r.subResource ? { subResource: r.subResource } : {}),
    name: r.name ?? '',
    namespace: r.resource === 'namespaces' ? '' : 'prod',
    operation: r.operation,
    userInfo: { username: r.user, groups },
    object: r.object ?? null,
    oldObject: r.oldObject ?? null,
    dryRun: false,
  };
}

interface Case {
  name: string;
  req: Req;
  policy?: GuardPolicy;
  namespace?: KubeObject;
  want: { kind: Decision['kind']; code: string; needsNamespace?: string; messageContains?: string };
}

const allowed = { kind: 'allow', code: 'kubernetes-controller' } as const;
const drift = { kind: 'deny', code: 'drift' } as const;

const cases: Case[] = [
  // garbage collector
  {
    name: 'lets the garbage collector remove foregroundDeletion from a Deployment being deleted',
    req: {
      user: GC,
      operation: 'UPDATE',
      resource: 'deployments',
      name: 'checkout-api',
      oldObject: deployment({ ...DELETING, finalizers: ['foregroundDeletion'] }),
      object: deployment({ ...DELETING, finalizers: [] }),
    },
    want: allowed,
  },
  {
    name: 'refuses the garbage collector removing foregroundDeletion from a Deployment NOT being deleted',
    req: {
      user: GC,
      operation: 'UPDATE',
      resource: 'deployments',
      name: 'checkout-api',
      oldObject: deployment({ finalizers: ['foregroundDeletion'] }),
      object: deployment({ finalizers: [] }),
    },
    want: { ...drift, messageContains: '/metadata/finalizers' },
  },
  {
    name: 'lets the garbage collector remove orphan (and keep another finalizer) from an object being deleted',
    req: {
      user: GC,
      operation: 'UPDATE',
      resource: 'deployments',
      name: 'checkout-api',
      oldObject: deployment({ ...DELETING, finalizers: ['example.com/keep', 'orphan'] }),
      object: deployment({ ...DELETING, finalizers: ['example.com/keep'] }),
    },
    want: allowed,
  },
  {
    name: 'refuses the garbage collector removing a finalizer that is not its own',
    req: {
      user: GC,
      operation: 'UPDATE',
      resource: 'deployments',
      name: 'checkout-api',
      oldObject: deployment({ ...DELETING, finalizers: ['example.com/keep', 'orphan'] }),
      object: deployment({ ...DELETING, finalizers: [] }),
    },
    want: drift,
  },
  {
    name: 'refuses the garbage collector adding a finalizer',
    req: {
      user: GC,
      operation: 'UPDATE',
      resource: 'deployments',
      name: 'checkout-api',
      oldObject: deployment({ ...DELETING }),
      object: deployment({ ...DELETING, finalizers: ['foregroundDeletion'] }),
    },
    want: drift,
  },
  {
    name: 'refuses the garbage collector changing the spec while removing its finalizer',
    req: {
      user: GC,
      operation: 'UPDATE',
      resource: 'deployments',
      name: 'checkout-api',
      oldObject: deployment({ ...DELETING, finalizers: ['foregroundDeletion'] }),
      object: { ...deployment({ ...DELETING, finalizers: [] }), spec: { replicas: 0 } },
    },
    want: drift,
  },
  {
    name: 'lets the garbage collector remove an ownerReference (orphaning a dependent)',
    req: {
      user: GC,
      operation: 'UPDATE',
      resource: 'configmaps',
      name: 'settings',
      oldObject: configMap('settings', { ownerReferences: [deploymentOwner] }),
      object: configMap('settings', { ownerReferences: [] }),
    },
    want: allowed,
  },
  {
    name: 'refuses the garbage collector adding an ownerReference',
    req: {
      user: GC,
      operation: 'UPDATE',
      resource: 'configmaps',
      name: 'settings',
      oldObject: configMap('settings'),
      object: configMap('settings', { ownerReferences: [deploymentOwner] }),
    },
    want: drift,
  },
  {
    name: 'lets the garbage collector delete a dependent of a deleted owner',
    req: { user: GC, operation: 'DELETE', resource: 'configmaps', name: 'settings', oldObject: configMap('settings', { ownerReferences: [deploymentOwner] }) },
    want: allowed,
  },
  {
    name: 'refuses the garbage collector deleting an object that has no owner',
    req: { user: GC, operation: 'DELETE', resource: 'configmaps', name: 'settings', oldObject: configMap('settings') },
    want: drift,
  },
  {
    name: 'refuses a person removing foregroundDeletion, even from an object being deleted',
    req: {
      user: 'alice@example.com',
      operation: 'UPDATE',
      resource: 'deployments',
      name: 'checkout-api',
      oldObject: deployment({ ...DELETING, finalizers: ['foregroundDeletion'] }),
      object: deployment({ ...DELETING, finalizers: [] }),
    },
    want: drift,
  },
  {
    name: 'lets every controller act as the shared system:kube-controller-manager identity',
    req: {
      user: SHARED,
      groups: ['system:authenticated'],
      operation: 'UPDATE',
      resource: 'deployments',
      name: 'checkout-api',
      oldObject: deployment({ ...DELETING, finalizers: ['foregroundDeletion'] }),
      object: deployment({ ...DELETING, finalizers: [] }),
    },
    want: allowed,
  },
  {
    name: 'refuses the shared identity when the policy turns sharedIdentity off',
    req: {
      user: SHARED,
      groups: ['system:authenticated'],
      operation: 'UPDATE',
      resource: 'deployments',
      name: 'checkout-api',
      oldObject: deployment({ ...DELETING, finalizers: ['foregroundDeletion'] }),
      object: deployment({ ...DELETING, finalizers: [] }),
    },
    policy: withControllers({ sharedIdentity: false }),
    want: drift,
  },
  {
    name: 'refuses the garbage collector when the policy leaves it out of kubernetesControllers.allow',
    req: {
      user: GC,
      operation: 'UPDATE',
      resource: 'deployments',
      name: 'checkout-api',
      oldObject: deployment({ ...DELETING, finalizers: ['foregroundDeletion'] }),
      object: deployment({ ...DELETING, finalizers: [] }),
    },
    policy: withControllers({ allow: ['namespace-controller'] }),
    want: drift,
  },
  {
    name: 'refuses every built-in controller when kubernetesControllers.allow is empty',
    req: { user: GC, operation: 'DELETE', resource: 'configmaps', name: 'settings', oldObject: configMap('settings', { ownerReferences: [deploymentOwner] }) },
    policy: withControllers({ allow: [] }),
    want: drift,
  },
  {
    name: 'refuses the garbage collector deleting a dependent whose owner is of a kind the policy does not guard (its deletion was never judged)',
    req: {
      user: GC,
      operation: 'DELETE',
      resource: 'configmaps',
      name: 'db-creds',
      oldObject: configMap('db-creds', {
        ownerReferences: [{ apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', name: 'db', uid: 'es-1', controller: true }],
      }),
    },
    want: drift,
  },
  {
    name: 'refuses the garbage collector deleting a dependent of a guarded owner and of an unguarded one',
    req: {
      user: GC,
      operation: 'DELETE',
      resource: 'configmaps',
      name: 'settings',
      oldObject: configMap('settings', { ownerReferences: [deploymentOwner, { apiVersion: 'v1', kind: 'Node', name: 'node-1', uid: 'n-1' }] }),
    },
    want: drift,
  },
  {
    name: "lets the garbage collector turn an ownerReference's blockOwnerDeletion off (breaking a foreground-deletion cycle)",
    req: {
      user: GC,
      operation: 'UPDATE',
      resource: 'configmaps',
      name: 'settings',
      oldObject: configMap('settings', { ownerReferences: [deploymentOwner] }),
      object: configMap('settings', { ownerReferences: [{ ...deploymentOwner, blockOwnerDeletion: false }] }),
    },
    want: allowed,
  },
  {
    name: "refuses the garbage collector turning an ownerReference's blockOwnerDeletion on",
    req: {
      user: GC,
      operation: 'UPDATE',
      resource: 'configmaps',
      name: 'settings',
      oldObject: configMap('settings', { ownerReferences: [{ ...deploymentOwner, blockOwnerDeletion: false }] }),
      object: configMap('settings', { ownerReferences: [deploymentOwner] }),
    },
    want: drift,
  },
  {
    name: 'refuses the garbage collector repointing an ownerReference at another owner',
    req: {
      user: GC,
      operation: 'UPDATE',
      resource: 'configmaps',
      name: 'settings',
      oldObject: configMap('settings', { ownerReferences: [deploymentOwner] }),
      object: configMap('settings', { ownerReferences: [{ ...deploymentOwner, uid: 'd-2' }] }),
    },
    want: drift,
  },
  // namespace controller
  {
    name: 'refuses the namespace controller when the policy does not guard namespaces (deleting the namespace was never judged)',
    req: { user: NS_CONTROLLER, operation: 'DELETE', resource: 'deployments', oldObject: deployment() },
    policy: variant((spec) => {
      spec['resources'] = [{ apiGroups: ['apps'], resources: ['deployments'] }];
    }),
    namespace: namespace({ deletionTimestamp: '2026-11-24T02:58:00Z' }, 'Terminating'),
    want: drift,
  },
  {
    name: 'refuses the namespace controller when what was looked up is not the Namespace',
    req: { user: NS_CONTROLLER, operation: 'DELETE', resource: 'deployments', oldObject: deployment() },
    namespace: { ...deployment({ name: 'prod', deletionTimestamp: '2026-11-24T02:58:00Z' }) },
    want: drift,
  },
  {
    name: 'lets the namespace controller finalize a namespace being deleted (namespaces/finalize drops spec.finalizers)',
    req: {
      user: NS_CONTROLLER,
      operation: 'UPDATE',
      resource: 'namespaces',
      subResource: 'finalize',
      name: 'prod',
      oldObject: { ...namespace({ deletionTimestamp: '2026-11-24T02:58:00Z' }, 'Terminating'), spec: { finalizers: ['kubernetes'] } },
      object: { ...namespace({ deletionTimestamp: '2026-11-24T02:58:00Z' }, 'Terminating'), spec: { finalizers: [] } },
    },
    policy: variant((spec) => {
      spec['resources'] = [{ apiGroups: [''], resources: ['namespaces', 'namespaces/finalize'] }];
    }),
    want: allowed,
  },
  {
    name: 'refuses the namespace controller finalizing a namespace that is not being deleted',
    req: {
      user: NS_CONTROLLER,
      operation: 'UPDATE',
      resource: 'namespaces',
      subResource: 'finalize',
      name: 'prod',
      oldObject: { ...namespace(), spec: { finalizers: ['kubernetes'] } },
      object: { ...namespace(), spec: { finalizers: [] } },
    },
    policy: variant((spec) => {
      spec['resources'] = [{ apiGroups: [''], resources: ['namespaces', 'namespaces/finalize'] }];
    }),
    want: drift,
  },
  {
    name: 'asks for the Namespace before judging the namespace controller deleting an unnamed object',
    req: { user: NS_CONTROLLER, operation: 'DELETE', resource: 'deployments', oldObject: deployment() },
    want: { ...drift, needsNamespace: 'prod', messageContains: 'deployments.apps/checkout-api' },
  },
  {
    name: 'lets the namespace controller delete in a namespace being deleted',
    req: { user: NS_CONTROLLER, operation: 'DELETE', resource: 'deployments', oldObject: deployment() },
    namespace: namespace({ deletionTimestamp: '2026-11-24T02:58:00Z' }, 'Terminating'),
    want: allowed,
  },
  {
    name: 'refuses the namespace controller deleting in a namespace that is not being deleted',
    req: { user: NS_CONTROLLER, operation: 'DELETE', resource: 'deployments', oldObject: deployment() },
    namespace: namespace(),
    want: drift,
  },
  {
    name: 'refuses the namespace controller changing an object in a namespace being deleted',
    req: {
      user: NS_CONTROLLER,
      operation: 'UPDATE',
      resource: 'deployments',
      name: 'checkout-api',
      oldObject: deployment(),
      object: { ...deployment(), spec: { replicas: 0 } },
    },
    namespace: namespace({ deletionTimestamp: '2026-11-24T02:58:00Z' }, 'Terminating'),
    want: drift,
  },
  {
    name: 'never asks for the Namespace for a person deleting',
    req: { user: 'alice@example.com', operation: 'DELETE', resource: 'deployments', name: 'checkout-api', oldObject: deployment() },
    want: drift,
  },
  // root-ca-cert-publisher, service-account controller
  {
    name: 'lets the root-ca-cert-publisher create kube-root-ca.crt',
    req: { user: sa('root-ca-cert-publisher'), operation: 'CREATE', resource: 'configmaps', name: 'kube-root-ca.crt', object: configMap('kube-root-ca.crt') },
    want: allowed,
  },
  {
    name: 'refuses the root-ca-cert-publisher creating any other ConfigMap',
    req: { user: sa('root-ca-cert-publisher'), operation: 'CREATE', resource: 'configmaps', name: 'settings', object: configMap('settings') },
    want: drift,
  },
  {
    name: 'refuses the root-ca-cert-publisher deleting kube-root-ca.crt',
    req: {
      user: sa('root-ca-cert-publisher'),
      operation: 'DELETE',
      resource: 'configmaps',
      name: 'kube-root-ca.crt',
      oldObject: configMap('kube-root-ca.crt'),
    },
    want: drift,
  },
  {
    name: 'refuses a person creating kube-root-ca.crt',
    req: { user: 'alice@example.com', operation: 'CREATE', resource: 'configmaps', name: 'kube-root-ca.crt', object: configMap('kube-root-ca.crt') },
    want: drift,
  },
  {
    name: 'lets the service-account controller create the default ServiceAccount',
    req: {
      user: sa('service-account-controller'),
      operation: 'CREATE',
      resource: 'serviceaccounts',
      name: 'default',
      object: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: 'prod' } },
    },
    policy: GUARD_ALL,
    want: allowed,
  },
  {
    name: 'refuses the service-account controller creating another ServiceAccount',
    req: {
      user: sa('service-account-controller'),
      operation: 'CREATE',
      resource: 'serviceaccounts',
      name: 'deployer',
      object: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'deployer', namespace: 'prod' } },
    },
    policy: GUARD_ALL,
    want: drift,
  },
  // service controller
  {
    name: 'lets the service controller add its load-balancer cleanup finalizer',
    req: {
      user: sa('service-controller'),
      operation: 'UPDATE',
      resource: 'services',
      name: 'web',
      oldObject: service(),
      object: service({ finalizers: ['service.kubernetes.io/load-balancer-cleanup'] }),
    },
    want: allowed,
  },
  {
    name: 'lets the service controller remove its finalizer',
    req: {
      user: sa('service-controller'),
      operation: 'UPDATE',
      resource: 'services',
      name: 'web',
      oldObject: service({ finalizers: ['service.kubernetes.io/load-balancer-cleanup'] }),
      object: service(),
    },
    want: allowed,
  },
  {
    name: 'refuses the service controller adding any other finalizer',
    req: {
      user: sa('service-controller'),
      operation: 'UPDATE',
      resource: 'services',
      name: 'web',
      oldObject: service(),
      object: service({ finalizers: ['example.com/hold'] }),
    },
    want: drift,
  },
  {
    name: 'refuses the service controller changing an annotation along with its finalizer',
    req: {
      user: sa('service-controller'),
      operation: 'UPDATE',
      resource: 'services',
      name: 'web',
      oldObject: service(),
      object: service({
        finalizers: ['service.kubernetes.io/load-balancer-cleanup'],
        annotations: { 'service.beta.kubernetes.io/aws-load-balancer-internal': 'false' },
      }),
    },
    want: drift,
  },
  // workload controllers
  {
    name: 'lets the cronjob controller create a Job its CronJob controls, when the policy guards CronJobs too',
    req: { user: sa('cronjob-controller'), operation: 'CREATE', resource: 'jobs', name: 'nightly-1', object: job() },
    policy: variant((spec) => {
      spec['resources'] = [{ apiGroups: ['batch'], resources: ['jobs', 'cronjobs'] }];
    }),
    want: allowed,
  },
  {
    name: 'refuses the cronjob controller creating a guarded Job when the policy leaves CronJobs unguarded (a person could write the CronJob freely)',
    req: { user: sa('cronjob-controller'), operation: 'CREATE', resource: 'jobs', name: 'nightly-1', object: job() },
    policy: variant((spec) => {
      spec['resources'] = [{ apiGroups: ['batch'], resources: ['jobs'] }];
    }),
    want: drift,
  },
  {
    name: 'lets the deployment controller stamp its revision annotation through deployments/status',
    req: {
      user: sa('deployment-controller'),
      operation: 'UPDATE',
      resource: 'deployments',
      subResource: 'status',
      name: 'checkout-api',
      oldObject: deployment(),
      object: deployment({ annotations: { 'deployment.kubernetes.io/revision': '2' } }),
    },
    policy: GUARD_ALL,
    want: allowed,
  },
  {
    name: 'refuses the deployment controller changing another annotation',
    req: {
      user: sa('deployment-controller'),
      operation: 'UPDATE',
      resource: 'deployments',
      name: 'checkout-api',
      oldObject: deployment(),
      object: deployment({ annotations: { 'example.com/owner': 'me' } }),
    },
    want: drift,
  },
  {
    name: 'lets the deployment controller create a ReplicaSet its Deployment owns',
    req: {
      user: sa('deployment-controller'),
      operation: 'CREATE',
      resource: 'replicasets',
      name: 'checkout-api-7d9',
      object: { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'checkout-api-7d9', namespace: 'prod', ownerReferences: [deploymentOwner] } },
    },
    policy: GUARD_ALL,
    want: allowed,
  },
  {
    // Issue 11: driftgate's annotations are the requester's to write only for people; the
    // deployment controller copies a Deployment's annotations (window, ticket stamp) to its ReplicaSets.
    name: "lets the deployment controller copy its Deployment's window and ticket stamp onto the ReplicaSet it owns",
    req: {
      user: sa('deployment-controller'),
      operation: 'CREATE',
      resource: 'replicasets',
      name: 'checkout-api-7d9',
      object: {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: 'checkout-api-7d9',
          namespace: 'prod',
          ownerReferences: [deploymentOwner],
          annotations: {
            'driftgate.dev/break-glass-until': '2026-11-24T04:00:00Z',
            'driftgate.dev/break-glass-incident': 'INC-1',
            'driftgate.dev/backport-ticket': 'checkout-api-inc-1-0123456789',
          },
        },
      },
    },
    policy: GUARD_ALL,
    want: allowed,
  },
  {
    name: 'refuses the deployment controller creating a ReplicaSet no Deployment owns',
    req: {
      user: sa('deployment-controller'),
      operation: 'CREATE',
      resource: 'replicasets',
      name: 'stray',
      object: { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'stray', namespace: 'prod' } },
    },
    policy: GUARD_ALL,
    want: drift,
  },
  {
    name: 'lets the replicaset controller create and delete the pods its ReplicaSets own',
    req: {
      user: sa('replicaset-controller'),
      operation: 'DELETE',
      resource: 'pods',
      name: 'checkout-api-7d9-x2z',
      oldObject: pod({ ownerReferences: [replicaSetOwner] }),
    },
    policy: GUARD_ALL,
    want: allowed,
  },
  {
    name: 'refuses the replicaset controller deleting a pod it does not own (a ReplicaSet owner that is not the controller)',
    req: {
      user: sa('replicaset-controller'),
      operation: 'DELETE',
      resource: 'pods',
      name: 'checkout-api-7d9-x2z',
      oldObject: pod({ ownerReferences: [{ ...replicaSetOwner, controller: false }] }),
    },
    policy: GUARD_ALL,
    want: drift,
  },
  {
    name: 'refuses the replicaset controller writing a Deployment-owned kind it does not manage',
    req: {
      user: sa('replicaset-controller'),
      operation: 'CREATE',
      resource: 'replicasets',
      name: 'checkout-api-7d9',
      object: { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'checkout-api-7d9', namespace: 'prod', ownerReferences: [deploymentOwner] } },
    },
    policy: GUARD_ALL,
    want: drift,
  },
];

/** variant returns the shared policy with its spec changed by `edit`. */
function variant(edit: (spec: Record<string, unknown>) => void): GuardPolicy {
  const doc = parseYaml(POLICY_TEXT) as { spec: Record<string, unknown> };
  edit(doc.spec);
  return parsePolicy(doc, 'variant');
}

function withControllers(controllers: { allow?: string[]; sharedIdentity?: boolean }): GuardPolicy {
  return variant((spec) => {
    spec['kubernetesControllers'] = controllers;
  });
}

/**
 * ownedCases returns, for every write-owned grant of the built-in list, the write allowed (its
 * object controlled by the grant's kind) and its neighbour refused (controlled by another kind).
 */
function ownedCases(): Array<{ name: string; request: AdmissionRequest; want: 'allow' | 'deny' }> {
  const out: Array<{ name: string; request: AdmissionRequest; want: 'allow' | 'deny' }> = [];
  for (const controller of KUBERNETES_CONTROLLERS) {
    for (const grant of controller.grants) {
      if (grant.kind !== 'write-owned') continue;
      const owner = grant.owners[0];
      if (owner === undefined) throw new Error(`${controller.name}: a write-owned grant without owners`);
      const ref = (kind: string) => ({ apiVersion: owner.group === '' ? 'v1' : `${owner.group}/v1`, kind, name: 'owner', uid: 'o-1', controller: true });
      const make = (ownerKind: string, operation: Operation): AdmissionRequest => {
        const obj: KubeObject = { apiVersion: 'v1', kind: 'Derived', metadata: { name: 'derived-1', namespace: 'prod', ownerReferences: [ref(ownerKind)] } };
        return {
          uid: 'c0ffee00-0000-4000-8000-000000000002',
          kind: { group: grant.group, version: 'v1', kind: 'Derived' },
          resource: { group: grant.group, version: 'v1', resource: grant.resource },
          name: 'derived-1',
          namespace: 'prod',
          operation,
          userInfo: { username: controller.serviceAccount, groups: ['system:serviceaccounts', 'system:authenticated'] },
          object: operation === 'DELETE' ? null : obj,
          oldObject: operation === 'CREATE' ? null : obj,
          dryRun: false,
        };
      };
      for (const operation of ['CREATE', 'DELETE'] as const) {
        out.push({
          name: `${controller.name} ${operation} of ${grant.resource} a ${owner.kind} controls`,
          request: make(owner.kind, operation),
          want: 'allow',
        });
        out.push({
          name: `${controller.name} ${operation} of ${grant.resource} a ConfigMap "controls" (refused)`,
          request: make('ConfigMap', operation),
          want: 'deny',
        });
      }
    }
  }
  return out;
}

describe("decide() and Kubernetes' own controllers", () => {
  for (const c of ownedCases()) {
    it(c.name, () => {
      expect(decide(c.request, GUARD_ALL, NOW).kind).toBe(c.want);
    });
  }

  it('guards every kind in the GUARD_ALL policy', () => {
    expect(GUARD_ALL.resources).toEqual([{ apiGroups: ['*'], resources: ['*', '*/status'] }]);
  });

  for (const c of cases) {
    it(c.name, () => {
      const got = decide(request(c.req), c.policy ?? POLICY, NOW, undefined, c.namespace);
      expect(got.kind).toBe(c.want.kind);
      expect(got.kind === 'bypass' ? 'bypass' : got.code).toBe(c.want.code);
      // Without the Namespace, the admission path is asked to look it up exactly when the want says so.
      const asked = c.namespace === undefined ? decideOrAsk(request(c.req), c.policy ?? POLICY, NOW) : undefined;
      const needsNamespace = asked?.kind === 'needs-object' && asked.what === 'namespace' ? asked.ref.name : undefined;
      if (got.kind === 'deny') {
        expect(needsNamespace).toBe(c.want.needsNamespace);
        if (c.want.messageContains !== undefined) expect(got.message).toContain(c.want.messageContains);
        expect(got.message).not.toContain('(unnamed)');
      }
    });
  }
});
