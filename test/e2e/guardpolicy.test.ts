/**
 * GuardPolicy objects taken live (issue 14), against the real apiserver: a second driftgate runs
 * `serve --policy-source guardpolicy` as driftgate's ServiceAccount with the chart's own RBAC for
 * it, and is registered for a namespace of its own (webhooks from `driftgate manifests
 * --guardpolicies`, renamed so they sit beside the suite's). Then, without restarting it:
 * - a bad GuardPolicy is refused at `kubectl apply` with the path-qualified message;
 * - a good one gets status Ready with its observedGeneration;
 * - an edit (warn → enforce) turns a developer's write that was let through into a refusal;
 * - an invalid edit that gets past admission (driftgate-policies not registered) keeps the policy
 *   in force, says Invalid with the message, and counts it on the metric;
 * - a restarted driftgate enforces the same generation (status.inForce), not nothing;
 * - a second policy overlapping the first is refused, naming it;
 * - a driftgate whose list the API refuses (no RBAC yet) retries, and serves once it may;
 * - two replicas both take a change, and the status they both write settles (no fight).
 * Polls wait for the apiserver and the watch to catch up; nothing asserts a duration.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { template } from '../helpers/helm.js';
import { ADMIN, DEVELOPER, cluster, driftgate, getJson, kubectl, serveDriftgate, sleep, unique, type Result } from './cluster.js';

const NS = unique('live');
const POLICY = unique('gp');
const LOG = (): string => join(cluster().work, 'driftgate-guardpolicy.log');
const CONFIG = 'driftgate-live-e2e';

function ok(r: Result, what: string): Result {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr}`);
  return r;
}

function guardPolicy(name: string, spec: Record<string, unknown>): string {
  return stringify({ apiVersion: 'driftgate.dev/v1alpha1', kind: 'GuardPolicy', metadata: { name }, spec });
}

function specOf(mode: 'warn' | 'enforce', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mode,
    namespaces: [NS],
    resources: [{ apiGroups: [''], resources: ['configmaps'] }],
    gitopsWriters: { users: ['system:serviceaccount:argocd:argocd-application-controller'] },
    ...extra,
  };
}

const BAD = { breakGlass: { groups: ['oncall'], maxDuration: '0s' } };

interface Status {
  observedGeneration?: number;
  conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
  inForce?: { generation: number };
  rendered?: { namespaces: string[]; webhookRulesHash: string };
}

async function status(name = POLICY): Promise<{ generation: number; status: Status }> {
  const o = await getJson<{ metadata: { generation: number }; status?: Status }>(['guardpolicy', name]);
  return { generation: o.metadata.generation, status: o.status ?? {} };
}

/** Polls until `check` returns a value (the watch and the status write caught up), or fails with the last state. */
async function until<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  let last: unknown;
  for (let i = 0; i < 120; i++) {
    try {
      const got = await check();
      if (got !== undefined) return got;
    } catch (err) {
      last = err;
    }
    await sleep(250);
  }
  throw new Error(`${what}: not reached (last: ${String(last)})`);
}

let child: ChildProcess | undefined;
let metricsPort = 0;
let webhooks = '';

async function start(): Promise<void> {
  const served = await serveDriftgate(['--policy-source', 'guardpolicy', '--policy-resync-interval', '2000'], 0, LOG());
  child = served.child;
  metricsPort = served.metricsPort;
  // The webhook pair for NS, rendered from a file copy of the policy (the webhook keeper that
  // renders them from the policies in force is another part of issue 14), and driftgate-policies.
  const c = cluster();
  const file = join(c.work, `${POLICY}.yaml`);
  writeFileSync(file, guardPolicy(POLICY, specOf('enforce')));
  const rendered = ok(
    await driftgate(['manifests', '--policy', file, '--url', `https://127.0.0.1:${served.port}`, '--ca-bundle', c.caCert, '--guardpolicies']),
    'rendering the webhooks',
  ).stdout;
  webhooks = rendered.replaceAll(/^ {2}name: driftgate$/gm, `  name: ${CONFIG}`);
  ok(await kubectl(ADMIN, ['apply', '-f', '-'], webhooks), 'registering the webhooks');
}

