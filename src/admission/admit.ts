/**
 * The one code path from a parsed AdmissionRequest to an answer, shared by the HTTPS server and
 * the `review` CLI so that the two can never disagree. It is the only place where a bypass meets
 * the ticket store: a bypass is answered `allowed: true` only after `record()` has resolved, and
 * a store that fails or runs out of time turns it into a denial that says so.
 */
import type { AdmissionRequest, KubeObject } from './types.js';
import { type Answer, allowed, denied, patched } from './respond.js';
import { decideOrAskUnder, decideUnder } from '../decision/in-force.js';
import type { Decision, NeedsObject, ObjectRef } from '../decision/types.js';
import { DriftgateError, messageOf, httpStatusOf } from '../errors.js';
import type { PolicyInForce } from '../policy/set.js';
import type { TicketStore } from '../tickets/types.js';
import { escapeControlsKeepLines } from '../util/terminal.js';

/** Outcome is the single label each request is counted under. */
export type Outcome = 'allow' | 'deny' | 'bypass' | 'patch' | 'error';

/** Admitted is the answer plus what logs and metrics need to know about it. */
export interface Admitted {
  answer: Answer;
  decision: Decision;
  outcome: Outcome;
  /** The decision's allow/deny code, or 'break-glass' for a bypass, 'ticket-not-recorded' when the store failed. */
  reasonCode: string;
  ticketId?: string;
  /** Set when the bypass could not be recorded: the store's error, for the log. */
  storeError?: unknown;
  /** Milliseconds the ticket store took, when it was called. */
  recordMs?: number;
}

/**
 * ParentLookup fetches an object the decision asks for (a subresource's parent, a Namespace);
 * undefined when it does not exist. It rejects once `signal` aborts: the request's deadline
 * bounds the lookup too.
 */
export type ParentLookup = (ref: ObjectRef, signal?: AbortSignal) => Promise<KubeObject | undefined>;

/** AdmitDeps are everything the admission path needs, passed in explicitly. */
export interface AdmitDeps {
  /**
   * The policy in force, asked on every review so that a swapped policy (GuardPolicy objects
   * taken live, src/policy/live.ts) applies from the next review on: one policy, or a set.
   */
  policy: () => PolicyInForce;
  now: () => Date;
  /**
   * Where bypasses are recorded before they are answered. Required, so that a forgotten store can
   * never mean "allow without recording": the offline `review` passes `offlineStore()`, which
   * records nothing and says so.
   */
  tickets: TicketStore;
  /** Absent without cluster access: a refusal that only a looked-up object could lift then stands. */
  parents?: ParentLookup;
  /** Called when a lookup fails; the decision then goes on without the object (fail closed). */
  onParentError?: (ref: ObjectRef, err: unknown) => void;
}

/**
 * Asked is a NeedsObject whose `finish` may run elsewhere: the server decides a large review off
 * the event loop (src/server/offload.ts), and there finishing is a second decision on the worker,
 * with the object found, that resolves later.
 */
export type Asked = Omit<NeedsObject, 'finish'> & { finish(found: KubeObject | undefined): Decision | Promise<Decision> };

/** Prejudged is a review decided elsewhere (offload.ts): its decision, or what it asks for. */
export interface Prejudged {
  first: Decision | Asked;
}

/** ValidateOptions carry the request's one deadline, and a decision already made elsewhere. */
export interface ValidateOptions {
  /**
   * Aborts at the request's deadline, counted from its arrival: the lookup of an object the
   * decision asks for and the ticket store share it, so together they never hold the apiserver past its timeout.
   */
  deadline?: AbortSignal;
  prejudged?: Prejudged;
}

/** Admitter answers validating and mutating reviews. */
export interface Admitter {
  validate(request: AdmissionRequest, opts?: ValidateOptions): Promise<Admitted>;
  mutate(request: AdmissionRequest, opts?: { prejudged?: Prejudged }): Promise<Admitted>;
  /** The policy and time a review arriving now is judged under: what a Prejudged is decided with. */
  judgement(): { policy: PolicyInForce; now: Date };
}

/** withDeadline returns `work`, or rejects with DG_TICKET_TIMEOUT once `signal` aborts first. */
function withDeadline<T>(work: Promise<T>, signal: AbortSignal, ticketId: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new DriftgateError('DG_TICKET_TIMEOUT', `recording ticket ${ticketId} took longer than the apiserver's timeout allows`));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * shown returns warnings as kubectl may print them: decide() escapes what a user controls where it
 * puts it in; this is the second line of defence, so no control character ever leaves raw.
 */
