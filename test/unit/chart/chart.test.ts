/**
 * charts/driftgate, rendered and linted by the real helm (built from its Go module, test/helm):
 * the webhooks it installs are what `driftgate manifests` renders, every value reaches the object
 * it is about, and each combination that cannot work is refused with what to write instead.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { manifestsCommand } from '../../../src/cli/manifests.js';
import { serveCommand } from '../../../src/cli/serve.js';
import { renderPolicyWebhook } from '../../../src/manifests/policy-webhook.js';
import { renderWebhooks } from '../../../src/manifests/render.js';
import { loadPolicy } from '../../../src/policy/load.js';
import { CHART, find, helm, helmBinary, type KubeObject, ROOT, template, templateError } from '../../helpers/helm.js';

const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nREPLACE-ME\n-----END CERTIFICATE-----\n').toString('base64');
const PROVIDED = ['--set', 'certificates.mode=provided', '--set', `certificates.caBundle=${CA}`];

let dir = '';
beforeAll(() => {
  helmBinary();
  dir = mkdtempSync(join(tmpdir(), 'driftgate-chart-'));
}, 20 * 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** helmValues returns the path of a values file `driftgate manifests --helm-values` printed for the policy text. */
async function helmValues(name: string, policyText: string, namespace = 'driftgate-system', extra: string[] = []): Promise<string> {
  const policyFile = join(dir, `${name}.policy.yaml`);
  writeFileSync(policyFile, policyText);
  let out = '';
  const io = { out: { write: (s: string) => (out += s) }, err: { write: () => true } };
  await manifestsCommand(io)
    .exitOverride()
    .parseAsync(['--helm-values', '--policy', policyFile, '--service', `${namespace}/driftgate`, ...extra], { from: 'user' });
  const valuesFile = join(dir, `${name}.values.yaml`);
  writeFileSync(valuesFile, out);
  return valuesFile;
}

const example = readFileSync(join(ROOT, 'examples/policy.yaml'), 'utf8');
const policies: Record<string, string> = {
  example,
  'warn mode': example.replace('mode: enforce', 'mode: warn'),
  'exact names, namespaces guarded': [
    'apiVersion: driftgate.dev/v1alpha1',
    'kind: GuardPolicy',
    'metadata: { name: exact }',
    'spec:',
    '  namespaces: ["prod", "billing"]',
    '  resources:',
    '    - { apiGroups: [""], resources: ["namespaces", "configmaps", "pods/exec"] }',
    '  gitopsWriters: { users: ["system:serviceaccount:argocd:argocd-application-controller"] }',
    '',
  ].join('\n'),
};

describe('helm lint', () => {
  it.each([
    ['the defaults (cert-manager)', []],
    ['a provided CA', PROVIDED],
    ['self-managed certificates and managed webhooks', ['--set', 'certificates.mode=self-managed', '--set', 'webhooks.managed=true']],
    ['the values of manifests/install.yaml', ['-f', join(CHART, 'ci/install-values.yaml')]],
  ])('passes with %s', (_name, args) => {
    const result = helm(['lint', CHART, '--strict', '--namespace', 'driftgate-system', ...args]);
    expect(result.stderr + result.stdout, 'helm lint').toContain('0 chart(s) failed');
    expect(result.status).toBe(0);
  });
});

