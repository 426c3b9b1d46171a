/**
 * A client of test/celcheck: Kubernetes' own match-condition evaluator (k8s.io/apiserver v0.37.2,
 * the harness apiserver's), one long-lived process answering one request per line. Built (or
 * reused) by test/celcheck/build.sh, which test/setup.sh runs; `startCelCheck` runs it too, so a
 * lone `vitest run test/unit/manifests` works on a machine with Go.
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { MatchCondition } from '../../src/manifests/conditions.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** What the apiserver does with one request, as celcheck computed it. */
export interface CelAnswer {
  /** The apiserver calls the webhook. */
  matches: boolean;
  /** Set when the apiserver refuses the write instead (a condition failed under failurePolicy Fail). */
  error: string;
  /** CEL cost spent of the webhook's budget. */
  cost: number;
  /** The objects were decoded into their Go types, as the apiserver holds built-in kinds. */
  typed: boolean;
  results: { name: string; value: string }[];
  /** The request as the apiserver would send it to driftgate (objects re-encoded from what it holds). */
  request?: Record<string, unknown>;
}

/** WebhookUnderTest is what celcheck needs of a webhook entry. */
export interface WebhookUnderTest {
  name: string;
  failurePolicy: 'Fail' | 'Ignore';
  matchConditions?: MatchCondition[];
}

/** CelCheck evaluates requests against defined webhooks, in order. */
export interface CelCheck {
  /** Compiles the webhook's conditions; resolves to the compile errors (none when valid). */
  define(key: string, webhook: WebhookUnderTest): Promise<string[]>;
  evaluate(key: string, request: unknown, canonical?: boolean): Promise<CelAnswer>;
  close(): Promise<void>;
}

/** buildCelCheck returns the path of the celcheck binary, building it if needed. */
export function buildCelCheck(): string {
  const out = execFileSync('bash', [resolve(ROOT, 'test/celcheck/build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const path = out.trim().split('\n').pop();
  if (path === undefined || path === '') throw new Error('test/celcheck/build.sh printed no path');
  return path;
}

/** startCelCheck starts one celcheck process. */
export function startCelCheck(binary = buildCelCheck()): CelCheck {
  const child: ChildProcessWithoutNullStreams = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  const waiting: { resolve: (line: Record<string, unknown>) => void; reject: (err: Error) => void }[] = [];
  let stderr = '';
  let exited: Error | undefined;
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  child.on('exit', (code) => {
    exited = new Error(`celcheck exited (code ${code}): ${stderr}`);
    for (const w of waiting.splice(0)) w.reject(exited);
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    const next = waiting.shift();
    if (next === undefined) return;
    if (typeof parsed['fatal'] === 'string') next.reject(new Error(parsed['fatal']));
    else next.resolve(parsed);
  });
  const send = (message: unknown): Promise<Record<string, unknown>> =>
    new Promise((resolvePromise, reject) => {
      if (exited !== undefined) {
        reject(exited);
        return;
      }
      waiting.push({ resolve: resolvePromise, reject });
      child.stdin.write(`${JSON.stringify(message)}\n`);
    });
  let id = 0;
  return {
    async define(key, webhook) {
      const answer = await send({ define: key, webhook: { ...webhook, matchConditions: webhook.matchConditions ?? [] } });
      return (answer['errors'] as string[] | null) ?? [];
    },
    async evaluate(key, request, canonical = false) {
      id += 1;
      return (await send({ id, use: key, request, canonical })) as unknown as CelAnswer;
    },
    async close() {
      child.stdin.end();
      if (exited === undefined) await new Promise((r) => child.once('exit', r));
    },
  };
}
