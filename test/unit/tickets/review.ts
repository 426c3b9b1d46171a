/**
 * A week of bypasses for the report tests (aggregation, CLI and the HTML page in Chromium): two
 * overdue tickets, two open ones that are not, a resolved one, one window much longer than the
 * rest, and a reason and a username that try to inject HTML.
 */
import type { TicketDraft, Window } from '../../../src/decision/types.js';
import type { TicketEvent } from '../../../src/tickets/types.js';
import { draft, type DraftOptions } from './drafts.js';

/** REVIEW_NOW is the clock of the review week. */
export const REVIEW_NOW = new Date('2025-06-08T12:00:00Z');

/** HOSTILE_REASON is a break-glass reason that tries to run a script in the HTML report. */
export const HOSTILE_REASON = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>';

/** HOSTILE_USER is a username that tries to open an element. */
export const HOSTILE_USER = 'mallory<b>';

function under(window: Window, opts: DraftOptions): TicketDraft {
  return { ...draft(opts), window };
}

/** reviewEvents returns the week's events, in the order a journal would hold them. */
export function reviewEvents(): TicketEvent[] {
  const a: Window = { until: '2025-06-02T12:00:00Z', reason: 'checkout latency', incident: 'INC-1' };
  const b: Window = { until: '2025-06-07T10:00:00Z', reason: 'payment timeouts', incident: 'INC-22' };
  const c: Window = { until: '2025-06-05T10:00:00Z', reason: 'cart errors', incident: 'INC-22' };
  const d: Window = { until: '2025-05-01T02:00:00Z', reason: 'old outage', incident: 'INC-0' };
  const e: Window = { until: '2025-06-08T13:00:00Z', reason: HOSTILE_REASON, incident: 'INC-9' };
  const changes: TicketDraft[] = [
    under(d, { id: 'bt-old-api-4', uid: 'd1', namespace: 'old', name: 'api', username: 'dave', at: '2025-05-01T00:00:00Z' }),
    under(a, { id: 'bt-shop-web-7', uid: 'a1', username: 'alice', at: '2025-06-01T10:00:00Z' }),
    under(a, { id: 'bt-shop-web-7', uid: 'a2', username: 'alice', at: '2025-06-02T10:00:00Z' }),
    under(c, { id: 'bt-shop-cart-3', uid: 'c1', name: 'cart', username: 'carol', at: '2025-06-05T09:00:00Z' }),
    under(c, { id: 'bt-shop-cart-3', uid: 'c2', name: 'cart', username: 'alice', at: '2025-06-05T09:30:00Z' }),
    under(b, { id: 'bt-payments-api-2', uid: 'b1', namespace: 'payments', name: 'api', username: 'bob', at: '2025-06-07T08:00:00Z' }),
    under(e, { id: 'bt-shop-db-5', uid: 'e1', name: 'db', username: HOSTILE_USER, at: '2025-06-08T09:00:00Z' }),
  ];
  return [
    ...changes.map((d): TicketEvent => ({ type: 'change', draft: d })),
    { type: 'resolve', id: 'bt-shop-cart-3', resolution: { decision: 'backport', by: 'carol', ref: 'https://git.example/pr/12', at: '2025-06-05T11:00:00Z' } },
  ];
}
