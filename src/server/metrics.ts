/**
 * Prometheus metrics, each prefixed `driftgate_`. Labels hold only bounded values chosen by
 * driftgate (webhook, operation, decision, reason code, store kind): never an object name, a
 * namespace or a username, which a requester controls and which would explode cardinality.
 */
import type { RequestListener } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { messageOf } from '../errors.js';

// The kube-apiserver's own apiserver_admission_webhook_admission_duration_seconds edges, so the
// two histograms can be read side by side.
export const APISERVER_BUCKETS = [0.005, 0.025, 0.1, 0.5, 1, 2.5, 10, 25];

/** Metrics is every series driftgate exposes, in its own registry. */
export interface Metrics {
  registry: Registry;
  requests: Counter<'webhook' | 'operation' | 'decision'>;
  duration: Histogram<'webhook'>;
  bypasses: Counter<'operation'>;
  denials: Counter<'reason'>;
  badRequests: Counter<'reason'>;
  storeFailures: Counter<'store'>;
  storeDuration: Histogram<'store'>;
  certExpiry: Gauge;
  policyInfo: Gauge<'policy' | 'mode'>;
  ticketsOpen: Gauge<'overdue'>;
  webhookPresent: Gauge<'kind'>;
  webhookGeneration: Gauge<'kind'>;
  policyReloads: Counter<'result'>;
  policyInvalid: Gauge<'policy'>;
  policyWatchErrors: Counter;
  settlements: Counter<'source' | 'outcome'>;
  settlementFailures: Counter<'source'>;
  webhookRestores: Counter<'kind' | 'reason'>;
  webhookKeeperFailures: Counter<'kind'>;
  webhooksDisabled: Gauge;
  leader: Gauge;
  certRotations: Counter<'step'>;
  certKeeperFailures: Counter;
}

