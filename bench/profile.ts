/**
 * Reading a V8 `.cpuprofile` (what `node --cpu-prof` writes): self time per function and per
 * package, which is what says where a request's time goes.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** SelfTime is a function or package and its share of the busy (non-idle) samples. */
export interface SelfTime {
  name: string;
  where: string;
  ms: number;
  share: number;
}

/** ProfileSummary is a profile boiled down to what the performance doc shows. */
export interface ProfileSummary {
  busyMs: number;
  idleShare: number;
  functions: SelfTime[];
  /** Every owner, largest first. */
  packages: SelfTime[];
}

/** LAYERS group owners of code by what they do for a request; the first match wins. */
export const LAYERS: { layer: string; owns: (owner: string) => boolean }[] = [
  {
    layer: 'decision (src/decision: normalize, diff, messages, pointers)',
    owns: (o) => o.startsWith('driftgate src/decision') || o.startsWith('driftgate src/policy'),
  },
  {
    layer: 'JSON.parse + envelope check (src/admission: parseReviewText, ajv)',
    owns: (o) => o.startsWith('driftgate src/admission') || o === 'ajv' || o.startsWith('native validate'),
  },
  {
    layer: 'TLS write of the answer (writeUtf8String) and Node http/net/streams',
    owns: (o) => o === 'native writeUtf8String' || o === 'native writeBuffer' || o.startsWith('node:'),
  },
  {
    layer: 'express and its body reading (express, router, body-parser, raw-body, iconv-lite, …)',
    owns: (o) =>
      [
        'express',
        'router',
        'body-parser',
        'raw-body',
        'iconv-lite',
        'content-type',
        'type-is',
        'debug',
        'mime-types',
        'mime-db',
        'path-to-regexp',
        'finalhandler',
        'on-finished',
        'media-typer',
        'http-errors',
        'parseurl',
        'send',
        'fresh',
        'statuses',
        'depd',
        'encodeurl',
        'negotiator',
        'accepts',
        'vary',
        'qs',
        'ms',
      ].includes(o),
  },
  {
    layer: 'decision log (pino, its redaction, the write to the log file)',
    owns: (o) =>
      ['pino', '@pinojs/redact', 'sonic-boom', 'fast-redact', 'pino-std-serializers', 'quick-format-unescaped', 'atomic-sleep', 'native writeString'].includes(
        o,
      ),
  },
  { layer: 'metrics (prom-client)', owns: (o) => o === 'prom-client' || o === 'tdigest' || o === 'bintrees' },
  { layer: 'driftgate src/server (the adapter itself)', owns: (o) => o.startsWith('driftgate src/server') || o.startsWith('driftgate src/tickets') },
  { layer: 'garbage collector', owns: (o) => o === 'V8 garbage collector' },
];

/** layersOf returns each layer's share of the busy samples, plus what no layer claims as "other". */
export function layersOf(packages: readonly SelfTime[]): { layer: string; share: number }[] {
  const shares = new Map<string, number>();
  for (const p of packages) {
    const layer = LAYERS.find((l) => l.owns(p.name))?.layer ?? 'other (V8/native, start-up leftovers, …)';
    shares.set(layer, (shares.get(layer) ?? 0) + p.share);
  }
  return [...shares].map(([layer, share]) => ({ layer, share })).sort((a, b) => b.share - a.share);
}

/** packageOf returns who owns the code at `url`: an npm package, a driftgate file, a node: module, or V8 itself. */
export function packageOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'V8 garbage collector';
    if (functionName === '(program)') return 'V8/native (program)';
    return `native ${functionName === '' ? '(anonymous)' : functionName}`;
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg !== null) return pkg[1] ?? url;
  const ours = /\/dist\/(.+)\.js$/.exec(url);
  if (ours !== null) return `driftgate src/${ours[1] ?? ''}`;
  if (url.startsWith('node:')) return url.replace(/^node:internal\/(.*?)(\/.*)?$/, 'node:$1');
  return basename(url);
}

/**
 * summarizeProfile returns the top self-time functions and packages of the profile in `file`,
 * counting only samples inside `window` (CLOCK_MONOTONIC microseconds, the clock V8 stamps samples
 * with), so that start-up (module loading, compiling) does not pass for request work.
 */
export function summarizeProfile(file: string, window?: { fromUs: number; toUs: number }, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  // A sample's duration is the gap to the next one (how Chrome's DevTools reads it).
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (window !== undefined && (at < window.fromUs || at > window.toUs)) continue;
    const id = profile.samples[i] as number;
    const us = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, us));
  }
  let idleUs = 0;
  let busyUs = 0;
  const functions = new Map<string, SelfTime>();
  const packages = new Map<string, SelfTime>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const where = frame.url === '' ? '' : `${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
    add(functions, `${name} ${where}`, name, where, us);
    const pkg = packageOf(frame);
    add(packages, pkg, pkg, '', us);
  }
  const rank = (m: Map<string, SelfTime>): SelfTime[] =>
    [...m.values()].map((s) => ({ ...s, ms: s.ms / 1000, share: busyUs === 0 ? 0 : s.ms / busyUs })).sort((a, b) => b.ms - a.ms);
  return { busyMs: busyUs / 1000, idleShare: idleUs / Math.max(1, idleUs + busyUs), functions: rank(functions).slice(0, top), packages: rank(packages) };
}

function add(into: Map<string, SelfTime>, key: string, name: string, where: string, us: number): void {
  const s = into.get(key);
  if (s === undefined) into.set(key, { name, where, ms: us, share: 0 });
  else s.ms += us;
}

function shortUrl(url: string): string {
  const pkg = /node_modules\/(.+)$/.exec(url);
  if (pkg !== null) return pkg[1] ?? url;
  const ours = /\/(dist\/.+)$/.exec(url);
  if (ours !== null) return ours[1] ?? url;
  return url.replace(/^file:\/\//, '');
}
