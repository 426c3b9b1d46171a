/**
 * Several replicas, one of them killed (issue 16): three `driftgate serve` replicas with the
 * kubernetes ticket store behind one address the kube-apiserver calls, spread over them as a
 * Service spreads connections, by HAProxy from Debian's packages (TLS passed through untouched,
 * `mode tcp`, so the apiserver's client certificate still reaches driftgate; health checks on
 * driftgate's /readyz). Responders make bypass writes concurrently from several clients
 * (kubectl and @kubernetes/client-node, each a distinct user allowed to break glass); one
 * replica is SIGKILLed a third of the way in and restarted two thirds of the way in.
 *
 * Why HAProxy and not the apiserver's own routing: a webhook `service` is resolved by the
 * apiserver through the Service's endpoints only with --enable-aggregator-routing, and an
 * EndpointSlice refuses loopback addresses, where these replicas listen (no pod network here);
 * nothing would mark a killed process's endpoint not ready either (no kubelet). HAProxy balances
 * per connection, as kube-proxy does.
 *
 * The scenario only observes; test/e2e/replicas.test.ts asserts on what it returns, and
 * `npm run reliability` writes its figures into docs/RELIABILITY.md. No vitest import here.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import {
  ARGOCD_USER,
  type OwnControlPlane,
  type Replica,
  ROOT,
  driftgateCli,
  exec,
  freePort,
  installDriftgate,
  serve,
  startControlPlane,
  stopChild,
} from './own-cluster.js';

const CALLER = 'kube-apiserver-admission';
const POLICY = join(ROOT, 'test/e2e/policy.yaml');
const NAMESPACE = 'prod';
const INCIDENT = 'INC-1600';

/** ScenarioOptions size the run. */
export interface ScenarioOptions {
  /** The harness binaries (test/harness/build.sh). */
  binDir: string;
  /** Writes each client makes in the main run; default 30. */
  writesPerClient?: number;
  /** Progress lines; default silent. */
  log?: (message: string) => void;
}

/** Phase is where in the run a write started. */
export type Phase = 'all-up' | 'one-killed' | 'restarted' | 'rejoin';

/** WriteRecord is one bypass write and what the apiserver answered. */
export interface WriteRecord {
  client: string;
  user: string;
  object: string;
  /** The ConfigMap data key only this write adds: how its change is found on a ticket. */
  key: string;
  phase: Phase;
  startedMs: number;
  endedMs: number;
  allowed: boolean;
  /** The apiserver's message for a refused write ("" when allowed). */
  message: string;
}

/** TicketView is the part of `driftgate tickets list -o json` the checks read. */
export interface TicketView {
  id: string;
  object: { namespace?: string; name: string };
  changes: { requestUid: string; username: string; patch: { op: string; path: string }[] }[];
}

/** ReplicaView is one replica's life in the run. */
export interface ReplicaView {
  name: string;
  pid: number | undefined;
  /** Still the process started at the beginning (not restarted, not exited). */
  alive: boolean;
  /** Reviews it answered (driftgate_admission_requests_total) at the kill, and at the end. */
  servedAtKill: number;
  servedAtEnd: number;
}

/** ScenarioResult is everything observed. */
export interface ScenarioResult {
  writes: WriteRecord[];
  tickets: TicketView[];
  /** The ticket id each object's window stamped on it (driftgate.dev/backport-ticket). */
  stampedTickets: Record<string, string | undefined>;
  objects: string[];
  survivors: ReplicaView[];
  restarted: { name: string; pidBefore: number | undefined; pidAfter: number | undefined; servedAfterRestart: number };
  /** Milliseconds from the start of the run. */
  timeline: { killedMs: number; markedDownMs?: number; firstAllowedAfterKillMs?: number; restartedMs: number; markedUpMs?: number; rejoinedMs?: number };
  settings: { replicas: number; clients: number; writesPerClient: number; balancer: string };
}

interface Client {
  name: string;
  user: string;
  write(object: string, key: string): Promise<string | undefined>;
}

