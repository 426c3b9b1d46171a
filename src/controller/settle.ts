/**
 * Settling tickets from evidence: the one place an assessment (src/tickets/settle.ts, pure) turns
 * into a store write. A closure goes through `resolve()` with closedBy "settlement"; a partial
 * finding through `recordSettlement()`. Settlement never overrides a decision: a ticket someone
 * closed meanwhile is reported as such and left alone.
 */
import { isDriftgateError, messageOf } from '../errors.js';
import type { ObjectRef } from '../decision/types.js';
import { type Observation, assess, nextStep } from '../tickets/settle.js';
import type { Evidence, Ticket, TicketStore } from '../tickets/types.js';

/** SettleSource says where the evidence came from; a bounded metric label. */
export type SettleSource = 'gitops-write' | 'argocd' | 'flux';

/** SettleOutcome is what became of one ticket. */
export interface SettleOutcome {
  id: string;
  outcome: 'backported' | 'reverted' | 'partial' | 'unsettled';
  /** For unsettled: why nothing was recorded. */
  why?: string;
  /** For partial: the paths that remain. */
  remaining?: string[];
}

/** Evidenced is an observation and who and what backs it. */
export interface Evidenced {
  observation: Observation;
  evidence: Evidence;
  /** The GitOps writer or tool, for the resolution's `by`. */
  by: string;
  /** What a reviewer follows, for the resolution's `ref`. */
  ref: string;
}

/** settleTickets judges each ticket against the evidence and records what follows, one ticket at a time. */
export async function settleTickets(store: TicketStore, tickets: readonly Ticket[], evidenced: Evidenced, now: Date): Promise<SettleOutcome[]> {
  const out: SettleOutcome[] = [];
  for (const ticket of tickets) {
    const step = nextStep(ticket, assess(ticket, evidenced.observation), evidenced.evidence, evidenced.by, evidenced.ref, now);
    if (step.kind === 'nothing') {
      out.push({ id: ticket.id, outcome: 'unsettled', why: step.why });
    } else if (step.kind === 'progress') {
      await store.recordSettlement(ticket.id, step.settlement);
      out.push({ id: ticket.id, outcome: 'partial', remaining: step.settlement.remaining });
    } else {
      try {
        await store.resolve(ticket.id, step.resolution);
        out.push({ id: ticket.id, outcome: step.resolution.decision === 'revert' ? 'reverted' : 'backported' });
      } catch (err) {
        // Someone (a person, another replica) closed it between our read and our write: theirs stands.
        if (isDriftgateError(err) && err.code === 'DG_TICKET_CONFLICT') out.push({ id: ticket.id, outcome: 'unsettled', why: messageOf(err) });
        else throw err;
      }
    }
  }
  return out;
}

/** openTicketsOn returns the open tickets on the object (same group, resource, namespace and name). */
export async function openTicketsOn(store: TicketStore, ref: Pick<ObjectRef, 'group' | 'resource' | 'namespace' | 'name'>): Promise<Ticket[]> {
  const open = await store.list({ state: 'open', namespace: ref.namespace });
  return open.filter((t) => t.object.group === ref.group && t.object.resource === ref.resource && t.object.name === ref.name);
}