async function stop(): Promise<void> {
  const c = child;
  child = undefined;
  if (c === undefined || c.exitCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  await gone;
}

/** A developer's label change on the ConfigMap: what the policy guards. */
function developerWrite(i: number): Promise<Result> {
  return kubectl(DEVELOPER, ['-n', NS, 'label', 'configmap', 'settings', `try=${i}`, '--overwrite']);
}

let writes = 0;
async function developerRefused(): Promise<string | undefined> {
  const r = await developerWrite(writes++);
  return r.code !== 0 && r.stderr.includes('[driftgate/drift]') ? r.stderr : undefined;
}

beforeAll(async () => {
  ok(await kubectl(ADMIN, ['create', 'namespace', NS]), 'creating the namespace');
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'e2e-edit', namespace: NS },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'e2e-writer' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }],
  };
  ok(await kubectl(ADMIN, ['apply', '-f', '-'], JSON.stringify(binding)), 'letting developers write in the namespace');
  ok(
    await kubectl(ADMIN, [
      '-n',
      NS,
      '--as=system:serviceaccount:argocd:argocd-application-controller',
      'create',
      'configmap',
      'settings',
      '--from-literal=k=v',
    ]),
    'creating the ConfigMap as Argo CD',
  );
  // The chart's own RBAC for policy.source=guardPolicy: what driftgate gets in a real install.
  const rbac = template(['--set', 'policy.source=guardPolicy', '--set', 'webhooks.create=false']).filter(
    (o) => (o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding') && o.metadata.name === 'driftgate-guardpolicies',
  );
  expect(rbac).toHaveLength(2);
  ok(await kubectl(ADMIN, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbac })), "applying the chart's GuardPolicy RBAC");
  ok(await kubectl(ADMIN, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/guardpolicies.driftgate.dev']), 'the GuardPolicy CRD');
  await start();
});

afterAll(async () => {
  await stop();
  await kubectl(ADMIN, ['delete', 'validatingwebhookconfiguration', CONFIG, 'driftgate-policies', '--ignore-not-found']);
  await kubectl(ADMIN, ['delete', 'mutatingwebhookconfiguration', CONFIG, '--ignore-not-found']);
  await kubectl(ADMIN, ['delete', 'guardpolicies', '--all', '--ignore-not-found']);
  await kubectl(ADMIN, ['delete', 'namespace', NS, '--wait=false']);
});

