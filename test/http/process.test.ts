/**
 * The real `driftgate serve` process, as a kubelet runs it: started from the built CLI, talked to
 * over HTTPS, killed with SIGKILL (a node dies) or SIGTERM (a rolling update). What it promised
 * before dying must be on disk; what was in flight when asked to stop must be answered.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AdmissionReview } from '../../src/admission/types.js';
import { writeCertificates, type Written } from '../../src/certs/files.js';
import type { Ticket } from '../../src/tickets/types.js';
import { POLICY_FILE, breakGlassFor, fixture, withUid, type LogRecord } from '../helpers/webhook.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'dist', 'cli', 'main.js');
const BUILD_TIMEOUT_MS = 120_000;

/** Served is a running `driftgate serve`. */
interface Served {
  child: ChildProcess;
  port: number;
  metricsPort: number;
  journal: string;
  /** Every stdout line (pino JSON) so far. */
  log: LogRecord[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Ran is a finished CLI command. */
interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dir: string;
let certs: Written;
let ca: string;
const children = new Set<ChildProcess>();

// The environment a child sees: nothing that would point it at a cluster or another journal.
function childEnv(): NodeJS.ProcessEnv {
  const { KUBERNETES_SERVICE_HOST: _k, DRIFTGATE_TICKETS: _t, ...rest } = process.env;
  return rest;
}

function track(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  children.add(child);
  return new Promise((done) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      done({ code, signal });
    });
  });
}

/** runCli returns the outcome of one `driftgate …` command. */
async function runCli(args: string[]): Promise<Ran> {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const { code } = await track(child);
  return { code, stdout, stderr };
}

