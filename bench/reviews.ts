/**
 * The AdmissionReviews the bench sends, as compact JSON (what the kube-apiserver sends):
 *
 * - 10 KB: the Deployment UPDATEs of test/unit/decision/testdata (a developer's memory-limit
 *   change: deny; `kubectl rollout restart`: delegated allow; a responder under a valid
 *   break-glass window: bypass), with both objects filled out identically to production size
 *   (managedFields, probes, env, volumes, status), so the decision is the fixture's.
 * - 1 MiB: a ConfigMap of 60 config files (~8.5 KiB each) UPDATE: a developer editing one file
 *   (deny), the feature-flag controller writing flags.json (delegated by bench/policy.yaml), a
 *   responder editing a file under a window (bypass).
 *
 * Bodies are templates for load.ts: `@@UID@@` becomes a distinct uid per request, `@@UNTIL@@`
 * the window's end (moved on every few requests, so bypasses spread over small tickets).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import jsonpatch, { type Operation } from 'fast-json-patch';
import { join } from 'node:path';

/** Size names the two review sizes. */
export type Size = '10k' | '1m';
/** Path names the three decision paths. */
export type DecisionPath = 'deny' | 'allow' | 'bypass';

/** BodyFiles maps each size and path to its template file and its size in bytes. */
export type BodyFiles = Record<Size, Record<DecisionPath, { file: string; bytes: number }>>;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const FIXTURES: Record<DecisionPath, string> = {
  deny: 'human-memory-limit',
  allow: 'rollout-restart',
  bypass: 'break-glass-valid',
};

const RESPONDER = { username: 'dave@example.com', groups: ['oncall', 'system:authenticated'] };
const DEVELOPER = { username: 'alice@example.com', groups: ['developers', 'system:authenticated'] };
/** The controller bench/policy.yaml delegates /data/flags.json to. */
export const FLAG_CONTROLLER = {
  username: 'system:serviceaccount:flags:flag-controller',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:flags', 'system:authenticated'],
};

/** writeReviewBodies writes the six body templates into `dir` and returns where they are. */
export function writeReviewBodies(root: string, dir: string): BodyFiles {
  const out = {} as BodyFiles;
  for (const size of ['10k', '1m'] as const) {
    out[size] = {} as BodyFiles[Size];
    for (const path of ['deny', 'allow', 'bypass'] as const) {
      const review = size === '10k' ? deploymentReview(root, path) : configMapReview(path);
      const text = JSON.stringify(review).replace(/"@@UNTIL_PLACEHOLDER@@"/g, '"@@UNTIL@@"');
      const file = join(dir, `${size}-${path}.json`);
      writeFileSync(file, text);
      out[size][path] = { file, bytes: Buffer.byteLength(text) };
    }
  }
  return out;
}

