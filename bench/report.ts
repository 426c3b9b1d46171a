/**
 * Turning a run's figures into docs/PERFORMANCE.md: bench/PERFORMANCE.template.md holds the prose
 * and `{{name}}` placeholders; each placeholder is a table or a line computed here. A cell reads
 * "median (min–max)" over the rounds; a ratio is taken round by round (each run against the
 * baseline measured next to it), then summarized the same way.
 */
import type { ApiserverResults, HistogramDelta, Mode } from './apiserver.js';
import { type Measured, type Spread, spread } from './common.js';
import { type SelfTime, layersOf } from './profile.js';
import type { DecisionPath, Size } from './reviews.js';
import type { Workload, WritersResult } from './types.js';
import { type WebhookResults, unexpected } from './webhook.js';

/** Machine is where and when the bench ran. */
export interface Machine {
  cores: number;
  model: string;
  memGiB: number;
  node: string;
  kernel: string;
  date: string;
  loadBefore: number;
  loadAfter: number;
  command: string;
}

/** Settings are the run's sizes. */
export interface Settings {
  quick: boolean;
  rounds: number;
  durationS: number;
  warmupS: number;
  profileS: number;
  connections: number[];
  writers: number[];
  /** Writes per writer, by writer count. */
  writes: Record<number, number>;
  warmupWrites: number;
}

/** ReportInput is everything a run measured. */
export interface ReportInput {
  machine: Machine;
  settings: Settings;
  webhook: WebhookResults;
  apiserver: ApiserverResults | undefined;
  minutes: number;
}

const SIZE_NAME: Record<Size, string> = { '10k': '10 KB Deployment UPDATE', '1m': '1 MiB ConfigMap UPDATE' };
const PATH_NAME: Record<DecisionPath, string> = { deny: 'deny', allow: 'delegated allow', bypass: 'bypass (journal, fsync)' };

