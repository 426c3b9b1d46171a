/**
 * The ValidatingWebhookConfiguration `driftgate-policies`: GuardPolicy writes sent to driftgate's
 * /validate-policy (src/controller/policy-admission.ts), so `kubectl apply` of a policy driftgate
 * would not put in force is refused at once, with `policy check`'s path-qualified messages.
 *
 * A configuration of its own, apart from the pair rendered from the policy: it does not depend on
 * any policy (it is the same for every policy, and for several), and it is only needed where
 * policies are GuardPolicy objects (`serve --policy-source guardpolicy`).
 */
import { CA_INJECT_ANNOTATION, type ValidatingWebhookConfiguration, type WebhookTarget } from './render.js';

/** POLICY_WEBHOOK_NAME names both the configuration's one entry and, less its suffix, the configuration. */
export const POLICY_WEBHOOK_NAME = 'validate-policies.driftgate.dev';
/** POLICY_WEBHOOK_CONFIGURATION is the configuration's name. */
export const POLICY_WEBHOOK_CONFIGURATION = 'driftgate-policies';

/**
 * renderPolicyWebhook returns the configuration that sends GuardPolicy creates and updates to
 * `target` + /validate-policy. failurePolicy is Fail whatever the policies' mode: a policy nobody
 * checked must not be stored while driftgate is away, and only people and GitOps write policies,
 * never a controller the cluster needs to keep running. Not the status subresource: driftgate
 * writes that itself, and must be able to while its own webhook is unreachable.
 */
export function renderPolicyWebhook(target: WebhookTarget, caBundle: string, options: { caInjectFrom?: string } = {}): ValidatingWebhookConfiguration {
  const ca = caBundle === '' ? {} : { caBundle };
  let clientConfig: ValidatingWebhookConfiguration['webhooks'][number]['clientConfig'];
  if ('service' in target) {
    const { namespace, name, port } = target.service;
    clientConfig = { service: { namespace, name, path: '/validate-policy', port: port ?? 443 }, ...ca };
  } else {
    clientConfig = { url: `${target.url.replace(/\/+$/, '')}/validate-policy`, ...ca };
  }
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: {
      name: POLICY_WEBHOOK_CONFIGURATION,
      labels: { 'app.kubernetes.io/name': 'driftgate', 'app.kubernetes.io/component': 'webhook' },
      annotations: options.caInjectFrom === undefined ? {} : { [CA_INJECT_ANNOTATION]: options.caInjectFrom },
    },
    webhooks: [
      {
        name: POLICY_WEBHOOK_NAME,
        admissionReviewVersions: ['v1'],
        clientConfig,
        rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['driftgate.dev'], apiVersions: ['*'], resources: ['guardpolicies'], scope: 'Cluster' }],
        failurePolicy: 'Fail',
        matchPolicy: 'Equivalent',
        sideEffects: 'None',
        timeoutSeconds: 5,
      },
    ],
  };
}
