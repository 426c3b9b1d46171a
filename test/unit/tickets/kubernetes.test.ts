/**
 * KubernetesStore against a FAKE API server: a few dozen lines of node:http that serve
 * backporttickets with create-only names (409 AlreadyExists), label selectors and paging, plus
 * modes for 403, 422, 503, oversized objects and never answering. It is a stand-in for what the
 * store relies on, not a model of the API server; test/e2e/ticket-store.test.ts runs the same
 * store against a real kube-apiserver and etcd.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DriftgateError } from '../../../src/errors.js';
import { createKubeClient } from '../../../src/kube/client.js';
import { JournalStore, parseTicketsSpec } from '../../../src/tickets/journal.js';
import { changeName } from '../../../src/tickets/kubernetes-objects.js';
import {
  EVENT_LABEL,
  KubernetesStore,
  LIST_PAGE,
  TICKET_LABEL,
  labelValue,
  type BackportTicketObject,
  type KubernetesStoreOptions,
} from '../../../src/tickets/kubernetes.js';
import type { Resolution, SettlementProgress } from '../../../src/tickets/types.js';
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
  mode: 'serve' | 'forbidden' | 'hang' | 'too-large' | 'etcd-too-large' | 'grpc-too-large' | 'invalid' | 'unavailable';
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
  // Exact, as the real API server keeps int64 values.
  return parseJsonExact(Buffer.concat(chunks).toString('utf8')) as BackportTicketObject;
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
    // What the real apiserver answers for an object over 2 MiB (its gRPC client to etcd refuses it).
    if (fake.mode === 'grpc-too-large' && seen.method !== 'GET')
      return status(res, 500, 'InternalError', 'rpc error: code = ResourceExhausted desc = trying to send message larger than max (2098311 vs. 2097152)');
    // What an apiserver with the CRD of an older driftgate answers for a field its schema lacks.
    if (fake.mode === 'invalid' && seen.method !== 'GET')
      return status(res, 422, 'Invalid', 'BackportTicket.driftgate.dev "x" is invalid: spec.state: Required value');
    if (fake.mode === 'unavailable') return status(res, 503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
    const key = `${ns}/${name ?? ''}`;
    // Writes read their body first and look the object up only after, so that the check and the
    // store happen in one turn of the event loop, as atomic as etcd's compare-and-swap.
    const body = seen.method === 'GET' ? undefined : await bodyOf(req);
    const stored = fake.objects.get(key);
    if (seen.method === 'GET' && name !== undefined) {
      return stored === undefined ? status(res, 404, 'NotFound', `backporttickets.driftgate.dev "${name}" not found`) : send(res, 200, stored);
    }
    if (seen.method === 'GET') {
      // Name order, as etcd's key order makes the real server's.
      const all = [...fake.objects.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
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

function changeObjects(id = draft().id): BackportTicketObject[] {
  return [...fake.objects.values()].filter((o) => o.metadata.labels?.[TICKET_LABEL] === id && o.metadata.labels[EVENT_LABEL] === 'change');
}

/** legacyObject returns a ticket as driftgate stored it before one object per fact: one object, every change in spec.changes. */
function legacyObject(uids: string[], resolution?: Resolution): BackportTicketObject {
  const d = draft();
  return {
    apiVersion: 'driftgate.dev/v1alpha1',
    kind: 'BackportTicket',
    metadata: { name: d.id, namespace: NS, resourceVersion: '7', labels: { 'driftgate.dev/namespace': 'shop', 'driftgate.dev/incident': 'INC-1' } },
    spec: {
      object: d.object,
      window: d.window,
      state: resolution === undefined ? 'open' : 'backported',
      openedAt: '2025-06-01T08:00:00Z',
      changes: uids.map((uid, i) => ({ ...d.change, requestUid: uid, at: `2025-06-01T08:0${i}:00Z` })),
      ...(resolution === undefined ? {} : { resolution }),
    },
  };
}

