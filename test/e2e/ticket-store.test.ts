/**
 * The Kubernetes ticket store against the real kube-apiserver and etcd, as driftgate's own
 * ServiceAccount (the RBAC manifests/install.yaml grants): two stores standing for two replicas
 * record the changes of one window at once, each request sent to both as after an apiserver retry,
 * and no change is lost or kept twice; a window with thousands of changes keeps recording and
 * reads back page by page; a ticket stored in the earlier one-object layout is still read and
 * extended; and each failure says what really failed (too large for etcd, too large for the
 * apiserver, refused by the CRD's schema, forbidden), checked on the answers the real servers give.
 */
import { describe, expect, it } from 'vitest';
import type { TicketDraft } from '../../src/decision/types.js';
import { DriftgateError } from '../../src/errors.js';
import { createKubeClient } from '../../src/kube/client.js';
import { loadKubeConfig } from '../../src/cli/kubeconfig.js';
import { KubernetesStore, TICKET_LABEL } from '../../src/tickets/kubernetes.js';
import type { Resolution, SettlementProgress } from '../../src/tickets/types.js';
import { ADMIN, cluster, driftgate, getJson, kubectl, unique } from './cluster.js';

const NS = 'driftgate-system';

async function store(kubeconfig = cluster().driftgateKubeconfig): Promise<KubernetesStore> {
  return new KubernetesStore({ client: createKubeClient(await loadKubeConfig({ kubeconfig })), namespace: NS, timeoutMs: 60_000 });
}

function draft(id: string, uid: string, at = '2026-01-01T10:00:00Z'): TicketDraft {
  return {
    id,
    object: { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespace: 'prod', name: 'checkout' },
    window: { until: '2026-01-01T14:00:00Z', reason: 'checkout latency', incident: 'INC-STORE' },
    change: {
      requestUid: uid,
      at,
      username: 'dave@example.com',
      groups: ['oncall'],
      operation: 'UPDATE',
      patch: [{ op: 'replace', path: '/spec/replicas', value: 5 }],
      revert: [{ op: 'replace', path: '/spec/replicas', value: 3 }],
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<DriftgateError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DriftgateError)) throw new Error(`expected a DriftgateError, got ${String(err)}`);
  return err;
}

async function objectsOf(id: string): Promise<{ metadata: { name: string }; spec: { event: string } }[]> {
  return (await getJson<{ items: { metadata: { name: string }; spec: { event: string } }[] }>(['-n', NS, 'backporttickets', '-l', `${TICKET_LABEL}=${id}`]))
    .items;
}

// Runs `work` over `items`, `width` at a time: a bounded number of concurrent creates.
async function inBatches<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(work));
}

