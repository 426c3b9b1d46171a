/**
 * Settlement against the real apiserver (issue 15, "Settled by what GitOps does"): a responder's
 * bypass under a break-glass window, then what GitOps does, and the ticket closing by itself.
 * - GitOps writes: a second `driftgate serve --settle` behind the `observe.driftgate.dev` entry
 *   `driftgate manifests --settle` renders (failurePolicy Ignore, 1 s), applied as its own
 *   configuration so that the suite's webhooks stay as they are; Argo CD's writes are `kubectl
 *   apply` as its ServiceAccount, which is what its default sync does (client-side apply, the
 *   last-applied annotation holding Git's manifest).
 * - Sync status: the real Application and Kustomization CRDs (test/fixtures/gitops-crds, from
 *   the tools' Go modules), status written as the controllers write it (Argo CD patches the
 *   Application itself, it has no status subresource; Flux's kustomize-controller patches
 *   kustomizations/status), and the same driftgate polling them (`--settle-from argocd,flux`).
 * No Argo CD or Flux controller runs: their writes are made here, as their ServiceAccounts.
 * Tickets are read as driftgate reads them: the fold of the create-only objects labelled with the
 * ticket id (a closure, an override, a finding each its own object).
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../src/cli/kubeconfig.js';
import { createKubeClient } from '../../src/kube/client.js';
import { KubernetesStore, TICKET_LABEL } from '../../src/tickets/kubernetes.js';
import type { Ticket } from '../../src/tickets/types.js';
import {
  ADMIN,
  ARGOCD,
  FLUX,
  RESPONDER,
  cluster,
  createDeployment,
  deploymentManifest,
  driftgate,
  getJson,
  kubectl,
  serveDriftgate,
  sleep,
} from './cluster.js';

const ROOT = join(import.meta.dirname, '../..');
const CRDS = join(ROOT, 'test/fixtures/gitops-crds');
const OBSERVE_CONFIG = 'driftgate-settlement-e2e';

/** What the BackportTicket objects of a ticket record, one fact each. */
interface FactObject {
  metadata: { name: string };
  spec: { event: string; covers?: number; resolution?: Record<string, unknown>; settlement?: Record<string, unknown> };
}

let settler: { child: ChildProcess; port: number } | undefined;

const MEMORY = '/spec/template/spec/containers/0/resources/limits/memory';

/** The manifest Git holds for the Deployment, with the memory limit it declares. */
function gitManifest(name: string, memory: string): string {
  const m = JSON.parse(deploymentManifest(name)) as { spec: { template: { spec: { containers: Array<{ resources: { limits: Record<string, string> } }> } } } };
  const container = m.spec.template.spec.containers[0];
  if (container !== undefined) container.resources.limits['memory'] = memory;
  return JSON.stringify(m);
}

/** A responder's bypass: a window on the object, then the memory limit raised; returns the ticket id. */
async function bypass(name: string, extra: string[][] = []): Promise<string> {
  const opened = await kubectl(RESPONDER, [
    '-n',
    'prod',
    'annotate',
    '--overwrite',
    `deployment/${name}`,
    'driftgate.dev/break-glass-for=30m',
    'driftgate.dev/break-glass-reason=checkout OOMKilled under load',
    'driftgate.dev/break-glass-incident=INC-5150',
  ]);
  expect(opened.code, opened.stderr).toBe(0);
  const fixed = await kubectl(RESPONDER, ['-n', 'prod', 'set', 'resources', `deployment/${name}`, '-c', 'app', '--limits=memory=2Gi']);
  expect(fixed.code, fixed.stderr).toBe(0);
  for (const args of extra) expect((await kubectl(RESPONDER, ['-n', 'prod', ...args])).code).toBe(0);
  const d = await getJson<{ metadata: { annotations?: Record<string, string> } }>(['-n', 'prod', 'deployment', name]);
  const id = d.metadata.annotations?.['driftgate.dev/backport-ticket'] ?? '';
  expect(id).not.toBe('');
  return id;
}

