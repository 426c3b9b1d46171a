/**
 * Settling tickets from what the GitOps tools report (`serve --settle-from argocd,flux`): a GitOps
 * controller often writes nothing when Git already agrees with the live object (someone merged
 * the responder's change into Git), so there is no write to observe; the evidence then is the
 * tool itself saying the object is in sync with Git at a revision, at a time after the ticket's
 * last change:
 * - Argo CD: the Application's `status.sync.status` Synced at `status.sync.revision`, its
 *   `status.resources[]` entry for the object Synced, compared at `status.reconciledAt` (or a sync
 *   finished at `status.operationState.finishedAt`, whichever is later);
 * - Flux: the Kustomization's `Ready` condition True, the object in `status.inventory.entries`,
 *   at `status.lastAppliedRevision`, last reconciled at `status.history[0].lastReconciled` (Flux
 *   2.5 and later; the Ready condition's lastTransitionTime before that).
 * The tools compare only the fields Git declares, so the live object is read and judged with the
 * GitOps tool's server-side apply ownership where it has one (Flux always; Argo CD with
 * ServerSideApply), else on the tool's word (docs/security.md says what that cannot see).
 *
 * Polled, not watched: one list per tool per interval is cheap, survives restarts without
 * bookmarks, and a ticket waits at most one interval longer.
 */
import { messageOf } from '../errors.js';
import { type KubeClient, parentLookup } from '../kube/client.js';
import type { Logger } from '../server/logger.js';
import type { Metrics } from '../server/metrics.js';
import { GITOPS_APPLY_MANAGERS, appliedFields } from '../tickets/git-declaration.js';
import type { Evidence, Ticket, TicketStore } from '../tickets/types.js';
import { isRecord } from '../util/json.js';
import type { Lease } from './settlement-lease.js';
import { settleTickets } from './settle.js';

/** GitopsTool is a tool whose status settlement reads. */
export type GitopsTool = 'argocd' | 'flux';

/** GITOPS_TOOLS lists them, for flag checks. */
export const GITOPS_TOOLS: readonly GitopsTool[] = ['argocd', 'flux'];

/** Where each tool's objects are listed, across namespaces. */
const LIST_PATHS: Readonly<Record<GitopsTool, string>> = {
  argocd: '/apis/argoproj.io/v1alpha1/applications',
  flux: '/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations',
};

/** SyncEvidence is a tool's report that one object is in sync, and when. */
export type SyncEvidence = Extract<Evidence, { kind: 'sync-status' }>;

/**
 * argoEvidence returns the Application's report on the ticket's object: Synced as a whole and
 * for that resource, with the revision and the later of its comparison and its last finished
 * sync; undefined when the Application does not manage the object or does not say it is in sync.
 */
export function argoEvidence(ticket: Ticket, app: unknown): SyncEvidence | undefined {
  const status = isRecord(app) ? app['status'] : undefined;
  if (!isRecord(status)) return undefined;
  const sync = isRecord(status['sync']) ? status['sync'] : {};
  // A multi-source Application reports `revisions` (one per source) instead of `revision`.
  const revisions = Array.isArray(sync['revisions']) ? sync['revisions'].filter((r): r is string => typeof r === 'string') : [];
  const revision = typeof sync['revision'] === 'string' && sync['revision'] !== '' ? sync['revision'] : revisions.join(',');
  if (sync['status'] !== 'Synced' || revision === '') return undefined;
  const resources = Array.isArray(status['resources']) ? status['resources'] : [];
  const o = ticket.object;
  const entry = resources.find(
    (r) => isRecord(r) && (r['group'] ?? '') === o.group && r['kind'] === o.kind && (r['namespace'] ?? '') === o.namespace && r['name'] === o.name,
  );
  if (!isRecord(entry) || entry['status'] !== 'Synced') return undefined;
  const operation = isRecord(status['operationState']) ? status['operationState'] : {};
  const finished = operation['phase'] === 'Succeeded' ? operation['finishedAt'] : undefined;
  const at = latest([status['reconciledAt'], finished]);
  if (at === undefined) return undefined;
  return { kind: 'sync-status', tool: 'argocd', ...nameOf(app), revision, at };
}

/**
 * fluxEvidence returns the Kustomization's report on the ticket's object: Ready, the object in
 * its inventory, the last applied revision, and when it was last reconciled; undefined otherwise.
 */
