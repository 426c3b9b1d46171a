/**
 * Kubernetes' own controllers, really running (kube-controller-manager started by test/harness
 * with --use-service-account-credentials), doing their work in protected namespaces while
 * driftgate guards them: the root-ca-cert-publisher and service-account controller filling a new
 * namespace, the deployment controller rolling out, the garbage collector finishing foreground,
 * background and orphan deletions, the namespace controller emptying a namespace being deleted.
 *
 * Run twice: with the policy the e2e suite serves (test/e2e/policy.yaml) and with the one the
 * install ships (examples/policy.yaml, served by a second driftgate the webhooks are pointed at for
 * the duration). Every wait is bounded, and a wait that runs out names the stuck object and the last
 * denial driftgate logged for it. No kubelet runs: pods are created but never start, which none of
 * these controllers needs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, ARGOCD, DEVELOPER, HPA, cluster, deploymentManifest, serveDriftgate, kubectl, refusal, sleep, unique, type Result } from './cluster.js';

const ROOT = join(import.meta.dirname, '../..');

interface Served {
  policy: string;
  /** The policy's metadata.name, which every denial names. */
  policyName: string;
  logFile: string;
}

/** lastDenial returns the last refusal driftgate logged for an object, as one line for a failure message. */
function lastDenial(logFile: string, namespace: string, name: string): string {
  const lines = readFileSync(logFile, 'utf8').split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const l = JSON.parse(lines[i] ?? '') as Record<string, unknown>;
      if (l['decision'] === 'deny' && l['namespace'] === namespace && (name === '' || l['name'] === name)) {
        return `${String(l['user'])} ${String(l['operation'])} ${String(l['resource'])}/${String(l['name'])}: ${String(l['reason'])} ${JSON.stringify(l['changedPaths'])}`;
      }
    } catch {
      // not a JSON line
    }
  }
  return name === '' ? 'none' : `none; the last in namespace ${namespace} was ${lastDenial(logFile, namespace, '')}`;
}

/** state returns what the apiserver holds of an object, briefly: gone, or its deletion state. */
async function state(kind: string, namespace: string, name: string): Promise<string> {
  const args = namespace === '' ? ['get', kind, name, '-o', 'json'] : ['-n', namespace, 'get', kind, name, '-o', 'json'];
  const r = await kubectl(ADMIN, args);
  if (r.code !== 0) return r.stderr.includes('NotFound') ? 'absent' : r.stderr.trim();
  const o = JSON.parse(r.stdout) as {
    metadata: { deletionTimestamp?: string; finalizers?: string[]; ownerReferences?: unknown[] };
    status?: { phase?: string };
  };
  return JSON.stringify({
    deletionTimestamp: o.metadata.deletionTimestamp,
    finalizers: o.metadata.finalizers,
    ownerReferences: o.metadata.ownerReferences?.length,
    phase: o.status?.phase,
  });
}

async function exists(kind: string, namespace: string, name: string): Promise<boolean> {
  return (await state(kind, namespace, name)) !== 'absent';
}

/**
 * waitFor polls `done` for at most `seconds`; when it runs out, the error names the object, what
 * the apiserver holds of it and the last denial driftgate logged in its namespace for it.
 */
async function waitFor(
  served: Served,
  what: string,
  object: { kind: string; namespace: string; name: string },
  done: () => Promise<boolean>,
  seconds = 60,
): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    if (await done()) return;
    await sleep(500);
  }
  const where = object.namespace === '' ? object.name : `${object.namespace}/${object.name}`;
  const deniedNs = object.kind === 'namespace' ? object.name : object.namespace;
  const deniedName = object.kind === 'namespace' ? '' : object.name;
  throw new Error(
    `${what}: not done after ${seconds}s. ${object.kind} ${where} is ${await state(object.kind, object.namespace, object.name)}; ` +
      `last driftgate denial for it: ${lastDenial(served.logFile, deniedNs, deniedName)}`,
  );
}