describe('the webhook configurations are what `driftgate manifests` renders', () => {
  it.each(Object.keys(policies))('for the %s policy: same names, rules, selectors, match conditions, failure policy', async (name) => {
    const text = policies[name] ?? '';
    const objects = template(['-f', await helmValues(name.replace(/\W+/g, '-'), text), ...PROVIDED]);
    const [validating, mutating] = renderWebhooks(loadPolicy(text, name), { service: { namespace: 'driftgate-system', name: 'driftgate' } }, CA);
    for (const want of [validating, mutating]) {
      const got = find(objects, want.kind);
      expect(got, want.kind).toBeDefined();
      expect(got?.metadata.name).toBe(want.metadata.name);
      expect(got?.metadata.annotations).toMatchObject(want.metadata.annotations);
      expect(got?.metadata.labels).toMatchObject(want.metadata.labels);
      expect(got?.['webhooks']).toEqual(want.webhooks);
    }
    // And the ConfigMap the Deployment mounts holds that very policy.
    expect((find(objects, 'ConfigMap', 'driftgate-policy')?.['data'] as Record<string, string>)['policy.yaml']).toBe(text);
  });

  it('with no policy given, serves the example policy with its webhooks (files/ rendered from the code: charts/render.sh --check)', () => {
    const objects = template(PROVIDED);
    const [validating] = renderWebhooks(loadPolicy(example, 'example'), { service: { namespace: 'driftgate-system', name: 'driftgate' } }, CA);
    expect(find(objects, 'ValidatingWebhookConfiguration')?.['webhooks']).toEqual(validating.webhooks);
  });

  it('warn mode renders failurePolicy Ignore unless told otherwise; failurePolicy overrides it', async () => {
    const values = await helmValues('warn', policies['warn mode'] ?? '');
    const hooks = (objects: KubeObject[]): string[] =>
      ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'].flatMap((kind) =>
        (find(objects, kind)?.['webhooks'] as Array<{ failurePolicy: string }>).map((w) => w.failurePolicy),
      );
    expect(new Set(hooks(template(['-f', values, ...PROVIDED])))).toEqual(new Set(['Ignore']));
    expect(new Set(hooks(template(['-f', values, ...PROVIDED, '--set', 'failurePolicy=Fail'])))).toEqual(new Set(['Fail']));
    expect(new Set(hooks(template(PROVIDED)))).toEqual(new Set(['Fail']));
    expect(new Set(hooks(template([...PROVIDED, '--set', 'failurePolicy=Ignore'])))).toEqual(new Set(['Ignore']));
  });

  it('settlement: the observe entry stays Ignore under a failurePolicy override, and settlement.from grants list on the tools only', async () => {
    const values = await helmValues('settle', example, 'driftgate-system', ['--settle']);
    const objects = template(['-f', values, ...PROVIDED, '--set-file', `policy.file=${join(ROOT, 'examples/policy.yaml')}`, '--set', 'failurePolicy=Fail']);
    const hooks = find(objects, 'ValidatingWebhookConfiguration')?.['webhooks'] as Array<{ name: string; failurePolicy: string; timeoutSeconds: number }>;
    expect(hooks.find((w) => w.name === 'observe.driftgate.dev')).toMatchObject({ failurePolicy: 'Ignore', timeoutSeconds: 1 });
    expect(hooks.filter((w) => w.name !== 'observe.driftgate.dev').every((w) => w.failurePolicy === 'Fail')).toBe(true);
    expect(objects.find((o) => o.kind === 'ClusterRole' && o.metadata?.name === 'driftgate-settlement')).toBeUndefined();
    const withFrom = template([...PROVIDED, '--set', 'settlement.from={flux}']);
    const role = withFrom.find((o) => o.kind === 'ClusterRole' && o.metadata?.name === 'driftgate-settlement') as { rules: unknown[] } | undefined;
    expect(role?.rules).toEqual([{ apiGroups: ['kustomize.toolkit.fluxcd.io'], resources: ['kustomizations'], verbs: ['list'] }]);
    const leaseRole = withFrom.find((o) => o.kind === 'Role' && o.metadata?.name === 'driftgate-settlement-lease') as { rules: unknown[] } | undefined;
    expect(leaseRole?.rules).toContainEqual({
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      resourceNames: ['driftgate-settlement'],
      verbs: ['get', 'update'],
    });
  });

  it('refuses webhooks rendered from another policy, or for another namespace', async () => {
    const values = await helmValues('other', policies['exact names, namespaces guarded'] ?? '');
    expect(templateError(['-f', values, ...PROVIDED, '--set-file', `policy.file=${join(ROOT, 'examples/policy.yaml')}`])).toContain(
      'webhooks.rendered was not rendered from policy.file: render both at once with `driftgate manifests --helm-values',
    );
    expect(templateError(['-f', values, ...PROVIDED], 'security')).toContain(
      'webhooks.rendered names the Service driftgate-system/driftgate, but this release installs security/driftgate',
    );
    // Rendered for the release's namespace, it renders, and that namespace is never guarded.
    const objects = template(['-f', await helmValues('security', policies['exact names, namespaces guarded'] ?? '', 'security'), ...PROVIDED], 'security');
    expect(JSON.stringify(find(objects, 'ValidatingWebhookConfiguration'))).toContain('"namespace":"security"');
  });
});

