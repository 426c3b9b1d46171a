/**
 * Part 2 (writes through a real kube-apiserver: no admission webhook, driftgate, the same rule as
 * a CEL ValidatingAdmissionPolicy) and the Kubernetes-store half of part 3 (bypass against deny).
 *
 * The control plane is test/harness's (etcd + kube-apiserver from cached binaries). driftgate
 * runs as `driftgate serve` with the kubernetes store, as its own ServiceAccount (the RBAC of
 * manifests/), registered with the webhook configurations `driftgate manifests` renders.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { HERE, type Measured, ROOT, type Server, log, runLoad, sleep, startServer, stop } from './common.js';
import { deploymentObject, writeReviewBodies } from './reviews.js';
import type { Workload, WritersResult, WritersSpec } from './types.js';
import { driftgateArgs, generateCerts, loadSpec, unexpected } from './webhook.js';

/** Mode is what admission control the writes go through. */
export type Mode = 'none' | 'driftgate' | 'vap';
export const MODES: readonly Mode[] = ['none', 'driftgate', 'vap'];

/** ApiserverOptions size the part. */
export interface ApiserverOptions {
  work: string;
  rounds: number;
  writers: readonly number[];
  /** Writes each writer makes, by writer count. */
  writesPerWriter: (writers: number) => number;
  warmupWrites: number;
  /** The /validate runs against the kubernetes store. */
  durationS: number;
  warmupS: number;
  connections: readonly number[];
  /** Skip part 2 (the writes through the apiserver) and measure only the kubernetes store (part 3). */
  kubeStoreOnly?: boolean;
}

/** HistogramDelta is what one apiserver histogram series gained during a mode's runs. */
export interface HistogramDelta {
  count: number;
  meanMs: number;
  /** The upper edge of the bucket that holds the 99th percentile: "99 % took at most this". */
  p99AtMostMs: number;
}

/**
 * The workloads through the apiserver, each as the identity that makes it: the machine writes the
 * match conditions let through (the HPA by PATCH and by /scale, a GitOps writer), and a developer's
 * write, which still reaches driftgate (and the VAP) and is refused.
 */
export const WORKLOADS: readonly { workload: Workload; user: string; groups: string[] }[] = [
  { workload: 'hpa-patch', user: 'system:serviceaccount:kube-system:horizontal-pod-autoscaler', groups: [] },
  { workload: 'hpa-scale', user: 'system:serviceaccount:kube-system:horizontal-pod-autoscaler', groups: [] },
  { workload: 'gitops', user: 'system:serviceaccount:argocd:argocd-application-controller', groups: [] },
  { workload: 'developer', user: 'dev@example.com', groups: [] },
];

/** ApiserverResults is everything parts 2 and 3 (kubernetes store) measured. */
export interface ApiserverResults {
  version: string;
  writes: Record<Workload, Record<Mode, Record<number, WritersResult[]>>>;
  /** Per round: the apiserver's own view of each driftgate webhook and of the policy. */
  apiserverMetrics: { mode: Mode; series: string; delta: HistogramDelta }[][];
  kubeStore: { key: string; path: 'deny' | 'bypass'; connections: number; runs: Measured[] }[];
}

const NAMESPACE = 'prod';
const E2E_POLICY = join(ROOT, 'test/e2e/policy.yaml');

interface ControlPlane {
  child: ChildProcess;
  server: string;
  kubeconfig: string;
  kubectl: string;
  version: string;
  caCert: string;
  adminCert: string;
  adminKey: string;
  configPath: string;
}

