/**
 * Machine writes never wait for driftgate (issue 12), on the real apiserver and controller-manager:
 * with driftgate's process killed (SIGKILL, webhooks still registered, failurePolicy Fail), the
 * writes of Argo CD and Flux (create, update, server-side apply, delete, foreground prune), the
 * HPA's /scale, the deployment controller and the garbage collector all still succeed in a
 * protected namespace, decided by the rendered match conditions alone; a developer's write is
 * still refused. Restarted on the same port, driftgate needs nothing else. The apiserver's own
 * metrics show no condition erred during the whole run.
 *
 * This file runs its own driftgate (test/e2e/policy-availability.yaml: the suite's policy, plus
 * Deployments' /status and ReplicaSets, which the controllers write) and points the webhooks at
 * it, so that killing it leaves the suite's one alone; the suite's webhooks are restored afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, ARGOCD, DEVELOPER, FLUX, HPA, cluster, deploymentManifest, serveDriftgate, kubectl, sleep, unique, type Result } from './cluster.js';

const ROOT = join(import.meta.dirname, '../..');
/** The suite's policy widened to Deployments' /status and ReplicaSets, which the controllers write. */
const POLICY = join(ROOT, 'test/e2e/policy-availability.yaml');

function ok(r: Result, what: string): Result {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr}`);
  return r;
}

/** Starts driftgate with POLICY on `port` (0: any), resolving once it serves. */
function startDriftgate(port: number, logFile: string): Promise<{ child: ChildProcess; port: number }> {
  return serveDriftgate(POLICY, port, logFile);
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

/** Renders the webhooks for POLICY at `port` and applies them. */
async function register(port: number): Promise<void> {
  const c = cluster();
  const rendered = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [c.cli, 'manifests', '--policy', POLICY, '--url', `https://127.0.0.1:${port}`, '--ca-bundle', c.caCert]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`driftgate manifests exited ${code}`))));
  });
  ok(await kubectl(ADMIN, ['apply', '-f', '-'], rendered), 'applying the webhook configurations');
}

/** Waits until a developer's write is refused with `marker` in the message (the apiserver caught up). */
async function developerRefusedWith(marker: string): Promise<string> {
  let last = '';
  for (let i = 0; i < 120; i++) {
    const r = await kubectl(DEVELOPER, ['-n', 'prod', 'label', 'configmap', 'canary', `availability=${i}`, '--overwrite']);
    last = r.code === 0 ? 'allowed' : r.stderr;
    if (r.code !== 0 && r.stderr.includes(marker)) return r.stderr;
    await sleep(500);
  }
  throw new Error(`a developer's write was never refused with "${marker}"; last: ${last}`);
}

/** Asserts the write was refused because driftgate could not be called, and returns the message. */
function refusedWhileDown(r: Result): string {
  if (r.code === 0) throw new Error(`expected a refusal while driftgate is down, but the write succeeded: ${r.stdout}`);
  if (!r.stderr.includes('failed calling webhook')) throw new Error(`expected "failed calling webhook", got: ${r.stderr}`);
  return r.stderr;
}

async function annotation(name: string, key: string): Promise<string> {
  const r = await kubectl(ADMIN, ['-n', 'prod', 'get', 'deployment', name, '-o', `jsonpath={.metadata.annotations.${key.replaceAll('.', '\\.')}}`]);
  return r.stdout.trim();
}

async function gone(kind: string, name: string): Promise<boolean> {
  const r = await kubectl(ADMIN, ['-n', 'prod', 'get', kind, name, '-o', 'name']);
  return r.code !== 0 && r.stderr.includes('NotFound');
}

async function waitUntil(what: string, done: () => Promise<boolean>, seconds = 90): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    if (await done()) return;
    await sleep(500);
  }
  // What the controllers ran into: the namespace's recent warnings name the failed writes.
  const events = await kubectl(ADMIN, [
    '-n',
    'prod',
    'get',
    'events',
    '--field-selector',
    'type=Warning',
    '-o',
    'custom-columns=OBJ:.involvedObject.name,REASON:.reason,MSG:.message',
  ]);
  throw new Error(`${what}: not done after ${seconds}s while driftgate was down. Warnings in prod:\n${events.stdout.split('\n').slice(-15).join('\n')}`);
}

