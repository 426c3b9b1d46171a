import { appendFile, mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DriftgateError } from '../../../src/errors.js';
import { JournalStore, parseTicketsSpec } from '../../../src/tickets/journal.js';
import type { Resolution } from '../../../src/tickets/types.js';
import { draft } from './drafts.js';

const backport: Resolution = { decision: 'backport', by: 'bob', ref: 'https://git.example/pr/7', at: '2025-06-01T12:00:00Z' };

let dir: string;
let path: string;
let warnings: string[];
let stores: JournalStore[];

async function openStore(p = path): Promise<JournalStore> {
  const store = await JournalStore.open(p, { onWarning: (m) => warnings.push(m) });
  stores.push(store);
  return store;
}

async function lines(): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
}

async function rejection(promise: Promise<unknown>): Promise<DriftgateError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DriftgateError)) throw new Error(`expected a DriftgateError, got ${String(err)}`);
  return err;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'driftgate-journal-'));
  path = join(dir, 'state', 'tickets.jsonl');
  warnings = [];
  stores = [];
});

afterEach(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('JournalStore', () => {
  it('creates its directory 0700 and its file 0600', async () => {
    await openStore();
    expect((await stat(join(dir, 'state'))).mode & 0o777).toBe(0o700);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, 'utf8')).toBe('');
  });

  it('records a change, then lists, gets and resolves its ticket', async () => {
    const store = await openStore();
    const d = draft();
    await store.record(d);
    expect(await store.list()).toEqual([{ id: d.id, object: d.object, window: d.window, state: 'open', openedAt: d.change.at, changes: [d.change] }]);
    expect((await store.get(d.id)).changes).toEqual([d.change]);
    const resolved = await store.resolve(d.id, backport);
    expect(resolved).toMatchObject({ state: 'backported', resolution: backport });
    expect(await store.list({ state: 'open' })).toEqual([]);
    expect(store.describeStore()).toBe(`journal:${path}`);
  });

  it('records a backport commit as its own event, once, without closing the ticket', async () => {
    const store = await openStore();
    await store.record(draft());
    const commit = {
      commit: 'b'.repeat(40),
      branch: 'backport/x',
      files: ['web.yaml'],
      changes: 1,
      by: 'alice',
      at: '2025-06-01T12:00:00Z',
      repo: 'git@example:x.git',
    };
    await store.recordBackport(draft().id, commit);
    const ticket = await store.recordBackport(draft().id, commit);
    expect(ticket).toMatchObject({ state: 'open', backports: [commit] });
    expect((await lines())[1]).toBe(JSON.stringify({ type: 'backport', id: draft().id, backport: commit }));
    await expect(store.recordBackport(draft().id, { ...commit, commit: '' })).rejects.toThrow('backport.commit is not a non-empty string');
    await expect(store.recordBackport('bt-nope', commit)).rejects.toThrow('no ticket "bt-nope"');
  });

  it('writes exactly the draft it was given, one event per line', async () => {
    const store = await openStore();
    const d = draft();
    d.change.patch.push({ op: 'replace', path: '/data/password', value: '(redacted)' });
    await store.record(d);
    expect(await readFile(path, 'utf8')).toBe(`${JSON.stringify({ type: 'change', draft: d })}\n`);
    expect(JSON.parse((await lines())[0] ?? '')).toEqual({ type: 'change', draft: d });
  });

  it('keeps one change when the apiserver retries the same request', async () => {
    const store = await openStore();
    await store.record(draft({ uid: 'u1' }));
    await store.record(draft({ uid: 'u1', at: '2025-06-01T10:00:09Z' }));
    expect((await store.get(draft().id)).changes.map((c) => c.requestUid)).toEqual(['u1']);
  });

  it('records 100 concurrent changes, each on a line of its own', async () => {
    const store = await openStore();
    const uids = Array.from({ length: 100 }, (_, i) => `u${i}`);
    await Promise.all(uids.map((uid, i) => store.record(draft({ uid, id: `t${i % 7}` }))));
    const written = await lines();
    expect(written).toHaveLength(100);
    for (const line of written) expect(() => JSON.parse(line)).not.toThrow();
    const tickets = await store.list();
    expect(tickets).toHaveLength(7);
    expect(tickets.flatMap((t) => t.changes.map((c) => c.requestUid)).sort()).toEqual([...uids].sort());
    expect(warnings).toEqual([]);
  });

  it('writes changes that wait together in one write and one fsync (group commit)', async () => {
    const store = await openStore();
    await store.record(draft({ uid: 'warm-up' })); // opens the append handle
    const handle = await open(path, 'r');
    const proto = Object.getPrototypeOf(handle) as { sync(): Promise<void>; write(...args: unknown[]): Promise<unknown> };
    await handle.close();
    const syncs = vi.spyOn(proto, 'sync');
    const writes = vi.spyOn(proto, 'write');
    try {
      await Promise.all(Array.from({ length: 50 }, (_, i) => store.record(draft({ uid: `u${i}` }))));
      expect(syncs.mock.calls.length).toBeGreaterThanOrEqual(1);
      expect(syncs.mock.calls.length).toBeLessThanOrEqual(2);
      expect(writes.mock.calls.length).toBeLessThanOrEqual(2);
    } finally {
      syncs.mockRestore();
      writes.mockRestore();
    }
    expect((await store.get(draft().id)).changes).toHaveLength(51);
  });

  it('skips a torn last line with a warning naming it, then appends on a fresh line', async () => {
    const first = draft({ id: 'a', uid: 'u1' });
    await mkdir(join(dir, 'state'));
    const good = `${JSON.stringify({ type: 'change', draft: first })}\n`;
    const torn = JSON.stringify({ type: 'change', draft: draft({ id: 'b', uid: 'u2' }) }).slice(0, 60);
    await writeFile(path, good + torn);

    const store = await openStore();
    expect((await store.list()).map((t) => t.id)).toEqual(['a']);
    expect(warnings).toEqual([`${path}:2: skipped a torn or corrupt line (not JSON); the events around it are intact`]);

    const next = draft({ id: 'c', uid: 'u3' });
    await store.record(next);
    expect(await readFile(path, 'utf8')).toBe(`${good}${torn}\n${JSON.stringify({ type: 'change', draft: next })}\n`);
    warnings = [];
    expect((await store.list()).map((t) => t.id)).toEqual(['a', 'c']);
    expect(warnings).toEqual([`${path}:2: skipped a torn or corrupt line (not JSON); the events around it are intact`]);
  });

  it('skips a line that parses but is not an event, naming the line and the field', async () => {
    await mkdir(join(dir, 'state'));
    await writeFile(path, `{"type":"change","draft":{}}\n${JSON.stringify({ type: 'change', draft: draft() })}\n`);
    const store = await openStore();
    expect(await store.list()).toHaveLength(1);
    expect(warnings).toEqual([`${path}:1: skipped a line that is not a ticket event: draft.object is not an object`]);
  });

  it('keeps reading when the warning sink throws', async () => {
    await mkdir(join(dir, 'state'));
    await writeFile(path, '{"type":\n');
    const store = await JournalStore.open(path, {
      onWarning: () => {
        throw new Error('sink down');
      },
    });
    stores.push(store);
    expect(await store.list()).toEqual([]);
  });

  it('refuses a file none of whose lines is an event: not a journal, not "no tickets"', async () => {
    await mkdir(join(dir, 'state'));
    await writeFile(path, '# driftgate\n\nA Kubernetes admission webhook.\n');
    const store = await openStore();
    const err = await rejection(store.list());
    expect(err.code).toBe('DG_NOT_A_JOURNAL');
    expect(err.message).toBe(
      `${path} is not a ticket journal: no line of it is a ticket event (first: ${path}:1); is --tickets the path driftgate serve writes?`,
    );
  });

  it('reads a journal whose only line is torn (a crash during the first append) as empty', async () => {
    await mkdir(join(dir, 'state'));
    await writeFile(path, '{"type":"change","dra');
    expect(await (await openStore()).list()).toEqual([]);
  });

  it('names the id and how to list ids when a ticket is not found', async () => {
    const store = await openStore();
    const err = await rejection(store.get('bt-nope'));
    expect(err.code).toBe('DG_TICKET_NOT_FOUND');
    expect(err.message).toBe(`no ticket "bt-nope" in journal:${path}; list the ids with: driftgate tickets list --tickets journal:${path}`);
  });

  it('refuses to resolve a ticket twice, naming the earlier decision', async () => {
    const store = await openStore();
    await store.record(draft());
    await store.resolve(draft().id, backport);
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

  it('lets exactly one of two racing resolvers (two processes) win', async () => {
    const a = await openStore();
    const b = await openStore();
    await a.record(draft());
    const results = await Promise.allSettled([a.resolve(draft().id, backport), b.resolve(draft().id, { ...backport, decision: 'accept' })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected');
    expect(lost?.status === 'rejected' && (lost.reason as DriftgateError).code).toBe('DG_TICKET_CONFLICT');
  });

  it('refuses a resolution missing who or where', async () => {
    const store = await openStore();
    await store.record(draft());
    const err = await rejection(store.resolve(draft().id, { ...backport, by: ' ' }));
    expect(err.code).toBe('DG_TICKET_INVALID');
    expect(err.message).toBe('resolution: by is empty: name who decided');
  });

  it('refuses a malformed draft rather than write a line the reader would skip', async () => {
    const store = await openStore();
    const bad = draft({ uid: '' });
    const err = await rejection(store.record(bad));
    expect(err.code).toBe('DG_TICKET_STORE');
    expect(await readFile(path, 'utf8')).toBe('');
  });

  it('reports DG_JOURNAL_IO when the journal path is a directory', async () => {
    await mkdir(path, { recursive: true });
    const err = await rejection(JournalStore.open(path));
    expect(err.code).toBe('DG_JOURNAL_IO');
    expect(err.message).toBe(`${path}: could not open the journal: it is not a regular file`);

    const store = new JournalStore({ path });
    const appendErr = await rejection(store.record(draft()));
    expect(appendErr.code).toBe('DG_JOURNAL_IO');
    expect(appendErr.message).toBe(`${path}: could not append the ticket: it is not a regular file`);
  });

  it('reports DG_JOURNAL_IO naming the path when a parent is a file', async () => {
    await writeFile(join(dir, 'state'), 'not a directory');
    const store = new JournalStore({ path });
    const err = await rejection(store.record(draft()));
    expect(err.code).toBe('DG_JOURNAL_IO');
    expect(err.message).toMatch(new RegExp(`^${path}: could not append the ticket: E(EXIST|NOTDIR)`));
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('recovers after a failed append once the cause is gone', async () => {
    await writeFile(join(dir, 'state'), 'not a directory');
    const store = new JournalStore({ path });
    stores.push(store);
    await rejection(store.record(draft({ uid: 'u1' })));
    await rm(join(dir, 'state'));
    await store.record(draft({ uid: 'u2' }));
    expect((await store.get(draft().id)).changes.map((c) => c.requestUid)).toEqual(['u2']);
  });

  it('rejects with DG_TICKET_TIMEOUT and writes nothing when the signal has fired', async () => {
    const store = await openStore();
    const err = await rejection(store.record(draft(), { signal: AbortSignal.abort() }));
    expect(err.code).toBe('DG_TICKET_TIMEOUT');
    expect(err.message).toContain(draft().id);
    expect(await readFile(path, 'utf8')).toBe('');
  });

  it('drops a queued change whose signal fires before its write', async () => {
    const store = await openStore();
    const controller = new AbortController();
    const first = store.record(draft({ uid: 'u1' }));
    const second = rejection(store.record(draft({ uid: 'u2' }), { signal: controller.signal }));
    controller.abort();
    await first;
    expect((await second).code).toBe('DG_TICKET_TIMEOUT');
    expect((await store.get(draft().id)).changes.map((c) => c.requestUid)).toEqual(['u1']);
  });

  it('refuses records after close', async () => {
    const store = await openStore();
    await store.close();
    expect((await rejection(store.record(draft()))).code).toBe('DG_TICKET_STORE');
  });

  it('reads a journal another process appends to', async () => {
    const writer = await openStore();
    const reader = await openStore();
    await writer.record(draft());
    await appendFile(path, '\n'); // a blank line is a separator, never a warning
    expect(await reader.list()).toHaveLength(1);
    expect(warnings).toEqual([]);
  });
});

describe('parseTicketsSpec', () => {
  it('reads journal:FILE and kubernetes', () => {
    expect(parseTicketsSpec('journal:/var/lib/driftgate/tickets.jsonl')).toEqual({ kind: 'journal', path: '/var/lib/driftgate/tickets.jsonl' });
    expect(parseTicketsSpec('kubernetes')).toEqual({ kind: 'kubernetes' });
  });

  for (const spec of ['foo', 'journal:', 'Kubernetes', '']) {
    it(`refuses ${JSON.stringify(spec)}`, () => {
      expect(() => parseTicketsSpec(spec)).toThrow(
        expect.objectContaining({ code: 'DG_TICKETS_SPEC', message: `--tickets ${JSON.stringify(spec)}: use journal:/path/to/tickets.jsonl or kubernetes` }),
      );
    });
  }
});
