/**
 * The break-glass API calls over the real KubeClient, against a small HTTP server that answers as
 * a kube-apiserver would: discovery order, impersonation headers, and how a PATCH refusal is told
 * apart (driftgate's webhook, in its own words, versus Kubernetes RBAC).
 */
import { readFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterPolicy, discover, getObject, patchAnnotations, whoAmI } from '../../../src/breakglass/cluster.js';
import type { ApiResourceList } from '../../../src/breakglass/resolve-kind.js';
import type { ObjectRef } from '../../../src/decision/types.js';
import { type Impersonation, createKubeClient } from '../../../src/kube/client.js';

const lists = (JSON.parse(readFileSync(join(import.meta.dirname, 'testdata/discovery.json'), 'utf8')) as { lists: ApiResourceList[] }).lists;
const REF: ObjectRef = { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespace: 'prod', name: 'checkout-api' };
const DEPLOY_PATH = '/apis/apps/v1/namespaces/prod/deployments/checkout-api';
const WEBHOOK_DENIAL =
  'admission webhook "validate.driftgate.dev" denied the request: [driftgate/break-glass] deployments.apps/checkout-api in namespace prod carries a break-glass window, but dev@example.com may not use break-glass';

interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let port = 0;
const seen: Seen[] = [];
// What the "apiserver" answers for a method and path; anything else is a 404 Status.
const answers = new Map<string, [number, unknown]>();

function status(code: number, message: string): unknown {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code };
}

