/** Ticket drafts for the tickets tests, shaped as the decision emits them. */
import type { TicketDraft } from '../../../src/decision/types.js';

/** DraftOptions overrides the parts of a draft a test cares about. */
export interface DraftOptions {
  id?: string;
  uid?: string;
  at?: string;
  namespace?: string;
  name?: string;
  incident?: string;
  username?: string;
}

/** draft returns a bypass draft: a replica change on deployments.apps/web under incident INC-1. */
export function draft(opts: DraftOptions = {}): TicketDraft {
  const namespace = opts.namespace ?? 'shop';
  const name = opts.name ?? 'web';
  return {
    id: opts.id ?? `bt-${namespace}-${name}-1`,
    object: { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespace, name },
    window: { until: '2025-06-01T14:00:00Z', reason: 'checkout latency', incident: opts.incident ?? 'INC-1' },
    change: {
      requestUid: opts.uid ?? 'uid-1',
      at: opts.at ?? '2025-06-01T10:00:00Z',
      username: opts.username ?? 'alice',
      groups: ['oncall', 'system:authenticated'],
      operation: 'UPDATE',
      patch: [
        { op: 'replace', path: '/spec/replicas', value: 5 },
        { op: 'add', path: '/metadata/labels/hotfix', value: 'yes' },
      ],
      revert: [
        { op: 'replace', path: '/spec/replicas', value: 3 },
        { op: 'remove', path: '/metadata/labels/hotfix' },
      ],
    },
  };
}