describe('certificates', () => {
  it('cert-manager (the default): the CA chain, the serving Certificate for the Service, and cainjector filling the caBundle', () => {
    const objects = template();
    expect(
      objects
        .filter((o) => o.apiVersion === 'cert-manager.io/v1')
        .map((o) => `${o.kind}/${o.metadata.name}`)
        .sort(),
    ).toEqual(['Certificate/driftgate-ca', 'Certificate/driftgate-tls', 'Issuer/driftgate-ca', 'Issuer/driftgate-selfsigned']);
    expect(find(objects, 'Certificate', 'driftgate-tls')?.['spec']).toMatchObject({
      secretName: 'driftgate-tls',
      dnsNames: ['driftgate.driftgate-system.svc', 'driftgate.driftgate-system.svc.cluster.local'],
    });
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      const hook = find(objects, kind);
      expect(hook?.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe('driftgate-system/driftgate-tls');
      expect(JSON.stringify(hook)).not.toContain('caBundle');
    }
  });

  it('cert-manager with your issuer: no chain of its own', () => {
    const objects = template(['--set', 'certificates.certManager.issuerRef.kind=ClusterIssuer', '--set', 'certificates.certManager.issuerRef.name=corp-ca']);
    expect(objects.filter((o) => o.kind === 'Issuer')).toEqual([]);
    expect(find(objects, 'Certificate', 'driftgate-tls')?.['spec']).toMatchObject({ issuerRef: { kind: 'ClusterIssuer', name: 'corp-ca' } });
  });

  it('provided: your Secret and caBundle, no cert-manager objects', () => {
    const objects = template([...PROVIDED, '--set', 'certificates.secretName=my-tls']);
    expect(objects.filter((o) => o.apiVersion === 'cert-manager.io/v1')).toEqual([]);
    for (const w of find(objects, 'ValidatingWebhookConfiguration')?.['webhooks'] as Array<{ clientConfig: { caBundle: string } }>)
      expect(w.clientConfig.caBundle).toBe(CA);
    expect(JSON.stringify(find(objects, 'Deployment'))).toContain('"name":"my-tls"');
  });

  it.each([
    [
      'self-managed without managed webhooks (only driftgate knows its CA)',
      ['--set', 'certificates.mode=self-managed'],
      'certificates.mode=self-managed needs webhooks.managed=true',
    ],
    [
      'managed webhooks with a provided CA (driftgate cannot know the caBundle)',
      [...PROVIDED, '--set', 'webhooks.managed=true'],
      'webhooks.managed=true with certificates.mode=provided',
    ],
    ['provided without a caBundle', ['--set', 'certificates.mode=provided'], 'certificates.mode=provided needs certificates.caBundle'],
    ['an unknown mode', ['--set', 'certificates.mode=vault'], 'certificates.mode="vault" is not one of cert-manager, provided, self-managed'],
  ])('refuses %s, saying what to write', (_name, args, want) => {
    expect(templateError(args)).toContain(want);
  });
});

