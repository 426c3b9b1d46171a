/**
 * The one code path from a parsed AdmissionRequest to an AdmissionResponse, shared by the HTTPS
 * server and the `review` CLI so that the two can never disagree. It is the only place where a
 * bypass meets the ticket store: a bypass is answered `allowed: true` only after `record()` has
 * resolved, and a store that fails or runs out of time turns it into a denial that says so.
 */
import type { AdmissionRequest, AdmissionResponse, KubeObject } from '../admission/types.js';
import { allowed, denied, patched } from '../admission/respond.js';
import { decide } from '../decision/decide.js';
import { parentOf } from '../decision/parent.js';
import type { Decision, ObjectRef } from '../decision/types.js';
import { DriftgateError, describe } from '../errors.js';
import type { GuardPolicy } from '../policy/types.js';
import type { TicketStore } from '../tickets/types.js';
import { escapeControlsKeepLines } from '../util/terminal.js';

/** Outcome is the single label each request is counted under. */
export type Outcome = 'allow' | 'deny' | 'bypass' | 'patch' | 'error';

/** Admitted is the answer plus what logs and metrics need to know about it. */
export interface Admitted {
  response: AdmissionResponse;
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

/** ParentLookup fetches the parent of a subresource request; undefined when it does not exist. */
export type ParentLookup = (ref: ObjectRef) => Promise<KubeObject | undefined>;

/** AdmitDeps are everything the admission path needs, passed in explicitly. */
export interface AdmitDeps {
  policy: () => GuardPolicy;
  now: () => Date;
  /** Absent in the offline `review`: the bypass is then answered as the server would once recorded. */
  tickets?: TicketStore;
  parents?: ParentLookup;
  /** Called when a parent lookup fails; the decision then goes on without the parent (fail closed). */
  onParentError?: (ref: ObjectRef, err: unknown) => void;
}

/**
 * Decider returns decide()'s answer on one request under `policy` at `now`, with the parent or
 * the Namespace when one was looked up. By default the admitter decides in place; the server
 * decides a large review off the event loop (offload.ts) and hands the admitter what it found
 * as a Prejudged.
 */
export type Decider = (policy: GuardPolicy, now: Date, parent?: KubeObject, namespace?: KubeObject) => Promise<Decision>;

/** Prejudged is a review decided elsewhere: its first decision, and how to decide again with a parent. */
export interface Prejudged {
  /** The policy and time `first` was decided under (a second decision uses the same). */
  policy: GuardPolicy;
  now: Date;
  first: Decision;
  decider: Decider;
}

/** Admitter answers validating and mutating reviews. */
export interface Admitter {
  validate(request: AdmissionRequest, opts?: { deadlineMs?: number; prejudged?: Prejudged }): Promise<Admitted>;
  mutate(request: AdmissionRequest, opts?: { prejudged?: Prejudged }): Promise<Admitted>;
  /** The policy and time a review arriving now is judged under: what a Prejudged is decided with. */
  judgement(): { policy: GuardPolicy; now: Date };
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
  async function lookUp(ref: ObjectRef): Promise<KubeObject | undefined> {
    if (deps.parents === undefined) return undefined;
    try {
      return await deps.parents(ref);
    } catch (err) {
      deps.onParentError?.(ref, err);
      return undefined;
    }
  }

  function inPlace(request: AdmissionRequest): Prejudged {
    const policy = deps.policy();
    const now = deps.now();
    const decider: Decider = async (p, n, parent, namespace) => decide(request, p, n, parent, namespace);
    return { policy, now, first: decide(request, policy, now), decider };
  }

