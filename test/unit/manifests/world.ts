/**
 * The world of the differential test: policies, requesters, objects and their edits, from which
 * fast-check draws requests the apiserver may send. Edits cover what decide() and the rendered
 * CEL read differently on purpose: runtime fields, status, window annotations, empty versus
 * absent maps, values changing type, keys inside lists, delegated paths and their neighbours.
 */
import fc from 'fast-check';
import type { KubeObject } from '../../../src/admission/types.js';
import { getAt, parsePointer } from '../../../src/decision/pointer.js';
import { isRecord } from '../../../src/decision/normalize.js';
import { parsePolicy, type GuardPolicy } from '../../../src/policy/index.js';

export const NOW = new Date('2026-11-24T03:00:00Z');

const ARGO = 'system:serviceaccount:argocd:argocd-application-controller';
const FLUX_GROUP = 'system:serviceaccounts:flux-system';
const HPA = 'system:serviceaccount:kube-system:horizontal-pod-autoscaler';
const DEPLOYMENT_CONTROLLER = 'system:serviceaccount:kube-system:deployment-controller';

/** The policies the requests are decided against (and the webhooks rendered from). */
export function worldPolicies(): Record<string, GuardPolicy> {
  const common = {
    gitopsWriters: { users: [ARGO], groups: [FLUX_GROUP] },
    breakGlass: { users: ['carol@example.com'], groups: ['oncall'], maxDuration: '4h', incidentPattern: '^INC-[0-9]+$', minReasonLength: 10 },
  };
  const shared = {
    namespaces: ['prod', 'payments-*'],
    resources: [
      { apiGroups: ['apps'], resources: ['deployments', 'deployments/scale', 'deployments/status', 'statefulsets'] },
      { apiGroups: [''], resources: ['configmaps', 'secrets', 'namespaces', 'pods/exec'] },
    ],
    delegations: [
      { users: [HPA], paths: ['/spec/replicas'] },
      { users: [DEPLOYMENT_CONTROLLER], paths: ['/metadata/annotations/deployment.kubernetes.io~1revision'] },
      { groups: ['system:authenticated'], paths: ['/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt'] },
    ],
    ...common,
  };
  // Delegations as wide and as odd as the schema allows: whole maps, a list element,
  // a key with "/" in it, driftgate's own annotations.
  const wide = {
    namespaces: ['*'],
    resources: [{ apiGroups: ['*'], resources: ['*', '*/scale', '*/status', 'pods/exec'] }],
    delegations: [
      { users: ['meta-owner'], paths: ['/metadata'] },
      { users: ['annotations-owner'], paths: ['/metadata/annotations'] },
      { users: ['window-owner'], paths: ['/metadata/annotations/driftgate.dev~1break-glass-until', '/metadata/annotations/driftgate.dev~1break-glass-for'] },
      { users: ['spec-owner'], groups: ['spec-owners'], paths: ['/spec'] },
      { users: ['flags-owner'], paths: ['/data/flags.json', '/data/a~1b'] },
      { users: ['image-owner'], paths: ['/spec/template/spec/containers/0/image'] },
      { groups: ['scalers'], paths: ['/spec/replicas', '/status'] },
      { users: ['labels-owner'], paths: ['/metadata/labels'] },
    ],
    ...common,
  };
  const parse = (name: string, spec: object, mode: 'enforce' | 'warn' = 'enforce') =>
    parsePolicy({ apiVersion: 'driftgate.dev/v1alpha1', kind: 'GuardPolicy', metadata: { name }, spec: { mode, ...spec } });
  return { shared: parse('shared', shared), wide: parse('wide', wide), warn: parse('warn', shared, 'warn') };
}

/** A requester: username and groups (absent groups are possible: the apiserver omits an empty list). */
export interface Requester {
  username: string;
  groups?: string[];
}

