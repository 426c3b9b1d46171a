/**
 * The cost of each stage of a review, in-process, on the built driftgate (dist/): what the
 * request path does besides TLS and HTTP. Run as its own process so that nothing else shares its
 * heap: node stages.js '<StagesSpec as JSON>'; prints one JSON line of StageCost[].
 *
 * dist/ has no type declarations, so its modules are imported by computed path and given the
 * narrow shapes below: only what this file calls.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { StageCost, StagesSpec } from './types.js';

interface Review {
  request: {
    uid: string;
    operation: string;
    userInfo: { username: string; groups?: string[] };
    namespace?: string;
    name?: string;
    object?: unknown;
    oldObject?: unknown;
  };
}
interface Decision {
  kind: string;
  changedPaths: string[];
}
interface Logger {
  info(obj: object, msg: string): void;
}
interface Labelled {
  inc(labels: Record<string, string>): void;
}
interface Metrics {
  requests: Labelled;
  denials: Labelled;
  duration: { observe(labels: Record<string, string>, v: number): void };
}

const spec = JSON.parse(process.argv[2] ?? '{}') as StagesSpec;
const load = async <T>(path: string): Promise<T> => (await import(join(spec.dist, path))) as T;
const { parseReviewText } = await load<{ parseReviewText(text: string): Review['request'] }>('admission/schema.js');
const { decide } = await load<{ decide(request: Review['request'], policy: unknown, now: Date): Decision }>('decision/decide.js');
const { normalize } = await load<{ normalize(obj: unknown): unknown }>('decision/normalize.js');
const { normalizedDiff } = await load<{ normalizedDiff(oldObj: unknown, newObj: unknown): unknown }>('decision/diff.js');
const { readPolicyFile } = await load<{ readPolicyFile(path: string): Promise<unknown> }>('cli/io.js');
const { createLogger } = await load<{ createLogger(opts: { destination: Writable }): Logger }>('server/logger.js');
const { createMetrics } = await load<{ createMetrics(opts: { processMetrics: boolean }): Metrics }>('server/metrics.js');
const { pino } = (await import('pino')) as unknown as { pino: (opts: object, dest: Writable) => Logger };

// A sink that drops lines: the log's own cost, not the disk's.
const sink = new Writable({ write: (_chunk, _enc, done) => done() });
const logger = createLogger({ destination: sink });
const unredacted = pino({ base: { service: 'driftgate' }, formatters: { level: (label: string) => ({ level: label }) } }, sink);
const metrics = createMetrics({ processMetrics: false });
const policy = await readPolicyFile(spec.policy);
const now = new Date();

/** perOp returns the median over 5 batches of the microseconds one call of `fn` takes. */
function perOp(fn: () => void): number {
  const budget = spec.msPerStage / 5;
  let n = 1;
  // Warm up, and size a batch to the budget.
  for (let t = performance.now(); performance.now() - t < budget; n++) fn();
  const batches: number[] = [];
  for (let b = 0; b < 5; b++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) fn();
    batches.push(((performance.now() - t) * 1000) / n);
  }
  return batches.sort((x, y) => x - y)[2] ?? Number.NaN;
}

const out: StageCost[] = [];
for (const body of spec.bodies) {
  const until = new Date((Math.floor(Date.now() / 1000) + 3600) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const text = readFileSync(body.file, 'utf8').replaceAll('@@UID@@', 'stage-uid').replaceAll('@@UNTIL@@', until);
  const request = parseReviewText(text);
  const decision = decide(request, policy, now);
  const line = {
    webhook: 'validate',
    uid: request.uid,
    user: request.userInfo.username,
    groups: request.userInfo.groups ?? [],
    operation: request.operation,
    resource: 'apps/deployments',
    namespace: request.namespace ?? '',
    name: request.name ?? '',
    dryRun: false,
    decision: decision.kind,
    reason: 'drift',
    changedPaths: decision.changedPaths.slice(0, 20),
    durationMs: 0.123,
  };
  const stages: Record<string, () => unknown> = {
    'JSON.parse (what the bare server does too)': () => JSON.parse(text),
    'parseReviewText: JSON.parse + ajv envelope check': () => parseReviewText(text),
    'decide(): the whole decision': () => decide(request, policy, now),
    'of which normalizedDiff(): normalize, redact, diff': () => normalizedDiff(request.oldObject, request.object),
    'of which normalize() of object and oldObject': () => [normalize(request.object), normalize(request.oldObject)],
    'decision log line (pino, with the redact list)': () => logger.info(line, 'decision'),
    'the same line without the redact list': () => unredacted.info(line, 'decision'),
    'metrics (3 updates, prom-client)': () => {
      metrics.requests.inc({ webhook: 'validate', operation: 'UPDATE', decision: 'deny' });
      metrics.duration.observe({ webhook: 'validate' }, 0.001);
      metrics.denials.inc({ reason: 'drift' });
    },
  };
  for (const [stage, fn] of Object.entries(stages)) out.push({ body: body.label, stage, us: perOp(fn) });
}
process.stdout.write(`${JSON.stringify(out)}\n`);