  async function decideWithParent(request: AdmissionRequest, judged: Prejudged): Promise<Decision> {
    const { policy, now, first, decider } = judged;
    // Only a refusal can change with the parent's window (or the Namespace's deletion), so the
    // common paths (the HPA scaling, delegated or unguarded writes) cost no API round trip.
    if (first.kind !== 'deny') return first;
    if (first.needsNamespace !== undefined) {
      const namespace = await lookUp({ group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespace: '', name: first.needsNamespace });
      return namespace === undefined ? first : decider(policy, now, undefined, namespace);
    }
    const ref = parentOf(request);
    if (ref === undefined) return first;
    const parent = await lookUp(ref);
    return parent === undefined ? first : decider(policy, now, parent);
  }

  return {
    judgement: () => ({ policy: deps.policy(), now: deps.now() }),

    async validate(request, opts = {}) {
      const decision = await decideWithParent(request, opts.prejudged ?? inPlace(request));
      switch (decision.kind) {
        case 'allow':
          return { response: allowed(request.uid, { warnings: shown(decision.warnings) }), decision, outcome: 'allow', reasonCode: decision.code };
        case 'deny':
          return { response: denied(request.uid, escapeControlsKeepLines(decision.message), 403), decision, outcome: 'deny', reasonCode: decision.code };
        case 'bypass':
          break;
      }
      const ticketId = decision.ticket.id;
      if (request.dryRun === true) {
        const warnings = [...shown(decision.warnings), `driftgate: dry run, nothing recorded; the real write will be recorded on ticket ${ticketId}`];
        return { response: allowed(request.uid, { warnings }), decision, outcome: 'bypass', reasonCode: 'break-glass', ticketId };
      }
      if (deps.tickets === undefined) {
        return { response: allowed(request.uid, { warnings: shown(decision.warnings) }), decision, outcome: 'bypass', reasonCode: 'break-glass', ticketId };
      }
      const started = performance.now();
      try {
        const signal = opts.deadlineMs === undefined ? undefined : AbortSignal.timeout(Math.max(1, opts.deadlineMs));
        const recording = deps.tickets.record(decision.ticket, signal === undefined ? {} : { signal });
        // The deadline is enforced here, not trusted to the store: a store that ignores its signal
        // must still not hold the apiserver past its timeout (and then the bypass is refused).
        await (signal === undefined ? recording : withDeadline(recording, signal, ticketId));
      } catch (err) {
        const recordMs = performance.now() - started;
        const message =
          `[driftgate/ticket] this break-glass change was refused because it could not be recorded on backport ticket ${ticketId}: ${escapeControlsKeepLines(describe(err))}. ` +
          'driftgate lets no bypass through unrecorded. Retry in a minute; if it keeps failing, the ticket store is down: tell the platform team (docs/operators.md, "ticket store failures").';
        return { response: denied(request.uid, message, 503), decision, outcome: 'deny', reasonCode: 'ticket-not-recorded', ticketId, storeError: err, recordMs };
      }
      const recordMs = performance.now() - started;
      return { response: allowed(request.uid, { warnings: shown(decision.warnings), auditAnnotations: { 'backport-ticket': ticketId } }), decision, outcome: 'bypass', reasonCode: 'break-glass', ticketId, recordMs };
    },

    async mutate(request, opts = {}) {
      const decision = (opts.prejudged ?? inPlace(request)).first;
      // The mutating webhook never refuses: refusals are the validating webhook's, so that a
      // request is denied once, with one message, after every mutation has run.
      if (decision.kind === 'deny') {
        return { response: allowed(request.uid), decision, outcome: 'allow', reasonCode: decision.code };
      }
      const ticketId = decision.kind === 'bypass' ? decision.ticket.id : undefined;
      const reasonCode = decision.kind === 'bypass' ? 'break-glass' : decision.code;
      if (decision.mutation.length === 0) {
        return { response: allowed(request.uid), decision, outcome: 'allow', reasonCode, ...(ticketId === undefined ? {} : { ticketId }) };
      }
      return { response: patched(request.uid, decision.mutation), decision, outcome: 'patch', reasonCode, ...(ticketId === undefined ? {} : { ticketId }) };
    },
  };
}