export const REQUESTERS: readonly Requester[] = [
  { username: ARGO, groups: ['system:serviceaccounts', 'system:serviceaccounts:argocd', 'system:authenticated'] },
  { username: 'system:serviceaccount:flux-system:kustomize-controller', groups: ['system:serviceaccounts', FLUX_GROUP, 'system:authenticated'] },
  { username: HPA, groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
  { username: DEPLOYMENT_CONTROLLER, groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
  { username: 'alice@example.com', groups: ['developers', 'system:authenticated'] },
  { username: 'carol@example.com', groups: ['system:authenticated'] },
  { username: 'dave@example.com', groups: ['oncall', 'system:authenticated'] },
  { username: 'nobody' },
  { username: 'meta-owner' },
  { username: 'annotations-owner' },
  { username: 'window-owner' },
  { username: 'spec-owner' },
  { username: 'eve', groups: ['spec-owners'] },
  { username: 'flags-owner' },
  { username: 'image-owner' },
  { username: 'sam', groups: ['scalers'] },
  { username: 'labels-owner', groups: [] },
  // Kubernetes' own controllers, under their ServiceAccounts and the shared identity.
  { username: 'system:serviceaccount:kube-system:generic-garbage-collector', groups: ['system:serviceaccounts', 'system:authenticated'] },
  { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
  { username: 'system:serviceaccount:kube-system:root-ca-cert-publisher', groups: ['system:serviceaccounts', 'system:authenticated'] },
  { username: 'system:serviceaccount:kube-system:namespace-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
  { username: 'system:kube-controller-manager', groups: ['system:authenticated'] },
];

/** What is written: the resource, its kind and a base object of that kind. */
interface Target {
  group: string;
  version: string;
  resource: string;
  subResource: string;
  kind: { group: string; version: string; kind: string };
  namespaced: boolean;
  base: () => KubeObject;
  operations: readonly string[];
}

function deployment(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'prod',
      uid: 'u-1',
      resourceVersion: '10',
      generation: 3,
      creationTimestamp: '2026-04-26T08:10:00Z',
      labels: { app: 'web' },
      annotations: { 'deployment.kubernetes.io/revision': '4' },
      managedFields: [{ manager: 'argocd', operation: 'Apply', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }],
    },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' }, annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-24T02:00:00Z' } },
        spec: { containers: [{ name: 'app', image: 'web:1', resources: { limits: { memory: '512Mi' } } }] },
      },
    },
    status: { replicas: 3, observedGeneration: 3 },
  };
}

function scale(): KubeObject {
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: { name: 'web', namespace: 'prod', uid: 'u-1', resourceVersion: '10', creationTimestamp: '2026-04-26T08:10:00Z' },
    spec: { replicas: 3 },
    status: { replicas: 3, selector: 'app=web' },
  };
}

function configMap(): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'flags', namespace: 'prod', uid: 'u-2', resourceVersion: '7', annotations: { team: 'checkout' } },
    data: { 'flags.json': '{"a":true}', 'a/b': 'x', other: 'y' },
  };
}

function namespaceObject(): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'prod', resourceVersion: '2', labels: { 'kubernetes.io/metadata.name': 'prod', team: 'a' } },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  };
}

const DEPLOYMENT_OWNER = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-1', controller: true, blockOwnerDeletion: true };
const REPLICASET_OWNER = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1', uid: 'r-1', controller: true };

function replicaSet(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: 'web-1',
      namespace: 'prod',
      resourceVersion: '3',
      ownerReferences: [DEPLOYMENT_OWNER],
      annotations: { 'deployment.kubernetes.io/revision': '1' },
    },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'web:1' }] } },
    },
  };
}

function pod(): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1-x', namespace: 'prod', resourceVersion: '4', ownerReferences: [REPLICASET_OWNER] },
    spec: { containers: [{ name: 'app', image: 'web:1' }] },
  };
}

function widget(): KubeObject {
  return {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w', namespace: 'prod', resourceVersion: '5' },
    spec: { replicas: 1, size: 'L', items: [{ name: 'a' }] },
    status: { ok: true },
  };
}

function execOptions(): KubeObject {
  return { apiVersion: 'v1', kind: 'PodExecOptions', stdin: true, tty: true, container: 'app', command: ['sh'] };
}

