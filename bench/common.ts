/**
 * What every part of the bench shares: where things are, starting and stopping child processes,
 * reading a process's CPU time and memory from /proc, running one load, and min/median/max.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { LoadResult, LoadSpec } from './types.js';

/** ROOT is the repository (this file runs from .cache/bench/). */
export const ROOT = resolve(import.meta.dirname, '../..');
/** CLI is the built driftgate. */
export const CLI = join(ROOT, 'dist/cli/main.js');
/** HERE is where the compiled bench scripts are. */
export const HERE = import.meta.dirname;

const started = performance.now();

/** log prints a progress line on stderr with the time since the bench started. */
export function log(message: string): void {
  const s = Math.round((performance.now() - started) / 1000);
  process.stderr.write(`[bench ${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s] ${message}\n`);
}

/** sleep waits `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Server is a started child process that printed its port. */
export interface Server {
  child: ChildProcess;
  pid: number;
  port: number;
  /** Other fields of the JSON line that announced the port. */
  line: Record<string, unknown>;
}

/** freePort returns a loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => done(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/**
 * startServer spawns `node args…` with stdout to `logFile` (a file, not a pipe: reading a pipe
 * would cost this process CPU during the load) and returns once a JSON line with `msg` and a
 * `port` shows up in it, or, when `opts.port` is given (a server that logs nothing), once that
 * port accepts connections.
 */
/**
 * deploymentNodeOptions returns the NODE_OPTIONS the shipped Deployment (manifests/install.yaml, rendered from the chart)
 * gives driftgate (its heap limits), so that every driftgate the bench starts runs as installed.
 */
export function deploymentNodeOptions(): string {
  const manifest = readFileSync(join(ROOT, 'manifests/install.yaml'), 'utf8');
  const m = /- name: NODE_OPTIONS\s+value: "([^"]*)"/.exec(manifest);
  return m?.[1] ?? '';
}

export async function startServer(
  args: string[],
  logFile: string,
  msg: string,
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; port?: number } = {},
): Promise<Server> {
  const fd = openSync(logFile, 'w');
  // driftgate as the Deployment runs it (its heap limits), unless the caller chose its own;
  // other servers (the bare one) as they are.
  const asInstalled = args.includes(CLI) && opts.env?.['NODE_OPTIONS'] === undefined ? { NODE_OPTIONS: deploymentNodeOptions() } : {};
  const child = spawn(process.execPath, args, { stdio: ['ignore', fd, 'pipe'], cwd: ROOT, env: { ...(opts.env ?? process.env), ...asInstalled } });
  closeSync(fd);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-4000);
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited (${child.exitCode}) before serving: ${stderr}`);
    if (opts.port !== undefined) {
      if (await accepts(opts.port)) return { child, pid: child.pid ?? 0, port: opts.port, line: {} };
      await sleep(50);
      continue;
    }
    for (const text of readFileSync(logFile, 'utf8').split('\n')) {
      if (!text.startsWith('{')) continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      if (line['msg'] === msg && typeof line['port'] === 'number') return { child, pid: child.pid ?? 0, port: line['port'], line };
    }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`${args.join(' ')} did not log "${msg}" within ${(opts.timeoutMs ?? 30_000) / 1000}s: ${stderr}`);
}

/** stop sends SIGTERM and waits for the exit (SIGKILL after `graceMs`). */
export async function stop(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

const TICKS = 100; // USER_HZ on Linux

/** cpuSeconds returns the user + system CPU time process `pid` has used. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** Memory is a process's resident set now and at its peak, in MiB. */
export interface Memory {
  rssMiB: number;
  peakMiB: number;
}

/** memoryOf returns VmRSS and VmHWM of process `pid`. */
export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
}

/** Measured is one load run: what the client saw and what the server's CPU did meanwhile. */
export interface Measured extends LoadResult {
  /** Cores the server used during the measured part (1 = one core busy all the time). */
  serverCpu: number;
  /** Server CPU per answered request, in microseconds: the cost of one review, whatever the machine's load. */
  serverUsPerRequest: number;
  /** When the measured part ran, CLOCK_MONOTONIC microseconds. */
  fromUs: number;
  toUs: number;
}

/** runLoad runs load.js with `spec` against the server process `serverPid`. */
export async function runLoad(spec: LoadSpec, serverPid: number): Promise<Measured> {
  const child = spawn(process.execPath, [join(HERE, 'load.js'), JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-4000);
  });
  let cpuAtStart = 0;
  let timeAtStart = 0;
  let fromUs = 0;
  let result: Measured | undefined;
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (text) => {
    const line = JSON.parse(text) as { event: string } & LoadResult;
    if (line.event === 'start') {
      cpuAtStart = cpuSeconds(serverPid);
      timeAtStart = performance.now();
      fromUs = monotonicUs();
    } else if (line.event === 'result') {
      const seconds = (performance.now() - timeAtStart) / 1000;
      const used = cpuSeconds(serverPid) - cpuAtStart;
      const { event: _event, ...rest } = line;
      const perRequest = rest.requests === 0 ? Number.NaN : (used * 1e6) / rest.requests;
      result = { ...rest, serverCpu: used / seconds, serverUsPerRequest: perRequest, fromUs, toUs: monotonicUs() };
    }
  });
  const code = await new Promise<number | null>((r) => child.once('close', r));
  if (result === undefined) throw new Error(`load.js failed (exit ${code}): ${stderr}`);
  return result;
}

/** Spread is min, median and max of a few runs. */
export interface Spread {
  min: number;
  median: number;
  max: number;
  n: number;
}

/** spread returns min/median/max of `values` (NaN ignored). */
export function spread(values: readonly number[]): Spread {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return { min: Number.NaN, median: Number.NaN, max: Number.NaN, n: 0 };
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
  return { min: v[0] as number, median, max: v[v.length - 1] as number, n: v.length };
}

/** monotonicUs returns CLOCK_MONOTONIC in microseconds: the clock V8 stamps .cpuprofile samples with. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