beforeAll(async () => {
  if (!existsSync(MAIN)) {
    // `npm test` builds first; a lone `vitest run test/http` may not have.
    const build = spawn('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    const { code } = await track(build);
    if (code !== 0) throw new Error(`npx tsc -p tsconfig.build.json exited with ${String(code)}`);
  }
  dir = await mkdtemp(join(tmpdir(), 'driftgate-process-'));
  certs = await writeCertificates(join(dir, 'certs'), ['127.0.0.1', 'localhost'], 1, new Date());
  ca = await readFile(certs.paths.caCert, 'utf8');
}, BUILD_TIMEOUT_MS);

afterEach(async () => {
  const running = [...children].map(
    (child) =>
      new Promise<void>((done) => {
        child.once('exit', () => done());
        child.kill('SIGKILL');
      }),
  );
  await Promise.all(running);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** serve starts `driftgate serve` on free ports with a fresh journal and waits for 'driftgate serving'. */
async function serve(name: string, journal = join(dir, name, 'tickets.jsonl')): Promise<Served> {
  const child = spawn(
    process.execPath,
    [
      MAIN,
      'serve',
      '--policy',
      POLICY_FILE,
      '--tls-cert',
      certs.paths.cert,
      '--tls-key',
      certs.paths.key,
      '--tickets',
      `journal:${journal}`,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--metrics-port',
      '0',
    ],
    { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = track(child);
  const log: LogRecord[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const serving = new Promise<LogRecord>((resolveServing, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const record = JSON.parse(line) as LogRecord;
      log.push(record);
      if (record['msg'] === 'driftgate serving') resolveServing(record);
    });
    void exited.then(({ code, signal }) => reject(new Error(`driftgate serve exited (${String(code ?? signal)}) before serving: ${stderr}`)));
  });
  const ready = await serving;
  return { child, port: Number(ready['port']), metricsPort: Number(ready['metricsPort']), journal, log, stderr: () => stderr, exited };
}

interface Answer {
  status: number;
  review: AdmissionReview;
}

/** review posts a review over HTTPS, trusting only the generated CA. */
function review(port: number, body: unknown): Promise<Answer> {
  return new Promise((resolveAnswer, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, method: 'POST', path: '/validate', ca, agent: false, headers: { 'Content-Type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolveAnswer({ status: res.statusCode ?? 0, review: JSON.parse(text) as AdmissionReview }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** bypasses returns `n` break-glass reviews by an oncall responder, each with its own uid. */
function bypasses(prefix: string, n: number): { uid: string; body: unknown }[] {
  const base = breakGlassFor(fixture('break-glass-valid'), '30m');
  return Array.from({ length: n }, (_, i) => ({ uid: `${prefix}-${i}`, body: withUid(base, `${prefix}-${i}`) }));
}

/** recordedUids returns every request uid `tickets list` shows for the journal, and what it said on stderr. */
async function listed(journal: string): Promise<{ code: number | null; uids: string[]; stderr: string }> {
  const ran = await runCli(['tickets', 'list', '--tickets', `journal:${journal}`, '-o', 'json']);
  const tickets = ran.code === 0 ? (JSON.parse(ran.stdout) as Ticket[]) : [];
  return { code: ran.code, uids: tickets.flatMap((t) => t.changes.map((c) => c.requestUid)).sort(), stderr: ran.stderr };
}

/** Sends the reviews concurrently and SIGKILLs the server the moment the last answer is in. */
async function sendThenKill(served: Served, reviews: { uid: string; body: unknown }[]): Promise<string[]> {
  let left = reviews.length;
  const answers = await Promise.all(
    reviews.map(async (r) => {
      const answer = await review(served.port, r.body);
      if (--left === 0) served.child.kill('SIGKILL');
      return answer;
    }),
  );
  expect(await served.exited).toEqual({ code: null, signal: 'SIGKILL' });
  return answers.filter((a) => a.status === 200 && a.review.response?.allowed === true).map((a) => a.review.response?.uid ?? '');
}

describe('driftgate serve', () => {
  it('has every bypass it allowed in the journal even when killed -9 right after the last answer', async () => {
    const served = await serve('durability');
    const sent = bypasses('durable', 20);
    const allowed = await sendThenKill(served, sent);
    expect(allowed.sort()).toEqual(sent.map((r) => r.uid).sort());

    const after = await listed(served.journal);
    expect(after.code).toBe(0);
    expect(allowed.filter((uid) => !after.uids.includes(uid))).toEqual([]);
  });

  it('lists the earlier tickets past a torn last line, warning about that line, and appends after it', async () => {
    const first = await serve('torn');
    const sent = bypasses('torn', 3);
    await sendThenKill(first, sent);
    const whole = await readFile(first.journal, 'utf8');
    const tornLine = whole.split('\n').length; // the line after the last complete one
    await appendFile(first.journal, '{"type":"change","draft":{"id":"checkout-api-inc-4711-');

    const listedTorn = await listed(first.journal);
    expect({ code: listedTorn.code, uids: listedTorn.uids }).toEqual({ code: 0, uids: sent.map((r) => r.uid).sort() });
    expect(listedTorn.stderr).toContain(`${first.journal}:${tornLine}: skipped a torn or corrupt line`);

    // A restarted server appends on a line of its own: nothing recorded later is glued to the fragment.
    const second = await serve('torn-restart', first.journal);
    const more = bypasses('after-torn', 1);
    await sendThenKill(second, more);
    const listedAfter = await listed(first.journal);
    expect({ code: listedAfter.code, uids: listedAfter.uids }).toEqual({ code: 0, uids: [...sent, ...more].map((r) => r.uid).sort() });
  });

  it('answers every review in flight on SIGTERM, closes idle keep-alive connections, and exits 0', async () => {
    const served = await serve('graceful');
    // An idle keep-alive connection, as the apiserver keeps: it must not hold shutdown open.
    const agent = new https.Agent({ keepAlive: true, ca });
    const idle = await new Promise<number>((done, reject) => {
      https
        .get({ host: '127.0.0.1', port: served.port, path: '/healthz', agent }, (res) => res.resume().on('end', () => done(res.statusCode ?? 0)))
        .on('error', reject);
    });
    expect(idle).toBe(200);

    // Each request sends its headers and waits for "100 Continue": once every one has it, the
    // server has begun all twenty. Only then SIGTERM, and only then the bodies.
    const sent = bypasses('graceful', 20);
    const inFlight = sent.map((r) => {
      let started!: () => void;
      const begun = new Promise<void>((done) => (started = done));
      const req = https.request({
        host: '127.0.0.1',
        port: served.port,
        method: 'POST',
        path: '/validate',
        ca,
        agent: false,
        headers: { 'Content-Type': 'application/json', Expect: '100-continue' },
      });
      const answered = new Promise<Answer>((done, reject) => {
        req.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => done({ status: res.statusCode ?? 0, review: JSON.parse(text) as AdmissionReview }));
        });
        req.on('error', reject);
      });
      req.on('continue', started);
      req.flushHeaders();
      return { uid: r.uid, begun, answered, finish: () => req.end(JSON.stringify(r.body)) };
    });
    await Promise.all(inFlight.map((f) => f.begun));
    served.child.kill('SIGTERM');
    for (const f of inFlight) f.finish();
    const answers = await Promise.all(inFlight.map((f) => f.answered));
    agent.destroy();

    expect(
      answers.map((a) => ({
        status: a.status,
        apiVersion: a.review.apiVersion,
        kind: a.review.kind,
        uid: a.review.response?.uid,
        allowed: a.review.response?.allowed,
      })),
    ).toEqual(inFlight.map((f) => ({ status: 200, apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', uid: f.uid, allowed: true })));
    expect(await served.exited).toEqual({ code: 0, signal: null });
    expect(served.log.map((r) => r['msg']).filter((m) => m !== 'decision')).toEqual([
      'driftgate serving',
      'shutting down: finishing in-flight reviews',
      'stopped',
    ]);
    // Recorded, not just answered: the journal was closed after the last review, not before.
    expect((await listed(served.journal)).uids).toEqual(sent.map((r) => r.uid).sort());
  });

  it('serves Prometheus text on the metrics port, with the request count and the certificate expiry', async () => {
    const served = await serve('metrics');
    const answer = await review(served.port, fixture('gitops-writer-by-user'));
    expect(answer.review.response?.allowed).toBe(true);
    const scraped = await new Promise<{ status: number; type: string; text: string }>((done, reject) => {
      http
        .get({ host: '127.0.0.1', port: served.metricsPort, path: '/metrics' }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => done({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', text }));
        })
        .on('error', reject);
    });
    expect({ status: scraped.status, type: scraped.type.split(';')[0] }).toEqual({ status: 200, type: 'text/plain' });
    expect(scraped.text).toContain('driftgate_admission_requests_total{webhook="validate",operation="UPDATE",decision="allow"} 1');
    expect(scraped.text).toContain(`driftgate_certificate_expiry_timestamp_seconds ${certs.notAfter.getTime() / 1000}`);
  });

  const badFlags: { name: string; args: () => string[]; names: () => string }[] = [
    {
      name: 'without --tls-cert',
      args: () => ['--tls-key', certs.paths.key],
      names: () => '--tls-cert',
    },
    {
      name: 'with a --tls-cert that does not exist',
      args: () => ['--tls-cert', join(dir, 'missing.crt'), '--tls-key', certs.paths.key],
      names: () => join(dir, 'missing.crt'),
    },
  ];
  for (const c of badFlags) {
    it(`exits 1 ${c.name}, with one line on stderr naming it and no stack trace`, async () => {
      const ran = await runCli([
        'serve',
        '--policy',
        POLICY_FILE,
        '--tickets',
        `journal:${join(dir, 'flags', 'tickets.jsonl')}`,
        '--port',
        '0',
        '--metrics-port',
        '-1',
        ...c.args(),
      ]);
      expect({ code: ran.code, lines: ran.stderr.trimEnd().split('\n').length, stdout: ran.stdout }).toEqual({ code: 1, lines: 1, stdout: '' });
      expect(ran.stderr).toContain(c.names());
      expect(ran.stderr).not.toContain('    at ');
    });
  }
});
