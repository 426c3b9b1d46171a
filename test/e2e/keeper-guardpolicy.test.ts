/**
 * `serve --policy-source guardpolicy --manage-webhooks` (issue 14), against the real apiserver:
 * the webhook configurations it keeps are rendered from the GuardPolicy objects in force
 * (src/manifests/render-set.ts) and applied again when one changes, without a restart:
 * - a GuardPolicy guarding namespace A: the kept configuration selects A, a developer's write in
 *   A is refused with driftgate's message;
 * - the policy edited to guard B instead: the configuration selects B (not A) within seconds, a
 *   write in B is refused and one in A let through;
 * - a second, non-overlapping GuardPolicy: both policies' webhooks in the one configuration, each
 *   name prefixed by its policy's.
 *
 * Its own names throughout (webhook configurations, Lease, RBAC, namespaces, GuardPolicies), so
 * the suite's driftgate and the other files' are untouched; the namespaces do not start with
 * `live` (guardpolicy.test.ts guards `live-*` and tries the pattern `live*`). The RBAC is the
 * chart's own (rbac-keeper.yaml and the GuardPolicy ClusterRole) with those names in place of
 * driftgate's. The serving pair and the caBundle are the suite's (--tls-cert, --webhook-ca-bundle).
 */
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { template } from '../helpers/helm.js';
import { ADMIN, DEVELOPER, cluster, getJson, kubectl, serveDriftgate, sleep, unique, type Result } from './cluster.js';

const suffix = unique('x').slice(2);
const NS_A = `lkeep-a-${suffix}`;
const NS_B = `lkeep-b-${suffix}`;
const NS_C = `lkeep-c-${suffix}`;
const POLICY = `lkeep-one-${suffix}`;
const SECOND = `lkeep-two-${suffix}`;
const NAME = `driftgate-lkeep-${suffix}`;
const LEASE = `lkeep-${suffix}`;
const RBAC_NAME = `driftgate-lkeep-${suffix}`;
const VALIDATING = `validatingwebhookconfiguration/${NAME}`;
const MUTATING = `mutatingwebhookconfiguration/${NAME}`;

function ok(r: Result, what: string): Result {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr}`);
  return r;
}

function guardPolicy(name: string, namespace: string): string {
  return stringify({
    apiVersion: 'driftgate.dev/v1alpha1',
    kind: 'GuardPolicy',
    metadata: { name },
    spec: {
      mode: 'enforce',
      namespaces: [namespace],
      resources: [{ apiGroups: [''], resources: ['configmaps'] }],
      gitopsWriters: { users: ['system:serviceaccount:argocd:argocd-application-controller'] },
    },
  });
}

interface Webhook {
  name: string;
  namespaceSelector?: unknown;
  objectSelector?: unknown;
  matchConditions?: unknown;
  clientConfig: { url?: string };
}
interface Configuration {
  metadata: { annotations?: Record<string, string>; managedFields?: Array<{ manager: string; operation: string }> };
  webhooks?: Webhook[];
}

/** Polls until `check` returns a value, or fails with the last error. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const got = await check();
      if (got !== undefined) return got;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000}s (last: ${String(last)})`);
    await sleep(250);
  }
}

async function validating(): Promise<Configuration | undefined> {
  const r = await kubectl(ADMIN, ['get', VALIDATING, '-o', 'json', '--show-managed-fields']);
  return r.code === 0 ? (JSON.parse(r.stdout) as Configuration) : undefined;
}

/** What a webhook selects, as text: its selectors and match conditions (a namespace's name appears in one of them). */
function selects(w: Webhook, namespace: string): boolean {
  return JSON.stringify([w.namespaceSelector, w.objectSelector, w.matchConditions]).includes(`"${namespace}"`);
}

/** The kept configuration once its webhooks select `yes` and none selects any of `no`. */
function configurationSelecting(yes: string[], no: string[]): Promise<Configuration> {
  return until(`${NAME} selecting ${yes.join(', ')} and not ${no.join(', ') || 'nothing else'}`, async () => {
    const c = await validating();
    const hooks = c?.webhooks ?? [];
    const good = yes.every((ns) => hooks.some((w) => selects(w, ns))) && !no.some((ns) => hooks.some((w) => selects(w, ns)));
    return good ? c : undefined;
  });
}

let writes = 0;
/** A developer's write in `namespace`: a new ConfigMap. */
function developerWrite(namespace: string): Promise<Result> {
  return kubectl(DEVELOPER, ['-n', namespace, 'create', 'configmap', `dev-${writes++}`, '--from-literal=k=v']);
}