async function startControlPlane(work: string): Promise<ControlPlane> {
  log('building (or reusing) kube-apiserver and etcd: test/harness/build.sh (a cold build takes 10-15 minutes)');
  const built = execFileSync('bash', [join(ROOT, 'test/harness/build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const binDir = built.trim().split('\n').pop() ?? '';
  const errLog = openSync(join(work, 'controlplane.log'), 'w');
  // stdin is a pipe we hold: if the bench dies, the control plane sees EOF and stops.
  const child = spawn(join(binDir, 'controlplane'), ['--bin-dir', binDir], { stdio: ['pipe', 'pipe', errLog] });
  closeSync(errLog);
  const configPath = await new Promise<string>((done, fail) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => fail(new Error('the control plane was not ready within 180 s; see controlplane.log')), 180_000);
    lines.on('line', (line) => {
      if (!line.startsWith('READY ')) return;
      clearTimeout(timer);
      done(line.slice(6).trim());
    });
    child.once('exit', (code) => fail(new Error(`the control plane exited (${code}) before it was ready; see ${join(work, 'controlplane.log')}`)));
  });
  const info = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, string>;
  return {
    child,
    configPath,
    server: info['server'] ?? '',
    kubeconfig: info['kubeconfig'] ?? '',
    kubectl: info['kubectl'] ?? '',
    version: info['version'] ?? '',
    caCert: info['caCert'] ?? '',
    adminCert: info['adminCert'] ?? '',
    adminKey: info['adminKey'] ?? '',
  };
}

function kubectl(cp: ControlPlane, args: string[], input?: string): string {
  return execFileSync(cp.kubectl, ['--kubeconfig', cp.kubeconfig, ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** tryKubectl returns the exit status and stderr instead of throwing. */
function tryKubectl(cp: ControlPlane, args: string[]): { ok: boolean; stderr: string } {
  try {
    kubectl(cp, args);
    return { ok: true, stderr: '' };
  } catch (err) {
    return { ok: false, stderr: String((err as { stderr?: unknown }).stderr ?? err) };
  }
}

/**
 * switchTo installs the admission control of `mode` and returns once a dry-run write by a
 * developer shows it in force: refused by driftgate, refused by the policy, or let through.
 */
async function switchTo(cp: ControlPlane, mode: Mode, webhooks: string, vap: string): Promise<void> {
  if (mode !== 'driftgate') kubectl(cp, ['delete', '--ignore-not-found', '-f', webhooks]);
  if (mode !== 'vap') kubectl(cp, ['delete', '--ignore-not-found', '-f', vap]);
  if (mode === 'driftgate') kubectl(cp, ['apply', '-f', webhooks]);
  if (mode === 'vap') kubectl(cp, ['apply', '-f', vap]);
  const probe = [
    '--as=dev@example.com',
    '-n',
    NAMESPACE,
    'patch',
    'deployment',
    'canary',
    '--dry-run=server',
    '-p',
    '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example.com/checkout:probe"}]}}}}',
  ];
  const inForce = (r: { ok: boolean; stderr: string }): boolean =>
    mode === 'none' ? r.ok : mode === 'driftgate' ? r.stderr.includes('[driftgate/') : r.stderr.includes('[vap]');
  for (let i = 0; i < 150; i++) {
    if (inForce(tryKubectl(cp, probe))) {
      // The other two apiserver-side caches (webhook and policy) settle within the same second.
      await sleep(1000);
      return;
    }
    await sleep(200);
  }
  throw new Error(`admission mode ${mode} never came into force: a developer's dry-run write did not get the expected answer`);
}

function runWriters(spec: WritersSpec): Promise<WritersResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(HERE, 'writers.js'), JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-4000)));
    child.once('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{"event":"result"'));
      if (line === undefined) fail(new Error(`writers.js failed (exit ${code}): ${err}`));
      else {
        const { event: _event, ...result } = JSON.parse(line) as { event: string } & WritersResult;
        done(result);
      }
    });
  });
}

function scrape(cp: ControlPlane): Promise<string> {
  const url = new URL('/metrics', cp.server);
  return new Promise((done, fail) => {
    https
      .get(
        {
          hostname: url.hostname,
          port: url.port,
          path: url.pathname,
          ca: readFileSync(cp.caCert),
          cert: readFileSync(cp.adminCert),
          key: readFileSync(cp.adminKey),
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString('utf8')));
          res.on('end', () => done(text));
        },
      )
      .on('error', fail);
  });
}

interface Histogram {
  buckets: Map<number, number>;
  sum: number;
  count: number;
}