/** runReplicaScenario runs the scenario on a control plane of its own and returns what it saw. */
export async function runReplicaScenario(opts: ScenarioOptions): Promise<ScenarioResult> {
  const log = opts.log ?? (() => undefined);
  const writesPerClient = opts.writesPerClient ?? 30;
  const work = mkdtempSync(join(tmpdir(), 'driftgate-replicas-'));
  const children: ChildProcess[] = [];
  let cp: OwnControlPlane | undefined;
  // Ends the background poll of the restarted replica, however the run ends.
  let finished = false;
  try {
    const haproxyBinary = haproxyPath();
    must('certs generate', await driftgateCli(['certs', 'generate', '--out', join(work, 'certs'), '--hosts', '127.0.0.1']));
    log('starting a control plane of its own (etcd, kube-apiserver presenting a client certificate to webhooks)');
    cp = await startControlPlane(opts.binDir, ['--webhook-client-cert', CALLER, '--controller-manager=false'], join(work, 'users'));
    const callerCa = cp.info.webhookClientCaCert;
    if (callerCa === undefined) throw new Error('the launcher wrote no webhook client CA');
    const driftgateKubeconfig = await installDriftgate(cp, ['prod', 'payments-eu', 'dev', 'blackhole']);

    const ports = [await freePort(), await freePort(), await freePort()];
    const replicaOptions = (port: number, name: string) => ({
      policy: POLICY,
      cert: join(work, 'certs/tls.crt'),
      key: join(work, 'certs/tls.key'),
      port,
      kubeconfig: driftgateKubeconfig,
      logFile: join(work, `${name}.log`),
      caller: { caCert: callerCa, name: CALLER },
    });
    const names = ['r1', 'r2', 'r3'];
    for (const name of names) writeFileSync(join(work, `${name}.log`), '');
    log('starting three driftgate replicas');
    const replicas: Replica[] = [];
    for (const [i, port] of ports.entries()) {
      const replica = await serve(replicaOptions(port, names[i] ?? ''));
      children.push(replica.child);
      replicas.push(replica);
    }

    const lbPort = await freePort();
    const statsSocket = join(work, 'haproxy.sock');
    writeFileSync(join(work, 'haproxy.cfg'), haproxyConfig(lbPort, statsSocket, ports, join(work, 'certs/ca.crt')));
    log(`starting HAProxy on 127.0.0.1:${lbPort} (mode tcp, health checks on /readyz)`);
    const haproxy = spawn(haproxyBinary, ['-db', '-f', join(work, 'haproxy.cfg')], { stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(haproxy);
    await waitFor('HAProxy to see three replicas up', async () => (await serverStates(statsSocket)).filter((s) => s.status === 'UP').length === 3, 30_000);

    const webhooks = must(
      'manifests',
      await driftgateCli(['manifests', '--policy', POLICY, '--url', `https://127.0.0.1:${lbPort}`, '--ca-bundle', join(work, 'certs/ca.crt')]),
    );
    must('apply webhooks', await cp.kubectl(['apply', '-f', '-'], webhooks));

    const objects = ['ledger', 'checkout'];
    const carol = cp.mint('carol@example.com', []);
    for (const object of objects) {
      must(`create ${object}`, await cp.kubectl([`--as=${ARGOCD_USER}`, '-n', NAMESPACE, 'create', 'configmap', object, '--from-literal=seed=1']));
    }
    // The webhooks were just applied: the apiserver's informer may not call them for a moment, and
    // a window opened unseen would never be turned into an end. Wait until a developer is refused.
    const developer = cp.mint('dev@example.com', ['developers']);
    await waitFor(
      'the apiserver to call driftgate',
      async () => {
        const r = await cp?.kubectl(['-n', NAMESPACE, 'label', 'configmap', 'ledger', `probe=${Date.now()}`, '--overwrite'], undefined, developer);
        return r !== undefined && r.stderr.includes('[driftgate/');
      },
      60_000,
    );
    for (const object of objects) {
      const opened = await cp.kubectl(
        [
          '-n',
          NAMESPACE,
          'annotate',
          'configmap',
          object,
          'driftgate.dev/break-glass-for=1h',
          'driftgate.dev/break-glass-reason=replica kill drill, ledger writes stuck',
          `driftgate.dev/break-glass-incident=${INCIDENT}`,
        ],
        undefined,
        carol,
      );
      must(`open a window on ${object}`, opened);
    }

    const clients: Client[] = [
      kubectlClient(cp, 'kubectl-carol', 'carol@example.com', carol),
      kubectlClient(cp, 'kubectl-dave', 'dave@example.com', cp.mint('dave@example.com', ['oncall'])),
      clientNodeClient('client-node-erin', 'erin@example.com', cp.mint('erin@example.com', ['oncall'])),
      clientNodeClient('client-node-frank', 'frank@example.com', cp.mint('frank@example.com', ['oncall'])),
    ];

    const t0 = Date.now();
    const ms = () => Date.now() - t0;
    const writes: WriteRecord[] = [];
    const total = clients.length * writesPerClient;
    const killAt = Math.floor(total / 3);
    const restartAt = Math.floor((2 * total) / 3);
    const victim = 1;
    const timeline: ScenarioResult['timeline'] = { killedMs: -1, restartedMs: -1 };
    let phase: Phase = 'all-up';
    let servedAtKill: number[] = [];
    let killStarted = false;
    let restarting: Promise<void> | undefined;
    let restartedServedBase = 0;
    let watching: Promise<void> | undefined;
    const victimPid = replicas[victim]?.child.pid;

    const one = async (client: Client, object: string, key: string, at: Phase): Promise<void> => {
      const startedMs = ms();
      const message = await client.write(object, key);
      const record: WriteRecord = {
        client: client.name,
        user: client.user,
        object,
        key,
        phase: at,
        startedMs,
        endedMs: ms(),
        allowed: message === undefined,
        message: message ?? '',
      };
      writes.push(record);
      if (record.allowed && at !== 'all-up' && timeline.firstAllowedAfterKillMs === undefined && startedMs >= timeline.killedMs) {
        timeline.firstAllowedAfterKillMs = record.endedMs;
      }
    };

    log(`${clients.length} clients make ${writesPerClient} bypass writes each; SIGKILL r2 after ${killAt}, restart it after ${restartAt}`);
    await Promise.all(
      clients.map(async (client) => {
        for (let seq = 0; seq < writesPerClient; seq++) {
          const object = objects[seq % objects.length] ?? 'ledger';
          await one(client, object, `${client.name}-${seq}`, phase);
          if (writes.length >= killAt && !killStarted) {
            killStarted = true;
            servedAtKill = await Promise.all(replicas.map((r) => served(r.metricsPort)));
            timeline.killedMs = ms();
            phase = 'one-killed';
            replicas[victim]?.child.kill('SIGKILL');
            log(`SIGKILLed r2 (pid ${replicas[victim]?.child.pid}) at ${timeline.killedMs} ms`);
            watching = watchState(statsSocket, 'r2', 'DOWN').then((at) => {
              timeline.markedDownMs = at - t0;
            });
          }
          if (writes.length >= restartAt && restarting === undefined) {
            restarting = (async () => {
              timeline.restartedMs = ms();
              const again = await serve(replicaOptions(ports[victim] ?? 0, 'r2'));
              children.push(again.child);
              replicas[victim] = again;
              restartedServedBase = await served(again.metricsPort);
              phase = 'restarted';
              log(`restarted r2 (pid ${again.child.pid})`);
              // When it first answers a review, however that comes (polled, so within ~100 ms).
              void (async () => {
                while (!finished && timeline.rejoinedMs === undefined) {
                  if ((await served(again.metricsPort)) > restartedServedBase) timeline.rejoinedMs = ms();
                  else await new Promise((r) => setTimeout(r, 100));
                }
              })();
              timeline.markedUpMs = (await watchState(statsSocket, 'r2', 'UP')) - t0;
            })();
          }
        }
      }),
    );
    await restarting;
    await watching;

    // Rejoining: the apiserver keeps its connections to the balancer open (keep-alive), so a
    // restarted replica gets traffic from new connections. A burst wider than the apiserver's idle
    // pool (25 per host) opens new ones; `leastconn` sends them to the replica with fewest.
    const restartedReplica = replicas[victim];
    if (restartedReplica === undefined) throw new Error('no restarted replica');
    for (let round = 0; round < 5; round++) {
      if ((await served(restartedReplica.metricsPort)) > restartedServedBase) break;
      log(`rejoin burst ${round + 1}`);
      const burst = clients.filter((c) => c.name.startsWith('client-node'));
      await Promise.all(
        Array.from({ length: 32 }, (_, i) => {
          const client = burst[i % burst.length] ?? clients[0];
          return client === undefined
            ? Promise.resolve()
            : one(client, objects[i % objects.length] ?? 'ledger', `${client.name}-rejoin-${round}-${i}`, 'rejoin');
        }),
      );
    }
    const servedAfterRestart = (await served(restartedReplica.metricsPort)) - restartedServedBase;
    if (servedAfterRestart > 0 && timeline.rejoinedMs === undefined) timeline.rejoinedMs = ms();
    finished = true;

    log('reading the tickets back through driftgate tickets list');
    const listed = must(
      'tickets list',
      await driftgateCli(['tickets', 'list', '--tickets', 'kubernetes:driftgate-system', '--kubeconfig', cp.info.kubeconfig, '-n', NAMESPACE, '-o', 'json']),
    );
    const tickets = (JSON.parse(listed) as TicketView[]).filter((t) => objects.includes(t.object.name));
    const stampedTickets: Record<string, string | undefined> = {};
    for (const object of objects) {
      const got = JSON.parse(must('get', await cp.kubectl(['-n', NAMESPACE, 'get', 'configmap', object, '-o', 'json']))) as {
        metadata: { annotations?: Record<string, string> };
      };
      stampedTickets[object] = got.metadata.annotations?.['driftgate.dev/backport-ticket'];
    }
    const servedAtEnd = await Promise.all(replicas.map((r) => served(r.metricsPort)));
    const survivors = [0, 2].map((i) => ({
      name: names[i] ?? '',
      pid: replicas[i]?.child.pid,
      alive: replicas[i]?.child.exitCode === null && replicas[i]?.child.signalCode === null,
      servedAtKill: servedAtKill[i] ?? 0,
      servedAtEnd: servedAtEnd[i] ?? 0,
    }));
    return {
      writes,
      tickets,
      stampedTickets,
      objects,
      survivors,
      restarted: { name: 'r2', pidBefore: victimPid, pidAfter: restartedReplica.child.pid, servedAfterRestart },
      timeline,
      settings: {
        replicas: 3,
        clients: clients.length,
        writesPerClient,
        balancer: `HAProxy ${haproxyVersion(haproxyBinary)} (mode tcp, leastconn, /readyz checks every 300 ms)`,
      },
    };
  } finally {
    finished = true;
    for (const child of children.reverse()) await stopChild(child, 5_000);
    if (cp !== undefined) await cp.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function must(what: string, r: { code: number; stdout: string; stderr: string }): string {
  if (r.code !== 0) throw new Error(`${what} failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** haproxyPath returns where HAProxy is, or throws saying how to install it. */
function haproxyPath(): string {
  for (const candidate of ['/usr/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/sbin/haproxy']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not there
    }
  }
  throw new Error('HAProxy is not installed: as root, bash test/setup.sh installs it (Debian: apt-get install haproxy)');
}

function haproxyVersion(binary: string): string {
  return /version (\S+)/.exec(execFileSync(binary, ['-v'], { encoding: 'utf8' }))?.[1] ?? '?';
}

/**
 * haproxyConfig: TLS passthrough (mode tcp), so driftgate terminates TLS and sees the apiserver's
 * client certificate; health checks speak TLS to /readyz, verifying driftgate's certificate;
 * a connection refused by a dead replica is redispatched to another before the checks notice.
 */
function haproxyConfig(port: number, statsSocket: string, replicaPorts: number[], caFile: string): string {
  return [
    'global',
    `  stats socket ${statsSocket} mode 600 level admin`,
    '  maxconn 512',
    'defaults',
    '  mode tcp',
    '  timeout connect 1s',
    // Longer than the apiserver's 90 s idle timeout: the balancer never cuts a connection the
    // apiserver is about to reuse.
    '  timeout client 120s',
    '  timeout server 120s',
    '  retries 2',
    '  option redispatch',
    'frontend webhook',
    `  bind 127.0.0.1:${port}`,
    '  default_backend driftgate',
    'backend driftgate',
    '  balance leastconn',
    '  option httpchk',
    '  http-check send meth GET uri /readyz',
    '  http-check expect status 200',
    `  default-server check check-ssl verify required ca-file ${caFile} inter 300 fall 2 rise 2 on-marked-down shutdown-sessions`,
    ...replicaPorts.map((p, i) => `  server r${i + 1} 127.0.0.1:${p}`),
    '',
  ].join('\n');
}

/** serverStates returns each backend server's status from HAProxy's stats socket. */
async function serverStates(socket: string): Promise<{ name: string; status: string }[]> {
  const csv = await new Promise<string>((done, fail) => {
    let text = '';
    const c = connect(socket, () => c.write('show stat\n'));
    c.on('data', (d) => {
      text += d.toString('utf8');
    });
    c.on('end', () => done(text));
    c.on('error', fail);
  });
  const [header = '', ...rows] = csv.split('\n');
  const columns = header.replace(/^# /, '').split(',');
  const at = (name: string) => columns.indexOf(name);
  return rows
    .map((r) => r.split(','))
    .filter((r) => r[at('pxname')] === 'driftgate' && !['BACKEND', 'FRONTEND'].includes(r[at('svname')] ?? ''))
    .map((r) => ({ name: r[at('svname')] ?? '', status: (r[at('status')] ?? '').split(' ')[0] ?? '' }));
}

/** watchState resolves with the time HAProxy first reports `server` in `status`. */
async function watchState(socket: string, server: string, status: string): Promise<number> {
  for (let i = 0; i < 600; i++) {
    const states = await serverStates(socket).catch(() => []);
    if (states.some((s) => s.name === server && s.status === status)) return Date.now();
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`HAProxy never reported ${server} ${status}`);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** served returns how many reviews a replica answered, from its /metrics. */
async function served(metricsPort: number): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
    (r) => r.text(),
    () => '',
  );
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('driftgate_admission_requests_total')) sum += Number(line.split(' ').pop() ?? 0);
  }
  return sum;
}

function kubectlClient(cp: OwnControlPlane, name: string, user: string, kubeconfig: string): Client {
  return {
    name,
    user,
    write: async (object, key) => {
      const r = await exec(cp.info.kubectl, [
        '--kubeconfig',
        kubeconfig,
        '-n',
        NAMESPACE,
        'patch',
        'configmap',
        object,
        '--type=merge',
        '-p',
        JSON.stringify({ data: { [key]: 'v' } }),
      ]);
      return r.code === 0 ? undefined : r.stderr.trim() || `kubectl exited ${r.code} without a message`;
    },
  };
}

function clientNodeClient(name: string, user: string, kubeconfig: string): Client {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api = kc.makeApiClient(CoreV1Api);
  return {
    name,
    user,
    write: async (object, key) => {
      try {
        await api.patchNamespacedConfigMap(
          { name: object, namespace: NAMESPACE, body: { data: { [key]: 'v' } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        return undefined;
      } catch (err) {
        if (err instanceof ApiException) {
          const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
          try {
            return String((JSON.parse(body) as { message?: string }).message ?? body);
          } catch {
            return `HTTP ${err.code}: ${body}`;
          }
        }
        return `client-node: ${(err as Error).message}`;
      }
    },
  };
}

/** Figures are the reliability numbers docs/RELIABILITY.md shows. */
export interface Figures {
  attempted: number;
  allowed: number;
  refused: number;
  refusedByDriftgate: number;
  refusedCallingWebhook: number;
  changesRecorded: number;
  /** Allowed writes whose change is on no ticket: must be 0. */
  allowedMissing: number;
  /** Writes on a ticket more than once: the apiserver reviewed them again (its conflict retry, a new uid). */
  recordedTwice: number;
  /** Request uids on a ticket more than once: driftgate recorded one review twice; must be 0. */
  reviewsRecordedTwice: number;
  recordedButRefused: number;
  killToMarkedDownMs?: number;
  killToFirstAllowedMs?: number;
  restartToMarkedUpMs?: number;
  restartToServingMs?: number;
}

/** figuresOf sums a result up. */
export function figuresOf(result: ScenarioResult): Figures {
  const keys = new Map<string, number>();
  for (const ticket of result.tickets) {
    for (const change of ticket.changes) {
      for (const op of change.patch) {
        const key = /^\/data\/(.+)$/.exec(op.path)?.[1];
        if (key !== undefined && key !== 'seed') keys.set(key, (keys.get(key) ?? 0) + 1);
      }
    }
  }
  const refused = result.writes.filter((w) => !w.allowed);
  const uids = result.tickets.flatMap((ticket) => ticket.changes.map((c) => c.requestUid));
  const t = result.timeline;
  return {
    attempted: result.writes.length,
    allowed: result.writes.length - refused.length,
    refused: refused.length,
    refusedByDriftgate: refused.filter((w) => w.message.includes('[driftgate/')).length,
    refusedCallingWebhook: refused.filter((w) => w.message.includes('failed calling webhook')).length,
    changesRecorded: [...keys.values()].reduce((a, b) => a + b, 0),
    allowedMissing: result.writes.filter((w) => w.allowed && !keys.has(w.key)).length,
    recordedTwice: [...keys.values()].filter((n) => n > 1).length,
    reviewsRecordedTwice: uids.length - new Set(uids).size,
    recordedButRefused: refused.filter((w) => keys.has(w.key)).length,
    ...(t.markedDownMs === undefined ? {} : { killToMarkedDownMs: t.markedDownMs - t.killedMs }),
    ...(t.firstAllowedAfterKillMs === undefined ? {} : { killToFirstAllowedMs: t.firstAllowedAfterKillMs - t.killedMs }),
    ...(t.markedUpMs === undefined ? {} : { restartToMarkedUpMs: t.markedUpMs - t.restartedMs }),
    ...(t.rejoinedMs === undefined ? {} : { restartToServingMs: t.rejoinedMs - t.restartedMs }),
  };
}