export const TARGETS: readonly Target[] = [
  {
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    subResource: '',
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    namespaced: true,
    base: deployment,
    operations: ['CREATE', 'UPDATE', 'DELETE'],
  },
  {
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    subResource: 'status',
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    namespaced: true,
    base: deployment,
    operations: ['UPDATE'],
  },
  {
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    subResource: 'scale',
    kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
    namespaced: true,
    base: scale,
    operations: ['UPDATE'],
  },
  {
    group: '',
    version: 'v1',
    resource: 'configmaps',
    subResource: '',
    kind: { group: '', version: 'v1', kind: 'ConfigMap' },
    namespaced: true,
    base: configMap,
    operations: ['CREATE', 'UPDATE', 'DELETE'],
  },
  {
    group: '',
    version: 'v1',
    resource: 'namespaces',
    subResource: '',
    kind: { group: '', version: 'v1', kind: 'Namespace' },
    namespaced: false,
    base: namespaceObject,
    operations: ['CREATE', 'UPDATE', 'DELETE'],
  },
  {
    group: 'example.com',
    version: 'v1',
    resource: 'widgets',
    subResource: '',
    kind: { group: 'example.com', version: 'v1', kind: 'Widget' },
    namespaced: true,
    base: widget,
    operations: ['CREATE', 'UPDATE', 'DELETE'],
  },
  {
    group: 'example.com',
    version: 'v1',
    resource: 'widgets',
    subResource: 'status',
    kind: { group: 'example.com', version: 'v1', kind: 'Widget' },
    namespaced: true,
    base: widget,
    operations: ['UPDATE'],
  },
  {
    group: 'apps',
    version: 'v1',
    resource: 'replicasets',
    subResource: '',
    kind: { group: 'apps', version: 'v1', kind: 'ReplicaSet' },
    namespaced: true,
    base: replicaSet,
    operations: ['CREATE', 'UPDATE', 'DELETE'],
  },
  {
    group: '',
    version: 'v1',
    resource: 'pods',
    subResource: '',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    namespaced: true,
    base: pod,
    operations: ['CREATE', 'UPDATE', 'DELETE'],
  },
  {
    group: '',
    version: 'v1',
    resource: 'pods',
    subResource: 'exec',
    kind: { group: '', version: 'v1', kind: 'PodExecOptions' },
    namespaced: true,
    base: execOptions,
    operations: ['CONNECT'],
  },
];

/** The fields edits touch: delegated ones, their neighbours, runtime ones, windows, oddities. */
const POINTERS = [
  '/spec/replicas',
  '/spec/replicas/x',
  '/spec/template/spec/containers/0/image',
  '/spec/template/spec/containers/0/resources/limits/memory',
  '/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt',
  '/spec/template/metadata/annotations',
  '/spec/template',
  '/spec',
  '/spec/size',
  '/spec/items/0/name',
  '/metadata/annotations/deployment.kubernetes.io~1revision',
  '/metadata/annotations/driftgate.dev~1break-glass-for',
  '/metadata/annotations/driftgate.dev~1break-glass-until',
  '/metadata/annotations/driftgate.dev~1break-glass-reason',
  '/metadata/annotations/driftgate.dev~1break-glass-incident',
  '/metadata/annotations/driftgate.dev~1backport-ticket',
  '/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration',
  '/metadata/annotations/team',
  '/metadata/annotations',
  '/metadata/labels',
  '/metadata/labels/app',
  '/metadata/resourceVersion',
  '/metadata/generation',
  '/metadata/managedFields',
  '/metadata/deletionTimestamp',
  '/metadata/finalizers',
  '/metadata/finalizers/0',
  '/metadata/name',
  '/metadata/ownerReferences',
  '/metadata',
  '/status',
  '/status/replicas',
  '/data/flags.json',
  '/data/a~1b',
  '/data/other',
  '/data',
  '/extra',
  '/command/0',
];