let reader: KubernetesStore | undefined;

/** ticket returns the ticket `id` folded from its objects, as `driftgate tickets show` reads it. */
async function ticket(id: string): Promise<Ticket> {
  reader ??= new KubernetesStore({ client: createKubeClient(await loadKubeConfig({ kubeconfig: cluster().kubeconfig })), namespace: 'driftgate-system' });
  return reader.get(id);
}

/** factsOf returns the objects of ticket `id` that record `event`. */
async function factsOf(id: string, event: string): Promise<FactObject[]> {
  return (await getJson<{ items: FactObject[] }>(['-n', 'driftgate-system', 'backporttickets', '-l', `${TICKET_LABEL}=${id},driftgate.dev/event=${event}`]))
    .items;
}

/** waitForTicket polls the ticket until `done` holds (settlement runs after the write was answered). */
async function waitForTicket(id: string, done: (t: Ticket) => boolean): Promise<Ticket> {
  for (let i = 0; i < 120; i++) {
    const t = await ticket(id);
    if (done(t)) return t;
    await sleep(250);
  }
  const last = await ticket(id);
  throw new Error(`ticket ${id} never reached the expected state: ${JSON.stringify(last.state)} ${JSON.stringify(last.settlement ?? {})}`);
}

async function applyJson(who: typeof ADMIN, object: unknown): Promise<void> {
  const r = await kubectl(who, ['apply', '-f', '-'], JSON.stringify(object));
  expect(r.code, r.stderr).toBe(0);
}

beforeAll(async () => {
  const c = cluster();
  for (const file of ['argocd-application-crd.yaml', 'flux-kustomization-crd.yaml']) {
    const r = await kubectl(ADMIN, ['apply', '--server-side', '-f', join(CRDS, file)]);
    expect(r.code, r.stderr).toBe(0);
  }
  for (const crd of ['applications.argoproj.io', 'kustomizations.kustomize.toolkit.fluxcd.io']) {
    expect((await kubectl(ADMIN, ['wait', '--for=condition=Established', '--timeout=60s', `crd/${crd}`])).code).toBe(0);
  }
  for (const ns of ['argocd', 'flux-system']) await kubectl(ADMIN, ['create', 'namespace', ns]);
  // What the chart grants driftgate with settlement.from set (charts/driftgate/templates/rbac-settlement.yaml).
  const rbac = await kubectl(ADMIN, ['apply', '-f', join(ROOT, 'test/e2e/settlement-rbac.yaml')]);
  expect(rbac.code, rbac.stderr).toBe(0);

  settler = await serveDriftgate(c.policy, 0, c.logFile, ['--settle', '--settle-from', 'argocd,flux', '--settle-delay', '300', '--settle-interval', '500']);
  const rendered = await driftgate([
    'manifests',
    '--policy',
    c.policy,
    '--url',
    `https://127.0.0.1:${settler.port}`,
    '--ca-bundle',
    c.caCert,
    '--settle',
    '-o',
    'json',
  ]);
  expect(rendered.code, rendered.stderr).toBe(0);
  const list = JSON.parse(rendered.stdout) as { items: Array<{ kind: string; webhooks: Array<{ name: string }> }> };
  const observe = list.items.find((i) => i.kind === 'ValidatingWebhookConfiguration')?.webhooks.find((w) => w.name === 'observe.driftgate.dev');
  expect(observe).toBeDefined();
  await applyJson(ADMIN, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: OBSERVE_CONFIG },
    webhooks: [observe],
  });
});

afterAll(async () => {
  await kubectl(ADMIN, ['delete', 'validatingwebhookconfiguration', OBSERVE_CONFIG, '--ignore-not-found']);
  if (settler !== undefined && settler.child.exitCode === null && settler.child.signalCode === null) {
    const gone = new Promise((r) => settler?.child.once('exit', r));
    settler.child.kill('SIGTERM');
    await gone;
  }
});

