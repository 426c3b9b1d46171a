/**
 * KubernetesStore against a FAKE API server: a few dozen lines of node:http that serve
 * backporttickets with resourceVersion checks, 409s, label selectors and paging, plus modes for
 * 403 and for never answering. It is a stand-in for what the store relies on, not a model of the
 * API server; the e2e tests run the same store against a real kube-apiserver.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DriftgateError } from '../../../src/errors.js';
import { createKubeClient } from '../../../src/kube/client.js';
import { parseTicketsSpec } from '../../../src/tickets/journal.js';
import { KubernetesStore, labelValue, type BackportTicketObject, type KubernetesStoreOptions } from '../../../src/tickets/kubernetes.js';
import type { Resolution } from '../../../src/tickets/types.js';
import { parseJsonExact } from '../../../src/util/json.js';
import { draft } from './drafts.js';

const NS = 'driftgate-system';
const COLLECTION = `/apis/driftgate.dev/v1alpha1/namespaces/${NS}/backporttickets`;
const backport: Resolution = { decision: 'backport', by: 'bob', ref: 'https://git.example/pr/7', at: '2025-06-01T12:00:00Z' };

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
}

/** FakeApi is the fake API server's state and knobs. */
interface FakeApi {
  server: Server;
  url: string;
  /** Stored objects by `namespace/name`. */
  objects: Map<string, BackportTicketObject>;
  namespaces: Set<string>;
  seen: Seen[];
  mode: 'serve' | 'forbidden' | 'hang' | 'conflict' | 'too-large' | 'etcd-too-large';
  /** Page size for lists; the real server pages on `limit`, this one on its own smaller size. */
  pageSize: number;
  /** Awaited before answering a request, to line racing writers up. */
  hold?: (seen: Seen) => Promise<void> | undefined;
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code }));
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function bodyOf(req: IncomingMessage): Promise<BackportTicketObject> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as BackportTicketObject;
}

function matches(labels: Record<string, string> | undefined, selector: string | null): boolean {
  if (selector === null || selector === '') return true;
  return selector.split(',').every((term) => {
    const [key = '', value = ''] = term.split('=');
    return labels?.[key] === value;
  });
}

