/**
 * Settlement's moving parts around the pure judgement: the write observer (queued after the
 * answer, judged on the object read back, failures counted and never thrown), the Argo CD and
 * Flux status readers (both ways: in sync after the change, and every reason not to settle), and
 * the /observe route, which answers "allowed" to anything, at once.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AdmissionRequest, KubeObject } from '../../../src/admission/types.js';
import { createAdmitter } from '../../../src/admission/admit.js';
import { createWriteObserver, type WriteObserver } from '../../../src/controller/observe-writes.js';
import { argoEvidence, fluxEvidence } from '../../../src/controller/sync-status.js';
import { parsePolicy } from '../../../src/policy/index.js';
import { createApp } from '../../../src/server/app.js';
import { createLogger } from '../../../src/server/logger.js';
import { createMetrics } from '../../../src/server/metrics.js';
import { JournalStore } from '../../../src/tickets/journal.js';
import { LAST_APPLIED } from '../../../src/tickets/git-declaration.js';
import { openTicket } from '../../../src/tickets/fold.js';
import { LogSink } from '../../helpers/webhook.js';
import { draft } from '../tickets/drafts.js';

const ARGO = 'system:serviceaccount:argocd:argocd-application-controller';
const policy = parsePolicy({
  apiVersion: 'driftgate.dev/v1alpha1',
  kind: 'GuardPolicy',
  metadata: { name: 'p' },
  spec: {
    namespaces: ['shop'],
    resources: [{ apiGroups: ['apps'], resources: ['deployments'] }],
    gitopsWriters: { users: [ARGO], groups: [] },
    breakGlass: { users: [], groups: ['oncall'], maxDuration: '4h', incidentPattern: '^INC-[0-9]+$', minReasonLength: 5 },
  },
});

function live(replicas: number, labels: Record<string, string> | undefined, manifest: unknown): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'shop',
      ...(labels ? { labels } : {}),
      annotations: { [LAST_APPLIED]: JSON.stringify(manifest), 'driftgate.dev/backport-ticket': draft().id },
    },
    spec: { replicas },
  };
}

function gitopsWrite(over: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    uid: 'w-1',
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    name: 'web',
    namespace: 'shop',
    operation: 'UPDATE',
    userInfo: { username: ARGO, groups: ['system:serviceaccounts'] },
    object: live(5, { hotfix: 'yes' }, {}),
    oldObject: live(5, { hotfix: 'yes' }, {}),
    ...over,
  };
}

let dir: string;
let store: JournalStore;
let sink: LogSink;
let metrics: ReturnType<typeof createMetrics>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'driftgate-settle-'));
  store = await JournalStore.open(join(dir, 'tickets.jsonl'));
  await store.record(draft());
  sink = new LogSink();
  metrics = createMetrics({ processMetrics: false });
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function observer(readObject: (ref: unknown) => Promise<KubeObject | undefined>, over: { maxQueued?: number } = {}): WriteObserver {
  return createWriteObserver({
    store,
    readObject,
    policy: () => policy,
    now: () => new Date('2025-06-01T11:00:00Z'),
    logger: createLogger({ destination: sink }),
    metrics,
    delayMs: 0,
    ...over,
  });
}

async function counter(name: string, labels: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('the write observer', () => {
  it("closes the ticket from the object read back, not from the review's copy", async () => {
    const o = observer(async () => live(5, { hotfix: 'yes' }, { spec: { replicas: 5 }, metadata: { labels: { hotfix: 'yes' } } }));
    // The review's own object declares nothing; what landed does.
    o.observe(gitopsWrite());
    await o.idle();
    const t = await store.get(draft().id);
    expect(t.state).toBe('backported');
    expect(t.resolution).toMatchObject({
      closedBy: 'settlement',
      by: ARGO,
      evidence: [{ kind: 'gitops-write', username: ARGO, requestUid: 'w-1', at: '2025-06-01T11:00:00.000Z' }],
    });
    expect(await counter('driftgate_settlements_total', 'outcome="backported"')).toBe(1);
  });

  it('records a partial finding naming the remaining path', async () => {
    const o = observer(async () => live(5, { hotfix: 'yes' }, { spec: { replicas: 5 } }));
    o.observe(gitopsWrite());
    await o.idle();
    expect((await store.get(draft().id)).settlement).toMatchObject({ carried: ['/spec/replicas'], remaining: ['/metadata/labels/hotfix'] });
  });

  it('ignores a write by anyone but a GitOps writer, and a dry run', async () => {
    let reads = 0;
    const o = observer(async () => {
      reads++;
      return live(5, { hotfix: 'yes' }, { spec: { replicas: 5 }, metadata: { labels: { hotfix: 'yes' } } });
    });
    o.observe(gitopsWrite({ userInfo: { username: 'dave@example.com', groups: ['oncall'] } }));
    o.observe(gitopsWrite({ dryRun: true }));
    await o.idle();
    expect(reads).toBe(0);
    expect((await store.get(draft().id)).state).toBe('open');
  });

  it('logs and counts a failure to read the object back, leaves the ticket open, and never throws', async () => {
    const o = observer(async () => {
      throw new Error('apiserver unreachable');
    });
    expect(() => o.observe(gitopsWrite())).not.toThrow();
    await o.idle();
    expect((await store.get(draft().id)).state).toBe('open');
    expect(await counter('driftgate_settlement_failures_total', 'source="gitops-write"')).toBe(1);
    expect(sink.text()).toContain('apiserver unreachable');
  });

  it('drops writes beyond its queue, counted, instead of piling them up', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const o = observer(
      async () => {
        await gate;
        return undefined;
      },
      { maxQueued: 1 },
    );
    o.observe(gitopsWrite({ uid: 'a' }));
    o.observe(gitopsWrite({ uid: 'b' }));
    expect(await counter('driftgate_settlement_failures_total', 'source="gitops-write"')).toBe(1);
    release();
    await o.idle();
  });
});

describe('/observe', () => {
  function app(observed: AdmissionRequest[]) {
    return createApp({
      admitter: createAdmitter({ policy: () => policy, now: () => new Date(), tickets: store }),
      logger: createLogger({ destination: sink }),
      metrics,
      storeKind: 'journal',
      ready: () => true,
      observer: { observe: (r) => void observed.push(r), idle: () => Promise.resolve() },
    });
  }

  it('answers allowed at once, echoing the uid, and hands the write on', async () => {
    const observed: AdmissionRequest[] = [];
    const res = await request(app(observed))
      .post('/observe')
      .set('Content-Type', 'application/json')
      .send({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: gitopsWrite() });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'w-1', allowed: true } });
    expect(observed.map((r) => r.uid)).toEqual(['w-1']);
  });

  it('still answers allowed to garbage, a wrong content type or no body, observing nothing', async () => {
    const observed: AdmissionRequest[] = [];
    for (const [type, body] of [
      ['application/json', '{"request": {"uid": "x"'],
      ['text/plain', 'hello'],
      ['application/json', ''],
    ] as const) {
      const res = await request(app(observed)).post('/observe').set('Content-Type', type).send(body);
      expect(res.status).toBe(200);
      expect(res.body.response.allowed).toBe(true);
    }
    expect(observed).toEqual([]);
  });
});

describe('Argo CD and Flux status', () => {
  const ticket = openTicket(draft());
  const after = '2025-06-01T10:05:00Z';
  const app = (over: Record<string, unknown> = {}, resource: Record<string, unknown> = {}) => ({
    metadata: { name: 'shop', namespace: 'argocd' },
    status: {
      sync: { status: 'Synced', revision: 'abc123' },
      resources: [{ group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'shop', name: 'web', status: 'Synced', ...resource }],
      reconciledAt: after,
      ...over,
    },
  });

  it('Argo CD: Synced, the resource Synced, compared after the change: evidence at the comparison time', () => {
    expect(argoEvidence(ticket, app())).toEqual({ kind: 'sync-status', tool: 'argocd', namespace: 'argocd', name: 'shop', revision: 'abc123', at: after });
    const synced = app({ operationState: { phase: 'Succeeded', finishedAt: '2025-06-01T10:07:00Z' } });
    expect(argoEvidence(ticket, synced)?.at).toBe('2025-06-01T10:07:00Z');
    const multi = app({ sync: { status: 'Synced', revisions: ['abc123', 'def456'] } });
    expect(argoEvidence(ticket, multi)?.revision).toBe('abc123,def456');
  });

  it('Argo CD: no evidence when OutOfSync, the resource OutOfSync, another object, or no comparison time', () => {
    expect(argoEvidence(ticket, app({ sync: { status: 'OutOfSync', revision: 'abc123' } }))).toBeUndefined();
    expect(argoEvidence(ticket, app({}, { status: 'OutOfSync' }))).toBeUndefined();
    expect(argoEvidence(ticket, app({}, { name: 'other' }))).toBeUndefined();
    expect(argoEvidence(ticket, app({ reconciledAt: undefined }))).toBeUndefined();
    expect(argoEvidence(ticket, { status: 'nonsense' })).toBeUndefined();
  });

  const ks = (over: Record<string, unknown> = {}, ready: Record<string, unknown> = {}) => ({
    metadata: { name: 'shop', namespace: 'flux-system' },
    status: {
      lastAppliedRevision: 'main@sha1:abc',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2025-06-01T09:00:00Z', ...ready }],
      inventory: { entries: [{ id: 'shop_web_apps_Deployment', v: 'v1' }] },
      history: [{ lastReconciled: after, lastReconciledStatus: 'ReconciliationSucceeded', metadata: { revision: 'main@sha1:abc' } }],
      ...over,
    },
  });

  it('Flux: Ready, in the inventory, last reconciled after the change: evidence at that reconciliation', () => {
    expect(fluxEvidence(ticket, ks())).toEqual({
      kind: 'sync-status',
      tool: 'flux',
      namespace: 'flux-system',
      name: 'shop',
      revision: 'main@sha1:abc',
      at: after,
    });
  });

  it('Flux: no evidence when not Ready or not in the inventory; a failed reconciliation falls back to when Ready last changed', () => {
    expect(fluxEvidence(ticket, ks({}, { status: 'False' }))).toBeUndefined();
    expect(fluxEvidence(ticket, ks({ inventory: { entries: [{ id: 'shop_other_apps_Deployment', v: 'v1' }] } }))).toBeUndefined();
    const failed = ks({ history: [{ lastReconciled: after, lastReconciledStatus: 'HealthCheckFailed' }] });
    expect(fluxEvidence(ticket, failed)?.at).toBe('2025-06-01T09:00:00Z');
  });
});