function ok(r: Result, what: string): void {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr}`);
}

/** A ConfigMap GitOps applies with an ownerReference to a Deployment, so the collector must handle a guarded dependent. */
async function ownedConfigMap(namespace: string, deployment: string): Promise<string> {
  const uid = JSON.parse((await kubectl(ADMIN, ['-n', namespace, 'get', 'deployment', deployment, '-o', 'json'])).stdout).metadata.uid as string;
  const name = `${deployment}-settings`;
  const manifest = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment, uid }] },
    data: { mode: 'live' },
  };
  ok(await kubectl(ARGOCD, ['apply', '-f', '-'], JSON.stringify(manifest)), `creating ConfigMap ${name} as Argo CD`);
  return name;
}

/** openToEveryone lets every signed-in identity write in `ns` by RBAC, so that any refusal is driftgate's. */
async function openToEveryone(ns: string): Promise<void> {
  ok(await kubectl(ARGOCD, ['-n', ns, 'create', 'rolebinding', 'e2e-edit', '--clusterrole=e2e-writer', '--group=system:authenticated']), `RBAC in ${ns}`);
}

async function replicaSetsOf(namespace: string, deployment: string): Promise<{ name: string; owners: number }[]> {
  const r = await kubectl(ADMIN, ['-n', namespace, 'get', 'replicasets', '-l', `app=${deployment}`, '-o', 'json']);
  const list = JSON.parse(r.stdout) as { items: { metadata: { name: string; ownerReferences?: unknown[] } }[] };
  return list.items.map((rs) => ({ name: rs.metadata.name, owners: rs.metadata.ownerReferences?.length ?? 0 }));
}

/** serveOtherPolicy starts a second driftgate with `policy`, its log in `logFile`. */
function serveOtherPolicy(policy: string, logFile: string): Promise<{ child: ChildProcess; port: number }> {
  writeFileSync(logFile, '');
  return serveDriftgate(policy, 0, logFile);
}

/** registerWebhooks applies the webhook configurations rendered for `policy` at `port`, then waits until a denial names the policy. */
async function registerWebhooks(policy: string, policyName: string, port: number): Promise<void> {
  const c = cluster();
  const rendered = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [c.cli, 'manifests', '--policy', policy, '--url', `https://127.0.0.1:${port}`, '--ca-bundle', c.caCert]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`driftgate manifests exited ${code}`))));
  });
  ok(await kubectl(ADMIN, ['apply', '-f', '-'], rendered), 'applying the webhook configurations');
  for (let i = 0; i < 120; i++) {
    const r = await kubectl(DEVELOPER, ['-n', 'prod', 'label', 'configmap', 'canary', `switch=${i}`, '--overwrite']);
    if (r.code !== 0 && r.stderr.includes(`GuardPolicy ${policyName}`)) return;
    await sleep(500);
  }
  throw new Error(`the apiserver never called the driftgate serving ${policy}`);
}

// The exact-named namespace is created by the test, so only one run may have it: the shipped
// policy's only exact name, prod, exists before the webhooks are registered.
const POLICIES = [
  { label: 'test/e2e/policy.yaml (the suite’s own)', file: 'test/e2e/policy.yaml', name: 'e2e-prod', exactNamespace: 'orders' },
  { label: 'examples/policy.yaml (shipped with the install)', file: 'examples/policy.yaml', name: 'prod', exactNamespace: undefined },
];