export function fluxEvidence(ticket: Ticket, kustomization: unknown): SyncEvidence | undefined {
  const status = isRecord(kustomization) ? kustomization['status'] : undefined;
  if (!isRecord(status) || typeof status['lastAppliedRevision'] !== 'string') return undefined;
  const conditions = Array.isArray(status['conditions']) ? status['conditions'] : [];
  const ready = conditions.find((c) => isRecord(c) && c['type'] === 'Ready');
  if (!isRecord(ready) || ready['status'] !== 'True') return undefined;
  const o = ticket.object;
  const id = `${o.namespace}_${o.name}_${o.group}_${o.kind}`;
  const inventory = isRecord(status['inventory']) && Array.isArray(status['inventory']['entries']) ? status['inventory']['entries'] : [];
  if (!inventory.some((e) => isRecord(e) && e['id'] === id)) return undefined;
  const history = Array.isArray(status['history']) ? status['history'] : [];
  const last = history[0];
  // The newest snapshot, when it is the applied revision and it succeeded; else when Ready last changed.
  const snapshot =
    isRecord(last) &&
    last['lastReconciledStatus'] === 'ReconciliationSucceeded' &&
    (!isRecord(last['metadata']) || last['metadata']['revision'] === undefined || last['metadata']['revision'] === status['lastAppliedRevision'])
      ? last['lastReconciled']
      : undefined;
  const at = latest([snapshot, ready['lastTransitionTime']]);
  if (at === undefined) return undefined;
  return { kind: 'sync-status', tool: 'flux', ...nameOf(kustomization), revision: status['lastAppliedRevision'], at };
}

function nameOf(object: unknown): { namespace: string; name: string } {
  const meta = isRecord(object) && isRecord(object['metadata']) ? object['metadata'] : {};
  return { namespace: String(meta['namespace'] ?? ''), name: String(meta['name'] ?? '') };
}

function latest(times: readonly unknown[]): string | undefined {
  const valid = times.filter((t): t is string => typeof t === 'string' && Number.isFinite(Date.parse(t)));
  return valid.sort((a, b) => Date.parse(b) - Date.parse(a))[0];
}

/** SyncStatusDeps are what the poller needs; all passed in. */
export interface SyncStatusDeps {
  store: TicketStore;
  client: KubeClient;
  tools: readonly GitopsTool[];
  now: () => Date;
  logger: Logger;
  metrics: Metrics;
  intervalMs: number;
  /** Who polls among replicas: only the holder does (`soleWriter` for a store only one replica uses). */
  lease: Lease;
}

/** soleWriter is the Lease of a replica that is alone by construction (a journal store): always held. */
export const soleWriter: Lease = { hold: () => Promise.resolve(true) };

/** settleFromSyncStatusOnce reads each tool's objects once and settles the open tickets they report in sync. */
export async function settleFromSyncStatusOnce(deps: SyncStatusDeps): Promise<void> {
  // One poller among replicas: the others would only repeat its reads and lose its races.
  if (!(await deps.lease.hold())) return;
  let open: Ticket[];
  try {
    open = await deps.store.list({ state: 'open' });
  } catch (err) {
    deps.metrics.settlementFailures.inc({ source: deps.tools[0] ?? 'argocd' });
    deps.logger.warn({ problem: messageOf(err) }, 'settlement: could not list open tickets');
    return;
  }
  if (open.length === 0) return;
  for (const tool of deps.tools) {
    let items: unknown[];
    try {
      items = (await deps.client.request<{ items?: unknown[] }>({ method: 'GET', path: LIST_PATHS[tool], signal: AbortSignal.timeout(10_000) })).items ?? [];
    } catch (err) {
      deps.metrics.settlementFailures.inc({ source: tool });
      deps.logger.warn({ tool, problem: messageOf(err) }, `settlement: could not list ${tool === 'argocd' ? 'Argo CD Applications' : 'Flux Kustomizations'}`);
      continue;
    }
    for (const ticket of open) {
      const evidence = items.map((item) => (tool === 'argocd' ? argoEvidence(ticket, item) : fluxEvidence(ticket, item))).find((e) => e !== undefined);
      if (evidence === undefined) continue;
      try {
        const live = await parentLookup(deps.client)(ticket.object);
        const fields = appliedFields(live, GITOPS_APPLY_MANAGERS);
        const [outcome] = await settleTickets(
          deps.store,
          [ticket],
          {
            observation: { live, declaration: fields === undefined ? { kind: 'in-sync' } : { kind: 'owned', fields }, at: evidence.at },
            evidence,
            by: `${tool}:${evidence.namespace}/${evidence.name}`,
            ref: `${tool === 'argocd' ? 'Application' : 'Kustomization'} ${evidence.namespace}/${evidence.name} in sync at ${evidence.revision} (${evidence.at})`,
          },
          deps.now(),
        );
        if (outcome === undefined) continue;
        deps.metrics.settlements.inc({ source: tool, outcome: outcome.outcome });
        if (outcome.outcome !== 'unsettled') {
          deps.logger.info(
            { tool, ticket: ticket.id, outcome: outcome.outcome, revision: evidence.revision, ...(outcome.remaining ? { remaining: outcome.remaining } : {}) },
            'settlement',
          );
        }
      } catch (err) {
        deps.metrics.settlementFailures.inc({ source: tool });
        deps.logger.warn({ tool, ticket: ticket.id, problem: messageOf(err) }, 'settlement from a sync status failed; the ticket stays open');
      }
    }
  }
}

/** startSyncStatusSettlement polls now and every `intervalMs`; returns a stop function. */
export function startSyncStatusSettlement(deps: SyncStatusDeps): () => void {
  let running = false;
  const tick = (): void => {
    if (running) return;
    running = true;
    void settleFromSyncStatusOnce(deps).finally(() => {
      running = false;
    });
  };
  tick();
  const timer = setInterval(tick, deps.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
