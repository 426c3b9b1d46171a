/**
 * The apiserver load client: N concurrent writers, each updating its own Deployment in a loop
 * with a JSON merge PATCH of spec.replicas, as the HorizontalPodAutoscaler's service account
 * (impersonated by the admin client certificate). Each writer keeps one keep-alive HTTPS
 * connection, as a controller does; every write changes the value, so each is a real write.
 *
 * Usage: node writers.js '<WritersSpec as JSON>'. Prints one `{"event":"result",...}` line.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { WritersResult, WritersSpec } from './types.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as WritersSpec;
const server = new URL(spec.server);
const tls = { ca: readFileSync(spec.ca), cert: readFileSync(spec.cert), key: readFileSync(spec.key) };
const deadline = performance.now() + spec.maxSeconds * 1000;

interface Outcome {
  ms: number;
  status: number;
  message: string;
}

/** The request of one write of the workload: path suffix and merge-patch body. */
function writeOf(n: number): { suffix: string; body: string } {
  switch (spec.workload) {
    case 'hpa-scale':
      return { suffix: '/scale', body: JSON.stringify({ spec: { replicas: n } }) };
    case 'gitops':
    case 'developer':
      return { suffix: '', body: JSON.stringify({ metadata: { labels: { 'bench.driftgate.dev/sync': String(n) } } }) };
    default:
      return { suffix: '', body: JSON.stringify({ spec: { replicas: n } }) };
  }
}

function patch(agent: https.Agent, name: string, replicas: number): Promise<Outcome> {
  const { suffix, body } = writeOf(replicas);
  const started = performance.now();
  return new Promise((resolve) => {
    const req = https.request(
      {
        ...tls,
        agent,
        hostname: server.hostname,
        port: server.port,
        method: 'PATCH',
        path: `/apis/apps/v1/namespaces/${spec.namespace}/deployments/${name}${suffix}`,
        headers: {
          'Content-Type': 'application/merge-patch+json',
          Accept: 'application/json',
          'Content-Length': Buffer.byteLength(body),
          'Impersonate-User': spec.user,
          ...(spec.groups.length > 0 ? { 'Impersonate-Group': spec.groups } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const ms = performance.now() - started;
          const status = res.statusCode ?? 0;
          let message = '';
          if (status >= 300) {
            try {
              message = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { message?: unknown }).message ?? '');
            } catch {
              message = `HTTP ${status}`;
            }
          }
          resolve({ ms, status, message });
        });
      },
    );
    req.on('error', (err) => resolve({ ms: performance.now() - started, status: 0, message: err.message }));
    req.end(body);
  });
}

const refusals = { count: 0 };

async function writer(name: string, latencies: number[], errors: string[]): Promise<void> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  let replicas = 0;
  const next = (): number => (replicas++ % 5) + 1;
  for (let i = 0; i < spec.warmupWrites; i++) await patch(agent, name, next());
  for (let i = 0; i < spec.writesPerWriter && performance.now() < deadline; i++) {
    const out = await patch(agent, name, next());
    if (out.status >= 200 && out.status < 300) latencies.push(out.ms);
    else if (out.status === 403 && spec.workload === 'developer') {
      // The developer's write is meant to be refused (except with no admission at all).
      latencies.push(out.ms);
      refusals.count += 1;
    } else errors.push(`${out.status} ${out.message}`.slice(0, 300));
  }
  agent.destroy();
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

const latencies: number[] = [];
const errors: string[] = [];
const started = performance.now();
await Promise.all(spec.names.map((name) => writer(name, latencies, errors)));
const seconds = (performance.now() - started) / 1000;
const sorted = latencies.sort((a, b) => a - b);
const result: WritersResult = {
  writes: sorted.length,
  seconds,
  p50: quantile(sorted, 0.5),
  p90: quantile(sorted, 0.9),
  p99: quantile(sorted, 0.99),
  max: sorted[sorted.length - 1] ?? Number.NaN,
  errors: errors.length,
  errorSamples: [...new Set(errors)].slice(0, 3),
  refused: refusals.count,
};
process.stdout.write(`${JSON.stringify({ event: 'result', ...result })}\n`);
