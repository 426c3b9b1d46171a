/**
 * The ticket store of the offline `review` and `policy test`: it records nothing, and says so.
 * The admission path requires a store, so that forgetting one can never mean "allow without
 * recording"; a caller that means "record nothing" passes this one by name.
 */
import { DriftgateError } from '../errors.js';
import type { Ticket, TicketStore } from './types.js';

/** OFFLINE_STORE is what `describeStore()` of the offline store returns. */
export const OFFLINE_STORE = 'nowhere (offline: a bypass is answered as the server would once recorded, and not recorded)';

/** offlineStore returns a TicketStore whose `record()` resolves at once and keeps nothing. */
export function offlineStore(): TicketStore {
  const none = (id: string): DriftgateError =>
    new DriftgateError('DG_TICKET_NOT_FOUND', `no ticket ${id}: the offline review records no tickets; read them from the server's store with --tickets`);
  return {
    record: () => Promise.resolve(),
    list: (): Promise<Ticket[]> => Promise.resolve([]),
    get: (id) => Promise.reject(none(id)),
    resolve: (id) => Promise.reject(none(id)),
    recordBackport: (id) => Promise.reject(none(id)),
    recordSettlement: (id) => Promise.reject(none(id)),
    close: () => Promise.resolve(),
    describeStore: () => OFFLINE_STORE,
  };
}
