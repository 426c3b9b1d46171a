/**
 * The webhook configurations for every policy in force (GuardPolicy objects taken live): one pair
 * of configurations, as `serve --manage-webhooks` keeps one pair, holding each policy's webhooks.
 * Policies never overlap in namespaces (src/policy/set.ts), so each request matches the webhooks
 * of one policy at most; with several, each webhook's name is prefixed with its policy's name,
 * since names must be unique within a configuration. No policy: configurations without webhooks
 * (nothing is guarded, as with no GuardPolicy at all).
 */
import type { GuardPolicy } from '../policy/types.js';
import { type MutatingWebhookConfiguration, type RenderOptions, renderWebhooks, type ValidatingWebhookConfiguration, type WebhookTarget } from './render.js';

export function renderPolicySet(
  policies: readonly GuardPolicy[],
  target: WebhookTarget,
  caBundle: string,
  options: RenderOptions = {},
): [ValidatingWebhookConfiguration, MutatingWebhookConfiguration] {
  const [first, ...rest] = policies;
  if (first !== undefined && rest.length === 0) return renderWebhooks(first, target, caBundle, options);
  const rendered = policies.map((p) => ({ name: p.name, pair: renderWebhooks(p, target, caBundle, options) }));
  const [validating, mutating] = first === undefined ? emptyPair(options) : renderWebhooks(first, target, caBundle, options);
  const names = policies.map((p) => p.name).join(', ');
  validating.webhooks = rendered.flatMap(({ name, pair }) => pair[0].webhooks.map((w) => ({ ...w, name: `${name}.${w.name}` })));
  mutating.webhooks = rendered.flatMap(({ name, pair }) => pair[1].webhooks.map((w) => ({ ...w, name: `${name}.${w.name}` })));
  for (const c of [validating, mutating]) c.metadata.annotations = { ...c.metadata.annotations, 'driftgate.dev/policy': names };
  return [validating, mutating];
}

function emptyPair(options: RenderOptions): [ValidatingWebhookConfiguration, MutatingWebhookConfiguration] {
  const metadata = () => ({
    name: options.name ?? 'driftgate',
    labels: { 'app.kubernetes.io/name': 'driftgate', 'app.kubernetes.io/component': 'webhook' },
    annotations: {},
  });
  return [
    { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: metadata(), webhooks: [] },
    { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: metadata(), webhooks: [] },
  ];
}