/** deploymentObject returns the filled-out Deployment of the fixtures, named `name`, ready to create. */
export function deploymentObject(root: string, name: string, namespace: string): JsonObject {
  const review = fixture(root, 'deny');
  const request = review['request'] as JsonObject;
  const object = structuredClone(request['oldObject']) as JsonObject;
  enrichDeployment(object);
  const metadata = object['metadata'] as JsonObject;
  for (const field of ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields']) delete metadata[field];
  metadata['name'] = name;
  metadata['namespace'] = namespace;
  delete object['status'];
  return object;
}

/** fixture reads a decide() case in either of its forms (see test/helpers/fixture-review.ts, which bench cannot import). */
function fixture(root: string, path: DecisionPath): JsonObject {
  const testdata = join(root, 'test/unit/decision/testdata');
  const full = join(testdata, FIXTURES[path], 'request.json');
  if (existsSync(full)) return JSON.parse(readFileSync(full, 'utf8')) as JsonObject;
  const base = JSON.parse(readFileSync(join(testdata, 'base-request.json'), 'utf8')) as JsonObject;
  const ops = JSON.parse(readFileSync(join(testdata, FIXTURES[path], 'request.patch.json'), 'utf8')) as Operation[];
  return jsonpatch.applyPatch(base, ops, true).newDocument;
}

function deploymentReview(root: string, path: DecisionPath): JsonObject {
  const review = fixture(root, path);
  const request = review['request'] as JsonObject;
  request['uid'] = '@@UID@@';
  for (const side of ['object', 'oldObject']) {
    const object = request[side] as JsonObject;
    enrichDeployment(object);
    if (path === 'bypass') {
      const annotations = (object['metadata'] as JsonObject)['annotations'] as JsonObject;
      annotations['driftgate.dev/break-glass-until'] = '@@UNTIL_PLACEHOLDER@@';
    }
  }
  return review;
}

/** Fills a fixture Deployment out the way a production one looks; the same on both sides of a review. */
function enrichDeployment(object: JsonObject): void {
  const metadata = object['metadata'] as JsonObject;
  metadata['labels'] = {
    ...(metadata['labels'] as JsonObject),
    'app.kubernetes.io/name': 'checkout-api',
    'app.kubernetes.io/part-of': 'checkout',
    'app.kubernetes.io/version': 'v1.2.3',
    'app.kubernetes.io/managed-by': 'argocd',
  };
  const spec = object['spec'] as JsonObject;
  const podSpec = (spec['template'] as JsonObject)['spec'] as JsonObject;
  const containers = podSpec['containers'] as JsonObject[];
  const app = containers[0] as JsonObject;
  app['env'] = [
    ...(app['env'] as Json[]),
    ...['DB_HOST', 'CACHE_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'PAYMENTS_API'].map((name, i) => ({
      name,
      value: `${name.toLowerCase().replaceAll('_', '-')}.checkout.svc.cluster.local:${5432 + i}`,
    })),
    { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'checkout-db', key: 'password' } } },
    { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
  ];
  const probe = (path: string): JsonObject => ({
    httpGet: { path, port: 8080, scheme: 'HTTP' },
    initialDelaySeconds: 5,
    periodSeconds: 10,
    timeoutSeconds: 1,
    successThreshold: 1,
    failureThreshold: 3,
  });
  app['readinessProbe'] = probe('/readyz');
  app['livenessProbe'] = probe('/healthz');
  app['volumeMounts'] = [{ name: 'config', mountPath: '/etc/checkout', readOnly: true }];
  podSpec['volumes'] = [{ name: 'config', configMap: { name: 'checkout-config', defaultMode: 420 } }];
  podSpec['serviceAccountName'] = 'checkout';
  if (Array.isArray(metadata['managedFields'])) {
    metadata['managedFields'] = [
      {
        manager: 'argocd-controller',
        operation: 'Apply',
        apiVersion: 'apps/v1',
        time: '2026-11-20T10:00:00Z',
        fieldsType: 'FieldsV1',
        fieldsV1: fieldsOf({ metadata: { labels: metadata['labels'] ?? {} }, spec }),
      },
      {
        manager: 'kube-controller-manager',
        operation: 'Update',
        apiVersion: 'apps/v1',
        time: '2026-11-20T10:00:00Z',
        fieldsType: 'FieldsV1',
        subresource: 'status',
        fieldsV1: fieldsOf({
          metadata: { annotations: { 'deployment.kubernetes.io/revision': '' } },
          status: { availableReplicas: 0, conditions: 0, observedGeneration: 0, readyReplicas: 0, replicas: 0, updatedReplicas: 0 },
        }),
      },
    ];
  }
  if (object['status'] === undefined && metadata['resourceVersion'] !== undefined) {
    object['status'] = {
      observedGeneration: 7,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      conditions: [
        {
          type: 'Available',
          status: 'True',
          lastUpdateTime: '2026-11-20T10:01:00Z',
          lastTransitionTime: '2026-11-20T10:01:00Z',
          reason: 'MinimumReplicasAvailable',
          message: 'Deployment has minimum availability.',
        },
        {
          type: 'Progressing',
          status: 'True',
          lastUpdateTime: '2026-11-20T10:01:00Z',
          lastTransitionTime: '2026-11-20T10:00:00Z',
          reason: 'NewReplicaSetAvailable',
          message: 'ReplicaSet "checkout-api-7d9c6b5f4" has successfully progressed.',
        },
      ],
    };
  }
}