/** Polls until a developer's write in `namespace` is refused by driftgate for `policy`. */
function refusedBy(namespace: string, policy: string): Promise<string> {
  return until(`a developer's write in ${namespace} refused by GuardPolicy ${policy}`, async () => {
    const r = await developerWrite(namespace);
    return r.code !== 0 && r.stderr.includes('[driftgate/drift]') && r.stderr.includes(`GuardPolicy ${policy}`) ? r.stderr : undefined;
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

let child: ChildProcess | undefined;
let servingPort = 0;
let rbac: object[] = [];

beforeAll(async () => {
  const c = cluster();
  for (const ns of [NS_A, NS_B, NS_C]) {
    ok(await kubectl(ADMIN, ['create', 'namespace', ns]), `creating ${ns}`);
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'e2e-edit', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'e2e-writer' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }],
    };
    ok(await kubectl(ADMIN, ['apply', '-f', '-'], JSON.stringify(binding)), `letting developers write in ${ns}`);
  }

  // The chart's RBAC for the keeper (its Lease, its two webhook configurations) and for the
  // GuardPolicies (list, watch, status), with this test's names in place of driftgate's.
  const keeper = template(['--set', 'webhooks.managed=true', '--show-only', 'templates/rbac-keeper.yaml']);
  const policies = template(['--set', 'policy.source=guardPolicy', '--set', 'webhooks.create=false']).filter(
    (o) => (o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding') && o.metadata.name === 'driftgate-guardpolicies',
  );
  expect(policies).toHaveLength(2);
  rbac = [...keeper, ...policies].map((o) => {
    const text = JSON.stringify(o)
      .replaceAll('"resourceNames":["driftgate"],"verbs":["get","update","patch"]', `"resourceNames":["${LEASE}"],"verbs":["get","update","patch"]`)
      .replaceAll('"resourceNames":["driftgate"]', `"resourceNames":["${NAME}"]`)
      .replaceAll('"name":"driftgate-keeper"', `"name":"${RBAC_NAME}-keeper"`)
      .replaceAll('"name":"driftgate-guardpolicies"', `"name":"${RBAC_NAME}-guardpolicies"`);
    return JSON.parse(text) as object;
  });
  expect(JSON.stringify(rbac)).not.toContain('"resourceNames":["driftgate"]');
  expect(JSON.stringify(rbac)).toContain(`"resourceNames":["${LEASE}"]`);
  ok(await kubectl(ADMIN, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbac })), "applying the chart's RBAC, renamed");
  ok(await kubectl(ADMIN, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/guardpolicies.driftgate.dev']), 'the GuardPolicy CRD');

  // The port is chosen first: the webhooks the keeper renders call it.
  servingPort = await freePort();
  const served = await serveDriftgate(
    ['--policy-source', 'guardpolicy', '--policy-resync-interval', '2000'],
    servingPort,
    join(c.work, 'driftgate-keeper-guardpolicy.log'),
    [
      '--manage-webhooks',
      `https://127.0.0.1:${servingPort}`,
      '--webhook-ca-bundle',
      c.caCert,
      '--webhook-name',
      NAME,
      '--lease',
      `driftgate-system/${LEASE}`,
      '--lease-duration',
      '3s',
      // Long on purpose: the periodic resync (every --housekeeping-interval) must not be what
      // applies a GuardPolicy change; the change itself must (live.onChange → resync).
      '--housekeeping-interval',
      '120000',
    ],
  );
  child = served.child;
}, 120_000);

afterAll(async () => {
  // Stop first, so nothing restores what is removed below (what serve applied stays applied).
  const c = child;
  child = undefined;
  if (c !== undefined && c.exitCode === null && c.signalCode === null) {
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await gone;
  }
  await kubectl(ADMIN, ['delete', VALIDATING, MUTATING, '--ignore-not-found']);
  await kubectl(ADMIN, ['delete', 'guardpolicy', POLICY, SECOND, '--ignore-not-found']);
  await kubectl(ADMIN, ['-n', 'driftgate-system', 'delete', 'lease', LEASE, '--ignore-not-found']);
  if (rbac.length > 0) await kubectl(ADMIN, ['delete', '-f', '-', '--ignore-not-found'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbac }));
  await kubectl(ADMIN, ['delete', 'namespace', NS_A, NS_B, NS_C, '--wait=false']);
  // Nothing of this file's is left for the next ones (GuardPolicies are cluster-scoped: another
  // file's driftgate with --policy-source guardpolicy would take them).
  for (const left of [VALIDATING, MUTATING, `guardpolicy/${POLICY}`, `guardpolicy/${SECOND}`, `clusterrole/${RBAC_NAME}-guardpolicies`]) {
    expect((await kubectl(ADMIN, ['get', left])).code, `${left} still there`).not.toBe(0);
  }
  expect((await kubectl(ADMIN, ['-n', 'driftgate-system', 'get', 'lease', LEASE])).code).not.toBe(0);
}, 120_000);