describe('driftgate keeping its own webhooks and certificates (issue 14)', () => {
  const SELF = ['--set', 'certificates.mode=self-managed', '--set', 'webhooks.managed=true'];
  const argsOf = (objects: KubeObject[]): string[] =>
    (find(objects, 'Deployment') as unknown as { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } }).spec.template.spec.containers[0]
      ?.args ?? [];

  it('self-managed: no webhook configuration, no cert-manager object, no mounted Secret; serve keeps both, with flags it has', () => {
    const objects = template(SELF);
    expect(find(objects, 'ValidatingWebhookConfiguration')).toBeUndefined();
    expect(find(objects, 'MutatingWebhookConfiguration')).toBeUndefined();
    expect(objects.filter((o) => o.apiVersion === 'cert-manager.io/v1')).toEqual([]);
    expect(JSON.stringify(find(objects, 'Deployment'))).not.toContain('tls/tls.key');
    const args = argsOf(objects);
    expect(args.join(' ')).toContain('--self-managed-certs driftgate-system/driftgate-tls --cert-validity 2160h --ca-validity 87600h --ca-overlap 1h');
    expect(args.join(' ')).toContain('--manage-webhooks driftgate-system/driftgate');
    expect(args).not.toContain('--tls-cert');
    const known = serveCommand().options.map((o) => o.long);
    for (const flag of args.filter((a) => a.startsWith('--'))) expect(known, `serve ${flag}`).toContain(flag);
  });

  it('RBAC: the Lease, the Secret and the two webhook configurations by name; create (which RBAC cannot limit by name) on those kinds only', () => {
    const objects = template(SELF);
    const role = find(objects, 'Role', 'driftgate-keeper') as unknown as {
      metadata: { namespace: string };
      rules: Array<{ resources: string[]; resourceNames?: string[]; verbs: string[] }>;
    };
    expect(role.metadata.namespace).toBe('driftgate-system');
    expect(role.rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['driftgate'], verbs: ['get', 'update', 'patch'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['driftgate-tls'], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ]);
    const cluster = find(objects, 'ClusterRole', 'driftgate-keeper') as unknown as { rules: Array<{ resourceNames: string[]; verbs: string[] }> };
    expect(cluster.rules).toEqual([
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'],
        resourceNames: ['driftgate'],
        verbs: ['get', 'list', 'watch', 'patch', 'delete'],
      },
      // An apply that creates is authorized as create, which RBAC cannot limit by name.
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'], verbs: ['create'] },
    ]);
    // Without the keeper, none of it.
    expect(find(template(), 'Role', 'driftgate-keeper')).toBeUndefined();
    expect(find(template(), 'ClusterRole', 'driftgate-keeper')).toBeUndefined();
  });

  it('cert-manager with managed webhooks: cainjector fills the caBundle of what driftgate applies; failurePolicy reaches serve', () => {
    const objects = template(['--set', 'webhooks.managed=true', '--set', 'failurePolicy=Ignore']);
    const args = argsOf(objects).join(' ');
    expect(args).toContain('--tls-cert /etc/driftgate/tls/tls.crt');
    expect(args).toContain('--webhook-ca-inject-from driftgate-system/driftgate-tls');
    expect(args).toContain('--webhook-failure-policy Ignore');
    expect(find(objects, 'Role', 'driftgate-keeper')?.['rules']).toHaveLength(2);
  });

  it('uninstall switches the keeper off first (pre-delete hook), install clears a switch a past uninstall left', () => {
    const jobs = template(SELF).filter((o) => o.kind === 'Job') as unknown as Array<{
      metadata: { annotations: Record<string, string> };
      spec: { template: { spec: { containers: Array<{ args: string[] }> } } };
    }>;
    const byHook = Object.fromEntries(jobs.map((j) => [j.metadata.annotations['helm.sh/hook'], j.spec.template.spec.containers[0]?.args.join(' ')]));
    expect(byHook['pre-delete']).toMatch(/^webhooks disable --reason .+ --lease driftgate-system\/driftgate$/);
    expect(byHook['post-install']).toBe('webhooks enable --lease driftgate-system/driftgate');
  });
});

