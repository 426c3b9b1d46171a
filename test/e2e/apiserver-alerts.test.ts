/**
 * The alerts of docs/alerts.yaml that read the kube-apiserver's own metrics must select series the
 * real apiserver exports. A throw-away webhook pair named like driftgate's (`*.driftgate.dev`),
 * pointed at a closed port, makes the apiserver fail closed through one and fail open through the
 * other; then each alert's selector is matched against the apiserver's /metrics.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN, cluster, kubectl, sleep, unique } from './cluster.js';

interface Rules {
  groups: { name: string; rules: { alert: string; expr: string }[] }[];
}

const CONFIG = unique('e2e-dead-driftgate');

/** Selector is one `metric{label="v", label=~"re"}` of a PromQL expression. */
interface Selector {
  metric: string;
  matchers: { label: string; op: '=' | '=~'; value: string }[];
}

function selectorsOf(expr: string): Selector[] {
  const out: Selector[] = [];
  for (const m of expr.matchAll(/(apiserver_[a-z_]+)\{([^}]*)\}/g)) {
    const matchers = [...(m[2] ?? '').matchAll(/([a-z_]+)\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((x) => ({
      label: x[1] ?? '',
      op: x[2] as '=' | '=~',
      // PromQL strings escape like Go strings: "\\." is the regular expression \.
      value: (x[3] ?? '').replace(/\\\\/g, '\\'),
    }));
    out.push({ metric: m[1] ?? '', matchers });
  }
  return out;
}

function labelsOf(line: string): Record<string, string> {
  const body = /\{(.*)\}/.exec(line)?.[1] ?? '';
  return Object.fromEntries([...body.matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1] ?? '', x[2] ?? '']));
}

function selects(selector: Selector, line: string): boolean {
  if (!line.startsWith(`${selector.metric}{`)) return false;
  const labels = labelsOf(line);
  return selector.matchers.every((m) => {
    const v = labels[m.label] ?? '';
    return m.op === '=' ? v === m.value : new RegExp(`^(?:${m.value})$`).test(v);
  });
}

afterAll(async () => {
  await kubectl(ADMIN, ['delete', 'validatingwebhookconfiguration', CONFIG, '--ignore-not-found']);
});

describe("docs/alerts.yaml on the apiserver's own metrics", () => {
  it('selects series the real apiserver exports when a driftgate webhook fails closed and one fails open', async () => {
    const ns = unique('alerts');
    expect((await kubectl(ADMIN, ['create', 'namespace', ns])).code).toBe(0);
    const caBundle = Buffer.from(readFileSync(cluster().caCert, 'utf8')).toString('base64');
    const webhook = (name: string, failurePolicy: 'Fail' | 'Ignore') => ({
      name,
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      timeoutSeconds: 2,
      failurePolicy,
      // Port 1 on loopback: nothing listens, so every call fails at once.
      clientConfig: { url: 'https://127.0.0.1:1/validate', caBundle },
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }],
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
    });
    const config = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: CONFIG },
      webhooks: [webhook('dead-fail.driftgate.dev', 'Fail'), webhook('dead-ignore.driftgate.dev', 'Ignore')],
    };
    expect((await kubectl(ADMIN, ['apply', '-f', '-'], JSON.stringify(config))).code).toBe(0);

    // The configuration reaches the apiserver's informer within a moment: write until it bites.
    let bitten = false;
    for (let i = 0; i < 60 && !bitten; i++) {
      const r = await kubectl(ADMIN, ['-n', ns, 'create', 'configmap', `probe-${i}`, '--from-literal=k=v']);
      bitten = r.code !== 0 && r.stderr.includes('dead-fail.driftgate.dev');
      if (!bitten) await sleep(500);
    }
    expect(bitten).toBe(true);

    const scraped = await kubectl(ADMIN, ['get', '--raw', '/metrics']);
    expect(scraped.code).toBe(0);
    const series = scraped.stdout.split('\n').filter((l) => l.startsWith('apiserver_admission_webhook_'));

    const rules = parse(readFileSync(join(import.meta.dirname, '../../docs/alerts.yaml'), 'utf8')) as Rules;
    const apiserverRules = rules.groups.flatMap((g) => g.rules).filter((r) => r.expr.includes('apiserver_'));
    expect(apiserverRules.map((r) => r.alert)).toEqual(['DriftgateWebhookFailingOpen', 'DriftgateUnreachableFromApiserver']);
    for (const rule of apiserverRules) {
      const selectors = selectorsOf(rule.expr);
      expect(selectors.length, rule.alert).toBeGreaterThan(0);
      for (const selector of selectors) {
        const hit = series.find((l) => selects(selector, l));
        expect(hit, `${rule.alert}: no exported series matches ${selector.metric} ${JSON.stringify(selector.matchers)}`).toBeDefined();
      }
    }
    // And the selectors are narrow: driftgate's alerts never fire for a webhook of somebody else's.
    const foreign = { metric: 'apiserver_admission_webhook_rejection_count', matchers: [{ label: 'name', op: '=~' as const, value: '.*\\.driftgate\\.dev' }] };
    expect(selects(foreign, 'apiserver_admission_webhook_rejection_count{name="validate.kyverno.svc",error_type="calling_webhook_error"} 1')).toBe(false);
  });
});