/** histograms returns the series of `metric` with the labels in `where`, summed over every label but `by`. */
function histograms(text: string, metric: string, by: string, where: Record<string, string> = {}): Map<string, Histogram> {
  const out = new Map<string, Histogram>();
  const get = (key: string): Histogram => {
    let h = out.get(key);
    if (h === undefined) out.set(key, (h = { buckets: new Map(), sum: 0, count: 0 }));
    return h;
  };
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric)) continue;
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (m === null) continue;
    const [, name, labelText, valueText] = m;
    const labels = Object.fromEntries([...(labelText ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    const key = labels[by];
    if (key === undefined || Object.entries(where).some(([k, v]) => labels[k] !== v)) continue;
    const value = Number(valueText);
    const h = get(key);
    if (name === `${metric}_bucket`) {
      const le = labels['le'] === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels['le']);
      h.buckets.set(le, (h.buckets.get(le) ?? 0) + value);
    } else if (name === `${metric}_sum`) h.sum += value;
    else if (name === `${metric}_count`) h.count += value;
  }
  return out;
}

function delta(before: Histogram | undefined, after: Histogram): HistogramDelta {
  const count = after.count - (before?.count ?? 0);
  const sum = after.sum - (before?.sum ?? 0);
  const edges = [...after.buckets.keys()].sort((a, b) => a - b);
  const cumulative = edges.map((le) => (after.buckets.get(le) ?? 0) - (before?.buckets.get(le) ?? 0));
  const rank = 0.99 * count;
  const at = cumulative.findIndex((c) => c >= rank);
  const p99AtMostMs = count === 0 || at < 0 ? Number.NaN : (edges[at] ?? Number.NaN) * 1000;
  return { count, meanMs: count === 0 ? Number.NaN : (sum / count) * 1000, p99AtMostMs };
}

// The webhook calls as the apiserver times them, and its whole admit (mutating) and validate
// steps for UPDATEs, which hold the webhooks or the policy whatever the mode. (The policy's own
// check_duration histogram only counts denials, so it says nothing about allowed writes.)
const SERIES: { metric: string; by: string; where?: Record<string, string>; name: (key: string) => string | undefined }[] = [
  { metric: 'apiserver_admission_webhook_admission_duration_seconds', by: 'name', name: (k) => (k.endsWith('driftgate.dev') ? `webhook ${k}` : undefined) },
  { metric: 'apiserver_admission_step_admission_duration_seconds', by: 'type', where: { operation: 'UPDATE' }, name: (k) => `${k} step (UPDATE)` },
];

function apiserverDeltas(mode: Mode, before: string, after: string): { mode: Mode; series: string; delta: HistogramDelta }[] {
  const out: { mode: Mode; series: string; delta: HistogramDelta }[] = [];
  for (const s of SERIES) {
    const a = histograms(after, s.metric, s.by, s.where);
    const b = histograms(before, s.metric, s.by, s.where);
    for (const [key, h] of a) {
      const series = s.name(key);
      if (series === undefined) continue;
      const d = delta(b.get(key), h);
      if (d.count > 0) out.push({ mode, series, delta: d });
    }
  }
  return out;
}