describe('serve --policy-source guardpolicy --manage-webhooks: the kept configurations follow the GuardPolicies in force', () => {
  it("a GuardPolicy guarding A: the kept configuration selects A, applied with driftgate's field manager, and a developer's write in A is refused", async () => {
    ok(await kubectl(ADMIN, ['apply', '-f', '-'], guardPolicy(POLICY, NS_A)), 'applying the policy');
    const config = await configurationSelecting([NS_A], [NS_B, NS_C]);
    expect(config.metadata.managedFields).toContainEqual(expect.objectContaining({ manager: 'driftgate', operation: 'Apply' }));
    expect(config.metadata.annotations?.['driftgate.dev/policy']).toContain(POLICY);
    for (const w of config.webhooks ?? []) expect(w.clientConfig.url).toMatch(new RegExp(`^https://127\\.0\\.0\\.1:${servingPort}/`));
    const stderr = await refusedBy(NS_A, POLICY);
    expect(stderr).toContain('[driftgate/drift]');
    // B is not guarded yet.
    expect((await developerWrite(NS_B)).code).toBe(0);
  });

  it('the policy edited to guard B instead: within seconds the configuration selects B, not A; a write in B is refused, one in A let through, without a restart', async () => {
    const pid = child?.pid;
    ok(await kubectl(ADMIN, ['apply', '-f', '-'], guardPolicy(POLICY, NS_B)), 'editing the policy');
    const started = Date.now();
    await configurationSelecting([NS_B], [NS_A]);
    // Applied again on the change itself, not at a later resync of the whole set.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await refusedBy(NS_B, POLICY)).toContain('[driftgate/drift]');
    const inA = await until("a developer's write in A let through", async () => {
      const r = await developerWrite(NS_A);
      return r.code === 0 ? r : undefined;
    });
    expect(inA.code).toBe(0);
    expect(child?.pid).toBe(pid);
    expect(child?.exitCode).toBeNull();
  });

  it("a second, non-overlapping GuardPolicy: both policies' webhooks in the one configuration, named by policy", async () => {
    const pid = child?.pid;
    ok(await kubectl(ADMIN, ['apply', '-f', '-'], guardPolicy(SECOND, NS_C)), 'applying the second policy');
    const config = await until(`${NAME} holding both policies' webhooks`, async () => {
      const c = await validating();
      const names = (c?.webhooks ?? []).map((w) => w.name);
      return names.some((n) => n.startsWith(`${POLICY}.`)) && names.some((n) => n.startsWith(`${SECOND}.`)) ? c : undefined;
    });
    const hooks = config.webhooks ?? [];
    const first = hooks.filter((w) => w.name.startsWith(`${POLICY}.`));
    const second = hooks.filter((w) => w.name.startsWith(`${SECOND}.`));
    expect(first.map((w) => w.name)).toContain(`${POLICY}.validate.driftgate.dev`);
    expect(second.map((w) => w.name)).toContain(`${SECOND}.validate.driftgate.dev`);
    // Each policy's webhooks select its own namespace only.
    expect(first.some((w) => selects(w, NS_B))).toBe(true);
    expect(first.some((w) => selects(w, NS_C) || selects(w, NS_A))).toBe(false);
    expect(second.some((w) => selects(w, NS_C))).toBe(true);
    expect(second.some((w) => selects(w, NS_B) || selects(w, NS_A))).toBe(false);
    // Every webhook name is unique within the configuration, as the apiserver requires.
    expect(new Set(hooks.map((w) => w.name)).size).toBe(hooks.length);
    expect(config.metadata.annotations?.['driftgate.dev/policy']).toContain(POLICY);
    expect(config.metadata.annotations?.['driftgate.dev/policy']).toContain(SECOND);
    // The mutating configuration is the same pair: named by policy too.
    const mutating = await getJson<Configuration>([MUTATING]);
    for (const w of mutating.webhooks ?? []) expect(w.name).toMatch(/^[^.]+\..+/);

    // And the apiserver calls them: each policy refuses in its own namespace, A stays free.
    expect(await refusedBy(NS_C, SECOND)).toContain('[driftgate/drift]');
    expect(await refusedBy(NS_B, POLICY)).toContain('[driftgate/drift]');
    expect((await developerWrite(NS_A)).code).toBe(0);
    expect(child?.pid).toBe(pid);
  });
});
