/**
 * The chart's objects against the real apiserver. The e2e installs manifests/install.yaml (the
 * chart rendered for kubectl) in the global setup; here the chart's full render, webhooks
 * included, goes through a server-side dry run: the apiserver validates every object as it
 * would on `helm install` (the webhooks' CEL match conditions compiled by its own CEL), and
 * nothing is changed, so the live webhooks of the suite (pointing at the local driftgate) stay.
 */
import { describe, expect, it } from 'vitest';
import { CHART, helm } from '../helpers/helm.js';
import { ADMIN, kubectl } from './cluster.js';

const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nREPLACE-ME\n-----END CERTIFICATE-----\n').toString('base64');

describe('charts/driftgate against the real apiserver', () => {
  it('every object of the chart (provided certificates, webhooks, NetworkPolicy) passes a server-side dry run', async () => {
    const rendered = helm([
      'template', 'driftgate', CHART, '--namespace', 'driftgate-system',
      '--set', 'certificates.mode=provided', '--set', `certificates.caBundle=${CA}`,
      '--set', 'networkPolicy.enabled=true', '--set', 'networkPolicy.webhookFrom[0].ipBlock.cidr=192.0.2.0/28',
    ]);
    expect(rendered.status, rendered.stderr).toBe(0);
    const applied = await kubectl(ADMIN, ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'], rendered.stdout);
    expect(applied.code, applied.stderr).toBe(0);
    for (const kind of ['validatingwebhookconfiguration.admissionregistration.k8s.io/driftgate', 'mutatingwebhookconfiguration.admissionregistration.k8s.io/driftgate', 'deployment.apps/driftgate', 'networkpolicy.networking.k8s.io/driftgate-callers']) {
      expect(applied.stdout).toContain(`${kind} serverside-applied (server dry run)`);
    }
  });
});