/** fieldsOf returns a FieldsV1 set naming every field of `value`, as server-side apply records it. */
function fieldsOf(value: Json): JsonObject {
  if (Array.isArray(value)) {
    const out: JsonObject = {};
    value.forEach((item, i) => {
      const key =
        item !== null && typeof item === 'object' && !Array.isArray(item) && typeof item['name'] === 'string' ? `k:{"name":"${item['name']}"}` : `i:${i}`;
      out[key] = { '.': {}, ...fieldsOf(item) };
    });
    return out;
  }
  if (value === null || typeof value !== 'object') return {};
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) out[`f:${key}`] = fieldsOf(v);
  return out;
}

const FILES = 60;
const LINES_PER_FILE = 250;

/** A config file of ~8.5 KiB: deterministic, so every run sends the same bytes. */
function configFile(n: number, edited: boolean): string {
  const lines = [`# service-${n} configuration, rendered from Git by the config pipeline`];
  for (let i = 0; i < LINES_PER_FILE; i++) {
    const value = edited && i === 75 ? 'changed-live-by-hand' : `v${((n * 7919 + i * 104729) % 1000003).toString(36)}-${(i * 31 + n).toString(16)}`;
    lines.push(`section${Math.floor(i / 10)}.setting_${i.toString().padStart(3, '0')}: ${value}`);
  }
  return `${lines.join('\n')}\n`;
}

function configMap(path: DecisionPath, side: 'old' | 'new'): JsonObject {
  const edited = side === 'new';
  const data: JsonObject = {};
  for (let n = 0; n < FILES; n++) data[`service-${n.toString().padStart(2, '0')}.yaml`] = configFile(n, edited && path !== 'allow' && n === 7);
  data['flags.json'] = JSON.stringify({ checkoutV2: edited && path === 'allow', fraudScoring: true, rolloutPercent: edited && path === 'allow' ? 25 : 10 });
  const annotations: JsonObject = { 'argocd.argoproj.io/tracking-id': 'checkout:/ConfigMap:prod/checkout-config' };
  if (path === 'bypass') {
    annotations['driftgate.dev/break-glass-until'] = '@@UNTIL_PLACEHOLDER@@';
    annotations['driftgate.dev/break-glass-reason'] = 'checkout timeouts: raise the upstream timeout';
    annotations['driftgate.dev/break-glass-incident'] = 'INC-4712';
  }
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'checkout-config',
      namespace: 'prod',
      uid: '0b9f3c1e-4a7d-4c53-9d0e-7b1f2a6c8e41',
      resourceVersion: side === 'old' ? '912001' : '912001',
      creationTimestamp: '2026-04-26T08:10:00Z',
      labels: { app: 'checkout-api', 'app.kubernetes.io/instance': 'checkout' },
      annotations,
      managedFields: [
        {
          manager: 'argocd-controller',
          operation: 'Apply',
          apiVersion: 'v1',
          time: '2026-11-20T10:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: fieldsOf({ data: Object.fromEntries(Object.keys(data).map((k) => [k, ''])) }),
        },
      ],
    },
    data,
  };
}

function configMapReview(path: DecisionPath): JsonObject {
  const userInfo = path === 'deny' ? DEVELOPER : path === 'allow' ? FLAG_CONTROLLER : RESPONDER;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '@@UID@@',
      kind: { group: '', version: 'v1', kind: 'ConfigMap' },
      resource: { group: '', version: 'v1', resource: 'configmaps' },
      requestKind: { group: '', version: 'v1', kind: 'ConfigMap' },
      requestResource: { group: '', version: 'v1', resource: 'configmaps' },
      name: 'checkout-config',
      namespace: 'prod',
      operation: 'UPDATE',
      userInfo,
      object: configMap(path, 'new'),
      oldObject: configMap(path, 'old'),
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'UpdateOptions' },
    },
  };
}
