/**
 * `serve --policy-source guardpolicy`: GuardPolicy objects taken live. A list-and-watch of the
 * cluster-scoped GuardPolicies (client-node's ListWatch: it lists, watches from the list's
 * resourceVersion, re-lists after a 410 Gone, and reconnects after the server ends a watch) feeds
 * judgePolicies (policy-status.ts), whose valid policies are swapped into the LivePolicy the
 * admitter reads on every review. Then each object's status is written where it differs.
 *
 * Failures: a list or watch that fails is retried with backoff (1 s doubling to 30 s), and the
 * policies in force stay meanwhile; a resync every `resyncMs` judges the cached objects again and
 * retries any status write that failed. Status writes carry the resourceVersion they were computed
 * from: with several replicas, one writes and the others get a conflict, see the update, compute
 * the same status and write nothing (compare before write), so replicas never fight.
 */
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { messageOf } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import type { WebhookTarget } from '../manifests/render.js';
import { GUARD_POLICIES_PATH } from '../policy/crd.js';
import type { LivePolicy } from '../policy/live.js';
import type { PolicySet } from '../policy/set.js';
import type { Logger } from '../server/logger.js';
import type { Metrics } from '../server/metrics.js';
import { type Accepted, judgePolicies, type PolicyObject, type PolicyStatus, statusToWrite } from './policy-status.js';

/** NOT_READ_YET is why nothing is in force before the first list: reviews are refused (fail closed) and /readyz says not ready. */
export const NOT_READ_YET = 'the GuardPolicies have not been read from the cluster yet';

/** WatchDeps are what the watcher needs, passed in. */
export interface WatchDeps {
  kubeconfig: KubeConfig;
  client: KubeClient;
  live: LivePolicy;
  /** Where the webhooks call driftgate: rendering for status.rendered.webhookRulesHash needs it. */
  target: WebhookTarget;
  logger: Logger;
  metrics: Metrics;
  now: () => Date;
  /** How often the cached objects are judged again (and failed status writes retried). */
  resyncMs: number;
}

/** PolicyWatch is a running watch. */
export interface PolicyWatch {
  /** Resolves once the GuardPolicies were listed and judged the first time. */
  synced: Promise<void>;
  stop(): Promise<void>;
}

interface ListBody {
  metadata?: { resourceVersion?: string };
  items: PolicyObject[];
}

const BACKOFF_START_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;

/** closedReason returns why nothing may be enforced, or undefined when the set can be trusted. */
export function closedReason(objects: number, inForce: number): string | undefined {
  if (objects > 0 && inForce === 0) return `none of the ${objects} GuardPolic${objects === 1 ? 'y' : 'ies'} is valid`;
  return undefined;
}

/** setKey identifies what is in force, so an unchanged set is not swapped again (nor logged). */
function setKey(set: PolicySet, accepted: ReadonlyMap<string, Accepted>): string {
  return JSON.stringify([set.closed ?? '', [...accepted].map(([name, a]) => `${name}@${a.generation}`).sort()]);
}