describe('the Deployment and what runs beside it', () => {
  const deployment = (objects: KubeObject[]) =>
    find(objects, 'Deployment') as KubeObject & {
      spec: {
        replicas: number;
        template: {
          metadata: { annotations: Record<string, string> };
          spec: Record<string, unknown> & { containers: Array<{ args: string[]; resources: unknown; image: string }>; volumes: unknown[] };
        };
      };
    };

  it('replicas, resources, image and topology spread come from the values', () => {
    const objects = template([
      '--set',
      'replicas=5',
      '--set',
      'resources.requests.cpu=250m',
      '--set',
      'image.digest=sha256:' + 'a'.repeat(64),
      '--set',
      'topologySpread.whenUnsatisfiable=DoNotSchedule',
    ]);
    const d = deployment(objects);
    expect(d.spec.replicas).toBe(5);
    expect(d.spec.template.spec.containers[0]?.resources).toMatchObject({ requests: { cpu: '250m', memory: '128Mi' } });
    expect(d.spec.template.spec.containers[0]?.image).toBe(`ghcr.io/driftgate/driftgate@sha256:${'a'.repeat(64)}`);
    expect(d.spec.template.spec['topologySpreadConstraints']).toEqual([
      {
        maxSkew: 1,
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'DoNotSchedule',
        labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'driftgate' } },
        matchLabelKeys: ['pod-template-hash'],
      },
      {
        maxSkew: 1,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'DoNotSchedule',
        labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'driftgate' } },
        matchLabelKeys: ['pod-template-hash'],
      },
    ]);
    expect(find(objects, 'PodDisruptionBudget')?.['spec']).toMatchObject({ minAvailable: 2 });
    expect(find(objects, 'ResourceQuota', 'driftgate-critical-pods')?.['spec']).toMatchObject({ hard: { pods: '10' } });
  });

  it('a changed policy changes the pod template (driftgate reads it at start, so the pods roll)', async () => {
    const a = deployment(template(PROVIDED)).spec.template.metadata.annotations['checksum/policy'];
    const b = deployment(template(['-f', await helmValues('roll', policies['warn mode'] ?? ''), ...PROVIDED])).spec.template.metadata.annotations[
      'checksum/policy'
    ];
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(b).not.toBe(a);
  });

  it('passes serve only flags it has, the tickets in the release namespace', () => {
    const callers =
      deployment(template(['--set', 'callers.names={kube-apiserver-admission}', '--set', 'callers.clientCA.secret=driftgate-callers'])).spec.template.spec
        .containers[0]?.args ?? [];
    const args = deployment(template()).spec.template.spec.containers[0]?.args ?? [];
    expect(args).toEqual([
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
    ]);
    const known = serveCommand().options.map((o) => o.long);
    for (const flag of [...args, ...callers].filter((a) => a.startsWith('--'))) expect(known, `serve ${flag}`).toContain(flag);
    expect(callers).toContain('--client-ca');
    const settling =
      deployment(template(['--set', 'settlement.writes=true', '--set', 'settlement.from={argocd,flux}'])).spec.template.spec.containers[0]?.args ?? [];
    expect(settling.join(' ')).toContain('--settle --settle-from argocd,flux --settle-interval 30000');
    for (const flag of settling.filter((a) => a.startsWith('--'))) expect(known, `serve ${flag}`).toContain(flag);
  });

  it("caller authentication: the CA mounted and serve told to require the apiserver's certificate (--client-ca, --client-name)", () => {
    const d = deployment(
      template(['--set', 'callers.names={kube-apiserver-admission,backup-apiserver}', '--set', 'callers.clientCA.configMap=apiserver-client-ca']),
    );
    const args = d.spec.template.spec.containers[0]?.args ?? [];
    expect(args.join(' ')).toContain('--client-ca /etc/driftgate/callers/ca.crt --client-name kube-apiserver-admission,backup-apiserver');
    expect(JSON.stringify(d.spec.template.spec.volumes)).toContain(
      '{"configMap":{"name":"apiserver-client-ca","items":[{"key":"ca.crt","path":"callers/ca.crt"}]}}',
    );
  });

  it('the journal store: one replica on a claim, or refused', () => {
    expect(templateError(['--set', 'tickets.store=journal'])).toContain('tickets.store=journal keeps tickets on one replica');
    expect(templateError(['--set', 'tickets.store=journal', '--set', 'replicas=1'])).toContain('tickets.journal.existingClaim');
    const d = deployment(template(['--set', 'tickets.store=journal', '--set', 'replicas=1', '--set', 'tickets.journal.existingClaim=tickets']));
    expect(d.spec.template.spec.containers[0]?.args).toContain('journal:/var/lib/driftgate/tickets.jsonl');
    expect(d.spec.template.spec.volumes).toContainEqual({ name: 'journal', persistentVolumeClaim: { claimName: 'tickets' } });
  });

  it.each([
    ['callers without a CA', ['--set', 'callers.names={a}'], 'callers.names needs callers.clientCA'],
    ['a caller CA without names', ['--set', 'callers.clientCA.secret=ca'], 'callers.clientCA needs callers.names'],
    [
      'a NetworkPolicy that does not say where the apiserver calls from',
      ['--set', 'networkPolicy.enabled=true'],
      'networkPolicy.enabled needs networkPolicy.webhookFrom',
    ],
    ['a budget that blocks every drain', ['--set', 'replicas=2'], 'podDisruptionBudget.minAvailable=2 with replicas=2 lets no pod be evicted'],
    [
      'a policy source it does not know',
      ['--set', 'policy.source=git'],
      'policy.source="git" is not one of configMap (policy.file, read at start) or guardPolicy',
    ],
  ])('refuses %s', (_name, args, want) => {
    expect(templateError(args)).toContain(want);
  });

  it('one replica: no budget (it could never be met)', () => {
    expect(find(template(['--set', 'replicas=1']), 'PodDisruptionBudget')).toBeUndefined();
  });
});

