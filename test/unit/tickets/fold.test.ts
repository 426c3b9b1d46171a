import { describe, expect, it } from 'vitest';
import { checkEvent, filterTickets, foldEvents } from '../../../src/tickets/fold.js';
import type { Resolution, TicketEvent } from '../../../src/tickets/types.js';
import { draft } from './drafts.js';

const backport: Resolution = { decision: 'backport', by: 'bob', ref: 'https://git.example/pr/7', at: '2025-06-01T12:00:00Z' };
const change = (...args: Parameters<typeof draft>): TicketEvent => ({ type: 'change', draft: draft(...args) });

describe('foldEvents', () => {
  it('opens a ticket on its first change', () => {
    const d = draft();
    expect(foldEvents([{ type: 'change', draft: d }])).toEqual([
      { id: d.id, object: d.object, window: d.window, state: 'open', openedAt: d.change.at, changes: [d.change] },
    ]);
  });

  it('keeps one change per request uid, the first one', () => {
    const [ticket] = foldEvents([change({ uid: 'u1', at: '2025-06-01T10:00:00Z' }), change({ uid: 'u1', at: '2025-06-01T10:00:05Z' })]);
    expect(ticket?.changes.map((c) => c.at)).toEqual(['2025-06-01T10:00:00Z']);
  });

  it('holds every change under the window, opened at the earliest', () => {
    const [ticket] = foldEvents([change({ uid: 'u2', at: '2025-06-01T10:05:00Z' }), change({ uid: 'u1', at: '2025-06-01T10:00:00Z' })]);
    expect(ticket?.changes.map((c) => c.requestUid)).toEqual(['u2', 'u1']);
    expect(ticket?.openedAt).toBe('2025-06-01T10:00:00Z');
  });

  it('resolves an open ticket and keeps the first resolution when two race', () => {
    const revert: Resolution = { ...backport, decision: 'revert', by: 'carol' };
    const [ticket] = foldEvents([change(), { type: 'resolve', id: draft().id, resolution: backport }, { type: 'resolve', id: draft().id, resolution: revert }]);
    expect(ticket?.state).toBe('backported');
    expect(ticket?.resolution).toEqual(backport);
  });

  it('reopens a resolved ticket when a later change arrives, keeping the earlier decision visible', () => {
    const [ticket] = foldEvents([change({ uid: 'u1' }), { type: 'resolve', id: draft().id, resolution: backport }, change({ uid: 'u2' })]);
    expect(ticket?.state).toBe('open');
    expect(ticket?.resolution).toBeUndefined();
    expect(ticket?.earlierResolutions).toEqual([backport]);
    expect(ticket?.changes).toHaveLength(2);
  });

  it('ignores a resolution for an unknown ticket', () => {
    expect(foldEvents([{ type: 'resolve', id: 'nope', resolution: backport }])).toEqual([]);
  });

  it('returns tickets oldest first, then by id', () => {
    const tickets = foldEvents([
      change({ id: 'b', at: '2025-06-02T00:00:00Z' }),
      change({ id: 'c', at: '2025-06-01T00:00:00Z' }),
      change({ id: 'a', at: '2025-06-02T00:00:00Z' }),
    ]);
    expect(tickets.map((t) => t.id)).toEqual(['c', 'a', 'b']);
  });

  it('does not alias the events it folds', () => {
    const event = change();
    const [ticket] = foldEvents([event]);
    ticket?.changes[0]?.groups.push('mutated');
    expect(event.type === 'change' && event.draft.change.groups).toEqual(['oncall', 'system:authenticated']);
  });
});

describe('filterTickets', () => {
  const tickets = foldEvents([
    change({ id: 't1', namespace: 'shop', incident: 'INC-1', at: '2025-06-01T10:00:00Z' }),
    change({ id: 't2', namespace: 'pay', incident: 'INC-2', at: '2025-06-03T10:00:00Z' }),
    { type: 'resolve', id: 't2', resolution: backport },
  ]);
  const cases = [
    { name: 'no filter keeps all', filter: {}, want: ['t1', 't2'] },
    { name: 'by state', filter: { state: 'open' as const }, want: ['t1'] },
    { name: 'by namespace', filter: { namespace: 'pay' }, want: ['t2'] },
    { name: 'by incident', filter: { incident: 'INC-1' }, want: ['t1'] },
    { name: 'by a change since', filter: { since: new Date('2025-06-02T00:00:00Z') }, want: ['t2'] },
    { name: 'all fields must match', filter: { namespace: 'pay', state: 'open' as const }, want: [] },
  ];
  for (const { name, filter, want } of cases) {
    it(name, () => expect(filterTickets(tickets, filter).map((t) => t.id)).toEqual(want));
  }
});

describe('checkEvent', () => {
  it('accepts a change and a resolution', () => {
    expect(checkEvent(change()).ok).toBe(true);
    expect(checkEvent({ type: 'resolve', id: 't', resolution: backport }).ok).toBe(true);
  });

  const d = draft();
  const cases: Array<{ name: string; value: unknown; problem: string }> = [
    { name: 'not an object', value: [1], problem: 'the event is not an object' },
    { name: 'unknown type', value: { type: 'delete' }, problem: 'type is "delete", not "change", "resolve", "settle" or "backport"' },
    { name: 'draft without id', value: { type: 'change', draft: { ...d, id: '' } }, problem: 'draft.id is not a non-empty string' },
    {
      name: 'object missing its name',
      value: { type: 'change', draft: { ...d, object: { ...d.object, name: 1 } } },
      problem: 'draft.object.name is not a string',
    },
    {
      name: 'change without request uid',
      value: { type: 'change', draft: { ...d, change: { ...d.change, requestUid: undefined } } },
      problem: 'draft.change.requestUid is not a non-empty string',
    },
    {
      name: 'unknown operation',
      value: { type: 'change', draft: { ...d, change: { ...d.change, operation: 'PATCH' } } },
      problem: 'draft.change.operation "PATCH" is not an admission operation',
    },
    {
      name: 'broken revert op',
      value: { type: 'change', draft: { ...d, change: { ...d.change, revert: [{ op: 'add' }] } } },
      problem: 'draft.change.revert[0] is not a JSON Patch operation',
    },
    {
      name: 'unknown decision',
      value: { type: 'resolve', id: 't', resolution: { ...backport, decision: 'ignore' } },
      problem: 'resolution.decision "ignore" is not one of backport, revert, accept',
    },
    {
      name: 'unknown closer',
      value: { type: 'resolve', id: 't', resolution: { ...backport, closedBy: 'robot' } },
      problem: 'resolution.closedBy "robot" is not one of person, settlement',
    },
    {
      name: 'evidence of an unknown kind',
      value: { type: 'resolve', id: 't', resolution: { ...backport, evidence: [{ kind: 'hunch' }] } },
      problem: 'resolution.evidence[0].kind is not one of commit, gitops-write, sync-status',
    },
    {
      name: 'backport without files',
      value: { type: 'backport', id: 't', backport: { commit: 'abc', branch: 'b', changes: 1, by: 'a', at: 'x' } },
      problem: 'backport.files is not a list of strings',
    },
  ];
  for (const { name, value, problem } of cases) {
    it(`refuses ${name}`, () => expect(checkEvent(value)).toEqual({ ok: false, problem }));
  }
});