/** watchGuardPolicies starts the watch; the LivePolicy follows the cluster from then on. */
export async function watchGuardPolicies(deps: WatchDeps): Promise<PolicyWatch> {
  const { ListWatch, Watch } = await import('@kubernetes/client-node');
  const { client, live, logger, metrics } = deps;
  const list = async (): Promise<KubernetesListObject<KubernetesObject>> => {
    const body = await client.request<ListBody>({ method: 'GET', path: GUARD_POLICIES_PATH });
    // Both the list (our client) and the watch (client-node's Watch) hand over the JSON as sent,
    // timestamps as strings: client-node's types say Date, which is why the casts below.
    return { ...body, items: (body.items ?? []) as unknown as KubernetesObject[] };
  };
  const informer = new ListWatch<KubernetesObject>(GUARD_POLICIES_PATH, new Watch(deps.kubeconfig), list, false);

  let previous: ReadonlyMap<string, Accepted> = new Map();
  let key = setKey(live.current(), previous);
  let stopped = false;
  let listed = false;
  let scheduled = false;
  let backoffMs = BACKOFF_START_MS;
  let retry: NodeJS.Timeout | undefined;
  /** (name, generation) already reported invalid: each refusal is logged and counted once. */
  const reported = new Set<string>();
  let markSynced: () => void = () => {};
  const synced = new Promise<void>((resolve) => {
    markSynced = resolve;
  });

  function schedule(): void {
    if (scheduled || stopped) return;
    scheduled = true;
    // Coalesces the burst of events a list produces into one judgement.
    setImmediate(() => {
      scheduled = false;
      // judgePolicies turns every policy problem into a status; anything thrown here is a bug,
      // logged rather than left to crash the webhook (the policies in force stay).
      reconcile().catch((err: unknown) => logger.error({ problem: messageOf(err) }, 'judging the GuardPolicies failed; the policies in force stay'));
    });
  }

  async function reconcile(): Promise<void> {
    if (stopped || !listed) return;
    const objects = [...informer.list()] as unknown as PolicyObject[];
    const judged = judgePolicies(objects, previous, deps.target);
    const closed = closedReason(objects.length, judged.inForce.length);
    const set: PolicySet = { policies: judged.inForce, ...(closed === undefined ? {} : { closed }) };
    const nextKey = setKey(set, judged.accepted);
    for (const [name, a] of judged.accepted) {
      if (previous.get(name)?.generation !== a.generation) {
        metrics.policyReloads.inc({ result: 'accepted' });
        logger.info({ policy: name, generation: a.generation, mode: a.policy.mode, namespaces: a.policy.namespaces }, 'GuardPolicy in force');
      }
    }
    metrics.policyInvalid.reset();
    for (const object of objects) {
      const name = object.metadata.name;
      const problem = judged.invalid.get(name);
      if (problem === undefined) continue;
      metrics.policyInvalid.set({ policy: name }, 1);
      const id = `${name}@${object.metadata.generation ?? 1}`;
      if (!reported.has(id)) {
        reported.add(id);
        metrics.policyReloads.inc({ result: 'invalid' });
        const kept = judged.accepted.get(name);
        logger.error(
          { policy: name, generation: object.metadata.generation, problem, inForceGeneration: kept?.generation ?? null },
          kept === undefined ? 'GuardPolicy refused; it guards nothing' : 'GuardPolicy refused; its earlier generation stays in force',
        );
      }
    }
    previous = judged.accepted;
    if (nextKey !== key) {
      key = nextKey;
      live.swap(set);
      metrics.policyInfo.reset();
      for (const p of set.policies) metrics.policyInfo.set({ policy: p.name, mode: p.mode }, 1);
      if (closed !== undefined) logger.error({ problem: closed }, 'no valid GuardPolicy in force: guarded writes are refused until one is');
    }
    markSynced();
    await writeStatuses(objects, judged.statuses);
  }

  async function writeStatuses(objects: readonly PolicyObject[], statuses: ReadonlyMap<string, PolicyStatus>): Promise<void> {
    for (const object of objects) {
      const desired = statuses.get(object.metadata.name);
      if (desired === undefined || stopped) continue;
      const next = statusToWrite(object.status, desired, deps.now());
      if (next === undefined) continue;
      try {
        await client.request({
          method: 'PATCH',
          path: `${GUARD_POLICIES_PATH}/${encodeURIComponent(object.metadata.name)}/status`,
          contentType: 'application/merge-patch+json',
          // null removes what the desired status leaves out; the resourceVersion makes the write
          // conditional on the object it was computed from (another replica may have written first).
          body: {
            metadata: { resourceVersion: object.metadata.resourceVersion },
            status: { ...next, rendered: next.rendered ?? null, inForce: next.inForce ?? null },
          },
        });
      } catch (err) {
        // A conflict means another replica (or a new generation) got there first: the update
        // event brings the object back. Anything else is retried at the next resync.
        logger.warn({ policy: object.metadata.name, problem: messageOf(err) }, 'GuardPolicy status not written; retried on the next change or resync');
      }
    }
  }

  function restart(err: unknown): void {
    metrics.policyWatchErrors.inc();
    logger.warn({ problem: messageOf(err), retryInMs: backoffMs }, 'listing or watching GuardPolicies failed; the policies in force stay, retrying');
    if (stopped) return;
    clearTimeout(retry);
    retry = setTimeout(() => void begin(), backoffMs);
    backoffMs = Math.min(backoffMs * 2, BACKOFF_MAX_MS);
  }

  async function begin(): Promise<void> {
    try {
      await informer.start();
    } catch (err) {
      restart(err);
      return;
    }
    if (informer.latestResourceVersion() !== '') {
      listed = true;
      backoffMs = BACKOFF_START_MS;
      schedule();
    }
  }

  informer.on('add', schedule);
  informer.on('update', schedule);
  informer.on('delete', schedule);
  informer.on('error', restart);
  const resync = setInterval(schedule, deps.resyncMs);
  resync.unref();
  await begin();
  return {
    synced,
    async stop() {
      stopped = true;
      clearInterval(resync);
      clearTimeout(retry);
      await informer.stop();
    },
  };
}