describe('monitoring and network', () => {
  it('ServiceMonitor scrapes the metrics port; PrometheusRule carries exactly the rules of docs/alerts.yaml', () => {
    const objects = template(['--set', 'serviceMonitor.enabled=true', '--set', 'prometheusRule.enabled=true', '--set', 'prometheusRule.labels.release=prom']);
    expect(find(objects, 'ServiceMonitor')?.['spec']).toMatchObject({ endpoints: [{ port: 'metrics', path: '/metrics' }] });
    const rule = find(objects, 'PrometheusRule');
    expect(rule?.metadata.labels?.['release']).toBe('prom');
    const docs = parse(readFileSync(join(ROOT, 'docs/alerts.yaml'), 'utf8')) as { groups: unknown };
    expect((rule?.['spec'] as { groups: unknown }).groups).toEqual(docs.groups);
    expect(find(template(), 'PrometheusRule')).toBeUndefined();
    expect(find(template(), 'ServiceMonitor')).toBeUndefined();
  });

  it('NetworkPolicy: the same as examples/manifests/networkpolicy.yaml given the same sources', () => {
    const example = parse(readFileSync(join(ROOT, 'examples/manifests/networkpolicy.yaml'), 'utf8')) as KubeObject & {
      spec: { ingress: Array<{ from: unknown[] }> };
    };
    const values = join(dir, 'networkpolicy.values.yaml');
    writeFileSync(
      values,
      JSON.stringify({ networkPolicy: { enabled: true, webhookFrom: example.spec.ingress[0]?.from, metricsFrom: example.spec.ingress[1]?.from } }),
    );
    const chart = find(template(['-f', values]), 'NetworkPolicy', 'driftgate-callers');
    expect(chart?.metadata.namespace).toBe(example.metadata.namespace);
    expect(chart?.['spec']).toEqual(example.spec);
  });

  it('NetworkPolicy: the webhook port from where the apiserver calls, metrics from monitoring', () => {
    const objects = template(['--set', 'networkPolicy.enabled=true', '--set', 'networkPolicy.webhookFrom[0].ipBlock.cidr=10.0.0.0/28']);
    expect(find(objects, 'NetworkPolicy', 'driftgate-callers')?.['spec']).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'driftgate' } },
      policyTypes: ['Ingress'],
      ingress: [
        { ports: [{ port: 8443, protocol: 'TCP' }], from: [{ ipBlock: { cidr: '10.0.0.0/28' } }] },
        { ports: [{ port: 9090, protocol: 'TCP' }], from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
      ],
    });
  });
});

