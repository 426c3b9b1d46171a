import { describe, expect, it } from 'vitest';
import { foldEvents } from '../../../src/tickets/fold.js';
import { fieldLines, renderTable, renderTicket, safe } from '../../../src/tickets/render.js';
import type { Resolution, Ticket } from '../../../src/tickets/types.js';
import { draft } from './drafts.js';

const backport: Resolution = { decision: 'backport', by: 'bob', ref: 'https://git.example/pr/7', at: '2025-06-01T12:00:00Z' };

function tickets(): Ticket[] {
  return foldEvents([
    { type: 'change', draft: draft({ id: 'bt-shop-web-1', uid: 'u1' }) },
    { type: 'change', draft: draft({ id: 'bt-shop-web-1', uid: 'u2', at: '2025-06-01T10:30:00Z', username: 'dave' }) },
    { type: 'change', draft: draft({ id: 'bt-pay-api-2', namespace: 'payments', name: 'api', incident: 'INC-22', at: '2025-06-02T08:00:00Z' }) },
    { type: 'resolve', id: 'bt-pay-api-2', resolution: backport },
  ]);
}

describe('renderTable', () => {
  it('aligns one row per ticket under the header', () => {
    expect(renderTable(tickets())).toBe(
      [
        'ID              STATE        NAMESPACE   OBJECT                 INCIDENT   CHANGES   OPENED',
        'bt-shop-web-1   open         shop        deployments.apps/web   INC-1      2         2025-06-01T10:00:00Z',
        'bt-pay-api-2    backported   payments    deployments.apps/api   INC-22     1         2025-06-02T08:00:00Z',
        '',
      ].join('\n'),
    );
  });

  it('prints only the header for no tickets', () => {
    expect(renderTable([])).toBe('ID   STATE   NAMESPACE   OBJECT   INCIDENT   CHANGES   OPENED\n');
  });
});

describe('renderTicket', () => {
  it('shows the header, then each change as field: old → new', () => {
    const [, paid] = tickets();
    expect(renderTicket(paid as Ticket)).toBe(
      [
        'Ticket:       bt-pay-api-2',
        'State:        backported',
        'Object:       deployments.apps/api in namespace payments (apps/v1 Deployment)',
        'Incident:     INC-22',
        'Reason:       checkout latency',
        'Window until: 2025-06-01T14:00:00Z',
        'Opened:       2025-06-02T08:00:00Z',
        'Resolved:     backport by bob at 2025-06-01T12:00:00Z (https://git.example/pr/7)',
        'Changes:      1',
        '',
        '1. 2025-06-02T08:00:00Z  UPDATE by alice (groups: oncall, system:authenticated)  request uid-1',
        '   /spec/replicas: 3 → 5',
        '   /metadata/labels/hotfix: (absent) → "yes"',
        '',
      ].join('\n'),
    );
  });

  it('shows a settlement closure with its evidence, and the backport commits', () => {
    const [t] = foldEvents([
      { type: 'change', draft: draft({ id: 'bt-shop-web-1', uid: 'u1' }) },
      {
        type: 'backport',
        id: 'bt-shop-web-1',
        backport: {
          commit: 'abc123',
          branch: 'backport/bt-shop-web-1',
          files: ['apps/web.yaml'],
          changes: 1,
          by: 'Alice <a@example.com>',
          at: '2025-06-01T11:00:00Z',
          repo: 'git@git.example:shop.git',
        },
      },
      {
        type: 'resolve',
        id: 'bt-shop-web-1',
        resolution: {
          ...backport,
          by: 'flux-system/kustomize-controller',
          ref: 'main@abc123',
          closedBy: 'settlement',
          evidence: [{ kind: 'sync-status', tool: 'flux', namespace: 'flux-system', name: 'shop', revision: 'main@sha1:abc123', at: '2025-06-01T12:00:00Z' }],
        },
      },
    ]);
    const page = renderTicket(t as Ticket);
    expect(page).toContain('Resolved:        backport by settlement (flux-system/kustomize-controller) at 2025-06-01T12:00:00Z (main@abc123)\n');
    expect(page).toContain('Evidence:        Flux Kustomization flux-system/shop in sync at revision main@sha1:abc123 (2025-06-01T12:00:00Z)\n');
    expect(page).toContain(
      'Backport commit: abc123 on backport/bt-shop-web-1 by Alice <a@example.com> at 2025-06-01T11:00:00Z (1 change: apps/web.yaml) in git@git.example:shop.git\n',
    );
  });

  it('escapes terminal control characters a requester wrote', () => {
    const d = draft();
    d.window.reason = 'fix\u001b[2Jnow';
    const [ticket] = foldEvents([{ type: 'change', draft: d }]);
    expect(renderTicket(ticket as Ticket)).toContain('Reason:       fix\\u001b[2Jnow\n');
  });
});

describe('fieldLines', () => {
  const cases = [
    {
      name: 'replace takes the old value from the revert',
      patch: [{ op: 'replace' as const, path: '/spec/template/spec/containers/0/image', value: 'web:1.2' }],
      revert: [{ op: 'replace' as const, path: '/spec/template/spec/containers/0/image', value: 'web:1.1' }],
      want: ['/spec/template/spec/containers/0/image: "web:1.1" → "web:1.2"'],
    },
    {
      name: 'add shows the field as absent before',
      patch: [{ op: 'add' as const, path: '/spec/paused', value: true }],
      revert: [{ op: 'remove' as const, path: '/spec/paused' }],
      want: ['/spec/paused: (absent) → true'],
    },
    {
      name: 'remove shows the old value as removed',
      patch: [{ op: 'remove' as const, path: '/metadata/labels/team' }],
      revert: [{ op: 'add' as const, path: '/metadata/labels/team', value: 'core' }],
      want: ['/metadata/labels/team: "core" → (removed)'],
    },
    {
      name: 'objects print as compact JSON',
      patch: [{ op: 'replace' as const, path: '/spec/resources', value: { limits: { cpu: '2' } } }],
      revert: [{ op: 'replace' as const, path: '/spec/resources', value: { limits: { cpu: '1' } } }],
      want: ['/spec/resources: {"limits":{"cpu":"1"}} → {"limits":{"cpu":"2"}}'],
    },
    {
      name: 'an old value missing from the revert says so',
      patch: [{ op: 'replace' as const, path: '/spec/replicas', value: 2 }],
      revert: [],
      want: ['/spec/replicas: (unknown) → 2'],
    },
    { name: 'test ops are not changes', patch: [{ op: 'test' as const, path: '/a', value: 1 }], revert: [], want: [] },
  ];
  for (const { name, patch, revert, want } of cases) {
    it(name, () => expect(fieldLines(patch, revert)).toEqual(want));
  }

  it('safe leaves printable text alone', () => expect(safe('café → ok')).toBe('café → ok'));
});
