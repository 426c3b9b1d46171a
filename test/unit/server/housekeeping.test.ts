/**
 * The overdue-ticket gauge: housekeeping counts open tickets and splits off those whose window
 * ended longer ago than --overdue-after (the alert in docs/alerts.yaml fires on overdue="true").
 */
import { describe, expect, it } from 'vitest';
import { DriftgateError } from '../../../src/errors.js';
import type { KubeClient } from '../../../src/kube/client.js';
import { checkOnce } from '../../../src/server/housekeeping.js';
import { createLogger } from '../../../src/server/logger.js';
import { createMetrics } from '../../../src/server/metrics.js';
import { offlineStore } from '../../../src/tickets/offline.js';
import type { Ticket, TicketFilter, TicketStore } from '../../../src/tickets/types.js';
import { LogSink } from '../../helpers/webhook.js';

const NOW = new Date('2026-11-24T12:00:00Z');
const DAY = 86_400_000;

function ticket(id: string, until: string, state: Ticket['state'] = 'open'): Ticket {
  return {
    id,
    object: { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespace: 'prod', name: id },
    window: { until, reason: 'checkout OOMKilled under load', incident: 'INC-1' },
    state,
    openedAt: '2026-11-01T00:00:00Z',
    changes: [],
  };
}

/** storeOf lists `tickets` as a store would: filtered by state. */
function storeOf(tickets: Ticket[], fail = false): TicketStore {
  return {
    ...offlineStore(),
    list: (filter?: TicketFilter) =>
      fail ? Promise.reject(new Error('journal unreadable')) : Promise.resolve(tickets.filter((t) => filter?.state === undefined || t.state === filter.state)),
  };
}

async function gauge(store: TicketStore, sink = new LogSink()): Promise<{ overdue: number | undefined; onTime: number | undefined; sink: LogSink }> {
  const metrics = createMetrics({ processMetrics: false });
  await checkOnce({ tickets: store, metrics, logger: createLogger({ destination: sink }), now: () => NOW, overdueMs: 3 * DAY, intervalMs: 60_000 });
  const values = (await metrics.ticketsOpen.get()).values;
  const of = (overdue: string): number | undefined => values.find((v) => v.labels.overdue === overdue)?.value;
  return { overdue: of('true'), onTime: of('false'), sink };
}

describe('housekeeping: driftgate_tickets_open', () => {
  it('counts open tickets, overdue once their window ended longer ago than --overdue-after', async () => {
    const got = await gauge(
      storeOf([
        ticket('ended-4d-ago', new Date(NOW.getTime() - 4 * DAY).toISOString()),
        ticket('ended-10d-ago', new Date(NOW.getTime() - 10 * DAY).toISOString()),
        ticket('ended-2d-ago', new Date(NOW.getTime() - 2 * DAY).toISOString()),
        ticket('still-open-window', new Date(NOW.getTime() + DAY).toISOString()),
        ticket('backported-long-ago', new Date(NOW.getTime() - 30 * DAY).toISOString(), 'backported'),
      ]),
    );
    expect(got).toMatchObject({ overdue: 2, onTime: 2 });
  });

  it('counts a ticket exactly at the limit as not yet overdue', async () => {
    expect(await gauge(storeOf([ticket('at-the-limit', new Date(NOW.getTime() - 3 * DAY).toISOString())]))).toMatchObject({ overdue: 0, onTime: 1 });
  });

  it('sets both series to 0 when nothing is open', async () => {
    expect(await gauge(storeOf([]))).toMatchObject({ overdue: 0, onTime: 0 });
  });

  it('leaves the gauge unset and logs a warning when the store cannot be read', async () => {
    const got = await gauge(storeOf([], true));
    expect(got.overdue).toBeUndefined();
    expect(got.sink.text()).toContain('housekeeping: could not count open tickets');
    expect(got.sink.text()).toContain('journal unreadable');
  });
});

describe('housekeeping: the webhook configurations (issue 16)', () => {
  /** A cluster where the configurations named driftgate are not API objects (deleted, or never there). */
  function absentClient(paths: string[]): KubeClient {
    return {
      server: 'https://127.0.0.1:6443',
      watch: () => Promise.resolve(),
      request: (req) => {
        paths.push(req.path);
        return Promise.reject(new DriftgateError('DG_KUBE_NOT_FOUND', `${req.path} not found`));
      },
    };
  }

  async function presence(registration: 'api' | 'static' | undefined): Promise<{ paths: string[]; present: number[]; sink: LogSink }> {
    const paths: string[] = [];
    const sink = new LogSink();
    const metrics = createMetrics({ processMetrics: false });
    await checkOnce({
      tickets: storeOf([]),
      client: absentClient(paths),
      metrics,
      logger: createLogger({ destination: sink }),
      now: () => NOW,
      overdueMs: 3 * DAY,
      intervalMs: 60_000,
      ...(registration === undefined ? {} : { registration }),
    });
    return { paths, present: (await metrics.webhookPresent.get()).values.map((v) => v.value), sink };
  }

  it('reports API-registered configurations missing (the removal alert), by default', async () => {
    for (const registration of [undefined, 'api'] as const) {
      const { paths, present, sink } = await presence(registration);
      expect(paths).toEqual([
        '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/driftgate',
        '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/driftgate',
      ]);
      expect(present).toEqual([0, 0]);
      expect(sink.lines.join('\n')).toContain('driftgate webhook configuration is missing');
    }
  });

  it('looks for nothing in the API when the apiserver loads the webhooks from files (serve --webhook-registration static)', async () => {
    const { paths, present, sink } = await presence('static');
    expect(paths).toEqual([]);
    expect(present).toEqual([]);
    expect(sink.lines.join('\n')).not.toContain('missing');
  });
});