describe('generated files', () => {
  it('charts/driftgate/files and manifests/ are what charts/render.sh renders from the chart and the code', () => {
    let output = '';
    try {
      output = execFileSync('bash', [join(ROOT, 'charts/render.sh'), '--check'], {
        encoding: 'utf8',
        cwd: ROOT,
        env: { ...process.env, DRIFTGATE_HELM: helmBinary() },
      });
    } catch (err) {
      output = String((err as { stdout?: string }).stdout ?? err);
    }
    expect(output, 'run: npm run render:chart').toBe('');
  });
});

describe('policy.source=guardPolicy: GuardPolicy objects taken live (issue 14)', () => {
  const objects = (extra: string[] = []) => template(['--set', 'policy.source=guardPolicy', ...PROVIDED, ...extra]);

  it('runs serve --policy-source guardpolicy for the release Service, with no policy ConfigMap, file or checksum', () => {
    const all = objects();
    const d = find(all, 'Deployment') as KubeObject & {
      spec: { template: { metadata: { annotations?: Record<string, string> }; spec: { containers: Array<{ args: string[] }>; volumes: unknown[] } } };
    };
    const args = d.spec.template.spec.containers[0]?.args ?? [];
    expect(args.slice(0, 5)).toEqual(['serve', '--policy-source', 'guardpolicy', '--webhook-service', 'driftgate-system/driftgate']);
    expect(args).not.toContain('--policy');
    expect(find(all, 'ConfigMap', 'driftgate-policy')).toBeUndefined();
    expect(JSON.stringify(d.spec.template.spec.volumes)).not.toContain('driftgate-policy');
    expect(d.spec.template.metadata.annotations?.['checksum/policy']).toBeUndefined();
    // serve accepts every flag the chart passes.
    const known = new Set(serveCommand().options.map((o) => o.long));
    for (const arg of args.filter((a) => a.startsWith('--'))) expect(known.has(arg), arg).toBe(true);
  });

  it('lets driftgate read and watch GuardPolicies and write only their status', () => {
    const role = find(objects(), 'ClusterRole', 'driftgate-guardpolicies') as KubeObject & { rules: Array<{ resources: string[]; verbs: string[] }> };
    expect(role.rules).toEqual([
      { apiGroups: ['driftgate.dev'], resources: ['guardpolicies'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['driftgate.dev'], resources: ['guardpolicies/status'], verbs: ['get', 'patch', 'update'] },
    ]);
    expect(find(objects(), 'ClusterRoleBinding', 'driftgate-guardpolicies')).toBeDefined();
    expect(find(template(PROVIDED), 'ClusterRole', 'driftgate-guardpolicies')).toBeUndefined();
  });

  it('registers driftgate-policies exactly as `driftgate manifests --guardpolicies` renders it', () => {
    const chart = find(objects(), 'ValidatingWebhookConfiguration', 'driftgate-policies') as KubeObject & { webhooks: unknown[] };
    const rendered = renderPolicyWebhook({ service: { namespace: 'driftgate-system', name: 'driftgate' } }, CA);
    expect(chart.webhooks).toEqual(rendered.webhooks);
    const injected = find(template(['--set', 'policy.source=guardPolicy']), 'ValidatingWebhookConfiguration', 'driftgate-policies') as KubeObject & {
      metadata: { annotations: Record<string, string> };
    };
    expect(injected.metadata.annotations['cert-manager.io/inject-ca-from']).toBe('driftgate-system/driftgate-tls');
    expect(find(template(PROVIDED), 'ValidatingWebhookConfiguration', 'driftgate-policies')).toBeUndefined();
  });

  it('always installs the GuardPolicy CRD, kept on uninstall', () => {
    const crd = find(template(PROVIDED), 'CustomResourceDefinition', 'guardpolicies.driftgate.dev') as KubeObject & {
      metadata: { annotations: Record<string, string> };
    };
    expect(crd.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
  });

  it('passes helm lint', () => {
    const result = helm(['lint', CHART, '--strict', '--namespace', 'driftgate-system', '--set', 'policy.source=guardPolicy', ...PROVIDED]);
    expect(result.stderr + result.stdout, 'helm lint').toContain('0 chart(s) failed');
  });
});
