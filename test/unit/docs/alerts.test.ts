/**
 * The alert rules operators load must watch series driftgate really exports: a renamed metric
 * would otherwise silence an alert without anyone noticing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/server/metrics.js';

interface Rules {
  groups: { name: string; rules: { alert: string; expr: string; annotations: { summary: string } }[] }[];
}

const rules = parse(readFileSync(join(import.meta.dirname, '../../../docs/alerts.yaml'), 'utf8')) as Rules;

describe('docs/alerts.yaml', () => {
  it('covers what operators and security asked for', () => {
    const names = rules.groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(names).toEqual(
      expect.arrayContaining([
        'DriftgateTicketStoreFailing',
        'DriftgateBypassesWithoutClosure',
        'DriftgateDenialSpike',
        'DriftgateSlow',
        'DriftgateCertificateExpiringSoon',
        'DriftgateWebhookConfigurationRemoved',
        'DriftgateWebhookConfigurationChanged',
        'DriftgateWebhookConfigurationRestored',
        'DriftgateWebhooksDisabled',
        'DriftgateWebhookKeeperFailing',
        'DriftgateWebhookFailingOpen',
        'DriftgateUnreachableFromApiserver',
        'DriftgatePolicyInvalid',
      ]),
    );
  });

  it('only uses driftgate series that driftgate exports', async () => {
    const exported = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    for (const rule of rules.groups.flatMap((g) => g.rules)) {
      for (const [name] of rule.expr.matchAll(/driftgate_[a-z_]+/g)) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        expect(exported.has(base), `${rule.alert} uses ${name}`).toBe(true);
      }
    }
  });
});

describe('DriftgateCertificateExpiringSoon', () => {
  // Regression (issue 14): the alert fired at 30 days left, exactly when cert-manager renews
  // (renewBefore 720h), so it flapped at every renewal.
  it('fires only after cert-manager should have renewed, and waits out a reload', () => {
    const rule = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === 'DriftgateCertificateExpiringSoon') as { expr: string; for?: string };
    const days = /< (\d+) \* 24 \* 3600$/.exec(rule.expr)?.[1];
    expect(days, rule.expr).toBeDefined();
    const certificates = parseAllDocuments(readFileSync(join(import.meta.dirname, '../../../manifests/cert-manager/certificates.yaml'), 'utf8')).map(
      (d) => d.toJS() as { kind: string; metadata: { name: string }; spec: { renewBefore: string } },
    );
    const serving = certificates.find((c) => c.kind === 'Certificate' && c.metadata.name === 'driftgate-tls');
    const renewBeforeDays = Number(/^(\d+)h$/.exec(serving?.spec.renewBefore ?? '')?.[1]) / 24;
    expect(Number(days)).toBeLessThan(renewBeforeDays / 2);
    expect(rule.for).toBe('1h');
  });
});