describe('KubernetesStore.record', () => {
  it('records each change as its own small object, created once, labelled by ticket, and never updates one', async () => {
    const store = openStore();
    const first = draft({ uid: 'u1' });
    await store.record(first);
    await store.record(draft({ uid: 'u2', at: '2025-06-01T09:00:00Z' }));
    expect(writes()).toEqual([`POST ${COLLECTION}`, `POST ${COLLECTION}`]);
    expect(fake.seen.filter((s) => s.method === 'GET')).toEqual([]); // recording reads nothing first
    const [one] = changeObjects();
    expect(one).toMatchObject({
      apiVersion: 'driftgate.dev/v1alpha1',
      kind: 'BackportTicket',
      metadata: {
        name: changeName(first.id, 'u1'),
        namespace: NS,
        labels: { [TICKET_LABEL]: first.id, [EVENT_LABEL]: 'change', 'driftgate.dev/namespace': 'shop', 'driftgate.dev/incident': 'INC-1' },
      },
      spec: { ticket: first.id, event: 'change', object: first.object, window: first.window, change: first.change },
    });
    expect(changeName(first.id, 'u1')).toMatch(/^bt-shop-web-1\.c-[0-9a-f]{20}$/);
    const ticket = await store.get(first.id);
    expect(ticket.changes.map((c) => c.requestUid)).toEqual(['u2', 'u1']); // by time
    expect(ticket).toMatchObject({ state: 'open', openedAt: '2025-06-01T09:00:00Z' });
  });

  it('records changes whose values are integers beyond 2^53, kept exactly (issue 11)', async () => {
    const store = openStore();
    const d = draft({ uid: 'u1' });
    d.change.patch = parseJsonExact('[{"op":"replace","path":"/spec/sequence","value":9007199254740993}]') as typeof d.change.patch;
    await store.record(d);
    expect(JSON.stringify((await store.get(d.id)).changes[0]?.patch)).toContain('9007199254740993');
  });

  it('records a retried request once: the second create meets its own object (409 AlreadyExists) and succeeds', async () => {
    const store = openStore();
    await store.record(draft({ uid: 'u1' }));
    await store.record(draft({ uid: 'u1', at: '2025-06-01T10:00:05Z' }));
    expect(writes()).toEqual([`POST ${COLLECTION}`, `POST ${COLLECTION}`]);
    expect(changeObjects()).toHaveLength(1);
    expect((await store.get(draft().id)).changes.map((c) => c.at)).toEqual(['2025-06-01T10:00:00Z']);
  });

  it('never loses or duplicates a change when two replicas record the same window at once, retries included', async () => {
    const [a, b] = [openStore(), openStore()];
    const uids = Array.from({ length: 150 }, (_, i) => `uid-${i}`);
    // Both replicas get every request (as after an apiserver retry to the other replica), interleaved.
    await Promise.all(
      uids.flatMap((uid, i) => [a.record(draft({ uid, at: `2025-06-01T10:${String(i % 60).padStart(2, '0')}:00Z` })), b.record(draft({ uid }))]),
    );
    expect(changeObjects()).toHaveLength(150);
    const ticket = await a.get(draft().id);
    expect(ticket.changes.map((c) => c.requestUid).sort()).toEqual([...uids].sort());
  });

  it('keeps working with thousands of changes under one window: each stays its own object, read back page by page', async () => {
    fake.pageSize = 500;
    const store = openStore();
    for (let start = 0; start < 3000; start += 250) {
      await Promise.all(Array.from({ length: 250 }, (_, i) => store.record(draft({ uid: `u-${start + i}` }))));
    }
    fake.seen = [];
    const ticket = await store.get(draft().id);
    expect(ticket.changes).toHaveLength(3000);
    const lists = fake.seen.filter((s) => s.method === 'GET' && s.path === COLLECTION);
    expect(lists).toHaveLength(6);
    expect(lists.every((s) => s.query.get('limit') === String(LIST_PAGE) && s.query.get('labelSelector') === `${TICKET_LABEL}=${draft().id}`)).toBe(true);
    expect(Math.max(...changeObjects().map((o) => JSON.stringify(o).length))).toBeLessThan(2_000);
  });

  it('reopens a resolved ticket on a later change and keeps the earlier decision, as the journal does', async () => {
    const store = openStore();
    await store.record(draft({ uid: 'u1' }));
    await store.resolve(draft().id, backport);
    await store.record(draft({ uid: 'u2' }));
    const ticket = await store.get(draft().id);
    expect(ticket).toMatchObject({ state: 'open', earlierResolutions: [backport] });
    expect(ticket.resolution).toBeUndefined();
    const resolved = await store.resolve(draft().id, { ...backport, by: 'carol' });
    expect(resolved).toMatchObject({ state: 'backported', resolution: { by: 'carol' } });
    expect(await store.get(draft().id)).toMatchObject({ state: 'backported', resolution: { by: 'carol' }, earlierResolutions: [backport] });
  });

  it('says which ServiceAccount lacks which permission when the API answers 403', async () => {
    fake.mode = 'forbidden';
    const err = await rejection(openStore().record(draft()));
    expect(err.code).toBe('DG_KUBE_FORBIDDEN');
    expect(err.message).toContain(`driftgate's ServiceAccount may not create backporttickets in ${NS}; apply the RBAC in manifests/`);
    expect(err.message).toMatch(/^ticket bt-shop-web-1: recording the change in kubernetes:driftgate-system@http:\/\/127\.0\.0\.1:\d+: refused/);
    expect(err.message).not.toContain('reachable');
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
    [
      "the apiserver's etcd client (500, ResourceExhausted)",
      'grpc-too-large',
      'rpc error: code = ResourceExhausted desc = trying to send message larger than max (2098311 vs. 2097152)',
    ],
  ] as const)('refuses one change too large for %s, saying so and not blaming reachability', async (_who, mode, said) => {
    fake.mode = mode;
    const big = draft();
    big.change.patch = [{ op: 'replace', path: '/data/blob', value: 'x'.repeat(4 * 1024 * 1024) }];
    const err = await rejection(openStore().record(big));
    expect(err.code).toBe('DG_TICKET_STORE');
    expect(err.message).toContain(`ticket ${big.id}: `);
    expect(err.message).toContain(`this one change (its patch and its revert) is larger than the API server stores (${said}); make this change through Git`);
    expect(err.message).not.toContain('reachable');
    expect(err.message).not.toContain('xxxx');
  });

  it('says the API server refused the object, and that the CRD may be old, on 422 Invalid (not reachability)', async () => {
    fake.mode = 'invalid';
    const err = await rejection(openStore().record(draft()));
    expect(err.code).toBe('DG_TICKET_STORE');
    expect(err.message).toContain('the API server refused the BackportTicket (BackportTicket.driftgate.dev "x" is invalid: spec.state: Required value)');
    expect(err.message).toContain('the BackportTicket CRD is older than this driftgate');
    expect(err.message).not.toContain('reachable');
  });

  it('reports an API server answering 503 as unavailable (DG_KUBE_UNREACHABLE)', async () => {
    fake.mode = 'unavailable';
    const err = await rejection(openStore().record(draft()));
    expect(err.code).toBe('DG_KUBE_UNREACHABLE');
    expect(err.message).toContain(
      'the API server is unavailable (the server is currently unable to handle the request); check that the API server is up and reachable',
    );
  });

  it('reports an unreachable API server as DG_KUBE_UNREACHABLE', async () => {
    const closed = await startFake();
    const url = closed.url;
    await new Promise<void>((resolve) => closed.server.close(() => resolve()));
    const err = await rejection(openStore({}, url).record(draft()));
    expect(err.code).toBe('DG_KUBE_UNREACHABLE');
    expect(err.message).toContain('check that the API server is up and reachable');
  });

  it('refuses a malformed draft, or an id that cannot name an object, before writing anything', async () => {
    const bad = draft();
    bad.change.requestUid = '';
    expect((await rejection(openStore().record(bad))).code).toBe('DG_TICKET_STORE');
    const badId = draft({ id: 'Not An Id' });
    expect((await rejection(openStore().record(badId))).message).toContain('the id cannot name a Kubernetes object');
    expect(fake.seen).toEqual([]);
  });

  it('skips, with a warning naming it, an object someone edited into a shape it cannot read, and keeps the others', async () => {
    const store = openStore();
    await store.record(draft({ uid: 'u1' }));
    await store.record(draft({ uid: 'u2' }));
    const [broken] = changeObjects();
    if (broken !== undefined) (broken.spec as { change?: unknown }).change = { requestUid: 'u9' };
    expect((await store.get(draft().id)).changes).toHaveLength(1);
    expect(warnings).toEqual([expect.stringContaining(`skipped backportticket ${broken?.metadata.name}: spec.change.at is not a string`)]);
  });
});