describe('GuardPolicy objects, taken live by a running driftgate', () => {
  it('refuses a bad GuardPolicy at kubectl apply with the path-qualified message', async () => {
    const stderr = await until('driftgate-policies answering', async () => {
      const r = await kubectl(ADMIN, ['apply', '-f', '-'], guardPolicy(POLICY, specOf('warn', BAD)));
      return r.code !== 0 && r.stderr.includes('validate-policies.driftgate.dev') ? r.stderr : undefined;
    });
    expect(stderr).toContain(`GuardPolicy ${POLICY} is invalid (1 problem)`);
    expect(stderr).toContain('spec.breakGlass.maxDuration: "0s" must be longer than zero; write 4h or 30m');
    expect((await kubectl(ADMIN, ['get', 'guardpolicy', POLICY])).code).not.toBe(0);
  });

  it('takes a good one: status Ready with its observedGeneration and what was rendered; a drift is let through in warn mode', async () => {
    ok(await kubectl(ADMIN, ['apply', '-f', '-'], guardPolicy(POLICY, specOf('warn'))), 'applying the policy');
    const s = await until('status Ready', async () => {
      const got = await status();
      return got.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? got : undefined;
    });
    expect(s.status.observedGeneration).toBe(s.generation);
    expect(s.status.inForce?.generation).toBe(s.generation);
    expect(s.status.conditions?.find((c) => c.type === 'Invalid')).toMatchObject({ status: 'False' });
    expect(s.status.rendered?.namespaces).toEqual([NS]);
    expect(s.status.rendered?.webhookRulesHash).toMatch(/^sha256:/);
    const r = await until('the write let through with the warn-mode warning', async () => {
      const w = await developerWrite(writes++);
      return w.code === 0 && w.stderr.includes('warn mode, would refuse') ? w : undefined;
    });
    expect(r.code).toBe(0);
  });

  it('an edit to enforce turns the same write into a refusal, without a restart', async () => {
    const pid = child?.pid;
    ok(await kubectl(ADMIN, ['apply', '-f', '-'], guardPolicy(POLICY, specOf('enforce'))), 'editing the policy');
    const refusal = await until('the developer refused', developerRefused);
    expect(refusal).toContain(`GuardPolicy ${POLICY}`);
    expect(child?.pid).toBe(pid);
    const s = await until('status for generation 2', async () => {
      const got = await status();
      return got.status.observedGeneration === got.generation && got.status.inForce?.generation === got.generation ? got : undefined;
    });
    expect(s.generation).toBeGreaterThan(1);
  });

  it('an invalid edit that gets past admission keeps the policy in force: Invalid, the message, the metric', async () => {
    ok(await kubectl(ADMIN, ['delete', 'validatingwebhookconfiguration', 'driftgate-policies']), 'unregistering driftgate-policies');
    const before = await status();
    // The apiserver may still call the deleted webhook for a moment: retry until the write is stored.
    await until('the invalid edit stored', async () => {
      const r = await kubectl(ADMIN, ['apply', '-f', '-'], guardPolicy(POLICY, specOf('warn', BAD)));
      return r.code === 0 ? r : undefined;
    });
    const s = await until('status Invalid', async () => {
      const got = await status();
      return got.status.observedGeneration === got.generation && got.status.conditions?.find((c) => c.type === 'Invalid')?.status === 'True' ? got : undefined;
    });
    const invalid = s.status.conditions?.find((c) => c.type === 'Invalid');
    expect(invalid?.message).toContain('spec.breakGlass.maxDuration: "0s" must be longer than zero');
    expect(s.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      message: `generation ${s.generation} is refused; generation ${before.generation} stays in force`,
    });
    expect(s.status.inForce?.generation).toBe(before.generation);
    // Still enforce: the invalid generation (warn mode) did not replace it.
    expect(await until('still refused', developerRefused)).toContain('[driftgate/drift]');
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain(`driftgate_policy_invalid{policy="${POLICY}"} 1`);
    expect(metrics).toMatch(/driftgate_policy_reloads_total\{result="invalid"\} [1-9]/);
  });

  it('a restarted driftgate enforces the generation in force (status.inForce), not nothing', async () => {
    await stop();
    await start();
    expect(await until('refused after the restart', developerRefused)).toContain('[driftgate/drift]');
  });

  it('refuses a second policy whose namespaces overlap the first, naming it', async () => {
    ok(
      await kubectl(ADMIN, ['apply', '-f', '-'], guardPolicy(POLICY, specOf('enforce'))),
      'fixing the policy (driftgate-policies is registered again by the restart)',
    );
    const other = unique('gp-other');
    const stderr = await until('the overlap refused', async () => {
      const r = await kubectl(ADMIN, ['apply', '-f', '-'], guardPolicy(other, { ...specOf('enforce'), namespaces: [`${NS.slice(0, 4)}*`] }));
      return r.code !== 0 && r.stderr.includes('already guarded') ? r.stderr : undefined;
    });
    expect(stderr).toContain(`spec.namespaces[0]: "live*" overlaps "${NS}", which is already guarded by GuardPolicy ${POLICY}`);
  });

  it('retries while the API refuses the list (no RBAC yet), and serves once it may', async () => {
    const c = cluster();
    const log = join(c.work, 'driftgate-guardpolicy-retry.log');
    writeFileSync(log, '');
    // The developer's credentials: no RBAC on GuardPolicies, until the binding below.
    const serving = serveDriftgate(['--policy-source', 'guardpolicy'], 0, log, ['--kubeconfig', c.developerKubeconfig]);
    await until('the list refused and retried', async () =>
      existsSync(log) && readFileSync(log, 'utf8').includes('listing or watching GuardPolicies failed') ? true : undefined,
    );
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'e2e-developer-guardpolicies' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'driftgate-guardpolicies' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'dev@example.com' }],
    };
    ok(await kubectl(ADMIN, ['apply', '-f', '-'], JSON.stringify(binding)), 'granting the RBAC');
    const served = await serving;
    try {
      const line = readFileSync(log, 'utf8')
        .split('\n')
        .find((l) => l.includes('"driftgate serving"'));
      expect(line).toContain(POLICY);
      const metrics = await (await fetch(`http://127.0.0.1:${served.metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/driftgate_policy_watch_errors_total [1-9]/);
    } finally {
      served.child.kill('SIGTERM');
      await kubectl(ADMIN, ['delete', 'clusterrolebinding', 'e2e-developer-guardpolicies', '--ignore-not-found']);
    }
  });

  it('two replicas both take a change, and the status both write settles instead of flapping', async () => {
    const log = join(cluster().work, 'driftgate-guardpolicy-second.log');
    // A short resync, so the second replica judges (and would rewrite) the status often.
    const second = await serveDriftgate(['--policy-source', 'guardpolicy', '--policy-resync-interval', '300'], 0, log);
    try {
      const policyInfo = async (port: number): Promise<string> =>
        (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
          .split('\n')
          .filter((l) => l.startsWith('driftgate_policy_info{'))
          .join('\n');
      ok(await kubectl(ADMIN, ['apply', '-f', '-'], guardPolicy(POLICY, specOf('warn'))), 'switching to warn');
      for (const port of [metricsPort, second.metricsPort]) {
        await until(`replica on metrics port ${port} in warn mode`, async () =>
          (await policyInfo(port)).includes(`policy="${POLICY}",mode="warn"`) ? true : undefined,
        );
      }
      const settled = await until('status for the new generation', async () => {
        const o = await getJson<{ metadata: { generation: number; resourceVersion: string }; status?: Status }>(['guardpolicy', POLICY]);
        return o.status?.observedGeneration === o.metadata.generation && o.status.inForce?.generation === o.metadata.generation ? o : undefined;
      });
      // Several resyncs of both replicas later, nobody has rewritten it.
      await sleep(3_000);
      const later = await getJson<{ metadata: { resourceVersion: string } }>(['guardpolicy', POLICY]);
      expect(later.metadata.resourceVersion).toBe(settled.metadata.resourceVersion);
    } finally {
      second.child.kill('SIGTERM');
      ok(await kubectl(ADMIN, ['apply', '-f', '-'], guardPolicy(POLICY, specOf('enforce'))), 'back to enforce');
    }
  });
});
