/**
 * The chart's objects against the real apiserver. The e2e installs manifests/install.yaml (the
 * chart rendered for kubectl) in the global setup; here the chart's full render, webhooks
 * included, goes through server-side dry runs: the apiserver validates every object as it would
 * on `helm install` (the webhooks' CEL match conditions compiled by its own CEL), and nothing is
 * changed, so the suite's live webhooks (pointing at the local driftgate) stay as they are.
 */
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { CHART, helm, type KubeObject } from '../helpers/helm.js';
import { ADMIN, kubectl } from './cluster.js';

const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nREPLACE-ME\n-----END CERTIFICATE-----\n').toString('base64');
const WEBHOOK_KINDS = ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'];

describe('charts/driftgate against the real apiserver', () => {
  it('every object of the chart (provided certificates, webhooks, NetworkPolicy) passes a server-side dry run', async () => {
    const rendered = helm([
      'template',
      'driftgate',
      CHART,
      '--namespace',
      'driftgate-system',
      '--set',
      'certificates.mode=provided',
      '--set',
      `certificates.caBundle=${CA}`,
      '--set',
      'networkPolicy.enabled=true',
      '--set',
      'networkPolicy.webhookFrom[0].ipBlock.cidr=192.0.2.0/28',
    ]);
    expect(rendered.status, rendered.stderr).toBe(0);
    const objects = parseAllDocuments(rendered.stdout)
      .map((d) => d.toJS() as KubeObject | null)
      .filter((o): o is KubeObject => o !== null);

    // The webhook configurations are created under another name: the suite's own, named
    // driftgate, point at a URL, and applying the chart's over them would merge the two
    // clientConfigs (url and service) instead of checking the chart's.
    const webhooks = objects.filter((o) => WEBHOOK_KINDS.includes(o.kind)).map((o) => ({ ...o, metadata: { ...o.metadata, name: 'driftgate-chart-dry-run' } }));
    expect(webhooks.map((o) => o.kind).sort()).toEqual([...WEBHOOK_KINDS].sort());
    const created = await kubectl(ADMIN, ['create', '--dry-run=server', '-f', '-'], webhooks.map((o) => stringify(o)).join('---\n'));
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('validatingwebhookconfiguration.admissionregistration.k8s.io/driftgate-chart-dry-run created (server dry run)');
    expect(created.stdout).toContain('mutatingwebhookconfiguration.admissionregistration.k8s.io/driftgate-chart-dry-run created (server dry run)');

    const rest = objects.filter((o) => !WEBHOOK_KINDS.includes(o.kind));
    const applied = await kubectl(ADMIN, ['apply', '--server-side', '--dry-run=server', '-f', '-'], rest.map((o) => stringify(o)).join('---\n'));
    expect(applied.code, applied.stderr).toBe(0);
    for (const name of [
      'deployment.apps/driftgate',
      'networkpolicy.networking.k8s.io/driftgate-callers',
      'customresourcedefinition.apiextensions.k8s.io/backporttickets.driftgate.dev',
      'customresourcedefinition.apiextensions.k8s.io/guardpolicies.driftgate.dev',
    ]) {
      expect(applied.stdout).toContain(`${name} serverside-applied (server dry run)`);
    }
  });

  it('with policy.source=guardPolicy: its RBAC, driftgate-policies and Deployment pass a server-side dry run', async () => {
    const rendered = helm([
      'template',
      'driftgate',
      CHART,
      '--namespace',
      'driftgate-system',
      '--set',
      'policy.source=guardPolicy',
      '--set',
      'certificates.mode=provided',
      '--set',
      `certificates.caBundle=${CA}`,
    ]);
    expect(rendered.status, rendered.stderr).toBe(0);
    const objects = parseAllDocuments(rendered.stdout)
      .map((d) => d.toJS() as KubeObject | null)
      .filter((o): o is KubeObject => o !== null)
      .filter((o) => ['driftgate-guardpolicies', 'driftgate-policies', 'driftgate'].includes(o.metadata.name))
      .filter((o) => o.kind !== 'MutatingWebhookConfiguration' && !(o.kind === 'ValidatingWebhookConfiguration' && o.metadata.name === 'driftgate'))
      // Created under another name, beside the live one a test may have registered.
      .map((o) => (o.metadata.name === 'driftgate-policies' ? { ...o, metadata: { ...o.metadata, name: 'driftgate-policies-dry-run' } } : o));
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(
      expect.arrayContaining([
        'ClusterRole/driftgate-guardpolicies',
        'ClusterRoleBinding/driftgate-guardpolicies',
        'ValidatingWebhookConfiguration/driftgate-policies-dry-run',
        'Deployment/driftgate',
      ]),
    );
    const applied = await kubectl(ADMIN, ['apply', '--server-side', '--dry-run=server', '-f', '-'], objects.map((o) => stringify(o)).join('---\n'));
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain(
      'validatingwebhookconfiguration.admissionregistration.k8s.io/driftgate-policies-dry-run serverside-applied (server dry run)',
    );
  });
});