describe('the Kubernetes ticket store on the real apiserver', () => {
  it('never loses or duplicates a change when two replicas record one window at once, every request sent to both', async () => {
    const id = unique('st-race');
    const [a, b] = [await store(), await store()];
    const uids = Array.from({ length: 200 }, (_, i) => `${id}-uid-${i}`);
    await inBatches(uids, 20, async (uid) => {
      await Promise.all([a.record(draft(id, uid)), b.record(draft(id, uid))]);
    });
    const objects = await objectsOf(id);
    expect(objects).toHaveLength(200);
    const [fromA, fromB] = await Promise.all([a.get(id), b.get(id)]);
    expect(fromA.changes.map((c) => c.requestUid).sort()).toEqual([...uids].sort());
    expect(fromB).toEqual(fromA);
  });

  it('keeps recording thousands of changes under one window, each a small object, read back page by page', async () => {
    const id = unique('st-many');
    const s = await store();
    const uids = Array.from({ length: 2500 }, (_, i) => `${id}-${i}`);
    await inBatches(uids, 25, (uid) => s.record(draft(id, uid)));
    const ticket = await s.get(id);
    expect(ticket.changes).toHaveLength(2500);
    expect(ticket.state).toBe('open');
    // And it still closes, and a later change still reopens it.
    const resolution: Resolution = { decision: 'accept', by: 'security@example.com', ref: 'INC-STORE review', at: '2026-01-01T15:00:00Z' };
    expect((await s.resolve(id, resolution)).state).toBe('accepted');
    await s.record(draft(id, `${id}-late`, '2026-01-01T13:59:00Z'));
    expect(await s.get(id)).toMatchObject({ state: 'open', earlierResolutions: [resolution] });
  }, 300_000);

  it('lets one of two racing resolutions win and tells the other who decided first', async () => {
    const id = unique('st-resolve');
    const [a, b] = [await store(cluster().kubeconfig), await store(cluster().kubeconfig)];
    await a.record(draft(id, `${id}-1`));
    const base: Resolution = { decision: 'backport', by: 'bob@example.com', ref: 'https://git.example/pr/1', at: '2026-01-01T15:00:00Z' };
    const results = await Promise.allSettled([a.resolve(id, base), b.resolve(id, { ...base, decision: 'revert', by: 'carol@example.com' })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected');
    expect(lost?.status === 'rejected' && (lost.reason as DriftgateError).message).toMatch(/was already resolved: (backport by bob|revert by carol)/);
    expect((await objectsOf(id)).filter((o) => o.spec.event === 'resolve')).toHaveLength(1);
  });

  it("keeps settlement's finding and a person's override as objects of their own (driftgate creating only), and the CRD refuses a settle without its finding or an override by settlement", async () => {
    const id = unique('st-settle');
    const s = await store();
    await s.record(draft(id, `${id}-1`, '2026-01-01T10:00:00Z'));
    const finding: SettlementProgress = {
      at: '2026-01-01T11:00:00Z',
      carried: ['/spec/replicas'],
      undone: [],
      remaining: ['/metadata/labels/hotfix'],
      evidence: [{ kind: 'gitops-write', username: 'argocd', at: '2026-01-01T11:00:00Z', requestUid: `${id}-w`, carried: ['/spec/replicas'], undone: [] }],
    };
    expect((await s.recordSettlement(id, finding)).settlement).toEqual(finding);
    const settled: Resolution = {
      decision: 'backport',
      by: 'argocd',
      ref: 'GitOps write',
      at: '2026-01-01T12:00:00Z',
      closedBy: 'settlement',
      evidence: finding.evidence,
    };
    await s.resolve(id, settled);
    const person: Resolution = {
      decision: 'revert',
      by: 'carol@example.com',
      ref: 'INC review',
      at: '2026-01-01T13:00:00Z',
      closedBy: 'person',
      override: true,
    };
    expect((await rejection(s.resolve(id, { ...settled, override: true }))).code).toBe('DG_TICKET_INVALID');
    await (await store(cluster().kubeconfig)).resolve(id, person);
    const ticket = await s.get(id);
    expect(ticket).toMatchObject({ state: 'reverted', resolution: person, earlierResolutions: [settled] });
    expect(ticket.settlement).toBeUndefined();
    expect((await objectsOf(id)).map((o) => o.spec.event).sort()).toEqual(['change', 'resolve', 'resolve', 'settle']);
    const base = { apiVersion: 'driftgate.dev/v1alpha1', kind: 'BackportTicket' };
    const bare = { ticket: id, object: draft(id, 'x').object, window: draft(id, 'x').window };
    const noFinding = await kubectl(
      ADMIN,
      ['create', '-f', '-'],
      JSON.stringify({ ...base, metadata: { name: `${id}.s-0`, namespace: NS }, spec: { ...bare, event: 'settle' } }),
    );
    expect(noFinding.code).not.toBe(0);
    expect(noFinding.stderr).toContain('a BackportTicket records one fact');
    const bySettlement = await kubectl(
      ADMIN,
      ['create', '-f', '-'],
      JSON.stringify({
        ...base,
        metadata: { name: `${id}.o-1-0`, namespace: NS },
        spec: { ...bare, event: 'resolve', covers: 1, resolution: { ...settled, override: true } },
      }),
    );
    expect(bySettlement.code).not.toBe(0);
    expect(bySettlement.stderr).toContain('only a person overrides a closure');
  });

  it('feeds `tickets report` (json and html): the settled ticket with its closer, reference and evidence, and its changes', async () => {
    const id = unique('st-report');
    const s = await store();
    await s.record(draft(id, `${id}-1`, '2026-01-01T10:00:00Z'));
    await s.record(draft(id, `${id}-2`, '2026-01-01T10:30:00Z'));
    const settled: Resolution = {
      decision: 'backport',
      by: 'system:serviceaccount:argocd:argocd-application-controller',
      ref: 'argocd/shop@5f2e9c1',
      at: '2026-01-01T12:00:00Z',
      closedBy: 'settlement',
      evidence: [{ kind: 'sync-status', tool: 'argocd', namespace: 'argocd', name: 'shop', revision: '5f2e9c1', at: '2026-01-01T12:00:00Z' }],
    };
    await (await store(cluster().kubeconfig)).resolve(id, settled);
    const flags = ['--tickets', `kubernetes:${NS}`, '--kubeconfig', cluster().kubeconfig, '--since', '2026-01-01T00:00:00Z', '--now', '2026-01-02T00:00:00Z'];
    const json = await driftgate(['tickets', 'report', ...flags, '-o', 'json']);
    expect(json.stderr).toBe('');
    const report = JSON.parse(json.stdout) as { tickets: { id: string; state: string; closure?: { closedBy: string; ref: string; evidence: string[] } }[] };
    expect(report.tickets.find((t) => t.id === id)).toMatchObject({
      state: 'backported',
      closure: {
        closedBy: 'settlement',
        ref: 'argocd/shop@5f2e9c1',
        evidence: [expect.stringContaining('Argo CD Application argocd/shop in sync at revision 5f2e9c1')],
      },
    });
    const html = await driftgate(['tickets', 'report', ...flags, '-o', 'html']);
    expect(html.stdout).toContain(`<code>${id}</code>`);
  });

  it('reads a ticket stored in the earlier one-object layout and folds the changes recorded since onto it', async () => {
    const id = unique('st-legacy');
    const old = draft(id, `${id}-old`, '2026-01-01T09:00:00Z');
    const legacy = {
      apiVersion: 'driftgate.dev/v1alpha1',
      kind: 'BackportTicket',
      metadata: { name: id, namespace: NS, labels: { 'driftgate.dev/namespace': 'prod', 'driftgate.dev/incident': 'INC-STORE' } },
      spec: { object: old.object, window: old.window, state: 'open', openedAt: old.change.at, changes: [old.change] },
    };
    const created = await kubectl(ADMIN, ['create', '-f', '-'], JSON.stringify(legacy));
    expect(created.stderr).toBe('');
    const s = await store();
    await s.record(draft(id, `${id}-new`));
    const ticket = await s.get(id);
    expect(ticket.changes.map((c) => c.requestUid)).toEqual([`${id}-old`, `${id}-new`]);
    expect((await s.list({ incident: 'INC-STORE' })).find((t) => t.id === id)?.changes).toHaveLength(2);
    // The CRD refuses an edit of a recorded fact, to anyone.
    const [recorded] = (await objectsOf(id)).filter((o) => o.spec.event === 'change');
    const edited = await kubectl(ADMIN, [
      '-n',
      NS,
      'patch',
      'backportticket',
      recorded?.metadata.name ?? '',
      '--type=merge',
      '-p',
      '{"spec":{"change":{"username":"mallory"}}}',
    ]);
    expect(edited.code).not.toBe(0);
    expect(edited.stderr).toContain('a recorded ticket event is never edited');
  });

  // Three limits, three answers of the real servers (all once reported as "check that the API
  // server is up and reachable"): etcd's 1.5 MiB request limit, the apiserver's 2 MiB gRPC message
  // limit towards etcd, the apiserver's 3 MiB body limit.
  it.each([
    ['etcd (1.5 MiB)', 800 * 1024],
    ["the apiserver's etcd client (2 MiB)", 1100 * 1024],
    ['the apiserver (3 MiB body)', 2 * 1024 * 1024],
  ])('says a change is too large for %s, without blaming reachability, and records the next normal change', async (_limit, half) => {
    const s = await store();
    const id = unique('st-large');
    const big = draft(id, `${id}-big`);
    big.change.patch = [{ op: 'replace', path: '/data/blob', value: 'x'.repeat(half) }];
    big.change.revert = [{ op: 'replace', path: '/data/blob', value: 'y'.repeat(half) }];
    const err = await rejection(s.record(big));
    expect(err.code).toBe('DG_TICKET_STORE');
    expect(err.message).toContain('this one change (its patch and its revert) is larger than the API server stores');
    expect(err.message).not.toContain('reachable');
    expect(err.message).not.toContain('xxxx');
    // A normal change of the same window is recorded after it: nothing grew.
    await s.record(draft(id, `${id}-small`));
    expect((await s.get(id)).changes).toHaveLength(1);
  });

  it('says which identity may not create backporttickets, and what the schema refused', async () => {
    const id = unique('st-denied');
    const err = await rejection((await store(cluster().developerKubeconfig)).record(draft(id, `${id}-1`)));
    expect(err.code).toBe('DG_KUBE_FORBIDDEN');
    expect(err.message).toContain(`may not create backporttickets in ${NS}`);
    expect(err.message).toContain('cannot create resource "backporttickets"');
    const invalid = await kubectl(
      ADMIN,
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'driftgate.dev/v1alpha1',
        kind: 'BackportTicket',
        metadata: { name: `${id}.c-0`, namespace: NS },
        spec: { ticket: id, event: 'change', object: draft(id, 'x').object, window: draft(id, 'x').window },
      }),
    );
    expect(invalid.code).not.toBe(0);
    expect(invalid.stderr).toContain('a BackportTicket records one fact');
  });
});