/** createMetrics returns a fresh registry with every driftgate series (and Node's process metrics). */
export function createMetrics(opts: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'driftgate_' });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'driftgate_admission_requests_total',
      help: 'Admission reviews answered, by webhook (validate|mutate), operation and decision (allow|deny|bypass|patch|error).',
      labelNames: ['webhook', 'operation', 'decision'],
      registers,
    }),
    duration: new Histogram({
      name: 'driftgate_admission_duration_seconds',
      help: 'Time from receiving a review to answering it, on the kube-apiserver webhook histogram edges.',
      labelNames: ['webhook'],
      buckets: APISERVER_BUCKETS,
      registers,
    }),
    bypasses: new Counter({
      name: 'driftgate_bypasses_total',
      help: 'Writes let through under a break-glass window and recorded on a backport ticket.',
      labelNames: ['operation'],
      registers,
    }),
    denials: new Counter({
      name: 'driftgate_denials_total',
      help: 'Writes refused, by reason code (drift, break-glass-forbidden, break-glass-invalid, driftgate-annotation, incomplete-request, ticket-not-recorded, no-policy).',
      labelNames: ['reason'],
      registers,
    }),
    badRequests: new Counter({
      name: 'driftgate_bad_requests_total',
      help: 'Requests refused before any decision: bad content type, not an AdmissionReview, too large.',
      labelNames: ['reason'],
      registers,
    }),
    storeFailures: new Counter({
      name: 'driftgate_ticket_store_failures_total',
      help: 'Bypasses refused because the ticket store failed or ran out of time (fail closed).',
      labelNames: ['store'],
      registers,
    }),
    storeDuration: new Histogram({
      name: 'driftgate_ticket_store_duration_seconds',
      help: 'Time the ticket store took to durably record a bypass.',
      labelNames: ['store'],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 10],
      registers,
    }),
    certExpiry: new Gauge({
      name: 'driftgate_certificate_expiry_timestamp_seconds',
      help: 'Unix time at which the serving certificate in use expires.',
      registers,
    }),
    policyInfo: new Gauge({
      name: 'driftgate_policy_info',
      help: 'The GuardPolicy in force (value 1), by name and mode.',
      labelNames: ['policy', 'mode'],
      registers,
    }),
    ticketsOpen: new Gauge({
      name: 'driftgate_tickets_open',
      help: 'Open backport tickets; overdue="true" counts those whose window ended longer ago than --overdue-after.',
      labelNames: ['overdue'],
      registers,
    }),
    webhookPresent: new Gauge({
      name: 'driftgate_webhook_configuration_present',
      help: "1 while driftgate's validating/mutating webhook configuration exists, 0 once it is gone.",
      labelNames: ['kind'],
      registers,
    }),
    webhookGeneration: new Gauge({
      name: 'driftgate_webhook_configuration_generation',
      help: "metadata.generation of driftgate's webhook configurations: a change means someone edited them.",
      labelNames: ['kind'],
      registers,
    }),
    policyReloads: new Counter({
      name: 'driftgate_policy_reloads_total',
      help: 'GuardPolicy generations judged while serving (--policy-source guardpolicy), by result: accepted (now in force) or invalid (refused; the one in force stays).',
      labelNames: ['result'],
      registers,
    }),
    policyInvalid: new Gauge({
      name: 'driftgate_policy_invalid',
      help: "1 for each GuardPolicy whose newest generation driftgate refused (status Invalid); the policy's earlier generation, if any, stays in force.",
      labelNames: ['policy'],
      registers,
    }),
    policyWatchErrors: new Counter({
      name: 'driftgate_policy_watch_errors_total',
      help: 'Failures listing or watching GuardPolicies (each is retried with backoff; the policies in force stay meanwhile).',
      registers,
    }),
    settlements: new Counter({
      name: 'driftgate_settlements_total',
      help: 'Tickets settlement judged, by source (gitops-write|argocd|flux) and outcome (backported|reverted|partial|unsettled).',
      labelNames: ['source', 'outcome'],
      registers,
    }),
    settlementFailures: new Counter({
      name: 'driftgate_settlement_failures_total',
      help: 'Settlements that could not be done (the object or the store unreachable, the queue full): the tickets stay open; the writes were never affected.',
      labelNames: ['source'],
      registers,
    }),
    webhookRestores: new Counter({
      name: 'driftgate_webhook_configuration_restores_total',
      help: 'Webhook configurations driftgate restored (serve --manage-webhooks) after someone deleted or edited them, by kind and reason (deleted|edited).',
      labelNames: ['kind', 'reason'],
      registers,
    }),
    webhookKeeperFailures: new Counter({
      name: 'driftgate_webhook_keeper_failures_total',
      help: 'Attempts to apply (or, switched off, remove) a webhook configuration that failed (serve --manage-webhooks).',
      labelNames: ['kind'],
      registers,
    }),
    webhooksDisabled: new Gauge({
      name: 'driftgate_webhooks_disabled',
      help: 'Set by the leader: 1 while the webhooks are switched off on purpose (driftgate webhooks disable), 0 while kept.',
      registers,
    }),
    leader: new Gauge({
      name: 'driftgate_leader',
      help: "1 on the replica holding the Lease (the one writing webhook configurations and the certificates' Secret), else 0.",
      registers,
    }),
    certRotations: new Counter({
      name: 'driftgate_certificate_rotations_total',
      help: 'Self-managed certificate changes written by the leader, by step (serving, ca-introduced, ca-promoted, ca-retired).',
      labelNames: ['step'],
      registers,
    }),
    certKeeperFailures: new Counter({
      name: 'driftgate_certificate_keeper_failures_total',
      help: "Failures to read or rotate the self-managed certificates' Secret.",
      registers,
    }),
  };
}

/** metricsHandler returns the plain-HTTP listener Prometheus scrapes: GET /metrics, 404 otherwise. */
export function metricsHandler(metrics: Metrics): RequestListener {
  return (req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('driftgate serves GET /metrics here\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${messageOf(err)}\n`),
    );
  };
}