for (const p of POLICIES) {
  describe(`Kubernetes' own controllers under ${p.label}`, () => {
    const served: Served = { policy: join(ROOT, p.file), policyName: p.name, logFile: '' };
    let second: ChildProcess | undefined;

    beforeAll(async () => {
      const c = cluster();
      if (served.policy === c.policy) {
        served.logFile = c.logFile;
        return;
      }
      served.logFile = join(c.work, `driftgate-${p.name}.log`);
      const started = await serveOtherPolicy(served.policy, served.logFile);
      second = started.child;
      await registerWebhooks(served.policy, p.name, started.port);
    });

    afterAll(async () => {
      if (second === undefined) return;
      const c = cluster();
      // Back to the suite's driftgate before anything else runs.
      await registerWebhooks(c.policy, 'e2e-prod', c.driftgatePort);
      second.kill('SIGTERM');
    });

    const created = [
      { how: 'matched by a glob', ns: () => unique('payments') },
      ...(p.exactNamespace === undefined ? [] : [{ how: 'named exactly', ns: () => p.exactNamespace ?? '' }]),
    ];
    it.each(created)('a namespace GitOps creates ($how) gets its kube-root-ca.crt ConfigMap and default ServiceAccount', async ({ ns: nameOf }) => {
      const ns = nameOf();
      ok(await kubectl(ARGOCD, ['create', 'namespace', ns]), `creating namespace ${ns} as Argo CD`);
      await openToEveryone(ns);
      await waitFor(served, 'the root-ca-cert-publisher creating kube-root-ca.crt', { kind: 'configmap', namespace: ns, name: 'kube-root-ca.crt' }, () =>
        exists('configmap', ns, 'kube-root-ca.crt'),
      );
      await waitFor(
        served,
        'the service-account controller creating the default ServiceAccount',
        { kind: 'serviceaccount', namespace: ns, name: 'default' },
        () => exists('serviceaccount', ns, 'default'),
      );
      // The publisher keeps the ConfigMap as it wants it: a person's edit is refused, the controller's own repair is not.
      refusal(await kubectl(DEVELOPER, ['-n', ns, 'label', 'configmap', 'kube-root-ca.crt', 'tampered=yes']));
      ok(await kubectl(ARGOCD, ['delete', 'namespace', ns, '--wait=false']), 'cleaning up');
    });

    it('the deployment controller creates the ReplicaSet of a Deployment GitOps creates and stamps its revision', async () => {
      const name = unique('rollout');
      ok(await kubectl(ARGOCD, ['apply', '-f', '-'], deploymentManifest(name)), `creating deployment ${name} as Argo CD`);
      await waitFor(
        served,
        'the deployment controller creating a ReplicaSet',
        { kind: 'deployment', namespace: 'prod', name },
        async () => (await replicaSetsOf('prod', name)).length === 1,
      );
      await waitFor(
        served,
        'the deployment controller stamping deployment.kubernetes.io/revision',
        { kind: 'deployment', namespace: 'prod', name },
        async () => {
          const r = await kubectl(ADMIN, [
            '-n',
            'prod',
            'get',
            'deployment',
            name,
            '-o',
            'jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}',
          ]);
          return r.stdout.trim() === '1';
        },
      );
      // A new template from Git: a second revision and a second ReplicaSet.
      ok(await kubectl(ARGOCD, ['-n', 'prod', 'set', 'image', `deployment/${name}`, 'app=registry.example.com/checkout:v2']), 'a new image from Git');
      await waitFor(served, 'the deployment controller rolling out revision 2', { kind: 'deployment', namespace: 'prod', name }, async () => {
        const r = await kubectl(ADMIN, [
          '-n',
          'prod',
          'get',
          'deployment',
          name,
          '-o',
          'jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}',
        ]);
        return r.stdout.trim() === '2' && (await replicaSetsOf('prod', name)).length === 2;
      });
    });

    it('GitOps prunes with propagation Foreground: the garbage collector deletes the dependents, then the Deployment', async () => {
      const name = unique('fg');
      ok(await kubectl(ARGOCD, ['apply', '-f', '-'], deploymentManifest(name)), 'creating');
      await waitFor(
        served,
        'the ReplicaSet appearing',
        { kind: 'deployment', namespace: 'prod', name },
        async () => (await replicaSetsOf('prod', name)).length === 1,
      );
      const settings = await ownedConfigMap('prod', name);
      ok(await kubectl(ARGOCD, ['-n', 'prod', 'delete', 'deployment', name, '--cascade=foreground', '--wait=false']), 'deleting in the foreground as Argo CD');
      await waitFor(
        served,
        'the foreground deletion finishing (foregroundDeletion removed by the garbage collector)',
        { kind: 'deployment', namespace: 'prod', name },
        async () => !(await exists('deployment', 'prod', name)),
      );
      expect(await replicaSetsOf('prod', name)).toEqual([]);
      expect(await exists('configmap', 'prod', settings)).toBe(false);
    });

    it('GitOps deletes with propagation Background: the Deployment goes at once, the collector deletes its dependents', async () => {
      const name = unique('bg');
      ok(await kubectl(ARGOCD, ['apply', '-f', '-'], deploymentManifest(name)), 'creating');
      await waitFor(
        served,
        'the ReplicaSet appearing',
        { kind: 'deployment', namespace: 'prod', name },
        async () => (await replicaSetsOf('prod', name)).length === 1,
      );
      const settings = await ownedConfigMap('prod', name);
      ok(await kubectl(ARGOCD, ['-n', 'prod', 'delete', 'deployment', name, '--cascade=background']), 'deleting in the background as Argo CD');
      expect(await exists('deployment', 'prod', name)).toBe(false);
      await waitFor(
        served,
        'the garbage collector deleting the owned ConfigMap',
        { kind: 'configmap', namespace: 'prod', name: settings },
        async () => !(await exists('configmap', 'prod', settings)),
      );
      await waitFor(
        served,
        'the garbage collector deleting the ReplicaSet',
        { kind: 'deployment', namespace: 'prod', name },
        async () => (await replicaSetsOf('prod', name)).length === 0,
      );
    });

    it('GitOps deletes with propagation Orphan: the dependents stay, without their ownerReference', async () => {
      const name = unique('orphan');
      ok(await kubectl(ARGOCD, ['apply', '-f', '-'], deploymentManifest(name)), 'creating');
      await waitFor(
        served,
        'the ReplicaSet appearing',
        { kind: 'deployment', namespace: 'prod', name },
        async () => (await replicaSetsOf('prod', name)).length === 1,
      );
      const settings = await ownedConfigMap('prod', name);
      ok(
        await kubectl(ARGOCD, ['-n', 'prod', 'delete', 'deployment', name, '--cascade=orphan', '--wait=false']),
        'deleting with orphan propagation as Argo CD',
      );
      await waitFor(
        served,
        'the orphan deletion finishing (orphan finalizer removed by the garbage collector)',
        { kind: 'deployment', namespace: 'prod', name },
        async () => !(await exists('deployment', 'prod', name)),
      );
      expect(await replicaSetsOf('prod', name)).toEqual([{ name: expect.any(String), owners: 0 }]);
      await waitFor(
        served,
        'the garbage collector removing the ConfigMap’s ownerReference',
        { kind: 'configmap', namespace: 'prod', name: settings },
        async () => JSON.parse(await state('configmap', 'prod', settings)).ownerReferences === undefined,
      );
    });

    it('GitOps deletes a protected namespace holding a Deployment, a ConfigMap and a Secret: the namespace controller empties it and it is gone', async () => {
      const ns = unique('payments');
      ok(await kubectl(ARGOCD, ['create', 'namespace', ns]), 'creating the namespace');
      await openToEveryone(ns);
      await waitFor(served, 'the default ServiceAccount appearing', { kind: 'serviceaccount', namespace: ns, name: 'default' }, () =>
        exists('serviceaccount', ns, 'default'),
      );
      const app = unique('app');
      ok(await kubectl(ARGOCD, ['apply', '-f', '-'], deploymentManifest(app, ns)), 'a Deployment');
      ok(await kubectl(ARGOCD, ['-n', ns, 'create', 'configmap', 'settings', '--from-literal=mode=live']), 'a ConfigMap');
      ok(await kubectl(ARGOCD, ['-n', ns, 'create', 'secret', 'generic', 'token', '--from-literal=token=s3cr3t']), 'a Secret');
      // Everything in it is guarded: a developer cannot delete it, which is what the namespace controller must be allowed to.
      refusal(await kubectl(DEVELOPER, ['-n', ns, 'delete', 'configmap', 'settings']));
      // Nor the namespace: only a deletion driftgate judged lets the namespace controller empty it.
      expect(refusal(await kubectl(DEVELOPER, ['delete', 'namespace', ns, '--wait=false']))).toContain('deleting the object');
      ok(await kubectl(ARGOCD, ['delete', 'namespace', ns, '--wait=false']), 'deleting the namespace as Argo CD');
      await waitFor(
        served,
        'the namespace controller emptying and removing the namespace',
        { kind: 'namespace', namespace: '', name: ns },
        async () => !(await exists('namespace', '', ns)),
        90,
      );
    });

    it('delegated controllers still pass, and a developer is still refused', async () => {
      const name = unique('deleg');
      ok(await kubectl(ARGOCD, ['apply', '-f', '-'], deploymentManifest(name)), 'creating');
      ok(await kubectl(HPA, ['-n', 'prod', 'scale', `deployment/${name}`, '--replicas=5']), 'the HPA scaling');
      const message = refusal(await kubectl(DEVELOPER, ['-n', 'prod', 'scale', `deployment/${name}`, '--replicas=9']));
      expect(message).toContain(`GuardPolicy ${p.name}`);
      // And a person cannot pass for a controller by doing what only a controller may: remove a finalizer it did not put.
      refusal(await kubectl(DEVELOPER, ['-n', 'prod', 'patch', 'deployment', name, '--type=merge', '-p', '{"metadata":{"finalizers":["example.com/hold"]}}']));
    });
  });
}
