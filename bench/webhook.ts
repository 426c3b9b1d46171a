/**
 * Part 1 (the webhook alone), the journal half of part 3 (bypass against deny) and part 4
 * (memory): `driftgate serve` as the real process against the bare node:https limit, in the same
 * rounds, plus a CPU profile of the 10 KB deny load.
 *
 * Each round starts fresh servers (so each gives an idle RSS), then runs every case once; cases
 * of one size and connection count run back to back (the bare baseline next to the driftgate runs
 * it is compared with) and the order changes from round to round.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, HERE, freePort, type Measured, type Memory, ROOT, type Server, log, memoryOf, runLoad, sleep, startServer, stop } from './common.js';
import { type ProfileSummary, summarizeProfile } from './profile.js';
import { type BodyFiles, type DecisionPath, type Size, writeReviewBodies } from './reviews.js';
import type { LoadSpec, StageCost, StagesSpec } from './types.js';

/** Target is what answers: the bare limit, driftgate, or driftgate logging only warnings. */
export type Target = 'bare' | 'driftgate' | 'driftgate-quiet';

/** WebhookCase is one configuration measured once per round. */
export interface WebhookCase {
  key: string;
  target: Target;
  size: Size;
  path: DecisionPath;
  connections: number;
  /** What each review must be answered: a case whose answers differ is reported, not hidden. */
  expect: 'allowed' | 'refused';
}

/** WebhookOptions size the part. */
export interface WebhookOptions {
  work: string;
  rounds: number;
  durationS: number;
  warmupS: number;
  profileS: number;
  connections: readonly number[];
}

/** WebhookResults is everything parts 1, 3 (journal) and 4 measured. */
export interface WebhookResults {
  bodies: BodyFiles;
  cases: { case: WebhookCase; runs: Measured[] }[];
  /** Idle after start, right after a round's load, and 5 s later; the bare server's for comparison. */
  memory: Record<'driftgate' | 'bare', MemoryOverTime>;
  /** A fresh driftgate after 10 KB reviews only (deny, then bypass, at the most connections). */
  memoryAfter10k: Memory[];
  profile: ProfileSummary & { rps: number; serverUsPerRequest: number };
  stages: StageCost[];
}

/** MemoryOverTime is a process's memory at three moments of each round. */
export interface MemoryOverTime {
  idle: Memory[];
  afterLoad: Memory[];
  settled: Memory[];
}

/** A policy with a delegation for the ConfigMap's flags.json (see bench/policy.yaml). */
export const BENCH_POLICY = join(ROOT, 'bench/policy.yaml');