describe('KubernetesStore: tickets stored before one object per fact', () => {
  it('reads an old one-object ticket and folds the changes recorded since onto it, without rewriting it', async () => {
    const old = legacyObject(['old-1', 'old-2']);
    fake.objects.set(`${NS}/${old.metadata.name}`, old);
    const store = openStore();
    await store.record(draft({ uid: 'old-2' })); // a retry of a change the old object holds
    await store.record(draft({ uid: 'new-1' }));
    const ticket = await store.get(draft().id);
    expect(ticket.changes.map((c) => c.requestUid)).toEqual(['old-1', 'old-2', 'new-1']);
    expect(ticket.openedAt).toBe('2025-06-01T08:00:00Z');
    expect(fake.objects.get(`${NS}/${old.metadata.name}`)).toEqual(old);
    expect((await store.list()).map((t) => [t.id, t.changes.length])).toEqual([[draft().id, 3]]);
  });

  it('keeps an old resolution, reopens on a later change, and resolves again with a new object', async () => {
    fake.objects.set(`${NS}/${draft().id}`, legacyObject(['old-1'], backport));
    const store = openStore();
    expect(await store.get(draft().id)).toMatchObject({ state: 'backported', resolution: backport });
    expect((await rejection(store.resolve(draft().id, backport))).code).toBe('DG_TICKET_CONFLICT');
    await store.record(draft({ uid: 'new-1' }));
    expect(await store.get(draft().id)).toMatchObject({ state: 'open', earlierResolutions: [backport] });
    await store.resolve(draft().id, { ...backport, decision: 'revert' });
    expect(await store.get(draft().id)).toMatchObject({ state: 'reverted', earlierResolutions: [backport] });
  });
});

