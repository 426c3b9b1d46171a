/**
 * What the end-to-end tests share: the cluster the global setup started, kubectl run as one of
 * several identities (impersonated by the admin, or with a developer's own client certificate),
 * and small waits. Identities are the ones the product meets in production.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { serve } from './own-cluster.js';

/** ClusterInfo is what the global setup provides. */
export interface ClusterInfo {
  kubectl: string;
  kubeconfig: string;
  developerKubeconfig: string;
  driftgateKubeconfig: string;
  server: string;
  driftgatePort: number;
  metricsPort: number;
  caCert: string;
  webhooksFile: string;
  logFile: string;
  cli: string;
  policy: string;
  work: string;
  /** controlplane.json, and the launcher (for `controlplane mint`). */
  infoPath: string;
  controlplane: string;
  /** The certificate the apiserver presents to webhooks, and the CA driftgate verifies it with (PEM files). */
  webhookClient: { caCert: string; caKey: string; cert: string; key: string };
}

/** WEBHOOK_CALLER is the CN of the apiserver's webhook client certificate, the one caller driftgate accepts. */
export const WEBHOOK_CALLER = 'kube-apiserver-admission';

/** Identity is who runs a kubectl command. */
export interface Identity {
  name: string;
  /** kubectl impersonation flags, added to the admin kubeconfig; absent for the admin itself. */
  as?: string[];
  /** A kubeconfig of the identity's own (a client certificate), instead of impersonation. */
  kubeconfig?: 'developer';
}

export const ADMIN: Identity = { name: 'admin' };
export const ARGOCD: Identity = { name: 'argocd', as: ['--as=system:serviceaccount:argocd:argocd-application-controller'] };
export const FLUX: Identity = { name: 'flux', as: ['--as=system:serviceaccount:flux-system:kustomize-controller'] };
export const HPA: Identity = { name: 'hpa', as: ['--as=system:serviceaccount:kube-system:horizontal-pod-autoscaler'] };
/** A responder in the oncall group, allowed to break glass. */
export const RESPONDER: Identity = { name: 'responder', as: ['--as=dave@example.com', '--as-group=oncall'] };
/** A developer, not allowed to break glass, with a client certificate of their own (CN=dev@example.com, O=developers). */
export const DEVELOPER: Identity = { name: 'developer', kubeconfig: 'developer' };

/** cluster returns the cluster the global setup started. */
export function cluster(): ClusterInfo {
  return inject('cluster');
}

/** Result is what a command printed and how it exited. */
export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** run returns the result of a command, never throwing on a non-zero exit. */
export function run(file: string, args: string[], input?: string, env?: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    const options = {
      encoding: 'utf8' as const,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 60_000,
      ...(env === undefined ? {} : { env: { ...process.env, ...env } }),
    };
    const child = execFile(file, args, options, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** kubectl runs kubectl as `who`. */
export function kubectl(who: Identity, args: string[], input?: string, env?: Record<string, string>): Promise<Result> {
  const c = cluster();
  const kubeconfig = who.kubeconfig === 'developer' ? c.developerKubeconfig : c.kubeconfig;
  return run(c.kubectl, ['--kubeconfig', kubeconfig, ...(who.as ?? []), ...args], input, env);
}

/** driftgate runs the built driftgate CLI. */
export function driftgate(args: string[], input?: string): Promise<Result> {
  return run(process.execPath, [cluster().cli, ...args], input);
}

/** unique returns a fresh DNS-label name with a prefix. */
export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** getJson returns an object as the admin sees it. */
export async function getJson<T = Record<string, unknown>>(args: string[]): Promise<T> {
  const r = await kubectl(ADMIN, ['get', ...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl get ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** deployment returns a Deployment manifest (JSON) for `kubectl apply -f -`. */
export function deploymentManifest(name: string, namespace = 'prod', extra: { annotations?: Record<string, string> } = {}): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name }, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'registry.example.com/checkout:v1.2.3', resources: { limits: { memory: '512Mi', cpu: '1' } } }] },
      },
    },
  });
}

/** createAsArgo creates a Deployment the way GitOps would, and returns its name. */
export async function createDeployment(prefix: string, namespace = 'prod'): Promise<string> {
  const name = unique(prefix);
  const r = await kubectl(ARGOCD, ['apply', '-f', '-'], deploymentManifest(name, namespace));
  if (r.code !== 0) throw new Error(`creating deployment ${name} as Argo CD: ${r.stderr}`);
  return name;
}

/** expectRefusedByDriftgate asserts a command failed with a driftgate denial, and returns its stderr. */
export function refusal(r: Result): string {
  if (r.code === 0) throw new Error(`expected a refusal, but the command succeeded: ${r.stdout}`);
  if (!r.stderr.includes('[driftgate/')) throw new Error(`expected a driftgate refusal, got: ${r.stderr}`);
  return r.stderr;
}

/** sleep waits. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * serveDriftgate starts one more `driftgate serve` with `policy` (a file, or policy flags) on `port` (0: any free one), as
 * the suite's own runs (the kubernetes ticket store, driftgate's ServiceAccount), its log lines
 * appended to `logFile` (and any `extraArgs` after the suite's own), and returns once it serves,
 * with the port it serves on.
 */
export async function serveDriftgate(
  policy: string | string[],
  port: number,
  logFile: string,
  /** Appended last, so they win over the defaults above (e.g. another --kubeconfig). */
  extraArgs: readonly string[] = [],
): Promise<{ child: ChildProcess; port: number; metricsPort: number }> {
  const c = cluster();
  const certDir = join(c.work, 'certs');
  return serve({
    policy,
    cert: join(certDir, 'tls.crt'),
    key: join(certDir, 'tls.key'),
    port,
    kubeconfig: c.driftgateKubeconfig,
    logFile,
    extraArgs: [...extraArgs],
  });
}