function num(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return '–';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Digits that keep two or three significant figures. */
function auto(n: number): number {
  const a = Math.abs(n);
  return a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
}

function cell(s: Spread, digits?: number): string {
  const d = digits ?? auto(s.median);
  return `${num(s.median, d)} (${num(s.min, d)}–${num(s.max, d)})`;
}

function ratioCell(s: Spread): string {
  return `**${num(s.median, 2)}×** (${num(s.min, 2)}–${num(s.max, 2)})`;
}

/** pairs returns `f(a[i], b[i])` for each round both measured. */
function paired<T>(a: readonly T[], b: readonly T[], f: (x: T, y: T) => number): Spread {
  const n = Math.min(a.length, b.length);
  return spread(Array.from({ length: n }, (_, i) => f(a[i] as T, b[i] as T)));
}

function of<T>(runs: readonly T[], f: (r: T) => number): Spread {
  return spread(runs.map(f));
}

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function runsOf(w: WebhookResults, key: string): Measured[] {
  return w.cases.find((c) => c.case.key === key)?.runs ?? [];
}

function verdict(met: boolean, shortBy: string): string {
  return met ? '✅ met' : `❌ not met (${shortBy})`;
}

function webhookTable(w: WebhookResults, size: Size, connections: number[]): string {
  const rows: string[][] = [];
  for (const c of connections) {
    const bare = runsOf(w, `bare/${size}/c${c}`);
    rows.push([
      String(c),
      'bare node:https + JSON.parse',
      cell(of(bare, (r) => r.rps)),
      cell(of(bare, (r) => r.p50)),
      cell(of(bare, (r) => r.p99)),
      cell(of(bare, (r) => r.serverUsPerRequest)),
      '1 (baseline)',
      '1 (baseline)',
    ]);
    for (const path of ['deny', 'allow', 'bypass'] as const) {
      const runs = runsOf(w, `driftgate/${size}/${path}/c${c}`);
      rows.push([
        String(c),
        `driftgate, ${PATH_NAME[path]}`,
        cell(of(runs, (r) => r.rps)),
        cell(of(runs, (r) => r.p50)),
        cell(of(runs, (r) => r.p99)),
        cell(of(runs, (r) => r.serverUsPerRequest)),
        ratioCell(paired(runs, bare, (x, y) => x.rps / y.rps)),
        ratioCell(paired(runs, bare, (x, y) => x.serverUsPerRequest / y.serverUsPerRequest)),
      ]);
    }
    const quiet = runsOf(w, `driftgate-quiet/${size}/deny/c${c}`);
    if (quiet.length > 0) {
      rows.push([
        String(c),
        'driftgate, deny, `--log-level warn` (no decision log line)',
        cell(of(quiet, (r) => r.rps)),
        cell(of(quiet, (r) => r.p50)),
        cell(of(quiet, (r) => r.p99)),
        cell(of(quiet, (r) => r.serverUsPerRequest)),
        ratioCell(paired(quiet, bare, (x, y) => x.rps / y.rps)),
        ratioCell(paired(quiet, bare, (x, y) => x.serverUsPerRequest / y.serverUsPerRequest)),
      ]);
    }
  }
  return table(['connections', 'server', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'throughput vs bare', 'CPU per request vs bare'], rows);
}

function anomalies(w: WebhookResults, a: ApiserverResults | undefined): string {
  const lines: string[] = [];
  for (const c of w.cases) {
    const bad = c.runs.reduce((n, r) => n + unexpected(r, c.case.expect), 0);
    if (bad > 0) lines.push(`- ${c.case.key}: ${bad} answers were not "${c.case.expect}" (or failed)`);
  }
  for (const k of a?.kubeStore ?? []) {
    const bad = k.runs.reduce((n, r) => n + unexpected(r, k.path === 'deny' ? 'refused' : 'allowed'), 0);
    if (bad > 0)
      lines.push(
        `- ${k.key}: ${bad} answers were not "${k.path === 'deny' ? 'refused' : 'allowed'}" (a bypass refused means its ticket could not be recorded in time)`,
      );
  }
  for (const [workload, byMode] of Object.entries(a?.writes ?? {})) {
    for (const [mode, byWriters] of Object.entries(byMode)) {
      for (const [n, runs] of Object.entries(byWriters)) {
        const failed = runs.reduce((s, r) => s + r.errors, 0);
        if (failed > 0)
          lines.push(
            `- ${workload}, ${mode}, ${n} writers: ${failed} writes failed (${runs
              .flatMap((r) => r.errorSamples)
              .slice(0, 2)
              .join(' | ')})`,
          );
      }
    }
  }
  return lines.length === 0
    ? 'Every answer was the one expected: each deny run was refused, each allow and bypass run allowed, no write failed.'
    : `**Unexpected answers in this run:**\n${lines.join('\n')}`;
}

function throughputGoal(w: WebhookResults, size: Size, connections: number[]): { text: string; worst: number } {
  const parts: { label: string; s: Spread }[] = [];
  for (const path of ['deny', 'allow'] as const) {
    for (const c of connections) {
      parts.push({ label: `${path} c${c}`, s: paired(runsOf(w, `driftgate/${size}/${path}/c${c}`), runsOf(w, `bare/${size}/c${c}`), (x, y) => x.rps / y.rps) });
    }
  }
  const worst = Math.min(...parts.map((p) => p.s.median));
  return { text: parts.map((p) => `${p.label} ${num(p.s.median, 2)}×`).join(', '), worst };
}

function writesOf(a: ApiserverResults, workload: Workload, mode: Mode, n: number): WritersResult[] {
  return a.writes[workload]?.[mode]?.[n] ?? [];
}

const WORKLOAD_NAME: Record<Workload, string> = {
  'hpa-patch': 'the HPA: merge PATCH of spec.replicas',
  'hpa-scale': 'the HPA: PATCH of /scale',
  gitops: 'Argo CD: PATCH of a label',
  developer: 'a developer: PATCH of a label (refused by driftgate and by the VAP; latency of the refusal)',
};

function apiserverTable(a: ApiserverResults, writers: number[]): string {
  const rows: string[][] = [];
  for (const workload of Object.keys(WORKLOAD_NAME) as Workload[]) {
    for (const n of writers) {
      const none = writesOf(a, workload, 'none', n);
      const vap = writesOf(a, workload, 'vap', n);
      for (const mode of ['none', 'vap', 'driftgate'] as const) {
        const runs = writesOf(a, workload, mode, n);
        const label =
          mode === 'none' ? 'no admission webhook or policy' : mode === 'vap' ? 'CEL ValidatingAdmissionPolicy' : 'driftgate (mutating + validating webhooks)';
        rows.push([
          WORKLOAD_NAME[workload],
          String(n),
          label,
          cell(of(runs, (r) => r.p50)),
          cell(of(runs, (r) => r.p99)),
          cell(of(runs, (r) => r.writes / r.seconds)),
          mode === 'none' ? '1 (baseline)' : ratioCell(paired(runs, none, (x, y) => x.p99 / y.p99)),
          mode === 'driftgate' ? ratioCell(paired(runs, vap, (x, y) => x.p99 / y.p99)) : '',
        ]);
      }
    }
  }
  return table(['writes', 'writers', 'admission', 'p50 ms', 'p99 ms', 'writes/s', 'p99 vs none', 'p99 vs VAP'], rows);
}

function apiserverMetricsTable(a: ApiserverResults): string {
  const keys = new Map<string, { mode: Mode; series: string; deltas: HistogramDelta[] }>();
  for (const round of a.apiserverMetrics) {
    for (const m of round) {
      const key = `${m.mode} ${m.series}`;
      const entry = keys.get(key) ?? { mode: m.mode, series: m.series, deltas: [] };
      entry.deltas.push(m.delta);
      keys.set(key, entry);
    }
  }
  const order: Mode[] = ['none', 'vap', 'driftgate'];
  const rows = [...keys.values()]
    .sort((x, y) => order.indexOf(x.mode) - order.indexOf(y.mode) || x.series.localeCompare(y.series))
    .map((e) => [
      e.mode,
      e.series,
      cell(
        of(e.deltas, (d) => d.count),
        0,
      ),
      cell(of(e.deltas, (d) => d.meanMs)),
      `≤ ${num(spread(e.deltas.map((d) => d.p99AtMostMs)).median, 0)}`,
    ]);
  return table(['mode', 'apiserver series', 'observations', 'mean ms', 'p99 ms (bucket edge)'], rows);
}

/** bypassTable renders part 3's table; without the webhook part (`--kube-store-only`) only the kubernetes rows. */
export function bypassTable(w: WebhookResults | undefined, a: ApiserverResults | undefined, connections: number[]): string {
  const rows: string[][] = [];
  const row = (store: string, c: number, deny: Measured[], bypass: Measured[]): void => {
    rows.push([
      store,
      String(c),
      `${cell(of(deny, (r) => r.p50))} / ${cell(of(deny, (r) => r.p99))}`,
      `${cell(of(bypass, (r) => r.p50))} / ${cell(of(bypass, (r) => r.p99))}`,
      ratioCell(paired(bypass, deny, (x, y) => x.p99 / y.p99)),
      cell(of(bypass, (r) => r.rps)),
      String(bypass.reduce((n, r) => n + r.refused + r.non2xx + r.errors, 0)),
    ]);
  };
  if (w !== undefined)
    for (const c of connections) row('journal (fsync per batch)', c, runsOf(w, `driftgate/10k/deny/c${c}`), runsOf(w, `driftgate/10k/bypass/c${c}`));
  for (const c of connections) {
    const deny = a?.kubeStore.find((k) => k.key === `kubernetes/10k/deny/c${c}`)?.runs ?? [];
    const bypass = a?.kubeStore.find((k) => k.key === `kubernetes/10k/bypass/c${c}`)?.runs ?? [];
    if (deny.length > 0) row('kubernetes (one BackportTicket created per change)', c, deny, bypass);
  }
  return table(['ticket store', 'connections', 'deny p50 / p99 ms', 'bypass p50 / p99 ms', 'bypass p99 vs deny p99', 'bypass req/s', 'bypasses refused'], rows);
}

function memoryTable(w: WebhookResults): string {
  const m = w.memory;
  const rows: string[][] = [];
  const fresh = w.memoryAfter10k ?? [];
  for (const [who, at] of [
    ['driftgate', m.driftgate],
    ['bare server (same load: its JSON.parse only)', m.bare],
  ] as const) {
    rows.push([
      who,
      'idle, 1 s after start',
      cell(
        of(at.idle, (x) => x.rssMiB),
        0,
      ),
      cell(
        of(at.idle, (x) => x.peakMiB),
        0,
      ),
    ]);
    if (at === m.driftgate && fresh.length > 0) {
      rows.push([
        'driftgate (a fresh process)',
        'after 10 KB reviews only (deny, then bypass, at the most connections)',
        cell(
          of(fresh, (x) => x.rssMiB),
          0,
        ),
        cell(
          of(fresh, (x) => x.peakMiB),
          0,
        ),
      ]);
    }
    rows.push([
      who,
      'right after the 1 MiB load at the most connections',
      cell(
        of(at.afterLoad, (x) => x.rssMiB),
        0,
      ),
      cell(
        of(at.afterLoad, (x) => x.peakMiB),
        0,
      ),
    ]);
    rows.push([
      who,
      '5 s later',
      cell(
        of(at.settled, (x) => x.rssMiB),
        0,
      ),
      cell(
        of(at.settled, (x) => x.peakMiB),
        0,
      ),
    ]);
  }
  return table(['process', 'when', 'RSS MiB', 'peak RSS so far (VmHWM) MiB'], rows);
}

function selfTable(rows: SelfTime[], withWhere: boolean): string {
  return table(
    withWhere ? ['self time', 'function', 'where'] : ['self time', 'owner'],
    rows.map((r) =>
      withWhere ? [`${num(r.share * 100, 1)} %`, `\`${r.name}\``, r.where === '' ? '(native)' : `\`${r.where}\``] : [`${num(r.share * 100, 1)} %`, r.name],
    ),
  );
}

function stagesTable(w: WebhookResults): string {
  const bodies = [...new Set(w.stages.map((s) => s.body))];
  const stages = [...new Set(w.stages.map((s) => s.stage))];
  const us = (body: string, stage: string): number => w.stages.find((s) => s.body === body && s.stage === stage)?.us ?? Number.NaN;
  return table(
    ['stage (µs per review, in-process)', ...bodies],
    stages.map((stage) => [stage, ...bodies.map((b) => num(us(b, stage), auto(us(b, stage))))]),
  );
}

/** renderReport returns the template with every placeholder filled from `input`. */
export function renderReport(template: string, input: ReportInput): string {
  const { machine, settings, webhook: w, apiserver: a } = input;
  const sizes = w.bodies;
  const t10 = throughputGoal(w, '10k', settings.connections);
  const t1m = throughputGoal(w, '1m', settings.connections);
  const goalRows: string[][] = [
    [
      '/validate throughput ≥ 0.8× bare, 10 KB',
      t10.text,
      verdict(t10.worst >= 0.8, `worst ${num(t10.worst, 2)}×, ${num((1 - t10.worst / 0.8) * 100, 0)} % short`),
    ],
    [
      '/validate throughput ≥ 0.8× bare, 1 MiB',
      t1m.text,
      verdict(t1m.worst >= 0.8, `worst ${num(t1m.worst, 2)}×, ${num((1 - t1m.worst / 0.8) * 100, 0)} % short`),
    ],
  ];
  if (a !== undefined) {
    for (const workload of ['gitops', 'hpa-scale', 'hpa-patch'] as const) {
      for (const n of settings.writers) {
        const vsNone = paired(writesOf(a, workload, 'driftgate', n), writesOf(a, workload, 'none', n), (x, y) => x.p99 / y.p99);
        const vsVap = paired(writesOf(a, workload, 'driftgate', n), writesOf(a, workload, 'vap', n), (x, y) => x.p99 / y.p99);
        goalRows.push([
          `${WORKLOAD_NAME[workload]}, ${n} writer${n === 1 ? '' : 's'}: p99 ≤ 1.05× no webhook, and ≤ the VAP's`,
          `${ratioCell(vsNone)} / ${ratioCell(vsVap)}`,
          verdict(
            vsNone.median <= 1.05 && vsVap.median <= 1.0,
            `${num((vsNone.median / 1.05 - 1) * 100, 0)} % over no webhook, ${num((vsVap.median - 1) * 100, 0)} % over the VAP`,
          ),
        ]);
      }
    }
  }
  for (const c of settings.connections) {
    const r = paired(runsOf(w, `driftgate/10k/bypass/c${c}`), runsOf(w, `driftgate/10k/deny/c${c}`), (x, y) => x.p99 / y.p99);
    goalRows.push([
      `bypass p99 (journal) ≤ 2× deny, ${c} connection${c === 1 ? '' : 's'}`,
      ratioCell(r),
      verdict(r.median <= 2, `${num((r.median / 2 - 1) * 100, 0)} % over`),
    ]);
  }
  for (const c of settings.connections) {
    const deny = a?.kubeStore.find((k) => k.key === `kubernetes/10k/deny/c${c}`)?.runs ?? [];
    const bypass = a?.kubeStore.find((k) => k.key === `kubernetes/10k/bypass/c${c}`)?.runs ?? [];
    if (deny.length === 0) continue;
    const r = paired(bypass, deny, (x, y) => x.p99 / y.p99);
    goalRows.push([
      `bypass p99 (kubernetes store) ≤ 5× deny, ${c} connection${c === 1 ? '' : 's'}`,
      ratioCell(r),
      verdict(r.median <= 5, `${num((r.median / 5 - 1) * 100, 0)} % over`),
    ]);
  }
  const after10k = of(w.memoryAfter10k ?? [], (x) => x.rssMiB);
  if (after10k.n > 0)
    goalRows.push([
      'RSS ≤ 100 MiB after load: 10 KB reviews',
      `${cell(after10k, 0)} MiB`,
      verdict(after10k.median <= 100, `${num(after10k.median - 100, 0)} MiB over`),
    ]);
  const rss = of(w.memory.driftgate.afterLoad, (x) => x.rssMiB);
  const bare = of(w.memory.bare.afterLoad, (x) => x.rssMiB);
  goalRows.push([
    'RSS ≤ 100 MiB after load: 1 MiB reviews, 20 at once',
    `${cell(rss, 0)} MiB (the bare server: ${num(bare.median, 0)} MiB)`,
    verdict(rss.median <= 100, `${num(rss.median - 100, 0)} MiB over`),
  ]);

  const values: Record<string, string> = {
    date: machine.date,
    command: machine.command,
    minutes: num(input.minutes, 1),
    machine: table(
      ['', ''],
      [
        ['CPU', `${machine.cores} cores, ${machine.model}`],
        ['memory', `${num(machine.memGiB, 0)} GiB`],
        ['Node.js', machine.node],
        ['kernel', machine.kernel],
        ['Kubernetes (control plane of test/harness)', a?.version ?? 'not run (--no-apiserver)'],
        [
          'load average (1 min) before / after',
          `${num(machine.loadBefore, 2)} / ${num(machine.loadAfter, 2)} (the machine is shared: this is why every figure is a ratio)`,
        ],
        ['date', machine.date],
        [
          'run',
          `${settings.quick ? 'quick' : 'full'}: ${settings.rounds} rounds; /validate runs ${settings.durationS} s after ${settings.warmupS} s of warm-up; ${input.minutes.toFixed(1)} minutes in all`,
        ],
      ],
    ),
    sizes: (['10k', '1m'] as const)
      .map((s) => {
        const bytes = (['deny', 'allow', 'bypass'] as const).map((p) => sizes[s][p].bytes);
        return `${SIZE_NAME[s]}s of ${num(Math.min(...bytes))}–${num(Math.max(...bytes))} bytes`;
      })
      .join(', '),
    goals: table(['goal', 'measured (median over rounds)', 'verdict'], goalRows),
    webhook10k: webhookTable(w, '10k', settings.connections),
    webhook1m: webhookTable(w, '1m', settings.connections),
    anomalies: anomalies(w, a),
    profileHeader: `${num(w.profile.busyMs / 1000, 1)} s of busy CPU sampled over ${settings.profileS} s of the 10 KB deny load at ${Math.max(...settings.connections)} connections (${num(w.profile.rps)} req/s under the profiler; idle ${num(w.profile.idleShare * 100, 0)} % of the samples, left out)`,
    stages: stagesTable(w),
    profileLayers: table(
      ['self time', 'layer'],
      layersOf(w.profile.packages).map((l) => [`${num(l.share * 100, 1)} %`, l.layer]),
    ),
    profilePackages: selfTable(w.profile.packages.slice(0, 12), false),
    profileFunctions: selfTable(w.profile.functions.slice(0, 15), true),
    apiserver: a === undefined ? '_Not run (`--no-apiserver`)._' : apiserverTable(a, settings.writers),
    apiserverMetrics: a === undefined ? '_Not run._' : apiserverMetricsTable(a),
    writes: settings.writers.map((n) => `${n} writer${n === 1 ? '' : 's'} × ${settings.writes[n] ?? 0} writes`).join(', '),
    bypass: bypassTable(w, a, settings.connections),
    memory: memoryTable(w),
  };
  return template.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => values[name] ?? whole);
}
