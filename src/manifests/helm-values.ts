/**
 * Values for the Helm chart (charts/driftgate): the policy text and the webhook entries rendered
 * from it by `renderWebhooks`, the very entries `driftgate manifests` prints. The chart has no way
 * to run the renderer, so it takes its output as a value; it refuses entries whose policy digest
 * or Service differ from the release's, so the two cannot drift apart inside one install.
 */
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import type { GuardPolicy } from '../policy/types.js';
import { type MutatingWebhook, type RenderOptions, renderWebhooks, type ValidatingWebhook } from './render.js';

/** The Service the chart installs: named driftgate, in the release's namespace. */
export const CHART_SERVICE_NAME = 'driftgate';

/** RenderedWebhooks is the chart's `webhooks.rendered` value. */
export interface RenderedWebhooks {
  /** The policy's name, for the driftgate.dev/policy annotation. */
  policy: string;
  /** sha256 (hex) of the policy text, which the chart compares with `policy.file`. */
  policySha256: string;
  service: { namespace: string; name: string };
  validating: ValidatingWebhook[];
  mutating: MutatingWebhook[];
}

/** HelmValues is what `driftgate manifests --helm-values` prints. */
export interface HelmValues {
  policy: { file: string };
  webhooks: { rendered: RenderedWebhooks };
}

/**
 * helmValuesOf returns the chart values for `policyText` (already parsed as `policy`), with the
 * webhook entries rendered for the Service driftgate in `namespace`, without a caBundle: the
 * chart adds it (or cert-manager's injection) from its certificate mode.
 */
export function helmValuesOf(policyText: string, policy: GuardPolicy, namespace: string, options: Pick<RenderOptions, 'observeGitopsWrites'> = {}): HelmValues {
  const service = { namespace, name: CHART_SERVICE_NAME };
  const [validating, mutating] = renderWebhooks(policy, { service }, '', options);
  return {
    policy: { file: policyText },
    webhooks: {
      rendered: {
        policy: policy.name,
        policySha256: createHash('sha256').update(policyText, 'utf8').digest('hex'),
        service,
        validating: validating.webhooks,
        mutating: mutating.webhooks,
      },
    },
  };
}

/** helmValuesYaml returns the values as YAML, the policy kept verbatim as a block scalar. */
export function helmValuesYaml(values: HelmValues): string {
  return stringify(values, { aliasDuplicateObjects: false, lineWidth: 0, blockQuote: 'literal' });
}
