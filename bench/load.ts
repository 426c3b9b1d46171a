/**
 * The load generator, run as its own process so that the server under test does not share an
 * event loop with it: autocannon over keep-alive HTTPS connections, as the kube-apiserver calls a
 * webhook. Every request body is built from a template: `@@UID@@` becomes a distinct request uid
 * and `@@UNTIL@@` a break-glass deadline that moves on every `changesPerTicket` requests, so a
 * bypass run spreads its changes over small tickets as real incidents do.
 *
 * Latencies are recorded here, to the microsecond, from autocannon's per-response event: its own
 * histogram rounds to whole milliseconds, coarser than a webhook's answer.
 *
 * Usage: node load.js '<LoadSpec as JSON>'. Prints `{"event":"start"}` when the measured part
 * begins (after the warm-up), then one `{"event":"result",...}` line.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import type { LoadResult, LoadSpec } from './types.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
const template = compile(readFileSync(spec.body));
const tag = randomBytes(4).toString('hex');
let sent = 0;

interface Template {
  segments: Buffer[];
  slots: ('uid' | 'until')[];
}

/** compile splits a body at its markers, so that each request is one Buffer.concat. */
function compile(body: Buffer): Template {
  const segments: Buffer[] = [];
  const slots: Template['slots'] = [];
  let from = 0;
  for (;;) {
    const uid = body.indexOf('@@UID@@', from);
    const until = body.indexOf('@@UNTIL@@', from);
    const next = [uid, until].filter((i) => i >= 0).sort((a, b) => a - b)[0];
    if (next === undefined) break;
    segments.push(body.subarray(from, next));
    const slot = next === uid ? 'uid' : 'until';
    slots.push(slot);
    from = next + (slot === 'uid' ? 7 : 9);
  }
  segments.push(body.subarray(from));
  return { segments, slots };
}

function nextBody(): Buffer {
  const n = sent++;
  if (template.slots.length === 0) return template.segments[0] as Buffer;
  const uid = Buffer.from(`bench-${tag}-${String(n).padStart(9, '0')}`);
  const group = Math.floor(n / Math.max(1, spec.changesPerTicket ?? 1));
  const until = Buffer.from(new Date(((spec.untilBase ?? 0) + group) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'));
  const parts: Buffer[] = [];
  template.segments.forEach((segment, i) => {
    parts.push(segment);
    const slot = template.slots[i];
    if (slot !== undefined) parts.push(slot === 'uid' ? uid : until);
  });
  return Buffer.concat(parts);
}

interface Counts {
  latencies: number[];
  non2xx: number;
  allowed: number;
  refused: number;
}

function run(seconds: number, counts: Counts | undefined): Promise<autocannon.Result> {
  const url = new URL(spec.url);
  const instance = autocannon(
    {
      url: url.origin,
      servername: spec.servername,
      connections: spec.connections,
      pipelining: 1,
      duration: seconds,
      timeout: spec.timeoutS,
      requests: [
        {
          method: 'POST',
          path: url.pathname,
          headers: { 'content-type': 'application/json' },
          setupRequest: (req) => ({ ...req, body: nextBody() }),
          onResponse: (status, body) => {
            if (counts === undefined || status !== 200) return;
            if (body.includes('"allowed":true')) counts.allowed++;
            else counts.refused++;
          },
        },
      ],
    },
    () => undefined,
  );
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (counts === undefined) return;
    if (status >= 200 && status < 300) counts.latencies.push(ms);
    else counts.non2xx++;
    if (spec.maxRequests !== undefined && counts.latencies.length + counts.non2xx >= spec.maxRequests) instance.stop();
  });
  return new Promise((resolve) => instance.on('done', resolve));
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

if (spec.warmupS > 0) await run(spec.warmupS, undefined);
process.stdout.write(`${JSON.stringify({ event: 'start' })}\n`);
const counts: Counts = { latencies: [], non2xx: 0, allowed: 0, refused: 0 };
const cpu = process.cpuUsage();
const started = performance.now();
const summary = await run(spec.durationS, counts);
const seconds = (performance.now() - started) / 1000;
const used = process.cpuUsage(cpu);
const sorted = counts.latencies.sort((a, b) => a - b);
const result: LoadResult = {
  requests: sorted.length,
  seconds,
  rps: sorted.length / seconds,
  p50: quantile(sorted, 0.5),
  p90: quantile(sorted, 0.9),
  p99: quantile(sorted, 0.99),
  max: sorted[sorted.length - 1] ?? Number.NaN,
  non2xx: counts.non2xx,
  errors: summary.errors,
  timeouts: summary.timeouts,
  allowed: counts.allowed,
  refused: counts.refused,
  clientCpu: (used.user + used.system) / 1e6 / seconds,
};
process.stdout.write(`${JSON.stringify({ event: 'result', ...result })}\n`);
