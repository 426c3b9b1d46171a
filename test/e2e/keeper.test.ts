/**
 * driftgate keeping its own webhook configurations and certificates (issue 14), against the real
 * kube-apiserver: two `driftgate serve --manage-webhooks --self-managed-certs` replicas elect one
 * leader through a real Lease, it applies the webhooks with the caBundle of the CA the replicas
 * created in a real Secret, and the apiserver calls them over real TLS.
 *
 * Its own names throughout, so the suite's shared driftgate is never touched: the webhook
 * configurations are `driftgate-keeper-e2e`, guarding only the namespace `keeper-e2e`; the Lease
 * and the Secret are `keeper-e2e` and `keeper-e2e-tls` in driftgate-system. Their RBAC is the
 * chart's own (templates/rbac-keeper.yaml, rendered by the real helm) with those names put in
 * place of `driftgate`, so what is granted by name is what is tested.
 *
 * The one stand-in: a TCP relay in this process plays the Service in front of the two replicas
 * (there is no kube-proxy here). It passes bytes through, so TLS is between the apiserver and
 * driftgate, and it spreads connections over the replicas that are up, as a Service does.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { template } from '../helpers/helm.js';
import { ADMIN, DEVELOPER, cluster, driftgate, getJson, kubectl, sleep, unique } from './cluster.js';

const NS = 'keeper-e2e';
const NAME = 'driftgate-keeper-e2e';
const LEASE = 'keeper-e2e';
const SECRET = 'keeper-e2e-tls';
const POLICY_NAME = 'keeper-e2e';
const VALIDATING = `validatingwebhookconfiguration/${NAME}`;

interface Replica {
  name: string;
  child: ChildProcess;
  identity: string | undefined;
  metricsPort: number;
  port: number;
  lines: string[];
}

/** Relay is the stand-in for the Service: a TCP pass-through to the replicas that are up. */
class Relay {
  readonly server: net.Server;
  backends: number[] = [];
  #next = 0;

  constructor() {
    this.server = net.createServer((client) => {
      const tries = [...this.backends];
      const attempt = (left: number[]): void => {
        const port = left[this.#next++ % Math.max(1, left.length)];
        if (port === undefined) {
          client.destroy();
          return;
        }
        const upstream = net.connect(port, '127.0.0.1');
        upstream.once('connect', () => {
          client.pipe(upstream).pipe(client);
        });
        upstream.once('error', () => {
          client.unpipe(upstream);
          const rest = left.filter((p) => p !== port);
          if (upstream.readyState !== 'open' && rest.length > 0) attempt(rest);
          else client.destroy();
        });
        client.once('error', () => upstream.destroy());
        client.once('close', () => upstream.destroy());
      };
      attempt(tries);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    return (this.server.address() as net.AddressInfo).port;
  }
}

const relay = new Relay();
let relayPort = 0;
const replicas: Replica[] = [];
let policyFile = '';
let logFile = '';

async function startReplica(name: string): Promise<Replica> {
  const c = cluster();
  const args = [
    c.cli,
    'serve',
    '--policy',
    policyFile,
    '--self-managed-certs',
    `driftgate-system/${SECRET}`,
    '--manage-webhooks',
    `https://127.0.0.1:${relayPort}`,
    '--webhook-name',
    NAME,
    '--lease',
    `driftgate-system/${LEASE}`,
    '--lease-duration',
    '3s',
    // Short on purpose: a serving certificate every ~14 s and a whole CA rotation within a
    // minute, so the rotation test sees them happen while writes go on.
    '--cert-validity',
    '20s',
    '--ca-validity',
    '60s',
    '--ca-overlap',
    '5s',
    '--cert-reload-interval',
    '500',
    '--housekeeping-interval',
    '1000',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--tickets',
    'kubernetes:driftgate-system',
    '--kubeconfig',
    c.driftgateKubeconfig,
    '--client-ca',
    c.webhookClient.caCert,
    '--client-name',
    'kube-apiserver-admission',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const replica: Replica = { name, child, identity: undefined, metricsPort: 0, port: 0, lines: [] };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 60s`)), 60_000);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before serving`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      appendFileSync(logFile, `${name} ${line}\n`);
      replica.lines.push(line);
      try {
        const l = JSON.parse(line) as { msg?: string; port?: number; metricsPort?: number; identity?: string };
        if (l.identity !== undefined) replica.identity = l.identity;
        if (l.msg === 'driftgate serving') {
          replica.port = l.port ?? 0;
          replica.metricsPort = l.metricsPort ?? 0;
          clearTimeout(timer);
          resolve();
        }
      } catch {
        // not JSON
      }
    });
  });
  relay.backends.push(replica.port);
  replicas.push(replica);
  return replica;
}