describe('settled by GitOps writes', () => {
  it('closes a ticket as backported when Argo CD applies Git carrying the same value, with the write as evidence', async () => {
    const name = await createDeployment('settle-carried');
    const id = await bypass(name);
    // Git caught up: the sync applies a manifest whose memory limit is the responder's.
    const synced = await kubectl(ARGOCD, ['apply', '-f', '-'], gitManifest(name, '2Gi'));
    expect(synced.code, synced.stderr).toBe(0);
    const t = await waitForTicket(id, (x) => x.state !== 'open');
    expect(t.state).toBe('backported');
    expect(t.resolution).toMatchObject({ decision: 'backport', closedBy: 'settlement', by: 'system:serviceaccount:argocd:argocd-application-controller' });
    const evidence = t.resolution?.evidence?.[0] as Record<string, unknown> | undefined;
    expect(evidence).toMatchObject({
      kind: 'gitops-write',
      username: 'system:serviceaccount:argocd:argocd-application-controller',
      carried: [MEMORY],
      undone: [],
    });
    expect(String(evidence?.['requestUid'])).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(String(evidence?.['at']))).toBeGreaterThan(0);

    // A person still has the last word: the override is recorded, settlement's closure kept.
    const k8s = ['--tickets', 'kubernetes:driftgate-system', '--kubeconfig', cluster().kubeconfig];
    const refused = await driftgate(['tickets', 'resolve', id, ...k8s, '--decision', 'revert', '--ref', 'INC-5150 review', '--by', 'carol@example.com']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('add --override');
    const overridden = await driftgate([
      'tickets',
      'resolve',
      id,
      ...k8s,
      '--decision',
      'revert',
      '--ref',
      'INC-5150 review',
      '--by',
      'carol@example.com',
      '--override',
    ]);
    expect(overridden.code, overridden.stderr).toBe(0);
    const after = await ticket(id);
    expect(after).toMatchObject({ state: 'reverted', resolution: { by: 'carol@example.com', closedBy: 'person', override: true } });
    expect(after.earlierResolutions?.[0]).toMatchObject({ closedBy: 'settlement', decision: 'backport' });
    // Each decision is its own object, created once: settlement's on the ticket's one change, the override beside it.
    const decisions = await factsOf(id, 'resolve');
    // (kubectl lists by name: the override, .o-, before the first decision, .r-.)
    expect(decisions.map((o) => [o.metadata.name, o.spec.covers, o.spec.resolution?.['closedBy'], o.spec.resolution?.['override']])).toEqual([
      [expect.stringMatching(new RegExp(`^${id}\\.o-1-[0-9a-f]{20}$`)), 1, 'person', true],
      [`${id}.r-1`, 1, 'settlement', undefined],
    ]);
    const shown = await driftgate(['tickets', 'show', id, ...k8s]);
    expect(shown.stdout).toContain('overriding the closure below');
    expect(shown.stdout).toContain('backport by settlement (system:serviceaccount:argocd:argocd-application-controller)');
  });

  it('closes a ticket as reverted when the sync puts the old value back', async () => {
    const name = await createDeployment('settle-undone');
    const id = await bypass(name);
    const synced = await kubectl(ARGOCD, ['apply', '-f', '-'], gitManifest(name, '512Mi'));
    expect(synced.code, synced.stderr).toBe(0);
    const live = await getJson<{ spec: { template: { spec: { containers: Array<{ resources: { limits: Record<string, string> } }> } } } }>([
      '-n',
      'prod',
      'deployment',
      name,
    ]);
    expect(live.spec.template.spec.containers[0]?.resources.limits['memory']).toBe('512Mi');
    const t = await waitForTicket(id, (x) => x.state !== 'open');
    expect(t.state).toBe('reverted');
    expect(t.resolution).toMatchObject({ decision: 'revert', closedBy: 'settlement' });
    expect(t.resolution?.evidence?.[0]).toMatchObject({ kind: 'gitops-write', carried: [], undone: [MEMORY] });
  });

  it('keeps a partly settled ticket open, naming the path Git has not declared', async () => {
    const name = await createDeployment('settle-partial');
    const id = await bypass(name, [['label', '--overwrite', `deployment/${name}`, 'hotfix=oom']]);
    // Git carries the memory limit but not the label; client-side apply leaves the label alone.
    const synced = await kubectl(ARGOCD, ['apply', '-f', '-'], gitManifest(name, '2Gi'));
    expect(synced.code, synced.stderr).toBe(0);
    const t = await waitForTicket(id, (x) => x.settlement !== undefined);
    expect(t.state).toBe('open');
    expect(t.settlement).toMatchObject({ carried: [MEMORY], undone: [], remaining: ['/metadata/labels/hotfix'] });
    expect(t.settlement?.evidence[0]).toMatchObject({ kind: 'gitops-write' });
    // The finding is its own object (event settle), the changes' objects untouched.
    const findings = await factsOf(id, 'settle');
    expect(findings.map((o) => o.spec.settlement)).toContainEqual(t.settlement);
    expect(findings.every((o) => o.metadata.name.startsWith(`${id}.s-`))).toBe(true);
    const shown = await driftgate(['tickets', 'show', id, '--tickets', 'kubernetes:driftgate-system', '--kubeconfig', cluster().kubeconfig]);
    expect(shown.stdout).toContain('Remaining:');
    expect(shown.stdout).toContain('/metadata/labels/hotfix');
  });
});