async function startFake(): Promise<FakeApi> {
  let version = 100;
  const fake: FakeApi = {
    server: createServer((req, res) => {
      void handle(req, res);
    }),
    url: '',
    objects: new Map(),
    namespaces: new Set([NS, 'tickets']),
    seen: [],
    mode: 'serve',
    pageSize: 2,
  };
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const seen: Seen = { method: req.method ?? '', path: url.pathname, query: url.searchParams };
    fake.seen.push(seen);
    await fake.hold?.(seen);
    if (fake.mode === 'hang') return; // never answers: the store's deadline must end the wait
    const m = /^\/apis\/driftgate\.dev\/v1alpha1\/namespaces\/([^/]+)\/backporttickets(?:\/([^/]+))?$/.exec(url.pathname);
    if (m === null) return status(res, 404, 'NotFound', 'the server could not find the requested resource');
    const ns = decodeURIComponent(m[1] ?? '');
    const name = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
    if (fake.mode === 'forbidden') {
      const verb = { GET: name === undefined ? 'list' : 'get', POST: 'create', PUT: 'update' }[seen.method] ?? seen.method;
      return status(
        res,
        403,
        'Forbidden',
        `backporttickets.driftgate.dev is forbidden: User "system:serviceaccount:${NS}:driftgate" cannot ${verb} resource "backporttickets" in API group "driftgate.dev" in the namespace "${ns}"`,
      );
    }
    // What the real apiserver answers for a body over its 3 MiB limit, and etcd for an object over ~1.5 MiB.
    if (fake.mode === 'too-large' && seen.method !== 'GET') return status(res, 413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    if (fake.mode === 'etcd-too-large' && seen.method !== 'GET') return status(res, 500, 'InternalError', 'etcdserver: request is too large');
    const key = `${ns}/${name ?? ''}`;
    // Writes read their body first and look the object up only after, so that the check and the
    // store happen in one turn of the event loop, as atomic as etcd's compare-and-swap.
    const body = seen.method === 'GET' ? undefined : await bodyOf(req);
    const stored = fake.objects.get(key);
    if (seen.method === 'GET' && name !== undefined) {
      return stored === undefined ? status(res, 404, 'NotFound', `backporttickets.driftgate.dev "${name}" not found`) : send(res, 200, stored);
    }
    if (seen.method === 'GET') {
      const all = [...fake.objects.entries()]
        .filter(([k, o]) => k.startsWith(`${ns}/`) && matches(o.metadata.labels, url.searchParams.get('labelSelector')))
        .map(([, o]) => o);
      const from = Number(url.searchParams.get('continue') ?? '0');
      const page = all.slice(from, from + fake.pageSize);
      const next = from + fake.pageSize < all.length ? String(from + fake.pageSize) : '';
      return send(res, 200, { kind: 'BackportTicketList', metadata: { continue: next }, items: page });
    }
    if (seen.method === 'POST' && name === undefined && body !== undefined) {
      if (!fake.namespaces.has(ns)) return status(res, 404, 'NotFound', `namespaces "${ns}" not found`);
      const target = `${ns}/${body.metadata.name}`;
      if (fake.objects.has(target)) return status(res, 409, 'AlreadyExists', `backporttickets.driftgate.dev "${body.metadata.name}" already exists`);
      const created = { ...body, metadata: { ...body.metadata, namespace: ns, resourceVersion: String(++version) } };
      fake.objects.set(target, created);
      return send(res, 201, created);
    }
    if (seen.method === 'PUT' && name !== undefined && body !== undefined) {
      if (stored === undefined) return status(res, 404, 'NotFound', `backporttickets.driftgate.dev "${name}" not found`);
      if (fake.mode === 'conflict' || body.metadata.resourceVersion !== stored.metadata.resourceVersion) {
        return status(
          res,
          409,
          'Conflict',
          `Operation cannot be fulfilled on backporttickets.driftgate.dev "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        );
      }
      const updated = { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } };
      fake.objects.set(key, updated);
      return send(res, 200, updated);
    }
    return status(res, 405, 'MethodNotAllowed', `${seen.method} is not supported here`);
  }
  await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
  return fake;
}

function kubeConfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

let fake: FakeApi;
let warnings: string[];

function openStore(opts: Partial<KubernetesStoreOptions> = {}, server = fake.url): KubernetesStore {
  return new KubernetesStore({ client: createKubeClient(kubeConfig(server)), onWarning: (m) => warnings.push(m), ...opts });
}

function writes(): string[] {
  return fake.seen.filter((s) => s.method !== 'GET').map((s) => `${s.method} ${s.path}`);
}

async function rejection(promise: Promise<unknown>): Promise<DriftgateError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DriftgateError)) throw new Error(`expected a DriftgateError, got ${String(err)}`);
  return err;
}

// Holds each matching request until `count` of them have arrived, so that racing stores all read
// the same state before any of them writes.
function lineUp(count: number, which: (s: Seen) => boolean): (s: Seen) => Promise<void> | undefined {
  const waiting: (() => void)[] = [];
  return (s) => {
    if (!which(s) || waiting.length >= count) return undefined;
    return new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length === count) for (const go of waiting) go();
    });
  };
}

beforeEach(async () => {
  fake = await startFake();
  warnings = [];
});

afterEach(async () => {
  fake.server.closeAllConnections();
  await new Promise<void>((resolve) => fake.server.close(() => resolve()));
});

describe('KubernetesStore.record', () => {
  it('creates the BackportTicket with the first change, then appends the next under its resourceVersion', async () => {
    const store = openStore();
    const first = draft({ uid: 'u1' });
    await store.record(first);
    const created = fake.objects.get(`${NS}/${first.id}`);
    expect(created).toMatchObject({
      apiVersion: 'driftgate.dev/v1alpha1',
      kind: 'BackportTicket',
      metadata: { name: first.id, namespace: NS, labels: { 'driftgate.dev/namespace': 'shop', 'driftgate.dev/incident': 'INC-1' } },
      spec: { object: first.object, window: first.window, state: 'open', openedAt: first.change.at, changes: [first.change] },
    });
    expect(created?.spec.resolution).toBeUndefined();

    const second = draft({ uid: 'u2', at: '2025-06-01T09:00:00Z' });
    await store.record(second);
    expect(writes()).toEqual([`POST ${COLLECTION}`, `PUT ${COLLECTION}/${first.id}`]);
    const ticket = await store.get(first.id);
    expect(ticket.changes).toEqual([first.change, second.change]);
    expect(ticket.openedAt).toBe('2025-06-01T09:00:00Z');
  });

  it('records changes whose values are integers beyond 2^53, kept exactly (issue 11), on create and on append', async () => {
    const store = openStore();
    const exact = (uid: string): ReturnType<typeof draft> => {
      const d = draft({ uid });
      d.change.patch = parseJsonExact('[{"op":"replace","path":"/spec/sequence","value":9007199254740993}]') as typeof d.change.patch;
      return d;
    };
    await store.record(exact('u1'));
    await store.record(exact('u2'));
    expect(writes()).toEqual([`POST ${COLLECTION}`, `PUT ${COLLECTION}/${draft().id}`]);
    expect(JSON.stringify(exact('u3').change.patch)).toContain('9007199254740993');
  });

  it('records a retried request once and writes nothing the second time', async () => {
    const store = openStore();
    await store.record(draft({ uid: 'u1' }));
    await store.record(draft({ uid: 'u1', at: '2025-06-01T10:00:05Z' }));
    expect(writes()).toEqual([`POST ${COLLECTION}`]);
    expect((await store.get(draft().id)).changes.map((c) => c.at)).toEqual(['2025-06-01T10:00:00Z']);
  });

  it('converges on one ticket holding both changes when two replicas create it at once', async () => {
    fake.hold = lineUp(2, (s) => s.method === 'GET');
    const [a, b] = [openStore(), openStore()];
    await Promise.all([a.record(draft({ uid: 'from-a' })), b.record(draft({ uid: 'from-b' }))]);
    expect(writes().filter((w) => w.startsWith('POST'))).toHaveLength(2); // the loser got 409 AlreadyExists
    expect(fake.objects.size).toBe(1);
    expect((await a.get(draft().id)).changes.map((c) => c.requestUid).sort()).toEqual(['from-a', 'from-b']);
  });

  it('converges when two replicas append to the same ticket at once', async () => {
    await openStore().record(draft({ uid: 'u0' }));
    fake.seen = [];
    fake.hold = lineUp(2, (s) => s.method === 'GET');
    const [a, b] = [openStore(), openStore()];
    await Promise.all([a.record(draft({ uid: 'from-a' })), b.record(draft({ uid: 'from-b' }))]);
    expect(writes().filter((w) => w.startsWith('PUT'))).toHaveLength(3); // one of the two first PUTs met 409
    expect((await a.get(draft().id)).changes.map((c) => c.requestUid).sort()).toEqual(['from-a', 'from-b', 'u0']);
  });

  it('gives up with DG_TICKET_CONFLICT when every write keeps meeting 409', async () => {
    await openStore().record(draft({ uid: 'u0' }));
    fake.mode = 'conflict';
    const err = await rejection(openStore({ maxAttempts: 3 }).record(draft({ uid: 'u1' })));
    expect(err.code).toBe('DG_TICKET_CONFLICT');
    expect(err.message).toContain('409 Conflict 3 times in a row');
    expect(writes().filter((w) => w.startsWith('PUT'))).toHaveLength(3);
  });

  it('reopens a resolved ticket on a later change and keeps the earlier decision, as the journal does', async () => {
    const store = openStore();
    await store.record(draft({ uid: 'u1' }));
    await store.resolve(draft().id, backport);
    await store.record(draft({ uid: 'u2' }));
    const ticket = await store.get(draft().id);
    expect(ticket).toMatchObject({ state: 'open', earlierResolutions: [backport] });
    expect(ticket.resolution).toBeUndefined();
    expect(fake.objects.get(`${NS}/${draft().id}`)?.spec.earlierResolutions).toEqual([backport]);
  });

  it('says which ServiceAccount lacks which permission when the API answers 403', async () => {
    fake.mode = 'forbidden';
    const err = await rejection(openStore().record(draft()));
    expect(err.code).toBe('DG_KUBE_FORBIDDEN');
    expect(err.message).toContain(`driftgate's ServiceAccount may not write backporttickets in ${NS}; apply the RBAC in manifests/`);
    expect(err.message).toMatch(/^ticket bt-shop-web-1: recording the change in kubernetes:driftgate-system@http:\/\/127\.0\.0\.1:\d+: refused/);
  });

  it('rejects with DG_TICKET_TIMEOUT when the signal aborts while the API never answers', async () => {
    fake.mode = 'hang';
    const err = await rejection(openStore().record(draft(), { signal: AbortSignal.timeout(50) }));
    expect(err.code).toBe('DG_TICKET_TIMEOUT');
    expect(err.message).toContain('gave up, the deadline passed before the Kubernetes API answered');
  });

  it('sends nothing once the signal has already aborted', async () => {
    const err = await rejection(openStore().record(draft(), { signal: AbortSignal.abort() }));
    expect(err.code).toBe('DG_TICKET_TIMEOUT');
    expect(fake.seen).toEqual([]);
  });

  it('says the CRD or the namespace is missing when the collection is not served', async () => {
    const err = await rejection(openStore({ namespace: 'nowhere' }).record(draft()));
    expect(err.code).toBe('DG_TICKET_STORE');
    expect(err.message).toContain('serves no backporttickets.driftgate.dev in namespace nowhere; install the BackportTicket CRD and create the namespace');
  });

  it.each([
    ['the apiserver (413)', 'too-large', 'Request entity too large: limit is 3145728'],
    ['etcd (500, request is too large)', 'etcd-too-large', 'etcdserver: request is too large'],
  ] as const)('refuses an oversized ticket refused by %s, saying retrying cannot help and what to do', async (_who, mode, said) => {
    fake.mode = mode;
    const big = draft();
    big.change.patch = [{ op: 'replace', path: '/data/blob', value: 'x'.repeat(4 * 1024 * 1024) }];
    const err = await rejection(openStore().record(big));
    expect(err.code).toBe('DG_TICKET_STORE');
    expect(err.message).toContain(`ticket ${big.id}: `);
    expect(err.message).toContain(`the ticket would be larger than the API server stores (${said}); resolve this ticket and open a new window`);
    expect(err.message).not.toContain('check that the API server is up');
    expect(err.message).not.toContain('xxxx');
  });

  it('reports an unreachable API server as DG_KUBE_UNREACHABLE', async () => {
    const closed = await startFake();
    const url = closed.url;
    await new Promise<void>((resolve) => closed.server.close(() => resolve()));
    const err = await rejection(openStore({}, url).record(draft()));
    expect(err.code).toBe('DG_KUBE_UNREACHABLE');
    expect(err.message).toContain('check that the API server is up and reachable');
  });

  it('refuses a malformed draft before writing anything', async () => {
    const bad = draft();
    bad.change.requestUid = '';
    const err = await rejection(openStore().record(bad));
    expect(err.code).toBe('DG_TICKET_STORE');
    expect(fake.seen).toEqual([]);
  });

  it('fails closed on a ticket someone edited into a shape it cannot read', async () => {
    const store = openStore();
    await store.record(draft({ uid: 'u1' }));
    const stored = fake.objects.get(`${NS}/${draft().id}`);
    if (stored !== undefined) stored.spec.state = 'backported';
    const err = await rejection(store.record(draft({ uid: 'u2' })));
    expect(err.code).toBe('DG_TICKET_STORE');
    expect(err.message).toContain('spec.state is "backported" but there is no spec.resolution');
    expect(err.message).toContain(`kubectl -n ${NS} edit backportticket ${draft().id}`);
  });
});

describe('KubernetesStore.get and resolve', () => {
  it('throws DG_TICKET_NOT_FOUND naming the id and how to list the ids', async () => {
    const err = await rejection(openStore().get('bt-nope'));
    expect(err.code).toBe('DG_TICKET_NOT_FOUND');
    expect(err.message).toContain('no ticket "bt-nope" in kubernetes:driftgate-system@');
    expect(err.message).toContain('driftgate tickets list --tickets kubernetes');
  });

  it('names the namespace in the hint when it is not the default', async () => {
    const err = await rejection(openStore({ namespace: 'tickets' }).get('bt-nope'));
    expect(err.message).toContain('driftgate tickets list --tickets kubernetes:tickets');
  });

  it('resolves once, then refuses a second decision naming the first', async () => {
    const store = openStore();
    await store.record(draft());
    const resolved = await store.resolve(draft().id, backport);
    expect(resolved).toMatchObject({ id: draft().id, state: 'backported', resolution: backport });
    expect(fake.objects.get(`${NS}/${draft().id}`)?.spec).toMatchObject({ state: 'backported', resolution: backport });
    const err = await rejection(store.resolve(draft().id, { ...backport, decision: 'revert', by: 'carol' }));
    expect(err.code).toBe('DG_TICKET_CONFLICT');
    expect(err.message).toBe(
      `ticket ${draft().id} was already resolved: backport by bob at 2025-06-01T12:00:00Z (https://git.example/pr/7); a ticket is resolved once: to record another decision over it, add --override to tickets resolve`,
    );
  });

  it('a person overrides a closure settlement made, and the earlier closure is kept; settlement never overrides', async () => {
    const store = await openStore();
    await store.record(draft());
    const settled: Resolution = {
      decision: 'backport',
      by: 'system:serviceaccount:argocd:argocd-application-controller',
      ref: 'GitOps write w-1',
      at: '2025-06-01T12:00:00Z',
      closedBy: 'settlement',
      evidence: [{ kind: 'gitops-write', username: 'argocd', at: '2025-06-01T12:00:00Z', requestUid: 'w-1', carried: ['/spec/replicas'], undone: [] }],
    };
    await store.resolve(draft().id, settled);
    const again = await rejection(store.resolve(draft().id, { ...settled, decision: 'revert', override: true }));
    expect(again.code).toBe('DG_TICKET_INVALID');
    const person: Resolution = { decision: 'revert', by: 'carol', ref: 'INC-1 review', at: '2025-06-01T13:00:00Z', closedBy: 'person', override: true };
    const overridden = await store.resolve(draft().id, person);
    expect(overridden).toMatchObject({ state: 'reverted', resolution: person, earlierResolutions: [settled] });
    expect(await store.get(draft().id)).toMatchObject({ state: 'reverted', resolution: person, earlierResolutions: [settled] });
  });

  it("keeps settlement's partial finding on an open ticket, and drops it when a later change arrives", async () => {
    const store = await openStore();
    await store.record(draft());
    const finding = {
      at: '2025-06-01T12:00:00Z',
      carried: ['/spec/replicas'],
      undone: [],
      remaining: ['/metadata/labels/hotfix'],
      evidence: [{ kind: 'gitops-write' as const, username: 'argocd', at: '2025-06-01T12:00:00Z', requestUid: 'w-1' }],
    };
    expect((await store.recordSettlement(draft().id, finding)).settlement).toEqual(finding);
    expect((await store.get(draft().id)).settlement).toEqual(finding);
    await store.record(draft({ uid: 'uid-2', at: '2025-06-01T12:30:00Z' }));
    expect((await store.get(draft().id)).settlement).toBeUndefined();
    // A finding older than the ticket's last change is stale: not kept.
    expect((await store.recordSettlement(draft().id, finding)).settlement).toBeUndefined();
  });

  it('lets exactly one of two racing resolutions win', async () => {
    await openStore().record(draft());
    fake.hold = lineUp(2, (s) => s.method === 'GET');
    const revert: Resolution = { ...backport, decision: 'revert', by: 'carol' };
    const results = await Promise.allSettled([openStore().resolve(draft().id, backport), openStore().resolve(draft().id, revert)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected');
    expect(lost?.status === 'rejected' && (lost.reason as DriftgateError).code).toBe('DG_TICKET_CONFLICT');
  });

  it('records a backport commit once, keeps the ticket open, and reads it back', async () => {
    const store = openStore();
    await store.record(draft());
    const commit = { commit: 'a'.repeat(40), branch: 'backport/x', files: ['apps/web.yaml'], changes: 1, by: 'alice', at: '2025-06-01T12:00:00Z' };
    await store.recordBackport(draft().id, commit);
    const again = await store.recordBackport(draft().id, commit);
    expect(again).toMatchObject({ state: 'open', backports: [commit] });
    expect(fake.objects.get(`${NS}/${draft().id}`)?.spec.backports).toEqual([commit]);
    expect((await store.get(draft().id)).backports).toEqual([commit]);
    expect((await rejection(store.recordBackport('bt-nope', commit))).code).toBe('DG_TICKET_NOT_FOUND');
  });

  it('keeps a settlement closure with its evidence (the fields settlement will fill)', async () => {
    const store = openStore();
    await store.record(draft());
    const settled: Resolution = {
      ...backport,
      by: 'system:serviceaccount:argocd:argocd-application-controller',
      closedBy: 'settlement',
      evidence: [
        { kind: 'gitops-write', username: 'system:serviceaccount:argocd:argocd-application-controller', at: '2025-06-01T12:00:00Z', requestUid: 'u-9' },
      ],
    };
    await store.resolve(draft().id, settled);
    expect((await store.get(draft().id)).resolution).toEqual(settled);
  });

  it('throws DG_TICKET_NOT_FOUND when resolving an unknown ticket', async () => {
    expect((await rejection(openStore().resolve('bt-nope', backport))).code).toBe('DG_TICKET_NOT_FOUND');
  });

  it('bounds reads by its own timeout, since get takes no signal', async () => {
    fake.mode = 'hang';
    expect((await rejection(openStore({ timeoutMs: 50 }).get('bt-x'))).code).toBe('DG_TICKET_TIMEOUT');
  });
});

describe('KubernetesStore.list', () => {
  const drafts = [
    draft({ id: 'c', namespace: 'shop', incident: 'INC-1', at: '2025-06-01T08:00:00Z' }),
    draft({ id: 'a', namespace: 'shop', incident: 'INC 42 / db', at: '2025-06-01T09:00:00Z' }),
    draft({ id: 'b', namespace: 'pay', incident: 'INC-1', at: '2025-06-01T09:00:00Z' }),
    draft({ id: 'd', namespace: 'pay', incident: 'INC-42-db', at: '2025-06-02T09:00:00Z' }),
  ];

  beforeEach(async () => {
    const store = openStore();
    for (const d of drafts) await store.record(d);
    await store.resolve('b', backport);
    fake.seen = [];
  });

  it('returns every ticket oldest first, then by id, across pages', async () => {
    expect((await openStore().list()).map((t) => t.id)).toEqual(['c', 'a', 'b', 'd']);
    expect(fake.seen.map((s) => s.query.get('continue'))).toEqual([null, '2']);
  });

  it('selects by namespace label and still filters exactly', async () => {
    expect((await openStore().list({ namespace: 'pay' })).map((t) => t.id)).toEqual(['b', 'd']);
    expect(fake.seen[0]?.query.get('labelSelector')).toBe('driftgate.dev/namespace=pay');
  });

  it('selects by a sanitized incident label, then keeps only the exact incident', async () => {
    // "INC 42 / db" and "INC-42-db" share a label value; only one is the incident asked for.
    expect((await openStore().list({ incident: 'INC 42 / db' })).map((t) => t.id)).toEqual(['a']);
    expect(fake.seen[0]?.query.get('labelSelector')).toBe('driftgate.dev/incident=INC-42-db');
  });

  it('filters by state and by since', async () => {
    const store = openStore();
    expect((await store.list({ state: 'backported' })).map((t) => t.id)).toEqual(['b']);
    expect((await store.list({ state: 'open', since: new Date('2025-06-01T09:00:00Z') })).map((t) => t.id)).toEqual(['a', 'd']);
  });

  it('skips a malformed BackportTicket with a warning naming it', async () => {
    fake.objects.set(`${NS}/broken`, {
      apiVersion: 'driftgate.dev/v1alpha1',
      kind: 'BackportTicket',
      metadata: { name: 'broken' },
      spec: {},
    } as unknown as BackportTicketObject);
    expect((await openStore().list()).map((t) => t.id)).toEqual(['c', 'a', 'b', 'd']);
    expect(warnings).toEqual([
      expect.stringContaining('skipped backportticket broken: spec.state undefined is not one of open, backported, reverted, accepted'),
    ]);
  });

  it('says what the identity may not do when listing is forbidden', async () => {
    fake.mode = 'forbidden';
    const err = await rejection(openStore().list());
    expect(err.code).toBe('DG_KUBE_FORBIDDEN');
    expect(err.message).toContain('the identity in your kubeconfig may not read and update backporttickets in driftgate-system');
  });
});

describe('KubernetesStore.describeStore and the --tickets flag', () => {
  it('describes itself as kubernetes:<namespace>@<server>', () => {
    expect(openStore().describeStore()).toBe(`kubernetes:${NS}@${fake.url}`);
    expect(openStore({ namespace: 'tickets' }).describeStore()).toBe(`kubernetes:tickets@${fake.url}`);
  });

  it('reads kubernetes and kubernetes:NAMESPACE', () => {
    expect(parseTicketsSpec('kubernetes')).toEqual({ kind: 'kubernetes' });
    expect(parseTicketsSpec('kubernetes:ops-tickets')).toEqual({ kind: 'kubernetes', namespace: 'ops-tickets' });
  });

  for (const spec of ['kubernetes:', 'kubernetes:Ops', 'kubernetes:a_b', `kubernetes:${'a'.repeat(64)}`]) {
    it(`refuses ${JSON.stringify(spec.slice(0, 20))}`, () => {
      expect(() => parseTicketsSpec(spec)).toThrow(
        expect.objectContaining({ code: 'DG_TICKETS_SPEC', message: expect.stringContaining('is not a namespace name') }),
      );
    });
  }
});

describe('labelValue', () => {
  const cases: [string, string][] = [
    ['INC-1', 'INC-1'],
    ['INC 42 / db', 'INC-42-db'],
    ['  #12 ', '12'],
    ['***', ''],
    ['x'.repeat(70), 'x'.repeat(63)],
    [`${'y'.repeat(62)}.z`, 'y'.repeat(62)],
  ];
  for (const [text, want] of cases) {
    it(`turns ${JSON.stringify(text.slice(0, 16))} into ${JSON.stringify(want.slice(0, 16))}`, () => {
      expect(labelValue(text)).toBe(want);
    });
  }
});
