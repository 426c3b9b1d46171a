/**
 * Periodic checks that feed alerts rather than answer reviews, kept off the admission path:
 * how many tickets are open and overdue (bypasses nobody has backported or reverted), and
 * whether driftgate's own webhook configurations are still there (whoever deletes them turns
 * protection off, and the apiserver never asks driftgate about that write).
 */
import type { KubeClient } from '../kube/client.js';
import { messageOf } from '../errors.js';
import type { TicketStore } from '../tickets/types.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** HousekeepingDeps are what the checks read and where they report. */
export interface HousekeepingDeps {
  tickets: TicketStore;
  /** Absent without cluster access (a laptop run): the webhook check is then skipped. */
  client?: KubeClient;
  metrics: Metrics;
  logger: Logger;
  now: () => Date;
  /** An open ticket is overdue this long after its window ended. */
  overdueMs: number;
  intervalMs: number;
  /** Name of the rendered webhook configurations. */
  webhookName?: string;
  /**
   * `static` when the apiserver loads the webhooks from files (`driftgate manifests --static`):
   * there is no API object to look for, and looking would report them missing every interval.
   * The apiserver's own `apiserver_manifest_admission_config_controller_*` series watch those
   * files instead (docs/operators.md). Default `api`.
   */
  registration?: 'api' | 'static';
}

const WEBHOOK_KINDS = [
  { kind: 'validating', resource: 'validatingwebhookconfigurations' },
  { kind: 'mutating', resource: 'mutatingwebhookconfigurations' },
] as const;

/** checkOnce runs every check once (the timer calls it; tests call it directly). */
export async function checkOnce(deps: HousekeepingDeps): Promise<void> {
  try {
    const open = await deps.tickets.list({ state: 'open' });
    const cutoff = deps.now().getTime() - deps.overdueMs;
    const overdue = open.filter((t) => Date.parse(t.window.until) < cutoff).length;
    deps.metrics.ticketsOpen.set({ overdue: 'true' }, overdue);
    deps.metrics.ticketsOpen.set({ overdue: 'false' }, open.length - overdue);
  } catch (err) {
    deps.logger.warn({ problem: messageOf(err) }, 'housekeeping: could not count open tickets');
  }
  if (deps.client === undefined || deps.registration === 'static') return;
  const name = deps.webhookName ?? 'driftgate';
  for (const { kind, resource } of WEBHOOK_KINDS) {
    try {
      const obj = await deps.client.request<{ metadata?: { generation?: number } }>({
        method: 'GET',
        path: `/apis/admissionregistration.k8s.io/v1/${resource}/${name}`,
        signal: AbortSignal.timeout(5_000),
      });
      deps.metrics.webhookPresent.set({ kind }, 1);
      deps.metrics.webhookGeneration.set({ kind }, obj.metadata?.generation ?? 0);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'DG_KUBE_NOT_FOUND') {
        deps.metrics.webhookPresent.set({ kind }, 0);
        deps.logger.error({ kind, name }, 'driftgate webhook configuration is missing: guarded writes are not checked');
      } else {
        deps.logger.warn({ kind, problem: messageOf(err) }, 'housekeeping: could not read the webhook configuration');
      }
    }
  }
}

/** startHousekeeping runs the checks now and every `intervalMs`; returns a stop function. */
export function startHousekeeping(deps: HousekeepingDeps): () => void {
  let running = false;
  const tick = (): void => {
    if (running) return;
    running = true;
    void checkOnce(deps).finally(() => {
      running = false;
    });
  };
  tick();
  const timer = setInterval(tick, deps.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
