/**
 * The end-to-end world, started once per test run: a real etcd, kube-apiserver and
 * kube-controller-manager built from the Kubernetes Go modules (test/harness), driftgate installed from the very manifests/install.yaml an
 * operator applies (the webhook configurations rendered by `driftgate manifests` with the URL of a local
 * `driftgate serve`), and a canary write proving the apiserver calls driftgate before any test
 * asserts anything. Everything is stopped, and its temp dir removed, at the end.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { writeCertificates } from '../../src/certs/files.js';
import { WEBHOOK_CALLER, type ClusterInfo } from './cluster.js';
import { waitForLine } from './own-cluster.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli/main.js');

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: ClusterInfo;
  }
}

function log(message: string): void {
  process.stderr.write(`e2e setup: ${message}\n`);
}

function kubectl(info: { kubectl: string; kubeconfig: string }, args: string[], input?: string): string {
  return execFileSync(info.kubectl, ['--kubeconfig', info.kubeconfig, ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const children: ChildProcess[] = [];
  const work = mkdtempSync(join(tmpdir(), 'driftgate-e2e-'));
  const teardown = async (): Promise<void> => {
    for (const child of children.reverse()) {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => {
          const t = setTimeout(() => {
            child.kill('SIGKILL');
            r(undefined);
          }, 10_000);
          child.once('exit', () => {
            clearTimeout(t);
            r(undefined);
          });
        });
      }
    }
    rmSync(work, { recursive: true, force: true });
  };

  try {
    log('building (or reusing) kube-apiserver, kube-controller-manager, etcd and kubectl: a cold build takes 15-25 minutes');
    const built = execFileSync('bash', [join(ROOT, 'test/harness/build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const binDir = built.trim().split('\n').pop() ?? '';

    log('starting etcd, kube-apiserver and kube-controller-manager');
    // stdin stays a pipe we hold: if this process dies, the control plane sees EOF and stops.
    // The apiserver presents a client certificate (CN WEBHOOK_CALLER, a CA of its own) to every
    // webhook through its AdmissionConfiguration, and driftgate requires it (--client-ca).
    const cp = spawn(join(binDir, 'controlplane'), ['--bin-dir', binDir, '--webhook-client-cert', WEBHOOK_CALLER], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(cp);
    const infoPath = await waitForLine(cp, 'controlplane', (l) => (l.startsWith('READY ') ? l.slice(6).trim() : undefined), 180_000);
    const cpInfo = JSON.parse(readFileSync(infoPath, 'utf8')) as {
      kubeconfig: string;
      kubectl: string;
      server: string;
      workDir: string;
      webhookClientCaCert?: string;
      webhookClientCaKey?: string;
      webhookClientCert?: string;
      webhookClientKey?: string;
    };
    const { webhookClientCaCert, webhookClientCaKey, webhookClientCert, webhookClientKey } = cpInfo;
    if (webhookClientCaCert === undefined || webhookClientCaKey === undefined || webhookClientCert === undefined || webhookClientKey === undefined) {
      throw new Error('the controlplane launcher wrote no webhook client certificate: rebuild it (test/harness/build.sh) with --webhook-client-cert support');
    }
    const admin = { kubectl: cpInfo.kubectl, kubeconfig: cpInfo.kubeconfig };

    const mint = (name: string, groups: string[]): string =>
      execFileSync(
        join(binDir, 'controlplane'),
        ['mint', '--config', infoPath, '--name', name, ...groups.flatMap((g) => ['--group', g]), '--out-dir', join(work, 'users')],
        {
          encoding: 'utf8',
        },
      ).trim();
    // driftgate runs as its own ServiceAccount, so that the manifests' RBAC is what it gets.
    const driftgateKubeconfig = mint('system:serviceaccount:driftgate-system:driftgate', ['system:serviceaccounts', 'system:serviceaccounts:driftgate-system']);
    const developerKubeconfig = mint('dev@example.com', ['developers']);

    // manifests/install.yaml is the chart rendered for kubectl (charts/render.sh): namespace, CRD,
    // RBAC, policy ConfigMap, Service, Deployment, budget. The Deployment's pods never run here (no
    // kubelet), so driftgate runs as a local process instead, as the ServiceAccount the install
    // creates, and the webhooks are rendered by `driftgate manifests --url` for that process (below)
    // rather than by the chart for its Service: the same renderer the chart's webhooks come from
    // (test/unit/chart checks they are equal), pointed at where driftgate really answers.
    log('installing manifests/install.yaml (namespace, RBAC, CRD, Deployment, …) and the test namespaces');
    for (const ns of ['prod', 'payments-eu', 'dev', 'blackhole']) kubectl(admin, ['create', 'namespace', ns]);
    kubectl(admin, ['apply', '--server-side', '-f', join(ROOT, 'manifests/install.yaml')]);
    kubectl(admin, ['apply', '-f', join(ROOT, 'test/e2e/rbac.yaml')]);
    kubectl(admin, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/backporttickets.driftgate.dev']);

    log('starting driftgate serve');
    const certs = await writeCertificates(join(work, 'certs'), ['127.0.0.1', 'localhost'], 2, new Date());
    const policy = join(ROOT, 'test/e2e/policy.yaml');
    const dg = spawn(
      process.execPath,
      [
        CLI,
        'serve',
        '--policy',
        policy,
        '--tls-cert',
        certs.paths.cert,
        '--tls-key',
        certs.paths.key,
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--metrics-port',
        '0',
        '--tickets',
        'kubernetes:driftgate-system',
        '--kubeconfig',
        driftgateKubeconfig,
        '--log-level',
        'info',
        '--housekeeping-interval',
        '500',
        '--client-ca',
        webhookClientCaCert,
        '--client-name',
        WEBHOOK_CALLER,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT },
    );
    children.push(dg);
    const logFile = join(work, 'driftgate.log');
    writeFileSync(logFile, '');
    const ports = await waitForLine(
      dg,
      'driftgate serve',
      (l) => {
        writeFileSync(logFile, `${l}\n`, { flag: 'a' });
        try {
          const line = JSON.parse(l) as { msg?: string; port?: number; metricsPort?: number };
          return line.msg === 'driftgate serving' ? { port: line.port ?? 0, metricsPort: line.metricsPort ?? 0 } : undefined;
        } catch {
          return undefined;
        }
      },
      30_000,
    );
    dg.stdout?.on('data', (chunk: Buffer) => writeFileSync(logFile, chunk, { flag: 'a' }));

    log(`registering the webhooks (driftgate on 127.0.0.1:${ports.port})`);
    const rendered = execFileSync(
      process.execPath,
      [CLI, 'manifests', '--policy', policy, '--url', `https://127.0.0.1:${ports.port}`, '--ca-bundle', certs.paths.caCert],
      { encoding: 'utf8' },
    );
    writeFileSync(join(work, 'webhooks.yaml'), rendered);
    kubectl(admin, ['apply', '-f', join(work, 'webhooks.yaml')]);

    log('waiting for a canary write to reach driftgate');
    kubectl(admin, ['--as=system:serviceaccount:argocd:argocd-application-controller', '-n', 'prod', 'create', 'configmap', 'canary', '--from-literal=k=v']);
    let reached = false;
    for (let i = 0; i < 120 && !reached; i++) {
      try {
        kubectl(admin, ['--as=dev@example.com', '-n', 'prod', 'label', 'configmap', 'canary', `try=${i}`, '--overwrite']);
        await sleep(500);
      } catch (err) {
        reached = String((err as { stderr?: string }).stderr ?? '').includes('[driftgate/');
        if (!reached) await sleep(500);
      }
    }
    if (!reached) throw new Error('the apiserver never called driftgate: see the webhook configuration and driftgate.log');
    log('ready');

    project.provide('cluster', {
      kubectl: cpInfo.kubectl,
      kubeconfig: cpInfo.kubeconfig,
      developerKubeconfig,
      driftgateKubeconfig,
      server: cpInfo.server,
      driftgatePort: ports.port,
      metricsPort: ports.metricsPort,
      caCert: certs.paths.caCert,
      webhooksFile: join(work, 'webhooks.yaml'),
      logFile,
      cli: CLI,
      policy,
      work,
      infoPath,
      controlplane: join(binDir, 'controlplane'),
      webhookClient: { caCert: webhookClientCaCert, caKey: webhookClientCaKey, cert: webhookClientCert, key: webhookClientKey },
    });
    return teardown;
  } catch (err) {
    await teardown();
    throw err;
  }
}
