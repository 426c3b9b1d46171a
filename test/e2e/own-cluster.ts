/**
 * A control plane of a test's own, apart from the suite's shared one (global-setup.ts): for tests
 * that must start the kube-apiserver differently (its admission configuration) or that kill and
 * restart driftgate replicas, without touching what the other files run against. The same
 * launcher (test/harness), the same manifests/install.yaml, the same `driftgate serve`.
 *
 * Nothing here imports vitest, so the reliability command (bench/reliability.ts) runs the very
 * same scenario outside a test run.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * ROOT is the repository: found upwards, because this file also runs compiled under
 * .cache/reliability (`npm run reliability`), not only from test/e2e.
 */
export const ROOT = repositoryRoot(import.meta.dirname);

function repositoryRoot(from: string): string {
  for (let dir = from; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'test/harness/build.sh'))) return dir;
  }
  throw new Error(`no driftgate repository above ${from}`);
}
/** CLI is the built driftgate CLI (npm run build). */
export const CLI = join(ROOT, 'dist/cli/main.js');

/** waitForLine reads lines of a child's stdout until `match` returns a value, or fails when it exits first. */
export function waitForLine<T>(child: ChildProcess, what: string, match: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
  return new Promise((done, fail) => {
    if (child.stdout === null) throw new Error(`${what}: no stdout`);
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => fail(new Error(`${what}: not ready within ${timeoutMs / 1000}s`)), timeoutMs);
    lines.on('line', (line) => {
      const found = match(line);
      if (found !== undefined) {
        clearTimeout(timer);
        done(found);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${what} exited (code ${code}) before it was ready`));
    });
  });
}

/** freePort returns a loopback port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

/** stopChild stops a child (SIGTERM, then SIGKILL after `graceMs`) and resolves once it exited. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      done(undefined);
    });
    child.kill('SIGTERM');
  });
}

/** Outcome is what a command printed and how it exited. */
export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** exec returns the outcome of a command, never throwing on a non-zero exit. */
export function exec(file: string, args: string[], input?: string): Promise<Outcome> {
  return new Promise((done) => {
    const child = execFile(file, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
      done({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** driftgateCli runs the built CLI. */
export function driftgateCli(args: string[], input?: string): Promise<Outcome> {
  return exec(process.execPath, [CLI, ...args], input);
}

/** buildControlPlane builds (or reuses) the harness binaries and returns their directory. */
export function buildControlPlane(): string {
  const built = execFileSync('bash', [join(ROOT, 'test/harness/build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return built.trim().split('\n').pop() ?? '';
}

/** ControlPlaneInfo is the part of the launcher's controlplane.json these tests read. */
export interface ControlPlaneInfo {
  kubeconfig: string;
  kubectl: string;
  server: string;
  workDir: string;
  logs: Record<string, string>;
  webhookClientCaCert?: string;
}

/** OwnControlPlane is a running etcd + kube-apiserver (+ kube-controller-manager) of one test. */
export interface OwnControlPlane {
  info: ControlPlaneInfo;
  infoPath: string;
  /** kubectl as the admin, or with another kubeconfig. */
  kubectl(args: string[], input?: string, kubeconfig?: string): Promise<Outcome>;
  /** mint returns the kubeconfig of a user with a client certificate of its own (CN name, O groups). */
  mint(name: string, groups: string[]): string;
  stop(): Promise<void>;
}

/**
 * startControlPlane starts the launcher from `binDir` with `args` (e.g. an --apiserver-arg) and
 * resolves once the apiserver is ready. Its stdin stays a pipe we hold: if this process dies,
 * the launcher sees EOF and stops everything it started.
 */
export async function startControlPlane(binDir: string, args: string[], usersDir: string): Promise<OwnControlPlane> {
  const launcher = join(binDir, 'controlplane');
  const child = spawn(launcher, ['--bin-dir', binDir, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const infoPath = await waitForLine(child, 'controlplane', (l) => (l.startsWith('READY ') ? l.slice(6).trim() : undefined), 180_000);
  const info = JSON.parse(readFileSync(infoPath, 'utf8')) as ControlPlaneInfo;
  return {
    info,
    infoPath,
    kubectl: (kargs, input, kubeconfig = info.kubeconfig) => exec(info.kubectl, ['--kubeconfig', kubeconfig, ...kargs], input),
    mint: (name, groups) =>
      execFileSync(launcher, ['mint', '--config', infoPath, '--name', name, ...groups.flatMap((g) => ['--group', g]), '--out-dir', usersDir], {
        encoding: 'utf8',
      }).trim(),
    stop: () => stopChild(child, 20_000),
  };
}

/** ARGOCD_USER is the GitOps writer of test/e2e/policy.yaml: its writes never reach driftgate. */
export const ARGOCD_USER = 'system:serviceaccount:argocd:argocd-application-controller';

/**
 * installDriftgate applies what an operator applies (manifests/install.yaml: namespace, CRD, RBAC,
 * …) and the suite's test RBAC, creates `namespaces` as Argo CD (a protected namespace's own
 * object is guarded, and the webhooks may already be registered), and returns driftgate's
 * ServiceAccount kubeconfig.
 */
export async function installDriftgate(cp: OwnControlPlane, namespaces: string[]): Promise<string> {
  const must = async (what: string, p: Promise<Outcome>): Promise<void> => {
    const r = await p;
    if (r.code !== 0) throw new Error(`${what}: ${r.stderr}`);
  };
  await must('install.yaml', cp.kubectl(['apply', '--server-side', '-f', join(ROOT, 'manifests/install.yaml')]));
  await must('CRD established', cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/backporttickets.driftgate.dev']));
  // Argo CD's cluster-admin binding is in rbac.yaml, whose RoleBindings need the namespaces
  // first: impersonate its user with the admin's group for this one step.
  for (const ns of namespaces) {
    await must(`namespace ${ns}`, cp.kubectl([`--as=${ARGOCD_USER}`, '--as-group=system:masters', 'create', 'namespace', ns]));
  }
  await must('rbac.yaml', cp.kubectl(['apply', '-f', join(ROOT, 'test/e2e/rbac.yaml')]));
  return cp.mint('system:serviceaccount:driftgate-system:driftgate', ['system:serviceaccounts', 'system:serviceaccounts:driftgate-system']);
}

/** ServeOptions start one `driftgate serve` replica. */
export interface ServeOptions {
  /** A policy file, or the flags that say where the policy comes from (e.g. --policy-source guardpolicy). */
  policy: string | readonly string[];
  cert: string;
  key: string;
  port: number;
  kubeconfig: string;
  logFile: string;
  /** The CA of the apiserver's client certificate, and its CN: only that caller is served. */
  caller?: { caCert: string; name: string };
  /** More `serve` flags. */
  extraArgs?: string[];
}

/** Replica is a running `driftgate serve`. */
export interface Replica {
  child: ChildProcess;
  port: number;
  metricsPort: number;
}

/** serve starts `driftgate serve` with the kubernetes ticket store and resolves once it serves. */
export async function serve(opts: ServeOptions): Promise<Replica> {
  const policyArgs = typeof opts.policy === 'string' ? ['--policy', opts.policy] : opts.policy;
  const args = [CLI, 'serve', ...policyArgs, '--tls-cert', opts.cert, '--tls-key', opts.key, '--host', '127.0.0.1', '--port', String(opts.port)];
  args.push('--metrics-port', '0', '--tickets', 'kubernetes:driftgate-system', '--kubeconfig', opts.kubeconfig, '--log-level', 'info');
  if (opts.caller !== undefined) args.push('--client-ca', opts.caller.caCert, '--client-name', opts.caller.name);
  args.push(...(opts.extraArgs ?? []));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
  const ports = await waitForLine(
    child,
    `driftgate serve on ${opts.port}`,
    (line) => {
      appendFileSync(opts.logFile, `${line}\n`);
      try {
        const l = JSON.parse(line) as { msg?: string; port?: number; metricsPort?: number };
        return l.msg === 'driftgate serving' ? { port: l.port ?? 0, metricsPort: l.metricsPort ?? 0 } : undefined;
      } catch {
        return undefined;
      }
    },
    30_000,
  );
  // Keep the log after the first line too (the readline above stops matching but keeps reading).
  return { child, ...ports };
}