describe('KubernetesStore: settle features on tickets of the earlier layout', () => {
  it("reads an old ticket's override, earlier closure and settlement finding, and a person overrides it with a new object", async () => {
    const settled: Resolution = { ...backport, by: 'argocd', closedBy: 'settlement', evidence: [{ kind: 'commit', commit: 'c'.repeat(40), branch: 'main' }] };
    const old = legacyObject(['old-1'], settled);
    fake.objects.set(`${NS}/${old.metadata.name}`, old);
    const store = openStore();
    const person: Resolution = { decision: 'revert', by: 'carol', ref: 'review', at: '2025-06-01T13:00:00Z', closedBy: 'person', override: true };
    expect((await rejection(store.resolve(draft().id, { ...person, override: false }))).code).toBe('DG_TICKET_CONFLICT');
    expect(await store.resolve(draft().id, person)).toMatchObject({ state: 'reverted', resolution: person, earlierResolutions: [settled] });
    expect(await store.get(draft().id)).toMatchObject({ state: 'reverted', resolution: person, earlierResolutions: [settled] });
    expect(fake.objects.get(`${NS}/${old.metadata.name}`)).toEqual(old);
  });

  it("reads an old open ticket's settlement finding until a later change", async () => {
    const old = legacyObject(['old-1']);
    const finding: SettlementProgress = {
      at: '2025-06-01T09:00:00Z',
      carried: ['/spec/replicas'],
      undone: [],
      remaining: ['/metadata/labels/hotfix'],
      evidence: [],
    };
    (old.spec as { settlement?: SettlementProgress }).settlement = finding;
    fake.objects.set(`${NS}/${old.metadata.name}`, old);
    const store = openStore();
    expect((await store.get(draft().id)).settlement).toEqual(finding);
    await store.record(draft({ uid: 'new-1', at: '2025-06-01T10:00:00Z' }));
    expect((await store.get(draft().id)).settlement).toBeUndefined();
  });
});

