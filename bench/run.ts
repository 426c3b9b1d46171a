/**
 * `npm run bench`: every benchmark of driftgate in one command, then docs/PERFORMANCE.md
 * rewritten from bench/PERFORMANCE.template.md with this run's figures.
 *
 *   npm run bench                   full run (~10 minutes on 2 cores)
 *   npm run bench -- --quick        shorter runs, same cases (~6 minutes): a smoke test of the bench
 *   npm run bench -- --no-apiserver skip parts 2 and 3b (no control plane)
 *   npm run bench -- --out FILE     write the document elsewhere
 *   npm run bench -- --render       only re-render the document from the last run's results.json
 *   npm run bench -- --kube-store-only  only part 3's kubernetes store rows (deny against bypass on the
 *                                   real apiserver, ratios within the run), printed, not written to docs
 *
 * Every figure is a ratio against a baseline measured in the same run (the machine is shared),
 * given as min/median/max over the rounds; nothing here is asserted as a timing in a test.
 */
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ApiserverOptions, type ApiserverResults, runApiserverPart } from './apiserver.js';
import { HERE, ROOT, log } from './common.js';
import { bypassTable, renderReport, type Machine, type Settings } from './report.js';
import { mergeStall, runStallPart } from './stall.js';
import { runWebhookPart } from './webhook.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const withApiserver = !args.includes('--no-apiserver');
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? (args[outAt + 1] ?? '') : join(ROOT, 'docs/PERFORMANCE.md');

const settings: Settings = quick
  ? {
      quick,
      rounds: 3,
      durationS: 1.5,
      warmupS: 0.5,
      profileS: 3,
      connections: [1, 20],
      writers: [1, 10, 50],
      writes: { 1: 60, 10: 20, 50: 8 },
      warmupWrites: 2,
    }
  : {
      quick,
      rounds: 3,
      durationS: 4,
      warmupS: 1,
      profileS: 8,
      connections: [1, 20],
      writers: [1, 10, 50],
      writes: { 1: 300, 10: 80, 50: 30 },
      warmupWrites: 3,
    };

const cpu = cpus();
const machine: Machine = {
  cores: cpu.length,
  model: cpu[0]?.model ?? 'unknown',
  memGiB: totalmem() / 1024 ** 3,
  node: process.version,
  kernel: release(),
  date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  loadBefore: loadavg()[0] ?? Number.NaN,
  loadAfter: Number.NaN,
  command: `npm run bench${quick ? ' -- --quick' : ''}`,
};

if (args.includes('--render')) {
  // Re-render the document from the last run's figures (after editing the template).
  const last = JSON.parse(readFileSync(join(HERE, 'results.json'), 'utf8')) as Parameters<typeof renderReport>[1];
  writeFileSync(out, renderReport(readFileSync(join(ROOT, 'bench/PERFORMANCE.template.md'), 'utf8'), last));
  if (existsSync(join(HERE, 'stall.json'))) mergeStall(out, JSON.parse(readFileSync(join(HERE, 'stall.json'), 'utf8')) as Parameters<typeof mergeStall>[1]);
  log(`rendered ${out} from ${join(HERE, 'results.json')}`);
  process.exit(0);
}

if (args.includes('--kube-store-only')) {
  // The ticket store alone, for working on it: a control plane, driftgate with the kubernetes
  // store, deny against bypass; the document is left as it is (its figures come from one full run).
  const work = mkdtempSync(join(tmpdir(), 'driftgate-bench-'));
  try {
    const part = await runApiserverPart({
      work,
      rounds: settings.rounds,
      writers: [1],
      writesPerWriter: () => 0,
      warmupWrites: 0,
      durationS: settings.durationS,
      warmupS: settings.warmupS,
      connections: settings.connections,
      kubeStoreOnly: true,
    });
    writeFileSync(join(HERE, 'kube-store.json'), JSON.stringify({ machine: { ...machine, loadAfter: loadavg()[0] }, part }, null, 1));
    process.stdout.write(
      `${bypassTable(undefined, part, [...settings.connections])}\n(load average before ${machine.loadBefore.toFixed(2)}, after ${(loadavg()[0] ?? Number.NaN).toFixed(2)})\n`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), 'driftgate-bench-'));
const started = Date.now();
try {
  log(`${quick ? 'quick' : 'full'} run: ${settings.rounds} rounds, ${settings.durationS}s per load run; work dir ${work}`);
  const webhook = await runWebhookPart({ work, ...settings });
  let apiserver: ApiserverResults | undefined;
  if (withApiserver) {
    const opts: ApiserverOptions = {
      work,
      rounds: settings.rounds,
      writers: settings.writers,
      writesPerWriter: (n) => settings.writes[n] ?? 20,
      warmupWrites: settings.warmupWrites,
      durationS: settings.durationS,
      warmupS: settings.warmupS,
      connections: settings.connections,
    };
    apiserver = await runApiserverPart(opts);
  }
  machine.loadAfter = loadavg()[0] ?? Number.NaN;
  const minutes = (Date.now() - started) / 60_000;
  writeFileSync(join(HERE, 'results.json'), JSON.stringify({ machine, settings, webhook, apiserver, minutes }, null, 1));
  const template = readFileSync(join(ROOT, 'bench/PERFORMANCE.template.md'), 'utf8');
  writeFileSync(out, renderReport(template, { machine, settings, webhook, apiserver, minutes }));
  // Part 5 renders its own section (bench/stall.ts), also runnable alone: npm run bench:stall.
  const stall = await runStallPart({ work, rounds: settings.rounds });
  writeFileSync(join(HERE, 'stall.json'), JSON.stringify(stall, null, 1));
  mergeStall(out, stall);
  log(`wrote ${out} (raw figures in ${join(HERE, 'results.json')}) after ${minutes.toFixed(1)} minutes`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