/** Values only some fields take, so that they are drawn often enough to matter there. */
const FIELD_VALUES: Record<string, readonly unknown[]> = {
  '/metadata/finalizers': [['foregroundDeletion'], ['orphan', 'example.com/keep'], ['example.com/keep'], ['foregroundDeletion', 'orphan'], []],
  '/metadata/ownerReferences': [
    [DEPLOYMENT_OWNER],
    [REPLICASET_OWNER],
    [{ ...DEPLOYMENT_OWNER, controller: false }],
    [DEPLOYMENT_OWNER, REPLICASET_OWNER],
    [{ ...DEPLOYMENT_OWNER, blockOwnerDeletion: false }],
    // Owners of other kinds, and kinds spelled so that pluralizing them is a trap.
    [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'c', uid: 'c-1' }],
    [{ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', name: 'n', uid: 'n-1' }],
    [{ apiVersion: 'apps/v1', kind: 'deployment', name: 'd', uid: 'd-2' }],
    [{ apiVersion: 'apps/v1', kind: 'DeploymentÜ', name: 'd', uid: 'd-3' }],
    [{ apiVersion: 'apps/v1/x', kind: 'StatefulSet', name: 's', uid: 's-1' }],
    [{ apiVersion: 'v1', kind: 'Namespaces', name: 'n', uid: 'n-2' }],
    [],
    ['x'],
  ],
  '/metadata/deletionTimestamp': ['2026-11-24T02:59:00Z', ''],
  '/metadata/name': ['kube-root-ca.crt', 'web', ''],
};

const WINDOW_VALUES = ['2026-11-24T04:00:00Z', '2026-11-24T02:00:00Z', '30m', '9h', 'x', 'checkout OOMKilled under load', 'INC-42', 'urgent', ''];
const VALUES: readonly unknown[] = [
  0,
  1,
  3,
  3.5,
  -1,
  '3',
  'web:2',
  '',
  'x',
  null,
  true,
  {},
  [],
  { a: 1 },
  [1],
  { replicas: 3 },
  ['a'],
  '1Gi',
  ...WINDOW_VALUES,
];

/** One edit of an object: set or remove the value at a pointer, on the old side, the new side or both. */
export interface Edit {
  side: 'old' | 'new' | 'both';
  pointer: string;
  value: unknown; // undefined removes
}

const STRING_VALUES = VALUES.filter((v) => typeof v === 'string');

export const editArb: fc.Arbitrary<Edit> = fc
  .record({ side: fc.constantFrom<Edit['side']>('old', 'new', 'new', 'both'), pointer: fc.constantFrom(...POINTERS), pick: fc.nat(), remove: fc.nat(5) })
  .map(({ side, pointer, pick, remove }) => {
    // Annotations and labels hold strings (the apiserver refuses anything else before admission);
    // some fields draw mostly from their own values.
    const own = FIELD_VALUES[pointer];
    const pool = own !== undefined && pick % 4 !== 0 ? own : /^\/metadata\/(annotations|labels)\//.test(pointer) ? STRING_VALUES : VALUES;
    return { side, pointer, value: remove === 0 ? undefined : pool[pick % pool.length] };
  });

/** setAt writes (or removes, for undefined) the value at the pointer, creating maps on the way. */
export function setAt(obj: KubeObject, pointer: string, value: unknown): void {
  const tokens = parsePointer(pointer);
  let here: unknown = obj;
  for (let i = 0; i < tokens.length - 1; i++) {
    const token = tokens[i] as string;
    if (Array.isArray(here)) {
      const index = Number(token);
      if (!Number.isInteger(index) || index < 0 || index >= here.length) return;
      here = here[index];
      continue;
    }
    if (!isRecord(here)) return;
    if (!isRecord(here[token]) && !Array.isArray(here[token])) {
      if (value === undefined) return;
      here[token] = {};
    }
    here = here[token];
  }
  const last = tokens[tokens.length - 1];
  if (last === undefined) return;
  if (Array.isArray(here)) {
    const index = Number(last);
    if (Number.isInteger(index) && index >= 0 && index < here.length && value !== undefined) here[index] = structuredClone(value);
    return;
  }
  if (!isRecord(here)) return;
  if (value === undefined) delete here[last];
  else here[last] = structuredClone(value);
}

export { getAt };

/** GeneratedRequest is one drawn request plus the policy it is decided against. */
export interface GeneratedRequest {
  policy: string;
  request: Record<string, unknown>;
}

export function requestArb(policies: readonly string[]): fc.Arbitrary<GeneratedRequest> {
  return fc
    .record({
      policy: fc.constantFrom(...policies),
      target: fc.constantFrom(...TARGETS),
      requester: fc.constantFrom(...REQUESTERS),
      namespace: fc.constantFrom('prod', 'payments-eu', 'dev'),
      operationPick: fc.nat(),
      edits: fc.array(editArb, { maxLength: 3 }),
      name: fc.constantFrom('web', 'web', 'web', 'kube-root-ca.crt', ''),
      dryRun: fc.boolean(),
    })
    .map(({ policy, target, requester, namespace, operationPick, edits, name, dryRun }) => {
      const operation = target.operations[operationPick % target.operations.length] as string;
      const oldObject = target.base();
      const object = target.base();
      for (const o of [oldObject, object]) if (isRecord(o['metadata']) && target.namespaced) o['metadata']['namespace'] = namespace;
      if (!target.namespaced) for (const o of [oldObject, object]) if (isRecord(o['metadata'])) o['metadata']['name'] = namespace;
      for (const edit of edits) {
        if (edit.side !== 'new') setAt(oldObject, edit.pointer, edit.value);
        if (edit.side !== 'old') setAt(object, edit.pointer, edit.value);
      }
      const request: Record<string, unknown> = {
        uid: 'generated',
        kind: target.kind,
        resource: { group: target.group, version: target.version, resource: target.resource },
        ...(target.subResource === '' ? {} : { subResource: target.subResource }),
        requestKind: target.kind,
        requestResource: { group: target.group, version: target.version, resource: target.resource },
        ...(target.namespaced ? (name === '' ? {} : { name }) : { name: namespace }),
        ...(target.namespaced ? { namespace } : {}),
        operation,
        userInfo: { username: requester.username, ...(requester.groups === undefined ? {} : { groups: requester.groups }) },
        object: operation === 'DELETE' ? null : object,
        oldObject: operation === 'CREATE' || operation === 'CONNECT' ? null : oldObject,
        dryRun,
      };
      return { policy, request };
    });
}