function shown(warnings: string[]): string[] {
  return warnings.map(escapeControlsKeepLines);
}

/** createAdmitter returns an Admitter over the given dependencies. */
export function createAdmitter(deps: AdmitDeps): Admitter {
  async function lookUp(ref: ObjectRef, deadline: AbortSignal | undefined): Promise<KubeObject | undefined> {
    if (deps.parents === undefined) return undefined;
    try {
      return await deps.parents(ref, deadline);
    } catch (err) {
      deps.onParentError?.(ref, err);
      return undefined;
    }
  }

  return {
    judgement: () => ({ policy: deps.policy(), now: deps.now() }),

    async validate(request, opts = {}) {
      const first = opts.prejudged?.first ?? decideOrAskUnder(request, deps.policy(), deps.now());
      const decision = first.kind === 'needs-object' ? await first.finish(await lookUp(first.ref, opts.deadline)) : first;
      switch (decision.kind) {
        case 'allow':
          return { answer: allowed({ warnings: shown(decision.warnings) }), decision, outcome: 'allow', reasonCode: decision.code };
        case 'deny':
          return { answer: denied(escapeControlsKeepLines(decision.message), 403), decision, outcome: 'deny', reasonCode: decision.code };
        case 'bypass':
          break;
      }
      const ticketId = decision.ticket.id;
      if (request.dryRun === true) {
        const warnings = [...shown(decision.warnings), `driftgate: dry run, nothing recorded; the real write will be recorded on ticket ${ticketId}`];
        return { answer: allowed({ warnings }), decision, outcome: 'bypass', reasonCode: 'break-glass', ticketId };
      }
      const started = performance.now();
      try {
        const recording = deps.tickets.record(decision.ticket, opts.deadline === undefined ? {} : { signal: opts.deadline });
        // The deadline is enforced here, not trusted to the store: a store that ignores its signal
        // must still not hold the apiserver past its timeout (and then the bypass is refused).
        await (opts.deadline === undefined ? recording : withDeadline(recording, opts.deadline, ticketId));
      } catch (err) {
        const recordMs = performance.now() - started;
        const message =
          `[driftgate/ticket] this break-glass change was refused because it could not be recorded on backport ticket ${ticketId}: ${escapeControlsKeepLines(messageOf(err))}. ` +
          'driftgate lets no bypass through unrecorded. Retry in a minute; if it keeps failing, the ticket store is down: tell the platform team (docs/operators.md, "ticket store failures").';
        return {
          answer: denied(message, httpStatusOf(err)),
          decision,
          outcome: 'deny',
          reasonCode: 'ticket-not-recorded',
          ticketId,
          storeError: err,
          recordMs,
        };
      }
      const recordMs = performance.now() - started;
      return {
        answer: allowed({ warnings: shown(decision.warnings), auditAnnotations: { 'backport-ticket': ticketId } }),
        decision,
        outcome: 'bypass',
        reasonCode: 'break-glass',
        ticketId,
        recordMs,
      };
    },

    async mutate(request, opts = {}) {
      // No parent lookup: the mutating webhook never refuses, and a bypass under the parent's
      // window has nothing to stamp on the subresource's object.
      const first = opts.prejudged?.first;
      const decision = first === undefined ? decideUnder(request, deps.policy(), deps.now()) : first.kind === 'needs-object' ? first.refusal : first;
      // The mutating webhook never refuses: refusals are the validating webhook's, so that a
      // request is denied once, with one message, after every mutation has run.
      if (decision.kind === 'deny') {
        return { answer: allowed(), decision, outcome: 'allow', reasonCode: decision.code };
      }
      const ticketId = decision.kind === 'bypass' ? decision.ticket.id : undefined;
      const reasonCode = decision.kind === 'bypass' ? 'break-glass' : decision.code;
      if (decision.mutation.length === 0) {
        return { answer: allowed(), decision, outcome: 'allow', reasonCode, ...(ticketId === undefined ? {} : { ticketId }) };
      }
      return { answer: patched(decision.mutation), decision, outcome: 'patch', reasonCode, ...(ticketId === undefined ? {} : { ticketId }) };
    },
  };
}
