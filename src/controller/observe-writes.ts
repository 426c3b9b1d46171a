/**
 * Settling tickets from the GitOps writes the apiserver sends to `/observe` (the fail-open
 * `observe.driftgate.dev` entry, `manifests --settle`). The route answers first; this runs after,
 * on a bounded queue, one write at a time:
 * 1. wait `delayMs`, so that the write the apiserver was about to store has landed (a validating
 *    webhook sees it before it is stored, and it may still fail);
 * 2. read the object back from the apiserver (gone: undefined), and judge on THAT, with what Git
 *    declares read from it too (its server-side apply fields or last-applied manifest): a write
 *    that never landed, or a forged review, then proves nothing it did not really do;
 * 3. settle every open ticket on the object.
 * A failure anywhere is logged and counted; it never reaches the write, which was answered long ago.
 */
import type { AdmissionRequest, KubeObject } from '../admission/types.js';
import type { ObjectRef } from '../decision/types.js';
import { messageOf } from '../errors.js';
import { inSubjects } from '../policy/match.js';
import type { GuardPolicy } from '../policy/types.js';
import type { Logger } from '../server/logger.js';
import type { Metrics } from '../server/metrics.js';
import { declarationOfWrite } from '../tickets/git-declaration.js';
import type { TicketStore } from '../tickets/types.js';
import { openTicketsOn, settleTickets } from './settle.js';

/** ReadObject returns the live object, or undefined when it does not exist. */
export type ReadObject = (ref: ObjectRef) => Promise<KubeObject | undefined>;

/** WriteObserverDeps are what the observer needs; all passed in. */
export interface WriteObserverDeps {
  store: TicketStore;
  /** Reads the object back: the write is judged on what landed, never on the review's copy. */
  readObject: ReadObject;
  /** The policy guarding a namespace (undefined: none does, so nothing there is observed). */
  policy: (namespace: string | undefined) => GuardPolicy | undefined;
  now: () => Date;
  logger: Logger;
  metrics: Metrics;
  /** How long to wait before reading the object back; default 1000 ms. */
  delayMs?: number;
  /** Writes waiting beyond this are dropped (counted as failures); default 1000. */
  maxQueued?: number;
}

/** WriteObserver takes GitOps writes to settle, after they were answered. */
export interface WriteObserver {
  /** observe queues the write; returns at once and never throws. */
  observe(request: AdmissionRequest): void;
  /** idle resolves once every queued write has been settled (for shutdown and tests). */
  idle(): Promise<void>;
}

/** createWriteObserver returns an observer settling tickets from GitOps writes. */
export function createWriteObserver(deps: WriteObserverDeps): WriteObserver {
  const delayMs = deps.delayMs ?? 1000;
  const maxQueued = deps.maxQueued ?? 1000;
  let queued = 0;
  let chain: Promise<void> = Promise.resolve();

  const fail = (request: AdmissionRequest, err: unknown): void => {
    deps.metrics.settlementFailures.inc({ source: 'gitops-write' });
    deps.logger.warn({ uid: request.uid, ...where(request), problem: messageOf(err) }, 'settlement from a GitOps write failed; its tickets stay open');
  };

  async function settle(request: AdmissionRequest): Promise<void> {
    const ref = refOf(request);
    if (ref === undefined) return;
    const tickets = await openTicketsOn(deps.store, ref);
    if (tickets.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    const live = await deps.readObject(ref);
    const at = deps.now();
    const username = request.userInfo.username;
    const outcomes = await settleTickets(
      deps.store,
      tickets,
      {
        observation: { live, declaration: declarationOfWrite(live, request.oldObject ?? undefined), at: at.toISOString() },
        evidence: { kind: 'gitops-write', username, at: at.toISOString(), requestUid: request.uid },
        by: username,
        ref: `GitOps write ${request.uid} (${request.operation} by ${username})`,
      },
      at,
    );
    for (const o of outcomes) {
      deps.metrics.settlements.inc({ source: 'gitops-write', outcome: o.outcome });
      deps.logger.info(
        { uid: request.uid, ticket: o.id, outcome: o.outcome, ...(o.remaining ? { remaining: o.remaining } : {}), ...(o.why ? { why: o.why } : {}) },
        'settlement',
      );
    }
  }

  return {
    observe(request) {
      // Only what the webhook entry selects is worth a look; anything else (a dry run, a caller
      // that is not a GitOps writer) is dropped here too, whatever reached the route.
      const policy = deps.policy(request.namespace);
      if (request.dryRun === true || policy === undefined || !inSubjects(policy.gitopsWriters, request.userInfo)) return;
      if (queued >= maxQueued) {
        fail(request, new Error(`${maxQueued} GitOps writes are already waiting to be settled; this one is dropped`));
        return;
      }
      queued++;
      chain = chain
        .then(() => settle(request))
        .catch((err: unknown) => fail(request, err))
        .finally(() => {
          queued--;
        });
    },
    idle: () => chain,
  };
}

function refOf(request: AdmissionRequest): ObjectRef | undefined {
  const object = request.object ?? request.oldObject;
  const name = request.name ?? (typeof object?.metadata?.name === 'string' ? object.metadata.name : undefined);
  if (name === undefined || name === '' || (request.subResource ?? '') !== '') return undefined;
  return {
    group: request.resource.group,
    version: request.resource.version,
    resource: request.resource.resource,
    kind: request.kind.kind,
    namespace: request.namespace ?? '',
    name,
  };
}

function where(request: AdmissionRequest): Record<string, string> {
  return { resource: request.resource.resource, namespace: request.namespace ?? '', name: request.name ?? '' };
}