describe('settled by what Argo CD and Flux report (no write to observe)', () => {
  it('closes a ticket as backported when the owning Argo CD Application reports the object Synced after the change, and not one it reports OutOfSync', async () => {
    const name = await createDeployment('settle-argo');
    const id = await bypass(name);
    const drifted = await createDeployment('settle-argo-drift');
    const driftedId = await bypass(drifted);
    const app = `app-${name}`;
    await applyJson(ARGOCD, {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: app, namespace: 'argocd' },
      spec: {
        project: 'default',
        source: { repoURL: 'https://git.example.com/prod.git', path: 'checkout', targetRevision: 'main' },
        destination: { server: 'https://kubernetes.default.svc', namespace: 'prod' },
      },
    });
    // As the application controller writes it: a merge patch of the Application's status.
    const now = new Date().toISOString();
    const status = {
      status: {
        sync: {
          status: 'Synced',
          revision: '4f2c9a1e0b7d3c5a6e8f9b0a1c2d3e4f5a6b7c8d',
          comparedTo: {
            source: { repoURL: 'https://git.example.com/prod.git', path: 'checkout', targetRevision: 'main' },
            destination: { server: 'https://kubernetes.default.svc', namespace: 'prod' },
          },
        },
        health: { status: 'Healthy' },
        resources: [
          { group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'prod', name, status: 'Synced', health: { status: 'Healthy' } },
          { group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'prod', name: drifted, status: 'OutOfSync', health: { status: 'Healthy' } },
        ],
        reconciledAt: now,
        operationState: { phase: 'Succeeded', startedAt: now, finishedAt: now, operation: { sync: { revision: '4f2c9a1e0b7d3c5a6e8f9b0a1c2d3e4f5a6b7c8d' } } },
      },
    };
    const patched = await kubectl(ARGOCD, ['-n', 'argocd', 'patch', 'application', app, '--type=merge', '-p', JSON.stringify(status)]);
    expect(patched.code, patched.stderr).toBe(0);
    const t = await waitForTicket(id, (x) => x.state !== 'open');
    expect(t.state).toBe('backported');
    expect(t.resolution).toMatchObject({ closedBy: 'settlement', by: `argocd:argocd/${app}` });
    expect(t.resolution?.evidence?.[0]).toMatchObject({
      kind: 'sync-status',
      tool: 'argocd',
      namespace: 'argocd',
      name: app,
      revision: '4f2c9a1e0b7d3c5a6e8f9b0a1c2d3e4f5a6b7c8d',
      carried: [MEMORY],
    });
    // The same poll read the same Application: the object it reports OutOfSync keeps its ticket open.
    expect((await ticket(driftedId)).state).toBe('open');
    // The poll ran under the Lease that makes one replica the poller.
    const lease = await getJson<{ spec: { holderIdentity?: string; leaseDurationSeconds?: number } }>([
      '-n',
      'driftgate-system',
      'lease',
      'driftgate-settlement',
    ]);
    expect(lease.spec.holderIdentity).toMatch(/-\d+-[0-9a-f]{6}$/);
    expect(lease.spec.leaseDurationSeconds).toBe(15);
  });

  it('closes a ticket as backported when the Flux Kustomization holding the object in its inventory is Ready at a revision reconciled after the change, and not one outside its inventory', async () => {
    const name = await createDeployment('settle-flux');
    const id = await bypass(name);
    // Another bypassed object, not in this Kustomization's inventory: nothing says it is in sync.
    const outside = await createDeployment('settle-flux-out');
    const outsideId = await bypass(outside);
    const ks = `ks-${name}`;
    await applyJson(FLUX, {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: ks, namespace: 'flux-system' },
      spec: { interval: '10m', path: './checkout', prune: true, sourceRef: { kind: 'GitRepository', name: 'prod' } },
    });
    const now = new Date().toISOString();
    const revision = 'main@sha1:4f2c9a1e0b7d3c5a6e8f9b0a1c2d3e4f5a6b7c8d';
    // As kustomize-controller writes it: a patch of kustomizations/status.
    const status = {
      status: {
        observedGeneration: 1,
        lastAppliedRevision: revision,
        lastAttemptedRevision: revision,
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'ReconciliationSucceeded',
            message: `Applied revision: ${revision}`,
            lastTransitionTime: now,
            observedGeneration: 1,
          },
        ],
        inventory: { entries: [{ id: `prod_${name}_apps_Deployment`, v: 'v1' }] },
        history: [
          {
            digest: 'sha256:0d1f0c3b5a7e9c2b4d6f8a0c1e3f5a7b9d1e3f5a7c9e1b3d5f7a9c1e3b5d7f9a',
            firstReconciled: now,
            lastReconciled: now,
            lastReconciledDuration: '1.2s',
            lastReconciledStatus: 'ReconciliationSucceeded',
            totalReconciliations: 1,
            metadata: { revision },
          },
        ],
      },
    };
    const patched = await kubectl(FLUX, [
      '-n',
      'flux-system',
      'patch',
      'kustomization',
      ks,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify(status),
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    const t = await waitForTicket(id, (x) => x.state !== 'open');
    expect(t.state).toBe('backported');
    expect(t.resolution?.evidence?.[0]).toMatchObject({
      kind: 'sync-status',
      tool: 'flux',
      namespace: 'flux-system',
      name: ks,
      revision,
      carried: [MEMORY],
    });
    expect((await ticket(outsideId)).state).toBe('open');
  });
});

describe('observing never stands in the way', () => {
  it('lets GitOps writes to a stamped object through while the observing driftgate hangs, then while it is down', async () => {
    const name = await createDeployment('settle-down');
    await bypass(name);
    const child = settler?.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) throw new Error('the settling driftgate is not running');
    // Hung: the connection is accepted by the kernel and never answered; the apiserver gives up
    // after the entry's 1 s timeout and, failurePolicy Ignore, stores the write.
    child.kill('SIGSTOP');
    const whileHung = await kubectl(ARGOCD, ['apply', '-f', '-'], gitManifest(name, '1Gi'));
    expect(whileHung.code, whileHung.stderr).toBe(0);
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
    const whileDown = await kubectl(ARGOCD, ['apply', '-f', '-'], gitManifest(name, '3Gi'));
    expect(whileDown.code, whileDown.stderr).toBe(0);
    const live = await getJson<{ spec: { template: { spec: { containers: Array<{ resources: { limits: Record<string, string> } }> } } } }>([
      '-n',
      'prod',
      'deployment',
      name,
    ]);
    expect(live.spec.template.spec.containers[0]?.resources.limits['memory']).toBe('3Gi');
  });
});