/** generateCerts writes a CA and a serving pair for localhost/127.0.0.1 with the product's own command. */
export function generateCerts(dir: string): { cert: string; key: string; ca: string } {
  execFileSync(process.execPath, [CLI, 'certs', 'generate', '--out', dir, '--hosts', 'localhost,127.0.0.1', '--days', '2'], { stdio: 'ignore' });
  return { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') };
}

/** driftgateArgs returns the `serve` command line the bench runs driftgate with. */
export function driftgateArgs(certs: { cert: string; key: string }, tickets: string, extra: string[] = [], policy = BENCH_POLICY): string[] {
  return [
    CLI,
    'serve',
    '--policy',
    policy,
    '--tls-cert',
    certs.cert,
    '--tls-key',
    certs.key,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--tickets',
    tickets,
    ...extra,
  ];
}

function cases(connections: readonly number[]): WebhookCase[][] {
  const groups: WebhookCase[][] = [];
  for (const size of ['10k', '1m'] as const) {
    for (const c of connections) {
      const group: WebhookCase[] = [{ key: `bare/${size}/c${c}`, target: 'bare', size, path: 'deny', connections: c, expect: 'allowed' }];
      for (const path of ['deny', 'allow', 'bypass'] as const) {
        group.push({
          key: `driftgate/${size}/${path}/c${c}`,
          target: 'driftgate',
          size,
          path,
          connections: c,
          expect: path === 'deny' ? 'refused' : 'allowed',
        });
      }
      if (size === '10k' && c === Math.max(...connections)) {
        group.push({ key: `driftgate-quiet/${size}/deny/c${c}`, target: 'driftgate-quiet', size, path: 'deny', connections: c, expect: 'refused' });
      }
      groups.push(group);
    }
  }
  return groups;
}

/** loadSpec returns the load.ts spec for one case against `port`. */
export function loadSpec(bodies: BodyFiles, size: Size, path: DecisionPath, connections: number, port: number, durationS: number, warmupS: number): LoadSpec {
  return {
    url: `https://127.0.0.1:${port}/validate`,
    servername: 'localhost',
    body: bodies[size][path].file,
    connections,
    durationS,
    warmupS,
    timeoutS: 15,
    maxRequests: 200_000,
    // A window an hour from now, moving on every 5 changes: tickets the size a real incident makes.
    untilBase: Math.floor(Date.now() / 1000) + 3600,
    changesPerTicket: 5,
  };
}

/** unexpected returns how many answers of a run were not what the case expects. */
export function unexpected(run: Measured, expect: 'allowed' | 'refused'): number {
  return run.non2xx + run.errors + run.timeouts + (expect === 'allowed' ? run.refused : run.allowed);
}

/** runWebhookPart measures parts 1, 3 (journal) and 4. */
export async function runWebhookPart(opts: WebhookOptions): Promise<WebhookResults> {
  const certs = generateCerts(join(opts.work, 'certs'));
  const bodies = writeReviewBodies(ROOT, opts.work);
  const groups = cases(opts.connections);
  const results = new Map<string, { case: WebhookCase; runs: Measured[] }>();
  for (const c of groups.flat()) results.set(c.key, { case: c, runs: [] });
  const memory: WebhookResults['memory'] = { driftgate: { idle: [], afterLoad: [], settled: [] }, bare: { idle: [], afterLoad: [], settled: [] } };
  const memoryAfter10k: Memory[] = [];
  const sample = (servers: Record<Target, Server>, when: keyof MemoryOverTime): void => {
    memory.driftgate[when].push(memoryOf(servers.driftgate.pid));
    memory.bare[when].push(memoryOf(servers.bare.pid));
  };

  for (let round = 0; round < opts.rounds; round++) {
    const dir = join(opts.work, `round-${round + 1}`);
    mkdirSync(dir, { recursive: true });
    // Started one by one: if one fails to start, those already running are stopped.
    const started: Partial<Record<Target, Server>> = {};
    let servers: Record<Target, Server>;
    try {
      started.bare = await startServer([join(HERE, 'bare-server.js'), certs.cert, certs.key], join(dir, 'bare.log'), 'bare serving');
      started.driftgate = await startServer(
        driftgateArgs(certs, `journal:${join(dir, 'tickets.jsonl')}`, ['--log-level', 'info']),
        join(dir, 'driftgate.log'),
        'driftgate serving',
      );
      // At warn level driftgate does not log its port: give it one.
      const port = await freePort();
      const quiet = driftgateArgs(certs, `journal:${join(dir, 'tickets-quiet.jsonl')}`, ['--log-level', 'warn']).map((a, i, all) =>
        all[i - 1] === '--port' ? String(port) : a,
      );
      started['driftgate-quiet'] = await startServer(quiet, join(dir, 'driftgate-quiet.log'), '', { port });
      servers = started as Record<Target, Server>;
    } catch (err) {
      await Promise.all(Object.values(started).map((s) => stop(s.child)));
      throw err;
    }
    try {
      await sleep(1000);
      sample(servers, 'idle');
      // Alternate the order of groups and rotate within each, so no case always runs first or last.
      const order = round % 2 === 0 ? groups : [...groups].reverse();
      for (const group of order) {
        const shift = round % group.length;
        for (const c of [...group.slice(shift), ...group.slice(0, shift)]) {
          const server = servers[c.target];
          const run = await runLoad(loadSpec(bodies, c.size, c.path, c.connections, server.port, opts.durationS, opts.warmupS), server.pid);
          results.get(c.key)?.runs.push(run);
          const bad = unexpected(run, c.expect);
          log(
            `round ${round + 1}/${opts.rounds} ${c.key}: ${run.rps.toFixed(0)} req/s, p50 ${run.p50.toFixed(2)} ms, p99 ${run.p99.toFixed(2)} ms, server ${run.serverUsPerRequest.toFixed(0)} µs CPU/req${bad > 0 ? `, ${bad} UNEXPECTED answers` : ''}`,
          );
        }
        // Memory after the heaviest load (1 MiB reviews on the most connections), whatever the order.
        if (group[0]?.size === '1m' && group[0].connections === Math.max(...opts.connections)) {
          sample(servers, 'afterLoad');
          await sleep(5000);
          sample(servers, 'settled');
        }
      }
    } finally {
      await Promise.all(Object.values(servers).map((s) => stop(s.child)));
    }

    // Memory after the common case alone: a fresh process that only ever sees 10 KB reviews.
    const fresh = await startServer(
      driftgateArgs(certs, `journal:${join(dir, 'tickets-10k.jsonl')}`, ['--log-level', 'info']),
      join(dir, 'driftgate-10k.log'),
      'driftgate serving',
    );
    try {
      const c = Math.max(...opts.connections);
      for (const path of ['deny', 'bypass'] as const) await runLoad(loadSpec(bodies, '10k', path, c, fresh.port, opts.durationS, opts.warmupS), fresh.pid);
      memoryAfter10k.push(memoryOf(fresh.pid));
    } finally {
      await stop(fresh.child);
    }
  }

  log(`profiling driftgate under the 10 KB deny load (${opts.profileS}s)`);
  const profileDir = join(opts.work, 'profile');
  mkdirSync(profileDir, { recursive: true });
  const profiled = await startServer(
    ['--cpu-prof', '--cpu-prof-dir', profileDir, ...driftgateArgs(certs, `journal:${join(profileDir, 'tickets.jsonl')}`, ['--log-level', 'info'])],
    join(profileDir, 'driftgate.log'),
    'driftgate serving',
  );
  const c = Math.max(...opts.connections);
  let run: Measured;
  try {
    run = await runLoad(loadSpec(bodies, '10k', 'deny', c, profiled.port, opts.profileS, opts.warmupS), profiled.pid);
  } finally {
    await stop(profiled.child);
  }
  const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no .cpuprofile written in ${profileDir}`);
  const summary = summarizeProfile(join(profileDir, file), { fromUs: run.fromUs, toUs: run.toUs }, 15);

  log('measuring each stage of a review in-process (stages.js)');
  const stagesSpec: StagesSpec = {
    dist: join(ROOT, 'dist'),
    policy: BENCH_POLICY,
    bodies: [
      { label: '10 KB deny', file: bodies['10k'].deny.file },
      { label: '10 KB allow', file: bodies['10k'].allow.file },
      { label: '1 MiB deny', file: bodies['1m'].deny.file },
    ],
    msPerStage: opts.profileS > 5 ? 1000 : 300,
  };
  const stages = JSON.parse(
    execFileSync(process.execPath, [join(HERE, 'stages.js'), JSON.stringify(stagesSpec)], { encoding: 'utf8', cwd: ROOT }),
  ) as StageCost[];
  return {
    bodies,
    cases: [...results.values()],
    memory,
    memoryAfter10k,
    profile: { ...summary, rps: run.rps, serverUsPerRequest: run.serverUsPerRequest },
    stages,
  };
}
