/**
 * A whole webhook in-process, built as `driftgate serve` builds it (real admitter, real journal
 * in a temporary directory, real metrics and logger), except that the clock is fixed and the
 * ticket store's behaviour is the test's to choose.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type express from 'express';
import { createAdmitter } from '../../src/admission/admit.js';
import { createApp } from '../../src/server/app.js';
import { createLogger } from '../../src/server/logger.js';
import { createMetrics, type Metrics } from '../../src/server/metrics.js';
import { createOffload, type OffloadOptions } from '../../src/server/offload.js';
import { DEFAULT_REVIEW_LIMITS, type ReviewLimits } from '../../src/admission/limits.js';
import type { GuardPolicy } from '../../src/policy/types.js';
import type { CallerAuth } from '../../src/server/callers.js';
import type { WriteObserver } from '../../src/controller/observe-writes.js';
import { JournalStore } from '../../src/tickets/journal.js';
import { ControlledStore, FIXED_NOW, LogSink, fixturePolicy } from './webhook.js';

/** Harness is a running webhook and everything a test reads back from it. */
export interface Harness {
  app: express.Express;
  /** Plain HTTP over loopback: one server for the whole test, so "keeps serving" means something. */
  server: Server;
  port: number;
  sink: LogSink;
  metrics: Metrics;
  store: ControlledStore;
  journalPath: string;
  /** One timeline: the store's `record called/resolved <uid>` and the server's `response sent <path>`. */
  events: string[];
  /** What /readyz reports. */
  ready: { value: boolean };
  close(): Promise<void>;
}

/** HarnessOptions change what startHarness builds; by default, what `driftgate serve` builds. */
export interface HarnessOptions {
  policy?: GuardPolicy;
  limits?: ReviewLimits;
  /** Options of the judging worker (large reviews), or false to judge everything in place. */
  offload?: Partial<OffloadOptions> | false;
  /** Who may call the webhook routes (serve --client-ca/--client-name); anyone when absent. */
  callers?: CallerAuth;
  /** What /observe hands GitOps writes to (serve --settle); nothing when absent. */
  observer?: WriteObserver;
}

/** startHarness returns a webhook listening on a free loopback port. */
export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'driftgate-http-'));
  const journalPath = join(dir, 'tickets.jsonl');
  const events: string[] = [];
  const journal = await JournalStore.open(journalPath, { onWarning: () => undefined });
  const store = new ControlledStore(journal, events);
  const policy = opts.policy ?? fixturePolicy();
  const limits = opts.limits ?? DEFAULT_REVIEW_LIMITS;
  const offload = opts.offload === false ? undefined : createOffload({ limits, ...opts.offload });
  const sink = new LogSink();
  const logger = createLogger({ destination: sink });
  const metrics = createMetrics({ processMetrics: false });
  const ready = { value: true };
  const admitter = createAdmitter({ policy: () => policy, now: () => FIXED_NOW, tickets: store });
  const app = createApp({
    admitter,
    logger,
    metrics,
    storeKind: 'journal',
    ready: () => ready.value,
    limits,
    ...(offload === undefined ? {} : { offload }),
    ...(opts.callers === undefined ? {} : { callers: opts.callers }),
    ...(opts.observer === undefined ? {} : { observer: opts.observer }),
  });
  const server = createServer((req, res) => {
    res.once('finish', () => events.push(`response sent ${req.url ?? ''}`));
    app(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    app,
    server,
    port,
    sink,
    metrics,
    store,
    journalPath,
    events,
    ready,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await offload?.close();
      await journal.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
