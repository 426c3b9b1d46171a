import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { manifestsCommand } from '../../../src/cli/manifests.js';
import { DriftgateError } from '../../../src/errors.js';
import {
  CARRIES_BREAK_GLASS_CEL,
  CA_INJECT_ANNOTATION,
  NEVER_GUARDED,
  renderManifestsYaml,
  renderWebhooks,
  type MutatingWebhook,
  type ValidatingWebhook,
  type WebhookTarget,
} from '../../../src/manifests/render.js';
import { loadPolicy, parsePolicy, type GuardPolicy, type ResourceRule } from '../../../src/policy/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SERVICE: WebhookTarget = { service: { namespace: 'driftgate-system', name: 'driftgate' } };
const PLACEHOLDER_PEM = '-----BEGIN CERTIFICATE-----\nREPLACE-ME\n-----END CERTIFICATE-----\n';
const PLACEHOLDER_CA = Buffer.from(PLACEHOLDER_PEM).toString('base64');

const APPS: ResourceRule = { apiGroups: ['apps'], resources: ['deployments', 'deployments/scale', 'statefulsets'] };

function policyOf(namespaces: string[], resources: ResourceRule[] = [APPS]): GuardPolicy {
  return parsePolicy({ apiVersion: 'driftgate.dev/v1alpha1', kind: 'GuardPolicy', metadata: { name: 'test' }, spec: { namespaces, resources } });
}

function render(policy: GuardPolicy, target: WebhookTarget = SERVICE, caBundle = 'Q0E=') {
  const [validating, mutating] = renderWebhooks(policy, target, caBundle);
  return { validating, mutating, all: [...validating.webhooks, ...mutating.webhooks] as ValidatingWebhook[] };
}

/** The match conditions that select namespaces (the mutating webhook's break-glass one aside). */
function namespaceConditions(webhook: ValidatingWebhook): { name: string; expression: string }[] {
  return (webhook.matchConditions ?? []).filter((c) => c.name !== 'carries-break-glass' && !c.name.startsWith('skip-'));
}

function only<T>(list: readonly T[]): T {
  expect(list).toHaveLength(1);
  return list[0] as T;
}

function selectorValues(webhook: ValidatingWebhook): { operator: string; values: string[] } {
  const selector = webhook.namespaceSelector ?? webhook.objectSelector;
  const requirement = only(selector?.matchExpressions ?? []);
  expect(requirement.key).toBe('kubernetes.io/metadata.name');
  return { operator: requirement.operator, values: requirement.values };
}

describe('renderWebhooks: namespaces', () => {
  it('calls the mutating webhook only for objects carrying a break-glass annotation, the validating one always', () => {
    const { validating, mutating } = render(policyOf(['prod', 'payments-*']));
    expect(mutating.webhooks.length).toBeGreaterThan(0);
    for (const webhook of mutating.webhooks)
      expect(webhook.matchConditions).toContainEqual({ name: 'carries-break-glass', expression: CARRIES_BREAK_GLASS_CEL });
    for (const webhook of validating.webhooks) expect((webhook.matchConditions ?? []).map((c) => c.name)).not.toContain('carries-break-glass');
  });

  it('selects exact names with In on the name label, and needs no match condition', () => {
    const { all } = render(policyOf(['prod', 'staging']));
    expect(all.map((w) => w.name)).toEqual(['validate.driftgate.dev', 'mutate.driftgate.dev']);
    for (const webhook of all) {
      expect(selectorValues(webhook)).toEqual({ operator: 'In', values: ['prod', 'staging'] });
      expect(namespaceConditions(webhook)).toEqual([]);
      expect(webhook.objectSelector).toBeUndefined();
    }
  });

  it('widens a glob to NotIn the system namespaces and narrows it back with CEL', () => {
    const { all } = render(policyOf(['prod', 'payments-*']));
    for (const webhook of all) {
      expect(selectorValues(webhook)).toEqual({ operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'driftgate-system'] });
      const condition = only(namespaceConditions(webhook));
      expect(condition.expression).toContain('ns.startsWith("payments-")');
      expect(condition.expression).toContain('ns in ["prod"]');
      // A Namespace object carries no request.namespace: the request's name stands in, as in decide().
      expect(condition.expression).toContain('request.?name.orValue("")');
    }
  });

  it('needs no match condition for "*", yet still leaves the system namespaces out', () => {
    for (const webhook of render(policyOf(['*', 'payments-*'])).all) {
      expect(selectorValues(webhook)).toEqual({ operator: 'NotIn', values: [...NEVER_GUARDED] });
      expect(namespaceConditions(webhook)).toEqual([]);
    }
  });

  it('never selects kube-system or driftgate-system, even when the policy names them', () => {
    const named = render(policyOf(['kube-system', 'prod', 'driftgate-system', 'kube-public'])).all;
    for (const webhook of named) expect(selectorValues(webhook)).toEqual({ operator: 'In', values: ['prod'] });
    const globbed = render(policyOf(['kube-*', 'driftgate-*'])).all;
    for (const webhook of globbed) {
      const { operator, values } = selectorValues(webhook);
      expect(operator).toBe('NotIn');
      expect(values).toEqual(expect.arrayContaining(['kube-system', 'driftgate-system']));
    }
  });

  it('also leaves out the namespace of the Service it calls', () => {
    const { all } = render(policyOf(['*']), { service: { namespace: 'guard', name: 'driftgate', port: 8443 } });
    for (const webhook of all) expect(selectorValues(webhook).values).toEqual([...NEVER_GUARDED, 'guard']);
  });

  it('refuses a policy whose every namespace is one driftgate never guards', () => {
    const attempt = (): unknown => render(policyOf(['kube-system', 'driftgate-system']));
    expect(attempt).toThrow(DriftgateError);
    expect(attempt).toThrow(/spec\.namespaces names only namespaces driftgate never guards/);
  });
});