/** runApiserverPart measures parts 2 and 3 (kubernetes store). */
export async function runApiserverPart(opts: ApiserverOptions): Promise<ApiserverResults> {
  const work = join(opts.work, 'apiserver');
  mkdirSync(work, { recursive: true });
  const cp = await startControlPlane(work);
  let driftgate: Server | undefined;
  try {
    log(`control plane ${cp.version} at ${cp.server}; installing driftgate's manifests and ${Math.max(...opts.writers)} Deployments`);
    const sa = execFileSync(
      join(cp.kubectl, '..', 'controlplane'),
      [
        'mint',
        '--config',
        cp.configPath,
        '--name',
        'system:serviceaccount:driftgate-system:driftgate',
        '--group',
        'system:serviceaccounts',
        '--group',
        'system:serviceaccounts:driftgate-system',
        '--out-dir',
        join(work, 'users'),
      ],
      { encoding: 'utf8' },
    ).trim();
    kubectl(cp, ['apply', '--server-side', '-f', join(ROOT, 'manifests/install.yaml')]);
    kubectl(cp, ['apply', '-f', join(ROOT, 'bench/cluster.yaml')]);
    kubectl(cp, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/backporttickets.driftgate.dev']);
    const names = Array.from({ length: Math.max(...opts.writers) }, (_, i) => `writer-${String(i).padStart(2, '0')}`);
    const items = [...names, 'canary'].map((name) => deploymentObject(ROOT, name, NAMESPACE));
    kubectl(cp, ['apply', '--server-side', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));

    const certs = generateCerts(join(work, 'certs'));
    driftgate = await startServer(
      driftgateArgs(certs, 'kubernetes:driftgate-system', ['--kubeconfig', sa, '--log-level', 'info'], E2E_POLICY),
      join(work, 'driftgate.log'),
      'driftgate serving',
    );
    const webhooks = join(work, 'webhooks.yaml');
    writeFileSync(
      webhooks,
      execFileSync(
        process.execPath,
        [join(ROOT, 'dist/cli/main.js'), 'manifests', '--policy', E2E_POLICY, '--url', `https://127.0.0.1:${driftgate.port}`, '--ca-bundle', certs.ca],
        { encoding: 'utf8' },
      ),
    );
    const vap = join(ROOT, 'bench/vap.yaml');

    const writes = Object.fromEntries(
      WORKLOADS.map((w) => [w.workload, Object.fromEntries(MODES.map((m) => [m, Object.fromEntries(opts.writers.map((n) => [n, [] as WritersResult[]]))]))]),
    ) as ApiserverResults['writes'];
    const apiserverMetrics: ApiserverResults['apiserverMetrics'] = [];
    for (let round = 0; round < (opts.kubeStoreOnly === true ? 0 : opts.rounds); round++) {
      const perRound: ApiserverResults['apiserverMetrics'][number] = [];
      const order = MODES.map((_, i) => MODES[(i + round) % MODES.length] as Mode);
      for (const mode of order) {
        await switchTo(cp, mode, webhooks, vap);
        const before = await scrape(cp);
        for (const w of WORKLOADS) {
          for (const n of opts.writers) {
            const r = await runWriters({
              workload: w.workload,
              server: cp.server,
              ca: cp.caCert,
              cert: cp.adminCert,
              key: cp.adminKey,
              namespace: NAMESPACE,
              names: names.slice(0, n),
              user: w.user,
              groups: w.groups,
              warmupWrites: opts.warmupWrites,
              writesPerWriter: opts.writesPerWriter(n),
              maxSeconds: 90,
            });
            writes[w.workload][mode][n]?.push(r);
            log(
              `round ${round + 1}/${opts.rounds} ${mode}, ${w.workload}, ${n} writer${n === 1 ? '' : 's'}: ${r.writes} writes${r.refused > 0 ? ` (${r.refused} refused)` : ''}, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms` +
                (r.errors > 0 ? `, ${r.errors} FAILED (${r.errorSamples.join(' | ')})` : ''),
            );
          }
        }
        perRound.push(...apiserverDeltas(mode, before, await scrape(cp)));
      }
      apiserverMetrics.push(perRound);
    }

    log('bypass against deny with the kubernetes store (direct /validate load)');
    const bodies = writeReviewBodies(ROOT, work);
    const kubeStore: ApiserverResults['kubeStore'] = [];
    for (const c of opts.connections) {
      for (const path of ['deny', 'bypass'] as const) kubeStore.push({ key: `kubernetes/10k/${path}/c${c}`, path, connections: c, runs: [] });
    }
    let serial = 0;
    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 === 0 ? kubeStore : [...kubeStore].reverse();
      for (const k of order) {
        const spec = loadSpec(bodies, '10k', k.path, k.connections, driftgate.port, opts.durationS, opts.warmupS);
        // Each run opens its own tickets (windows 450 s apart), so no run appends to another's.
        spec.untilBase = Math.floor(Date.now() / 1000) + 3600 + serial++ * 450;
        spec.maxRequests = 1500;
        const run = await runLoad(spec, driftgate.pid);
        k.runs.push(run);
        const bad = unexpected(run, k.path === 'deny' ? 'refused' : 'allowed');
        log(
          `round ${round + 1}/${opts.rounds} ${k.key}: ${run.rps.toFixed(0)} req/s, p50 ${run.p50.toFixed(2)} ms, p99 ${run.p99.toFixed(2)} ms${bad > 0 ? `, ${bad} UNEXPECTED answers` : ''}`,
        );
      }
    }
    return { version: cp.version, writes, apiserverMetrics, kubeStore };
  } finally {
    if (driftgate !== undefined) await stop(driftgate.child);
    cp.child.stdin?.end();
    await stop(cp.child, 15_000);
  }
}