/** running tells whether a replica's process is still alive (a signalled process has a signalCode, no exitCode). */
function running(r: Replica): boolean {
  return r.child.exitCode === null && r.child.signalCode === null;
}

function stopReplica(r: Replica, signal: NodeJS.Signals): Promise<void> {
  relay.backends = relay.backends.filter((p) => p !== r.port);
  if (!running(r)) return Promise.resolve();
  const exited = new Promise<void>((done) => r.child.once('exit', () => done()));
  r.child.kill(signal);
  return exited;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000}s`);
    await sleep(200);
  }
}

async function metric(r: Replica, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${r.metricsPort}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (want.every((w) => line.includes(w))) total += Number(line.split(' ').pop());
  }
  return total;
}

async function holder(): Promise<string | undefined> {
  const r = await kubectl(ADMIN, ['-n', 'driftgate-system', 'get', 'lease', LEASE, '-o', 'jsonpath={.spec.holderIdentity}']);
  return r.code === 0 && r.stdout !== '' ? r.stdout : undefined;
}

function leader(): Replica {
  const found = replicas.find(
    (r) => running(r) && r.lines.some((l) => l.includes('"leading: this replica holds the Lease')) && !r.lines.some((l) => l.includes('"no longer leading')),
  );
  if (found === undefined) throw new Error('no replica leads');
  return found;
}

async function webhookExists(): Promise<boolean> {
  return (await kubectl(ADMIN, ['get', VALIDATING])).code === 0;
}

/** devWrite tries a developer's write in the guarded namespace and returns what kubectl said. */
async function devWrite(): Promise<{ code: number; stderr: string }> {
  return kubectl(DEVELOPER, ['-n', NS, 'create', 'configmap', unique('dev'), '--from-literal=k=v']);
}

beforeAll(async () => {
  const c = cluster();
  // The replicas' log lines; KEEPER_E2E_LOG keeps them past the run (the work dir is removed at teardown).
  logFile = process.env['KEEPER_E2E_LOG'] ?? join(c.work, 'keeper.log');
  writeFileSync(logFile, '');
  policyFile = join(c.work, 'keeper-policy.yaml');
  writeFileSync(
    policyFile,
    [
      'apiVersion: driftgate.dev/v1alpha1',
      'kind: GuardPolicy',
      `metadata: { name: ${POLICY_NAME} }`,
      'spec:',
      '  mode: enforce',
      `  namespaces: ["${NS}"]`,
      '  resources:',
      '    - { apiGroups: [""], resources: ["configmaps"] }',
      '  gitopsWriters: { users: ["system:serviceaccount:argocd:argocd-application-controller"] }',
      '',
    ].join('\n'),
  );
  await kubectl(ADMIN, ['create', 'namespace', NS]);
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'e2e-edit', namespace: NS },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'e2e-writer' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }],
  };
  expect((await kubectl(ADMIN, ['apply', '-f', '-'], JSON.stringify(binding))).code).toBe(0);

  // The chart's RBAC for the keeper, with this test's names in place of driftgate's.
  const rendered = template(['--set', 'certificates.mode=self-managed', '--set', 'webhooks.managed=true', '--show-only', 'templates/rbac-keeper.yaml']);
  const renamed = rendered.map((o) => {
    const text = JSON.stringify(o)
      .replaceAll('"resourceNames":["driftgate"],"verbs":["get","update","patch"]', `"resourceNames":["${LEASE}"],"verbs":["get","update","patch"]`)
      .replaceAll('"resourceNames":["driftgate-tls"]', `"resourceNames":["${SECRET}"]`)
      .replaceAll('"resourceNames":["driftgate"]', `"resourceNames":["${NAME}"]`)
      .replaceAll('"name":"driftgate-keeper"', '"name":"driftgate-keeper-e2e"');
    return JSON.parse(text) as object;
  });
  expect(JSON.stringify(renamed)).not.toContain('"resourceNames":["driftgate"]');
  const applied = await kubectl(ADMIN, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: renamed }));
  expect(applied.code, applied.stderr).toBe(0);

  relayPort = await relay.listen();
  await Promise.all([startReplica('replica-a'), startReplica('replica-b')]);
}, 120_000);

afterAll(async () => {
  // Switch off first, so no replica restores what is removed below; then stop them.
  await driftgate([
    'webhooks',
    'disable',
    '--lease',
    `driftgate-system/${LEASE}`,
    '--name',
    NAME,
    '--reason',
    'e2e cleanup',
    '--kubeconfig',
    cluster().kubeconfig,
  ]);
  await Promise.all(replicas.map((r) => stopReplica(r, 'SIGTERM')));
  relay.server.close();
  await kubectl(ADMIN, ['delete', VALIDATING, `mutatingwebhookconfiguration/${NAME}`, '--ignore-not-found']);
  await kubectl(ADMIN, ['delete', 'namespace', NS, '--wait=false']);
  await kubectl(ADMIN, ['-n', 'driftgate-system', 'delete', 'lease', LEASE, '--ignore-not-found']);
  await kubectl(ADMIN, ['-n', 'driftgate-system', 'delete', 'secret', SECRET, '--ignore-not-found']);
}, 120_000);

describe('serve --manage-webhooks --self-managed-certs, two replicas', () => {
  it('elects exactly one leader, which applies the webhooks with its field manager and the caBundle of the Secret both replicas serve from', async () => {
    const held = await until('a Lease holder', holder);
    await until('the webhook configuration', async () => ((await webhookExists()) ? true : undefined));
    expect(replicas.map((r) => r.identity)).toContain(held);
    const leading = replicas.filter((r) => r.lines.some((l) => l.includes('"leading: this replica holds the Lease')));
    expect(leading.map((r) => r.identity)).toEqual([held]);
    expect(await Promise.all(replicas.map((r) => metric(r, 'driftgate_leader')))).toEqual(replicas.map((r) => (r.identity === held ? 1 : 0)));

    const secret = await getJson<{ type: string; data: Record<string, string> }>(['-n', 'driftgate-system', 'secret', SECRET]);
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Object.keys(secret.data)).toEqual(expect.arrayContaining(['tls.crt', 'tls.key', 'ca.crt', 'ca.key', 'ca-bundle.crt']));
    const config = await getJson<{
      metadata: { managedFields: Array<{ manager: string; operation: string }> };
      webhooks: Array<{ clientConfig: { caBundle: string; url: string } }>;
    }>([VALIDATING, '--show-managed-fields']);
    expect(config.metadata.managedFields).toContainEqual(expect.objectContaining({ manager: 'driftgate', operation: 'Apply' }));
    expect(config.webhooks[0]?.clientConfig.url).toBe(`https://127.0.0.1:${relayPort}/validate`);
    // The caBundle tracks the Secret (it may be mid-rotation: compare until they agree).
    await until('caBundle == the Secret ca-bundle.crt', async () => {
      const s = await getJson<{ data: Record<string, string> }>(['-n', 'driftgate-system', 'secret', SECRET]);
      const w = await getJson<{ webhooks: Array<{ clientConfig: { caBundle: string } }> }>([VALIDATING]);
      return w.webhooks[0]?.clientConfig.caBundle === s.data['ca-bundle.crt'] ? true : undefined;
    });
  });

  it("makes the apiserver call driftgate over TLS with the rendered caBundle: a developer's write is refused with driftgate's message", async () => {
    const r = await until('a refusal from this policy', async () => {
      const w = await devWrite();
      return w.stderr.includes(`GuardPolicy ${POLICY_NAME}`) ? w : undefined;
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('[driftgate/drift]');
  });

  it('keeps writes answered through serving-certificate and CA rotations (short validity), on both replicas', async () => {
    const lead = leader();
    const failures: string[] = [];
    let answered = 0;
    await until(
      'a whole CA rotation',
      async () => {
        const w = await devWrite();
        if (w.stderr.includes(`GuardPolicy ${POLICY_NAME}`)) answered++;
        else failures.push(w.stderr.trim());
        const retired = await metric(lead, 'driftgate_certificate_rotations_total', { step: 'ca-retired' });
        return retired >= 1 ? true : undefined;
      },
      110_000,
    );
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(10);
    expect(await metric(lead, 'driftgate_certificate_rotations_total', { step: 'serving' })).toBeGreaterThanOrEqual(1);
    expect(await metric(lead, 'driftgate_certificate_rotations_total', { step: 'ca-promoted' })).toBeGreaterThanOrEqual(1);
    // Every replica reloaded: both serve the certificate now in the Secret.
    const s = await getJson<{ data: Record<string, string> }>(['-n', 'driftgate-system', 'secret', SECRET]);
    const want = Buffer.from(s.data['tls.crt'] ?? '', 'base64').toString();
    const { X509Certificate } = await import('node:crypto');
    const { connect } = await import('node:tls');
    for (const r of replicas) {
      const served = await until(
        `${r.name} serving the Secret's certificate`,
        async () => {
          const cert = await new Promise<string>((resolve, reject) => {
            const socket = connect({ host: '127.0.0.1', port: r.port, rejectUnauthorized: false }, () => {
              const raw = socket.getPeerX509Certificate();
              socket.end();
              resolve(raw?.toString() ?? '');
            });
            socket.once('error', reject);
          });
          return new X509Certificate(cert).fingerprint256 === new X509Certificate(want).fingerprint256 ? true : undefined;
        },
        10_000,
      );
      expect(served).toBe(true);
    }
    expect(readFileSync(logFile, 'utf8')).not.toMatch(/PRIVATE KEY/);
  }, 150_000);

  it('restores a deleted configuration within seconds, and counts it', async () => {
    const lead = leader();
    const before = await metric(lead, 'driftgate_webhook_configuration_restores_total', { kind: 'validating', reason: 'deleted' });
    expect((await kubectl(ADMIN, ['delete', VALIDATING])).code).toBe(0);
    await until('restored', async () => ((await webhookExists()) ? true : undefined), 10_000);
    await until(
      'counted',
      async () =>
        (await metric(lead, 'driftgate_webhook_configuration_restores_total', { kind: 'validating', reason: 'deleted' })) === before + 1 ? true : undefined,
      5_000,
    );
    expect(lead.lines.some((l) => l.includes('was deleted and has been restored'))).toBe(true);
  });

  it('puts back a `kubectl edit` to failurePolicy Ignore, and counts it', async () => {
    const lead = leader();
    // A real `kubectl edit`, its editor a sed script (as a person's editor would save it).
    const edited = await kubectl(ADMIN, ['edit', VALIDATING], undefined, { KUBE_EDITOR: 'sed -i s/failurePolicy:\\ Fail/failurePolicy:\\ Ignore/' });
    expect(edited.code, edited.stderr).toBe(0);
    await until(
      'failurePolicy back to Fail',
      async () => {
        const w = await getJson<{ webhooks: Array<{ failurePolicy: string }> }>([VALIDATING]);
        return w.webhooks.every((h) => h.failurePolicy === 'Fail') ? true : undefined;
      },
      10_000,
    );
    await until(
      'counted',
      async () => ((await metric(lead, 'driftgate_webhook_configuration_restores_total', { kind: 'validating', reason: 'edited' })) >= 1 ? true : undefined),
      5_000,
    );
  });

  it('hands over to the other replica when the leader is killed, and the new leader keeps the webhooks', async () => {
    const old = leader();
    await stopReplica(old, 'SIGKILL');
    const other = replicas.find((r) => r !== old);
    const next = await until('a new holder', async () => {
      const h = await holder();
      return h !== undefined && h !== old.identity ? h : undefined;
    });
    expect(next).toBe(other?.identity);
    expect((await kubectl(ADMIN, ['delete', VALIDATING])).code).toBe(0);
    await until('restored by the new leader', async () => ((await webhookExists()) ? true : undefined), 10_000);
    // And the apiserver still gets answers, now from the one replica left.
    await until('a refusal from this policy', async () => ((await devWrite()).stderr.includes(`GuardPolicy ${POLICY_NAME}`) ? true : undefined));
  });

  it('turned off on purpose (driftgate webhooks disable): both removed, they stay removed, the gauge says so, writes are no longer checked', async () => {
    const lead = leader();
    const restoredBefore = await metric(lead, 'driftgate_webhook_configuration_restores_total');
    const off = await driftgate([
      'webhooks',
      'disable',
      '--lease',
      `driftgate-system/${LEASE}`,
      '--name',
      NAME,
      '--reason',
      'INC-42: e2e turn-off',
      '--kubeconfig',
      cluster().kubeconfig,
      '-o',
      'json',
    ]);
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout)).toMatchObject({ disabled: true, reason: 'INC-42: e2e turn-off' });
    await until('the gauge', async () => ((await metric(lead, 'driftgate_webhooks_disabled')) === 1 ? true : undefined), 10_000);
    // Several resyncs (every second) later, still gone.
    await sleep(4_000);
    expect(await webhookExists()).toBe(false);
    expect((await kubectl(ADMIN, ['get', `mutatingwebhookconfiguration/${NAME}`])).code).not.toBe(0);
    expect(await metric(lead, 'driftgate_webhook_configuration_restores_total')).toBe(restoredBefore);
    expect((await devWrite()).code).toBe(0);
    const status = await driftgate([
      'webhooks',
      'status',
      '--lease',
      `driftgate-system/${LEASE}`,
      '--name',
      NAME,
      '--kubeconfig',
      cluster().kubeconfig,
      '-o',
      'json',
    ]);
    expect(JSON.parse(status.stdout)).toMatchObject({
      disabled: true,
      present: { validatingwebhookconfigurations: false, mutatingwebhookconfigurations: false },
    });

    // And back on: the leader applies them again.
    expect((await driftgate(['webhooks', 'enable', '--lease', `driftgate-system/${LEASE}`, '--name', NAME, '--kubeconfig', cluster().kubeconfig])).code).toBe(
      0,
    );
    await until('applied again', async () => ((await webhookExists()) ? true : undefined), 10_000);
  });
});