/** The sum of an apiserver counter over its series whose labels contain `where`. */
async function apiserverCounter(metric: string, where = ''): Promise<number> {
  const r = ok(await kubectl(ADMIN, ['get', '--raw', '/metrics']), 'reading the apiserver metrics');
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith(`${metric}{`) && l.includes(where))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

describe('with driftgate down, machine writes still succeed and a developer is still refused', () => {
  let driftgate: { child: ChildProcess; port: number };
  let logFile = '';
  /** The ConfigMap a developer re-applied unchanged while driftgate was down (asked again once it is back). */
  let noopApplied = '';

  beforeAll(async () => {
    const c = cluster();
    logFile = join(c.work, 'driftgate-availability.log');
    writeFileSync(logFile, '');
    driftgate = await startDriftgate(0, logFile);
    await register(driftgate.port);
    await developerRefusedWith('[driftgate/');
    await kill(driftgate.child);
    // The webhooks are still registered and fail closed: a developer's write cannot be checked.
    await developerRefusedWith('failed calling webhook');
  });

  afterAll(async () => {
    if (driftgate !== undefined) await kill(driftgate.child);
    // The suite's driftgate and webhooks back, before anything else runs.
    const c = cluster();
    ok(await kubectl(ADMIN, ['apply', '-f', c.webhooksFile]), "restoring the suite's webhooks");
    await developerRefusedWith('[driftgate/');
  });

  it('Argo CD creates, updates, server-side applies and deletes; the deployment controller stamps revision 1; the HPA scales', async () => {
    const name = unique('avail');
    ok(await kubectl(ARGOCD, ['apply', '-f', '-'], deploymentManifest(name)), 'Argo CD creating a Deployment');
    // The deployment controller's writes to the guarded Deployment: its revision annotation.
    await waitUntil('the deployment controller stamping revision 1', async () => (await annotation(name, 'deployment.kubernetes.io/revision')) === '1');
    ok(await kubectl(ARGOCD, ['-n', 'prod', 'set', 'image', `deployment/${name}`, 'app=registry.example.com/checkout:v2']), 'Argo CD updating the image');
    ok(
      await kubectl(ARGOCD, ['apply', '--server-side', '--force-conflicts', '--field-manager=argocd-controller', '-f', '-'], deploymentManifest(name)),
      'Argo CD applying server-side',
    );
    ok(await kubectl(HPA, ['-n', 'prod', 'scale', `deployment/${name}`, '--replicas=5']), 'the HPA scaling through /scale');
    expect((await kubectl(ADMIN, ['-n', 'prod', 'get', 'deployment', name, '-o', 'jsonpath={.spec.replicas}'])).stdout).toBe('5');
    // A person still cannot do what the HPA did: refused, because driftgate cannot be asked.
    refusedWhileDown(await kubectl(DEVELOPER, ['-n', 'prod', 'scale', `deployment/${name}`, '--replicas=9']));
    ok(await kubectl(ARGOCD, ['-n', 'prod', 'delete', 'deployment', name]), 'Argo CD deleting');
  });

  it('Flux creates, updates and deletes by server-side apply; a ConfigMap of 10,000 keys and one of 1 MiB pass too', async () => {
    const name = unique('flux');
    const manifest = (image: string) => deploymentManifest(name).replace('registry.example.com/checkout:v1.2.3', image);
    const apply = (body: string) => kubectl(FLUX, ['apply', '--server-side', '--field-manager=kustomize-controller', '-f', '-'], body);
    ok(await apply(manifest('registry.example.com/checkout:v1.2.3')), 'Flux creating by server-side apply');
    ok(await apply(manifest('registry.example.com/checkout:v3')), 'Flux updating by server-side apply');
    const keys = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`key-${i}`, `value-${i}`]));
    const many = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${name}-many`, namespace: 'prod' }, data: keys };
    ok(await apply(JSON.stringify(many)), 'Flux applying a ConfigMap of 10,000 keys');
    ok(await apply(JSON.stringify({ ...many, data: { ...keys, 'key-0': 'changed' } })), 'Flux updating it');
    const big = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${name}-big`, namespace: 'prod' }, data: { blob: 'x'.repeat(1024 * 1024 - 4096) } };
    ok(await apply(JSON.stringify(big)), 'Flux applying a 1 MiB ConfigMap');
    // …but changing it needs driftgate, which is down.
    refusedWhileDown(await kubectl(DEVELOPER, ['-n', 'prod', 'label', 'configmap', `${name}-many`, 'owner=dev']));
    ok(await kubectl(FLUX, ['-n', 'prod', 'delete', 'deployment', name]), 'Flux deleting the Deployment');
    ok(await kubectl(FLUX, ['-n', 'prod', 'delete', 'configmap', `${name}-many`, `${name}-big`]), 'Flux deleting the ConfigMaps');
  });

  // A developer's unchanged server-side apply under a new manager changes nothing live, but makes
  // the developer co-own Flux's fields, so the next sync that drops them from Git keeps them:
  // decide() refuses it as a managedFields rewrite, and the conditions never skip it (they cannot
  // tell unchanged fields from changed ones), so it is refused while driftgate is down as well.
  it("a developer's unchanged server-side apply under a new manager is not decided by the apiserver alone: refused while driftgate is down", async () => {
    const name = unique('noop');
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'prod' }, data: { mode: 'live' } };
    ok(await kubectl(FLUX, ['apply', '--server-side', '--field-manager=kustomize-controller', '-f', '-'], JSON.stringify(cm)), 'Flux applying');
    const refused = await kubectl(DEVELOPER, ['apply', '--server-side', '--field-manager=dev', '-f', '-'], JSON.stringify(cm));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('failed calling webhook');
    noopApplied = name;
  });

  it('Argo CD prunes in the foreground: the garbage collector deletes the guarded dependent and finishes the deletion', async () => {
    const name = unique('prune');
    ok(await kubectl(ARGOCD, ['apply', '-f', '-'], deploymentManifest(name)), 'Argo CD creating');
    const uid = JSON.parse(ok(await kubectl(ADMIN, ['-n', 'prod', 'get', 'deployment', name, '-o', 'json']), 'reading the uid').stdout).metadata.uid as string;
    const settings = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `${name}-settings`, namespace: 'prod', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid }] },
      data: { mode: 'live' },
    };
    ok(await kubectl(ARGOCD, ['apply', '-f', '-'], JSON.stringify(settings)), 'Argo CD creating an owned ConfigMap');
    ok(await kubectl(ARGOCD, ['-n', 'prod', 'delete', 'deployment', name, '--cascade=foreground', '--wait=false']), 'Argo CD pruning in the foreground');
    await waitUntil('the garbage collector deleting the owned ConfigMap', () => gone('configmap', `${name}-settings`));
    await waitUntil('the garbage collector removing foregroundDeletion (the Deployment gone)', () => gone('deployment', name));
  });

  it('restarted on the same port, driftgate answers again with nothing else done', async () => {
    driftgate = await startDriftgate(driftgate.port, logFile);
    const message = await developerRefusedWith('[driftgate/');
    expect(message).toContain('GuardPolicy e2e-availability');
    ok(await kubectl(ARGOCD, ['-n', 'prod', 'label', 'configmap', 'canary', 'synced=yes', '--overwrite']), 'Argo CD writing again');
  });

  it("restarted, driftgate refuses the developer's unchanged server-side apply as a managedFields rewrite, naming the path", async () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: noopApplied, namespace: 'prod' }, data: { mode: 'live' } };
    const refused = await kubectl(DEVELOPER, ['apply', '--server-side', '--field-manager=dev', '-f', '-'], JSON.stringify(cm));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('[driftgate/');
    expect(refused.stderr).toContain('/metadata/managedFields');
  });

  it('the apiserver counts the writes it decided alone, and no match condition erred on any request of the run', async () => {
    expect(await apiserverCounter('apiserver_admission_match_condition_exclusions_total', 'name="validate.driftgate.dev"')).toBeGreaterThan(0);
    expect(await apiserverCounter('apiserver_admission_match_condition_evaluation_errors_total')).toBe(0);
  });
});