beforeAll(async () => {
  const [core, apps, events, rbac, driftgate] = lists;
  answers.set('GET /api/v1', [200, core]);
  answers.set('GET /apis', [
    200,
    {
      kind: 'APIGroupList',
      groups: [
        { name: 'apps', preferredVersion: { groupVersion: 'apps/v1', version: 'v1' } },
        { name: 'events.k8s.io', preferredVersion: { version: 'v1' } },
        { name: 'metrics.k8s.io', preferredVersion: { version: 'v1beta1' } },
        { name: 'rbac.authorization.k8s.io', preferredVersion: { version: 'v1' } },
        { name: 'driftgate.dev', preferredVersion: { version: 'v1alpha1' } },
      ],
    },
  ]);
  answers.set('GET /apis/apps/v1', [200, apps]);
  answers.set('GET /apis/events.k8s.io/v1', [200, events]);
  // An aggregated API that is down: skipped, as kubectl skips it.
  answers.set('GET /apis/metrics.k8s.io/v1beta1', [503, status(503, 'service unavailable')]);
  answers.set('GET /apis/rbac.authorization.k8s.io/v1', [200, rbac]);
  answers.set('GET /apis/driftgate.dev/v1alpha1', [200, driftgate]);
  answers.set('GET /apis/apps/v1beta2', [
    200,
    { groupVersion: 'apps/v1beta2', resources: [{ name: 'deployments', singularName: 'deployment', kind: 'Deployment', namespaced: true }] },
  ]);
  answers.set('POST /apis/authentication.k8s.io/v1/selfsubjectreviews', [
    201,
    { kind: 'SelfSubjectReview', status: { userInfo: { username: 'dave@example.com', groups: ['oncall', 'system:authenticated'] } } },
  ]);
  answers.set('GET /api/v1/namespaces/driftgate-system/configmaps/driftgate-policy', [
    403,
    status(
      403,
      'configmaps "driftgate-policy" is forbidden: User "dave@example.com" cannot get resource "configmaps" in API group "" in the namespace "driftgate-system"',
    ),
  ]);
  answers.set(`GET ${DEPLOY_PATH}`, [200, { metadata: { name: 'checkout-api', namespace: 'prod' } }]);

  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      seen.push({ method: req.method ?? '', path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const [code, body] = answers.get(`${req.method ?? ''} ${path}`) ?? [404, status(404, `${path} not found`)];
      res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function client(impersonate?: Impersonation): ReturnType<typeof createKubeClient> {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'not-a-secret' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return createKubeClient(kc, impersonate);
}

describe('discover', () => {
  it('lists core first, then the groups at their preferred versions in the order /apis gives, skipping one that is down', async () => {
    const resources = await discover(client(), 'deploy');
    const groups = [...new Set(resources.map((r) => r.group))];
    expect(groups).toEqual(['', 'apps', 'events.k8s.io', 'rbac.authorization.k8s.io', 'driftgate.dev']);
  });

  it('also lists a version named explicitly', async () => {
    const resources = await discover(client(), 'deployments.v1beta2.apps');
    expect(resources.filter((r) => r.resource === 'deployments').map((r) => r.version)).toEqual(['v1', 'v1beta2']);
  });
});

describe('impersonation and whoAmI', () => {
  it('sends Impersonate-User and one Impersonate-Group per group, and reads the SelfSubjectReview', async () => {
    seen.length = 0;
    expect(await whoAmI(client({ user: 'dave@example.com', groups: ['oncall', 'sre'] }))).toEqual({
      kind: 'user',
      user: { username: 'dave@example.com', groups: ['oncall', 'system:authenticated'] },
    });
    const [review] = seen;
    expect(review?.headers['impersonate-user']).toBe('dave@example.com');
    // Node joins repeated request headers with ", " on the server side.
    expect(review?.headers['impersonate-group']).toBe('oncall, sre');
    expect(JSON.parse(review?.body ?? '{}')).toEqual({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  });

  it('sends no impersonation headers by default', async () => {
    seen.length = 0;
    await whoAmI(client());
    expect(seen[0]?.headers['impersonate-user']).toBeUndefined();
  });
});

describe('clusterPolicy', () => {
  it('says why the ConfigMap could not be read', async () => {
    expect(await clusterPolicy(client())).toEqual({ kind: 'unknown', why: 'you may not read ConfigMap driftgate-system/driftgate-policy' });
  });
});

describe('getObject', () => {
  it('names a missing object and how to look for it', async () => {
    await expect(getObject(client(), { ...REF, name: 'nope' })).rejects.toThrow(
      'deployments.apps "nope" not found in namespace prod; check the name and namespace with: kubectl get deployments.apps -n prod',
    );
  });
});

describe('patchAnnotations', () => {
  const patch = { metadata: { annotations: { 'driftgate.dev/break-glass-until': '2026-11-24T03:30:00Z' } } };

  it('sends a merge patch', async () => {
    answers.set(`PATCH ${DEPLOY_PATH}`, [200, { metadata: { name: 'checkout-api' } }]);
    seen.length = 0;
    await patchAnnotations(client(), REF, patch, 'dave@example.com');
    expect(seen[0]?.headers['content-type']).toBe('application/merge-patch+json');
    expect(JSON.parse(seen[0]?.body ?? '{}')).toEqual(patch);
  });

  it("passes driftgate's own refusal on as the apiserver worded it", async () => {
    answers.set(`PATCH ${DEPLOY_PATH}`, [403, status(403, `${WEBHOOK_DENIAL}\nRefused: opening a break-glass window.`)]);
    await expect(patchAnnotations(client(), REF, patch, 'dev@example.com')).rejects.toThrow(
      new RegExp(`^${WEBHOOK_DENIAL.replace(/[[\]().]/g, '\\$&')}\nRefused: opening a break-glass window\\.$`),
    );
  });

  it('passes on a ticket store failure (503) in its own words too', async () => {
    answers.set(`PATCH ${DEPLOY_PATH}`, [503, status(503, '[driftgate/ticket] the change could not be recorded')]);
    await expect(patchAnnotations(client(), REF, patch, 'dave@example.com')).rejects.toThrow(/^\[driftgate\/ticket\] the change could not be recorded$/);
  });

  it('says an RBAC refusal is RBAC, and what to ask for', async () => {
    const rbac =
      'deployments.apps "checkout-api" is forbidden: User "dave@example.com" cannot patch resource "deployments" in API group "apps" in the namespace "prod"';
    answers.set(`PATCH ${DEPLOY_PATH}`, [403, status(403, rbac)]);
    await expect(patchAnnotations(client(), REF, patch, 'dave@example.com')).rejects.toThrow(
      `dave@example.com may not patch deployments.apps in namespace prod: Kubernetes RBAC refused it, not driftgate (${rbac}); ask a cluster admin for a Role with patch on deployments.apps there`,
    );
  });
});