describe('renderWebhooks: rules', () => {
  const policy = policyOf(
    ['prod'],
    [
      APPS,
      { apiGroups: [''], resources: ['configmaps', 'pods/exec', 'pods/eviction'] },
      { apiGroups: ['apps'], resources: ['replicasets', 'deployments'] },
      { apiGroups: ['*'], resources: ['*/scale'] },
    ],
  );
  const { validating, mutating } = render(policy);

  it("validates the policy's resources as written, merged by API groups, subresources included", () => {
    const webhook = only(validating.webhooks);
    expect(webhook.rules).toEqual([
      // Each main resource brings the subresources that change it (issue 11): /status, /scale.
      {
        operations: ['CREATE', 'UPDATE', 'DELETE'],
        apiGroups: ['apps'],
        apiVersions: ['*'],
        resources: [
          'deployments',
          'deployments/scale',
          'statefulsets',
          'replicasets',
          'deployments/status',
          'statefulsets/status',
          'statefulsets/scale',
          'replicasets/status',
          'replicasets/scale',
        ],
        scope: 'Namespaced',
      },
      { operations: ['CREATE', 'UPDATE', 'DELETE'], apiGroups: [''], apiVersions: ['*'], resources: ['configmaps', 'pods/eviction'], scope: 'Namespaced' },
      // CONNECT only where the entry can be one: exec, attach, portforward, proxy.
      { operations: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'], apiGroups: [''], apiVersions: ['*'], resources: ['pods/exec'], scope: 'Namespaced' },
      { operations: ['CREATE', 'UPDATE', 'DELETE'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*/scale'], scope: 'Namespaced' },
    ]);
    expect(webhook.sideEffects).toBe('NoneOnDryRun');
  });

  it('mutates main resources only, on CREATE and UPDATE', () => {
    const webhook = only(mutating.webhooks) as MutatingWebhook;
    expect(webhook.rules).toEqual([
      {
        operations: ['CREATE', 'UPDATE'],
        apiGroups: ['apps'],
        apiVersions: ['*'],
        resources: ['deployments', 'statefulsets', 'replicasets'],
        scope: 'Namespaced',
      },
      { operations: ['CREATE', 'UPDATE'], apiGroups: [''], apiVersions: ['*'], resources: ['configmaps'], scope: 'Namespaced' },
    ]);
    expect(webhook.rules.flatMap((r) => r.resources).some((r) => r.includes('/'))).toBe(false);
    expect(webhook.reinvocationPolicy).toBe('IfNeeded');
    expect(webhook.sideEffects).toBe('None');
  });

  it('fails closed, briefly, on v1 reviews, for equivalent resources too', () => {
    for (const webhook of [...validating.webhooks, ...mutating.webhooks]) {
      expect(webhook).toMatchObject({ admissionReviewVersions: ['v1'], failurePolicy: 'Fail', timeoutSeconds: 5, matchPolicy: 'Equivalent' });
    }
  });

  it('leaves out an implied subresource the policy opts out of, and keeps the rest (issue 11)', () => {
    const base = policyOf(['prod'], [{ apiGroups: ['apps'], resources: ['statefulsets'] }]);
    const opted = { ...base, openSubresources: [{ apiGroups: ['apps'], resources: ['statefulsets/scale'], reason: 'load tests' }] };
    expect(only(render(base).validating.webhooks).rules[0]?.resources).toEqual(['statefulsets', 'statefulsets/status', 'statefulsets/scale']);
    expect(only(render(opted).validating.webhooks).rules[0]?.resources).toEqual(['statefulsets', 'statefulsets/status']);
    const pods = render(policyOf(['prod'], [{ apiGroups: [''], resources: ['pods'] }]));
    expect(only(pods.validating.webhooks).rules[0]?.resources).toEqual(['pods', 'pods/status', 'pods/eviction', 'pods/ephemeralcontainers', 'pods/resize']);
  });

  it('lets writes through while driftgate is down in warn mode (Ignore), unless told otherwise', () => {
    const warn = { ...policyOf(['prod']), mode: 'warn' as const };
    const hooks = (p: GuardPolicy, options = {}) => {
      const [v, m] = renderWebhooks(p, SERVICE, 'Q0E=', options);
      return [...v.webhooks, ...m.webhooks].map((w) => w.failurePolicy);
    };
    expect(new Set(hooks(warn))).toEqual(new Set(['Ignore']));
    expect(new Set(hooks(warn, { failurePolicy: 'Fail' }))).toEqual(new Set(['Fail']));
    expect(new Set(hooks(policyOf(['prod'])))).toEqual(new Set(['Fail']));
    expect(new Set(hooks(policyOf(['prod']), { failurePolicy: 'Ignore' }))).toEqual(new Set(['Ignore']));
  });

  it('renders an empty mutating configuration when the policy guards only subresources', () => {
    const subOnly = render(policyOf(['prod'], [{ apiGroups: ['apps'], resources: ['deployments/scale'] }]));
    expect(subOnly.mutating.webhooks).toEqual([]);
    expect(only(subOnly.validating.webhooks).rules.flatMap((r) => r.resources)).toEqual(['deployments/scale']);
  });

  it('adds cluster-scoped entries for Namespace objects when the policy guards namespaces', () => {
    const guarded = render(policyOf(['prod', 'payments-*'], [{ apiGroups: [''], resources: ['namespaces', 'configmaps'] }]));
    const [main, namespaces] = guarded.validating.webhooks;
    expect(main?.rules.every((r) => r.scope === 'Namespaced')).toBe(true);
    expect(namespaces?.name).toBe('validate-namespaces.driftgate.dev');
    expect(namespaces?.rules).toEqual([
      { operations: ['CREATE', 'UPDATE', 'DELETE'], apiGroups: [''], apiVersions: ['*'], resources: ['namespaces', 'namespaces/status'], scope: 'Cluster' },
    ]);
    // On a Namespace object a namespaceSelector would match the object itself: objectSelector says so plainly.
    expect(namespaces?.namespaceSelector).toBeUndefined();
    expect(namespaces && selectorValues(namespaces).operator).toBe('NotIn');
    expect(namespaces?.matchConditions?.[0]?.expression).toContain('ns.startsWith("payments-")');
    expect(guarded.mutating.webhooks.map((w) => w.name)).toEqual(['mutate.driftgate.dev', 'mutate-namespaces.driftgate.dev']);

    const exact = render(policyOf(['prod'], [{ apiGroups: ['*'], resources: ['*'] }]));
    expect(exact.validating.webhooks[1]?.objectSelector?.matchExpressions).toEqual([{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['prod'] }]);
    expect(render(policyOf(['prod'])).validating.webhooks.map((w) => w.name)).toEqual(['validate.driftgate.dev']);
  });
});

describe('renderWebhooks: client config', () => {
  it('calls a Service on 443 unless told otherwise, at /validate and /mutate', () => {
    const { validating, mutating } = render(policyOf(['prod']), SERVICE, 'Q0E=');
    expect(only(validating.webhooks).clientConfig).toEqual({
      service: { namespace: 'driftgate-system', name: 'driftgate', path: '/validate', port: 443 },
      caBundle: 'Q0E=',
    });
    expect(only(mutating.webhooks).clientConfig).toEqual({
      service: { namespace: 'driftgate-system', name: 'driftgate', path: '/mutate', port: 443 },
      caBundle: 'Q0E=',
    });
  });

  it('calls a URL with the path appended', () => {
    const { validating, mutating } = render(policyOf(['prod']), { url: 'https://127.0.0.1:8443/' }, 'Q0E=');
    expect(only(validating.webhooks).clientConfig).toEqual({ url: 'https://127.0.0.1:8443/validate', caBundle: 'Q0E=' });
    expect(only(mutating.webhooks).clientConfig).toEqual({ url: 'https://127.0.0.1:8443/mutate', caBundle: 'Q0E=' });
    expect(() => render(policyOf(['prod']), { url: 'http://127.0.0.1:8443' })).toThrow(/only calls webhooks over https/);
  });

  it('sets the caBundle on every entry, or leaves it to cert-manager', () => {
    const policy = policyOf(['prod'], [{ apiGroups: [''], resources: ['namespaces'] }]);
    for (const webhook of render(policy, SERVICE, PLACEHOLDER_CA).all) expect(webhook.clientConfig.caBundle).toBe(PLACEHOLDER_CA);
    const injected = renderWebhooks(policy, SERVICE, '', { caInjectFrom: 'driftgate-system/driftgate-tls' });
    for (const configuration of injected) {
      expect(configuration.metadata.annotations[CA_INJECT_ANNOTATION]).toBe('driftgate-system/driftgate-tls');
      for (const webhook of configuration.webhooks) expect(webhook.clientConfig).not.toHaveProperty('caBundle');
    }
  });
});

describe('renderManifestsYaml', () => {
  it('writes documents that parse back to the same objects, with no anchors', () => {
    const objects = renderWebhooks(policyOf(['prod', 'payments-*'], [{ apiGroups: [''], resources: ['namespaces', 'pods/exec'] }]), SERVICE, PLACEHOLDER_CA);
    const text = renderManifestsYaml(objects);
    const docs = parseAllDocuments(text);
    expect(docs.flatMap((d) => d.errors)).toEqual([]);
    expect(docs.map((d) => d.toJS())).toEqual(JSON.parse(JSON.stringify(objects)));
    expect(text).not.toMatch(/[&*]a\d/);
    expect(text.split('\n').filter((line) => line === '---')).toHaveLength(1);
  });
});

describe('renderWebhooks: failure policy and skip conditions', () => {
  const withSubjects = (mode: 'enforce' | 'warn') =>
    parsePolicy({
      apiVersion: 'driftgate.dev/v1alpha1',
      kind: 'GuardPolicy',
      metadata: { name: 'test' },
      spec: {
        mode,
        namespaces: ['prod'],
        resources: [APPS],
        gitopsWriters: { users: ['argo'], groups: ['flux'] },
        delegations: [
          { users: ['hpa'], paths: ['/spec/replicas'] },
          { groups: ['devs'], paths: ['/metadata/labels/tier'] },
        ],
      },
    });

  it('fails closed in enforce mode and open in warn mode, unless told otherwise', () => {
    for (const webhook of render(withSubjects('enforce')).all) expect(webhook.failurePolicy).toBe('Fail');
    for (const webhook of render(withSubjects('warn')).all) expect(webhook.failurePolicy).toBe('Ignore');
    const [validating, mutating] = renderWebhooks(withSubjects('warn'), SERVICE, 'Q0E=', { failurePolicy: 'Fail' });
    for (const webhook of [...validating.webhooks, ...mutating.webhooks]) expect(webhook.failurePolicy).toBe('Fail');
  });

  it('lets the apiserver decide GitOps writers, no-op writes and each delegation alone, on both webhooks', () => {
    const { all } = render(withSubjects('enforce'));
    for (const webhook of all) {
      const names = (webhook.matchConditions ?? []).map((c) => c.name);
      expect(names).toEqual(
        expect.arrayContaining(['skip-gitops-writers', 'skip-no-drift', 'skip-delegation-0-update', 'skip-delegation-0-scale', 'skip-delegation-1-update']),
      );
      // Only the owner of /spec/replicas gets the /scale skip.
      expect(names).not.toContain('skip-delegation-1-scale');
      for (const condition of webhook.matchConditions ?? []) {
        if (condition.name.startsWith('skip-')) expect(condition.expression.startsWith('!(')).toBe(true);
      }
    }
  });

  it("lets the apiserver decide Kubernetes' controllers' grants it can check, and none when the policy turns them off", () => {
    const names = (policy: GuardPolicy) => (render(policy).validating.webhooks[0]?.matchConditions ?? []).map((c) => c.name);
    const withControllers = names(withSubjects('enforce'));
    expect(withControllers).toEqual(expect.arrayContaining(['skip-garbage-collector-0', 'skip-garbage-collector-1', 'skip-deployment-controller-0']));
    // The namespace controller's deletes need the Namespace looked up: no condition can check them.
    expect(withControllers.some((n) => n.startsWith('skip-namespace-controller'))).toBe(false);
    const off = parsePolicy({
      apiVersion: 'driftgate.dev/v1alpha1',
      kind: 'GuardPolicy',
      metadata: { name: 'off' },
      spec: { namespaces: ['prod'], resources: [APPS], kubernetesControllers: { allow: [] } },
    });
    expect(names(off).filter((n) => n.startsWith('skip-') && !['skip-no-drift'].includes(n))).toEqual([]);
  });

  it('writes no skip conditions when asked (every guarded write then reaches driftgate)', () => {
    const [validating] = renderWebhooks(withSubjects('enforce'), SERVICE, 'Q0E=', { withoutSkips: true });
    for (const webhook of validating.webhooks) expect(webhook.matchConditions).toBeUndefined();
  });

  it("stays within the apiserver's 64 conditions per webhook, however many delegations", () => {
    const many = parsePolicy({
      apiVersion: 'driftgate.dev/v1alpha1',
      kind: 'GuardPolicy',
      metadata: { name: 'many' },
      spec: {
        namespaces: ['prod', 'pay-*'],
        resources: [APPS],
        delegations: Array.from({ length: 40 }, (_, i) => ({ users: [`u${i}`], paths: ['/spec/replicas'] })),
      },
    });
    for (const webhook of render(many).all) expect((webhook.matchConditions ?? []).length).toBe(64);
  });
});

describe('driftgate manifests', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftgate-manifests-'));
    await writeFile(join(dir, 'ca.crt'), PLACEHOLDER_PEM);
    await writeFile(join(dir, 'tls.key'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function run(args: string[]): Promise<{ out: string; error?: unknown }> {
    let out = '';
    const io = { out: { write: (s: string) => (out += s) }, err: { write: () => true } };
    try {
      await manifestsCommand(io)
        .exitOverride()
        .configureOutput({ writeErr: () => undefined })
        .parseAsync(args, { from: 'user' });
      return { out };
    } catch (error) {
      return { out, error };
    }
  }

  const policy = join(ROOT, 'examples/policy.yaml');

  it('prints exactly the shipped example (examples/manifests/webhooks.yaml after its header)', async () => {
    const { out, error } = await run(['--policy', policy, '--service', 'driftgate-system/driftgate', '--ca-bundle', join(dir, 'ca.crt')]);
    expect(error).toBeUndefined();
    const shipped = await readFile(join(ROOT, 'examples/manifests/webhooks.yaml'), 'utf8');
    expect(shipped.endsWith(out.replace(policy, 'examples/policy.yaml'))).toBe(true);
  });

  it('prints exactly the shipped cert-manager example', async () => {
    const { out, error } = await run(['--policy', policy, '--service', 'driftgate-system/driftgate', '--ca-inject-from', 'driftgate-system/driftgate-tls']);
    expect(error).toBeUndefined();
    const shipped = await readFile(join(ROOT, 'examples/manifests/webhooks-cert-manager.yaml'), 'utf8');
    expect(shipped.endsWith(out.replace(policy, 'examples/policy.yaml'))).toBe(true);
  });

  it('takes the CA already base64-encoded, and a Service port', async () => {
    const { out, error } = await run(['--policy', policy, '--service', 'guard/dg:8443', '--ca-bundle-base64', PLACEHOLDER_CA]);
    expect(error).toBeUndefined();
    const [validating] = parseAllDocuments(out).map((d) => d.toJS() as { webhooks: ValidatingWebhook[] });
    expect(validating?.webhooks[0]?.clientConfig).toEqual({
      service: { namespace: 'guard', name: 'dg', path: '/validate', port: 8443 },
      caBundle: PLACEHOLDER_CA,
    });
  });

  it('--guardpolicies adds driftgate-policies: GuardPolicy writes to /validate-policy, Fail whatever --failure-policy says', async () => {
    const plain = parseAllDocuments((await run(['--policy', policy, '--service', 'guard/dg', '--ca-bundle-base64', PLACEHOLDER_CA])).out);
    expect(plain).toHaveLength(2);
    const { out, error } = await run([
      '--policy',
      policy,
      '--service',
      'guard/dg',
      '--ca-bundle-base64',
      PLACEHOLDER_CA,
      '--guardpolicies',
      '--failure-policy',
      'Ignore',
    ]);
    expect(error).toBeUndefined();
    const docs = parseAllDocuments(out).map((d) => d.toJS() as { metadata: { name: string }; webhooks: ValidatingWebhook[] });
    expect(docs).toHaveLength(3);
    const [entry] = docs[2]?.webhooks ?? [];
    expect(docs[2]?.metadata.name).toBe('driftgate-policies');
    expect(entry?.clientConfig).toEqual({ service: { namespace: 'guard', name: 'dg', path: '/validate-policy', port: 443 }, caBundle: PLACEHOLDER_CA });
    expect(entry?.rules).toEqual([
      { operations: ['CREATE', 'UPDATE'], apiGroups: ['driftgate.dev'], apiVersions: ['*'], resources: ['guardpolicies'], scope: 'Cluster' },
    ]);
    expect(entry?.failurePolicy).toBe('Fail');
  });

  it('takes --failure-policy, and refuses anything but Fail and Ignore', async () => {
    const { out } = await run(['--policy', policy, '--service', 'a/b', '--ca-bundle-base64', PLACEHOLDER_CA, '--failure-policy', 'Ignore']);
    const [validating] = parseAllDocuments(out).map((d) => d.toJS() as { webhooks: ValidatingWebhook[] });
    for (const webhook of validating?.webhooks ?? []) expect(webhook.failurePolicy).toBe('Ignore');
    const { error } = await run(['--policy', policy, '--service', 'a/b', '--ca-bundle-base64', PLACEHOLDER_CA, '--failure-policy', 'fail']);
    expect(String(error)).toMatch(/--failure-policy "fail" is neither Fail nor Ignore/);
  });

  const refusals: Array<{ name: string; args: string[]; want: RegExp; code?: string }> = [
    { name: 'neither --url nor --service', args: ['--ca-bundle-base64', PLACEHOLDER_CA], want: /exactly one of --url .* and --service/ },
    {
      name: 'both --url and --service',
      args: ['--url', 'https://a:1', '--service', 'a/b', '--ca-bundle-base64', PLACEHOLDER_CA],
      want: /exactly one of --url/,
    },
    {
      name: 'an http URL',
      args: ['--url', 'http://127.0.0.1:8443', '--ca-bundle-base64', PLACEHOLDER_CA],
      want: /^--url "http:\/\/127\.0\.0\.1:8443": the kube-apiserver only calls webhooks over https/,
    },
    {
      name: 'a URL with a query',
      args: ['--url', 'https://h:1?x=1', '--ca-bundle-base64', PLACEHOLDER_CA],
      want: /^--url .*refuses a user, a query or a fragment/,
    },
    { name: 'a URL ending in /validate', args: ['--url', 'https://h:1/validate', '--ca-bundle-base64', PLACEHOLDER_CA], want: /^--url .*give the base URL/ },
    {
      name: 'a malformed --service',
      args: ['--service', 'driftgate', '--ca-bundle-base64', PLACEHOLDER_CA],
      want: /^--service "driftgate" is not NAMESPACE\/NAME\[:PORT\]/,
    },
    {
      name: 'a --service port out of range',
      args: ['--service', 'a/b:70000', '--ca-bundle-base64', PLACEHOLDER_CA],
      want: /^--service "a\/b:70000": port 70000/,
    },
    { name: 'no CA', args: ['--service', 'a/b'], want: /exactly one of --ca-bundle .*--ca-bundle-base64 .*--ca-inject-from/ },
    { name: 'two CAs', args: ['--service', 'a/b', '--ca-bundle-base64', PLACEHOLDER_CA, '--ca-inject-from', 'a/b'], want: /exactly one of --ca-bundle/ },
    { name: 'raw PEM given as base64', args: ['--service', 'a/b', '--ca-bundle-base64', PLACEHOLDER_PEM], want: /^--ca-bundle-base64: not base64/ },
    {
      name: 'base64 of something else',
      args: ['--service', 'a/b', '--ca-bundle-base64', 'aGVsbG8='],
      want: /^--ca-bundle-base64 \(decoded\) holds no PEM certificate/,
    },
    { name: 'a private key as the CA', args: ['--service', 'a/b', '--ca-bundle', 'KEY'], want: /holds a private key; pass only the CA certificate/ },
    {
      name: 'a missing CA file',
      args: ['--service', 'a/b', '--ca-bundle', 'MISSING'],
      want: /^--ca-bundle .*missing\.crt: cannot read it \(no such file\)/,
      code: 'DG_FILE_UNREADABLE',
    },
  ];
  it.each(refusals)('refuses $name with one line naming the flag', async ({ args, want, code = 'DG_USAGE' }) => {
    const resolved = args.map((a) => (a === 'KEY' ? join(dir, 'tls.key') : a === 'MISSING' ? join(dir, 'missing.crt') : a));
    const { out, error } = await run(['--policy', policy, ...resolved]);
    expect(out).toBe('');
    expect(error).toBeInstanceOf(DriftgateError);
    expect((error as DriftgateError).code).toBe(code);
    expect((error as DriftgateError).message).toMatch(want);
    expect((error as DriftgateError).message).not.toContain('\n');
  });
});

interface KubeDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

describe('manifests/', () => {
  const manifests = join(ROOT, 'manifests');
  let docs: Array<{ file: string; doc: KubeDoc }> = [];
  beforeAll(async () => {
    docs = [];
    for (const file of await yamlFiles(manifests)) {
      const parsed = parseAllDocuments(await readFile(file, 'utf8'));
      expect(
        parsed.flatMap((d) => d.errors),
        file,
      ).toEqual([]);
      for (const d of parsed) docs.push({ file: file.slice(manifests.length + 1), doc: d.toJS() as KubeDoc });
    }
  });
  const find = (kind: string, name: string): KubeDoc => {
    const found = docs.find(({ doc }) => doc.kind === kind && doc.metadata.name === name);
    expect(found, `${kind}/${name}`).toBeDefined();
    return found?.doc as KubeDoc;
  };

  it('holds Kubernetes objects only, every namespaced one in driftgate-system', () => {
    expect(docs.length).toBeGreaterThan(10);
    const clusterScoped = [
      'Namespace',
      'CustomResourceDefinition',
      'ClusterRole',
      'ClusterRoleBinding',
      'ValidatingWebhookConfiguration',
      'MutatingWebhookConfiguration',
    ];
    for (const { file, doc } of docs) {
      expect(typeof doc.apiVersion, file).toBe('string');
      expect(typeof doc.kind, file).toBe('string');
      expect(doc.metadata.name, file).toMatch(/^[a-z0-9.-]+$/);
      if (!clusterScoped.includes(doc.kind)) expect(doc.metadata.namespace, `${file} ${doc.kind}`).toBe('driftgate-system');
    }
  });

  it('holds what kubectl applies, and nothing that refuses writes (kubectl apply -R manifests/ installs nothing broken)', async () => {
    // Examples live in examples/manifests/: a GitOps tool recursing into manifests/ must not
    // install a webhook with a placeholder CA and failurePolicy Fail that refuses every guarded write.
    const files = (await yamlFiles(manifests)).map((f) => f.slice(manifests.length + 1));
    expect(files).toEqual(['cert-manager/certificates.yaml', 'install.yaml']);
    // The webhooks are rendered from the policy and applied last, never with the rest.
    expect(docs.map(({ doc }) => doc.kind)).not.toContain('ValidatingWebhookConfiguration');
    expect(docs.map(({ doc }) => doc.kind)).not.toContain('MutatingWebhookConfiguration');
    expect(docs.filter(({ file }) => file === 'install.yaml')[0]?.doc.kind).toBe('Namespace');
  });

  it('defines the BackportTicket CRD: one fact per object (ticket, event), the earlier layout still valid, no status', () => {
    const crd = find('CustomResourceDefinition', 'backporttickets.driftgate.dev') as KubeDoc & {
      spec: {
        group: string;
        scope: string;
        names: { kind: string; plural: string; shortNames: string[] };
        versions: Array<{
          name: string;
          subresources?: unknown;
          additionalPrinterColumns: Array<{ name: string; jsonPath: string }>;
          schema: { openAPIV3Schema: { properties: { spec: { required: string[]; properties: Record<string, unknown> } } } };
        }>;
      };
    };
    expect(crd.spec).toMatchObject({
      group: 'driftgate.dev',
      scope: 'Namespaced',
      names: { kind: 'BackportTicket', plural: 'backporttickets', shortNames: ['bpt'] },
    });
    const version = only(crd.spec.versions);
    expect(version.name).toBe('v1alpha1');
    expect(version.subresources).toBeUndefined();
    expect(version.additionalPrinterColumns.map((c) => [c.name, c.jsonPath])).toEqual([
      ['Ticket', '.spec.ticket'],
      ['Event', '.spec.event'],
      ['Namespace', '.spec.object.namespace'],
      ['Kind', '.spec.object.kind'],
      ['Object', '.spec.object.name'],
      ['Incident', '.spec.window.incident'],
      ['User', '.spec.change.username'],
      ['Age', '.metadata.creationTimestamp'],
    ]);
    const spec = version.schema.openAPIV3Schema.properties.spec;
    expect(spec.required).toEqual(['object', 'window']);
    expect(Object.keys(spec.properties)).toEqual(
      expect.arrayContaining([
        'ticket',
        'event',
        'change',
        'resolution',
        'covers',
        'settlement',
        'backport',
        'state',
        'changes',
        'earlierResolutions',
        'backports',
      ]),
    );
  });

  it('ships the example policy in the ConfigMap the Deployment mounts', async () => {
    const configMap = find('ConfigMap', 'driftgate-policy') as KubeDoc & { data: Record<string, string> };
    const example = await readFile(join(ROOT, 'examples/policy.yaml'), 'utf8');
    expect(configMap.data['policy.yaml']).toBe(example);
    expect(loadPolicy(configMap.data['policy.yaml'] ?? '', 'ConfigMap').name).toBe('prod');
  });

  it('runs the webhook as the issue asks', () => {
    const deployment = find('Deployment', 'driftgate') as KubeDoc & {
      spec: { replicas: number; template: { spec: Record<string, unknown> & { containers: Array<Record<string, unknown>> } } };
    };
    expect(deployment.spec.replicas).toBe(3);
    const pod = deployment.spec.template.spec;
    expect(pod).toMatchObject({
      serviceAccountName: 'driftgate',
      priorityClassName: 'system-cluster-critical',
      terminationGracePeriodSeconds: 30,
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
    });
    expect(pod['topologySpreadConstraints']).toBeDefined();
    const container = only(pod.containers);
    expect(container).toMatchObject({
      image: 'ghcr.io/driftgate/driftgate:0.1.0',
      args: [
        'serve',
        '--policy',
        '/etc/driftgate/policy.yaml',
        '--tls-cert',
        '/etc/driftgate/tls/tls.crt',
        '--tls-key',
        '/etc/driftgate/tls/tls.key',
        '--tickets',
        'kubernetes:driftgate-system',
        '--metrics-port',
        '9090',
        '--log-level',
        'info',
      ],
      readinessProbe: { httpGet: { path: '/readyz', port: 'https', scheme: 'HTTPS' } },
      livenessProbe: { httpGet: { path: '/healthz', port: 'https', scheme: 'HTTPS' } },
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
      securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    });
    expect(container['startupProbe']).toBeDefined();
    expect(find('PodDisruptionBudget', 'driftgate')).toMatchObject({ spec: { minAvailable: 2 } });
    expect(find('Service', 'driftgate')).toMatchObject({
      spec: {
        ports: [
          { port: 443, targetPort: 'https' },
          { port: 9090, targetPort: 'metrics' },
        ],
      },
    });
  });

  it('grants driftgate least privilege', () => {
    expect(find('Role', 'driftgate-tickets')).toMatchObject({
      rules: [{ apiGroups: ['driftgate.dev'], resources: ['backporttickets'], verbs: ['get', 'list', 'watch', 'create'] }],
    });
    const parents = find('ClusterRole', 'driftgate-parents') as KubeDoc & { rules: Array<{ resources: string[]; verbs: string[] }> };
    expect(parents.rules.flatMap((r) => r.verbs)).toEqual(['get', 'get', 'get']);
    // The Namespace of a namespace-controller delete: allowed only while it is being deleted.
    expect(parents.rules.map((r) => r.resources)).toContainEqual(['namespaces']);
    expect(find('ClusterRole', 'driftgate-ticket-reviewer')).toMatchObject({
      rules: [{ apiGroups: ['driftgate.dev'], resources: ['backporttickets'], verbs: ['get', 'list', 'watch', 'create'] }],
    });
  });

  it('ships a NetworkPolicy example (examples/manifests/, outside manifests/) admitting only its sources to the webhook port, the metrics port apart', async () => {
    const policy = parseAllDocuments(await readFile(join(ROOT, 'examples/manifests/networkpolicy.yaml'), 'utf8'))[0]?.toJS() as KubeDoc & {
      spec: { podSelector: unknown; policyTypes: string[]; ingress: Array<{ ports: Array<{ port: number }>; from: unknown[] }> };
    };
    expect(policy.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'driftgate' } });
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress.map((rule) => rule.ports.map((p) => p.port))).toEqual([[8443], [9090]]);
    expect(policy.spec.ingress.every((rule) => rule.from.length > 0)).toBe(true);
  });

  it('issues the cert-manager serving certificate for the Service name', () => {
    expect(find('Certificate', 'driftgate-tls')).toMatchObject({
      spec: {
        secretName: 'driftgate-tls',
        dnsNames: ['driftgate.driftgate-system.svc', 'driftgate.driftgate-system.svc.cluster.local'],
        issuerRef: { kind: 'Issuer', name: 'driftgate-ca' },
      },
    });
    expect(find('Certificate', 'driftgate-ca')).toMatchObject({ spec: { isCA: true, issuerRef: { name: 'driftgate-selfsigned' } } });
  });
});