describe('KubernetesStore.get and resolve', () => {
  it('throws DG_TICKET_NOT_FOUND naming the id and how to list the ids', async () => {
    const err = await rejection(openStore().get('bt-nope'));
    expect(err.code).toBe('DG_TICKET_NOT_FOUND');
    expect(err.message).toContain('no ticket "bt-nope" in kubernetes:driftgate-system@');
    expect(err.message).toContain('driftgate tickets list --tickets kubernetes');
    expect((await rejection(openStore().get('../x,y=z'))).code).toBe('DG_TICKET_NOT_FOUND');
  });

  it('names the namespace in the hint when it is not the default', async () => {
    const err = await rejection(openStore({ namespace: 'tickets' }).get('bt-nope'));
    expect(err.message).toContain('driftgate tickets list --tickets kubernetes:tickets');
  });

  it('resolves with its own object, then refuses a second decision naming the first', async () => {
    const store = openStore();
    await store.record(draft());
    const resolved = await store.resolve(draft().id, backport);
    expect(resolved).toMatchObject({ id: draft().id, state: 'backported', resolution: backport });
    expect(fake.objects.get(`${NS}/${draft().id}.r-1`)).toMatchObject({
      metadata: { labels: { [TICKET_LABEL]: draft().id, [EVENT_LABEL]: 'resolve' } },
      spec: { ticket: draft().id, event: 'resolve', covers: 1, resolution: backport },
    });
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

  it('records the override and the finding as objects of their own, created once, the closure they follow untouched', async () => {
    const store = openStore();
    await store.record(draft());
    const finding: SettlementProgress = {
      at: '2025-06-01T11:00:00Z',
      carried: ['/spec/replicas'],
      undone: [],
      remaining: ['/metadata/labels/hotfix'],
      evidence: [{ kind: 'gitops-write', username: 'argocd', at: '2025-06-01T11:00:00Z', requestUid: 'w-1', carried: ['/spec/replicas'], undone: [] }],
    };
    await store.recordSettlement(draft().id, finding);
    await store.recordSettlement(draft().id, finding); // a retry: meets its own object
    const findings = [...fake.objects.values()].filter((o) => o.metadata.labels?.[EVENT_LABEL] === 'settle');
    expect(findings.map((o) => [o.metadata.name, (o.spec as { settlement?: unknown }).settlement])).toEqual([
      [expect.stringMatching(new RegExp(`^${draft().id}\\.s-[0-9a-f]{20}$`)), finding],
    ]);
    const settled: Resolution = { ...backport, by: 'argocd', closedBy: 'settlement', evidence: finding.evidence };
    await store.resolve(draft().id, settled);
    const person: Resolution = { decision: 'revert', by: 'carol', ref: 'INC-1 review', at: '2025-06-01T13:00:00Z', closedBy: 'person', override: true };
    await store.resolve(draft().id, person);
    // A retry of the same override: recorded once, and answered with the ticket as stored.
    expect(await store.resolve(draft().id, person)).toMatchObject({ state: 'reverted', resolution: person, earlierResolutions: [settled] });
    const decisions = [...fake.objects.values()].filter((o) => o.metadata.labels?.[EVENT_LABEL] === 'resolve');
    expect(decisions.map((o) => [o.metadata.name, (o.spec as { covers?: number }).covers, (o.spec as { resolution?: unknown }).resolution])).toEqual([
      [`${draft().id}.r-1`, 1, settled],
      [expect.stringMatching(new RegExp(`^${draft().id}\\.o-1-[0-9a-f]{20}$`)), 1, person],
    ]);
    const ticket = await store.get(draft().id);
    // A retried override is the same decision again, so the first one is what the fold shows over the closure.
    expect(ticket).toMatchObject({ state: 'reverted', resolution: person, earlierResolutions: [settled] });
    expect(ticket.settlement).toBeUndefined(); // closed: the finding no longer applies
    expect(writes().every((w) => w.startsWith('POST '))).toBe(true);
  });

  it('a later override wins over an earlier one, each kept; a change after them reopens the ticket with all three kept', async () => {
    const store = openStore();
    await store.record(draft());
    await store.resolve(draft().id, backport);
    const carol: Resolution = { decision: 'revert', by: 'carol', ref: 'r1', at: '2025-06-01T13:00:00Z', closedBy: 'person', override: true };
    const dave: Resolution = { decision: 'accept', by: 'dave', ref: 'r2', at: '2025-06-01T14:00:00Z', closedBy: 'person', override: true };
    await store.resolve(draft().id, carol);
    expect(await store.resolve(draft().id, dave)).toMatchObject({ state: 'accepted', resolution: dave, earlierResolutions: [backport, carol] });
    expect(await store.get(draft().id)).toMatchObject({ state: 'accepted', resolution: dave, earlierResolutions: [backport, carol] });
    await store.record(draft({ uid: 'uid-2', at: '2025-06-01T15:00:00Z' }));
    const reopened = await store.get(draft().id);
    expect(reopened).toMatchObject({ state: 'open', earlierResolutions: [backport, carol, dave] });
    expect(reopened.resolution).toBeUndefined();
  });

  it('settlement does not close a ticket a person closed first, naming the person', async () => {
    const store = openStore();
    await store.record(draft());
    await store.resolve(draft().id, backport);
    const settled: Resolution = { ...backport, decision: 'revert', by: 'argocd', at: '2025-06-01T12:30:00Z', closedBy: 'settlement' };
    const err = await rejection(store.resolve(draft().id, settled));
    expect(err.code).toBe('DG_TICKET_CONFLICT');
    expect(err.message).toContain('was already resolved: backport by bob');
    expect(await store.get(draft().id)).toMatchObject({ state: 'backported', resolution: backport });
  });

  it('keeps the latest of several findings, and writes nothing for one older than the finding it has', async () => {
    const store = openStore();
    await store.record(draft());
    const first: SettlementProgress = {
      at: '2025-06-01T11:00:00Z',
      carried: [],
      undone: ['/spec/replicas'],
      remaining: ['/metadata/labels/hotfix'],
      evidence: [],
    };
    const second: SettlementProgress = { ...first, at: '2025-06-01T11:30:00Z', carried: ['/metadata/labels/hotfix'], remaining: [] };
    await store.recordSettlement(draft().id, second);
    expect((await store.recordSettlement(draft().id, first)).settlement).toEqual(second);
    expect([...fake.objects.values()].filter((o) => o.metadata.labels?.[EVENT_LABEL] === 'settle')).toHaveLength(1);
    fake.objects.set(`${NS}/${draft().id}.s-older`, {
      ...[...fake.objects.values()].find((o) => o.metadata.labels?.[EVENT_LABEL] === 'settle'),
      metadata: { name: `${draft().id}.s-older`, labels: { [TICKET_LABEL]: draft().id, [EVENT_LABEL]: 'settle' } },
      spec: { ticket: draft().id, event: 'settle', object: draft().object, window: draft().window, settlement: first },
    } as BackportTicketObject);
    expect((await store.get(draft().id)).settlement).toEqual(second);
    expect((await rejection(store.recordSettlement('bt-nope', first))).code).toBe('DG_TICKET_NOT_FOUND');
    expect((await rejection(store.recordSettlement(draft().id, { ...first, remaining: 'x' } as unknown as SettlementProgress))).code).toBe('DG_TICKET_INVALID');
  });

  it('lets exactly one of two racing resolutions win, the loser naming the winner', async () => {
    await openStore().record(draft());
    fake.hold = lineUp(2, (s) => s.method === 'POST');
    const revert: Resolution = { ...backport, decision: 'revert', by: 'carol' };
    const results = await Promise.allSettled([openStore().resolve(draft().id, backport), openStore().resolve(draft().id, revert)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected');
    expect(lost?.status === 'rejected' && (lost.reason as DriftgateError).code).toBe('DG_TICKET_CONFLICT');
    expect(lost?.status === 'rejected' && (lost.reason as DriftgateError).message).toMatch(/was already resolved: (backport by bob|revert by carol)/);
    expect((await openStore().get(draft().id)).state).not.toBe('open');
  });

  it('records a backport commit once, keeps the ticket open, and reads it back', async () => {
    const store = openStore();
    await store.record(draft());
    const commit = { commit: 'a'.repeat(40), branch: 'backport/x', files: ['apps/web.yaml'], changes: 1, by: 'alice', at: '2025-06-01T12:00:00Z' };
    await store.recordBackport(draft().id, commit);
    const again = await store.recordBackport(draft().id, commit);
    expect(again).toMatchObject({ state: 'open', backports: [commit] });
    expect(
      [...fake.objects.values()].filter((o) => o.metadata.labels?.[EVENT_LABEL] === 'backport').map((o) => (o.spec as { backport?: unknown }).backport),
    ).toEqual([commit]);
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
    expect(fake.seen.map((s) => s.query.get('continue'))).toEqual([null, '2', '4']);
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
    expect(err.message).toContain('the identity in your kubeconfig may not list and create backporttickets in driftgate-system');
  });
});

describe('KubernetesStore and JournalStore tell the same story', () => {
  it('give the same ticket for the same changes, resolutions, reopening and backport commit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'driftgate-parity-'));
    const journal = await JournalStore.open(join(dir, 'tickets.jsonl'));
    const cluster = openStore();
    const commit = { commit: 'b'.repeat(40), branch: 'backport/x', files: ['apps/web.yaml'], changes: 2, by: 'alice', at: '2025-06-01T12:30:00Z' };
    try {
      for (const store of [journal, cluster]) {
        await store.record(draft({ uid: 'u1', at: '2025-06-01T10:00:00Z' }));
        await store.record(draft({ uid: 'u2', at: '2025-06-01T10:05:00Z' }));
        await store.record(draft({ uid: 'u1', at: '2025-06-01T10:09:00Z' })); // a retry
        await store.resolve(draft().id, backport);
        await store.record(draft({ uid: 'u3', at: '2025-06-01T11:00:00Z' })); // reopens
        await store.recordBackport(draft().id, commit);
        await store.resolve(draft().id, { ...backport, decision: 'revert', by: 'carol', closedBy: 'person' });
      }
      const [fromJournal, fromCluster] = [await journal.get(draft().id), await cluster.get(draft().id)];
      expect(fromCluster).toEqual(fromJournal);
      expect(fromCluster).toMatchObject({ state: 'reverted', earlierResolutions: [backport], backports: [commit] });
      expect(await cluster.list()).toEqual(await journal.list());
    } finally {
      await journal.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('KubernetesStore and JournalStore tell the same story of settlement', () => {
  it('give the same ticket for findings, a settlement closure, a person overriding it, a reopening change and a later finding', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'driftgate-parity-settle-'));
    const journal = await JournalStore.open(join(dir, 'tickets.jsonl'));
    const cluster = openStore();
    const finding = (at: string, remaining: string[]): SettlementProgress => ({
      at,
      carried: ['/spec/replicas'],
      undone: [],
      remaining,
      evidence: [{ kind: 'gitops-write', username: 'argocd', at, requestUid: `w-${at}`, carried: ['/spec/replicas'], undone: [] }],
    });
    const settled: Resolution = {
      ...backport,
      by: 'argocd',
      at: '2025-06-01T10:30:00Z',
      closedBy: 'settlement',
      evidence: finding('2025-06-01T10:30:00Z', []).evidence,
    };
    const person: Resolution = { decision: 'revert', by: 'carol', ref: 'review', at: '2025-06-01T10:40:00Z', closedBy: 'person', override: true };
    try {
      for (const store of [journal, cluster]) {
        await store.record(draft({ uid: 'u1', at: '2025-06-01T10:00:00Z' }));
        await store.recordSettlement(draft().id, finding('2025-06-01T10:10:00Z', ['/metadata/labels/hotfix']));
        await store.recordSettlement(draft().id, finding('2025-06-01T10:20:00Z', ['/metadata/labels/hotfix']));
        await store.resolve(draft().id, settled);
        await store.recordSettlement(draft().id, finding('2025-06-01T10:35:00Z', [])); // closed: not kept
        await store.resolve(draft().id, person);
        await store.record(draft({ uid: 'u2', at: '2025-06-01T11:00:00Z' })); // reopens
        await store.recordSettlement(draft().id, finding('2025-06-01T10:50:00Z', [])); // older than the change: not kept
      }
      const [fromJournal, fromCluster] = [await journal.get(draft().id), await cluster.get(draft().id)];
      expect(fromCluster).toEqual(fromJournal);
      expect(fromCluster).toMatchObject({ state: 'open', earlierResolutions: [settled, person] });
      expect(fromCluster.settlement).toBeUndefined();
      for (const store of [journal, cluster]) await store.recordSettlement(draft().id, finding('2025-06-01T11:10:00Z', ['/metadata/labels/hotfix']));
      const [laterJournal, laterCluster] = [await journal.get(draft().id), await cluster.get(draft().id)];
      expect(laterCluster).toEqual(laterJournal);
      expect(laterCluster.settlement).toEqual(finding('2025-06-01T11:10:00Z', ['/metadata/labels/hotfix']));
      expect(await cluster.list()).toEqual(await journal.list());
    } finally {
      await journal.close();
      await rm(dir, { recursive: true, force: true });
    }
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
