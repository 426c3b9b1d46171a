/**
 * The flags of `serve --manage-webhooks` and `--self-managed-certs`, read and checked: the Lease,
 * the webhook target and its caBundle source, the certificates' Secret, names and schedule.
 */
import { caBundle as caBundleOf } from '../certs/generate.js';
import { checkRotationSettings } from '../certs/rotation.js';
import type { ManagedCerts, ManagedWebhooks } from '../controller/controller.js';
import type { LeaseRef } from '../controller/lease-api.js';
import { DriftgateError } from '../errors.js';
import type { FailurePolicy } from '../manifests/render.js';
import { durationFlag, intFlag, refFlag } from './flags.js';
import { readText } from './io.js';
import { checkCaPem, parseWebhookTarget } from './manifests.js';

/** KeeperOptions are the serve flags read here. */
export interface KeeperOptions {
  certReloadInterval: string;
  manageWebhooks?: string;
  webhookName: string;
  webhookCaBundle?: string;
  webhookCaInjectFrom?: string;
  webhookFailurePolicy?: string;
  lease?: string;
  leaseDuration: string;
  selfManagedCerts?: string;
  certHosts?: string;
  certValidity: string;
  caValidity: string;
  caOverlap: string;
}

/** KeeperSettings are those flags checked. */
export interface KeeperSettings {
  /** --self-managed-certs: the Secret and its schedule. */
  certs: ManagedCerts | undefined;
  /** --manage-webhooks: what to render (the caBundle from the self-managed certificates when `caBundle` is absent). */
  webhooks: ManagedWebhooks | undefined;
  lease: LeaseRef;
  leaseDurationMs: number;
}

/** keeperSettingsOf returns the checked settings of --manage-webhooks, --self-managed-certs and the Lease. */
export async function keeperSettingsOf(opts: KeeperOptions): Promise<KeeperSettings> {
  const leaseDurationMs = durationFlag('lease-duration', opts.leaseDuration);
  if (leaseDurationMs < 3_000)
    throw new DriftgateError('DG_USAGE', `--lease-duration ${opts.leaseDuration}: at least 3s (the leader renews every third of it)`);
  const target = opts.manageWebhooks === undefined ? undefined : parseWebhookTarget(opts.manageWebhooks, '--manage-webhooks');
  const selfManaged = opts.selfManagedCerts === undefined ? undefined : refFlag('self-managed-certs', opts.selfManagedCerts);
  const withoutWebhooks = ['webhookCaBundle', 'webhookCaInjectFrom', 'webhookFailurePolicy'] as const;
  for (const key of withoutWebhooks) {
    if (target === undefined && opts[key] !== undefined) {
      throw new DriftgateError(
        'DG_USAGE',
        `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --manage-webhooks (the Service or URL the webhooks call)`,
      );
    }
  }
  if (opts.webhookName !== 'driftgate' && target === undefined) throw new DriftgateError('DG_USAGE', '--webhook-name needs --manage-webhooks');
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(opts.webhookName)) {
    throw new DriftgateError('DG_USAGE', `--webhook-name "${opts.webhookName}" is not a Kubernetes object name; write e.g. driftgate`);
  }
  const defaultNamespace = target !== undefined && 'service' in target ? target.service.namespace : (selfManaged?.namespace ?? 'driftgate-system');
  const lease = opts.lease === undefined ? { namespace: defaultNamespace, name: 'driftgate' } : refFlag('lease', opts.lease);

  let certs: ManagedCerts | undefined;
  if (selfManaged !== undefined) {
    const hosts = (opts.certHosts ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter((h) => h !== '');
    if (hosts.length === 0 && target !== undefined) {
      if ('service' in target) {
        const { name, namespace } = target.service;
        hosts.push(`${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`);
      } else hosts.push(new URL(target.url).hostname.replace(/^\[|\]$/g, ''));
    }
    if (hosts.length === 0) {
      throw new DriftgateError(
        'DG_USAGE',
        '--self-managed-certs needs the names to certify: --cert-hosts a,b, or --manage-webhooks (its Service DNS names or URL host)',
      );
    }
    const settings = {
      servingValidityMs: durationFlag('cert-validity', opts.certValidity),
      caValidityMs: durationFlag('ca-validity', opts.caValidity),
      overlapMs: durationFlag('ca-overlap', opts.caOverlap),
    };
    const problem = checkRotationSettings(settings);
    if (problem !== undefined)
      throw new DriftgateError(
        'DG_USAGE',
        `--cert-validity ${opts.certValidity}, --ca-validity ${opts.caValidity}, --ca-overlap ${opts.caOverlap}: ${problem}`,
      );
    certs = { ref: selfManaged, hosts, settings, intervalMs: intFlag('cert-reload-interval', opts.certReloadInterval, 50) };
  } else if (opts.certHosts !== undefined) {
    throw new DriftgateError('DG_USAGE', '--cert-hosts needs --self-managed-certs');
  }

  let webhooks: ManagedWebhooks | undefined;
  if (target !== undefined) {
    const failurePolicy = failurePolicyFlag(opts.webhookFailurePolicy);
    const options = { name: opts.webhookName, ...(failurePolicy === undefined ? {} : { failurePolicy }) };
    const sources = [selfManaged, opts.webhookCaBundle, opts.webhookCaInjectFrom].filter((v) => v !== undefined).length;
    if (sources !== 1) {
      throw new DriftgateError(
        'DG_USAGE',
        '--manage-webhooks needs exactly one source for the caBundle: --self-managed-certs, --webhook-ca-bundle FILE (the CA of --tls-cert) or --webhook-ca-inject-from NS/CERTIFICATE (cert-manager)',
      );
    }
    if (opts.webhookCaBundle !== undefined) {
      const pem = checkCaPem(await readText(opts.webhookCaBundle, '--webhook-ca-bundle'), `--webhook-ca-bundle ${opts.webhookCaBundle}`);
      webhooks = { target, caBundle: caBundleOf(pem), options };
    } else if (opts.webhookCaInjectFrom !== undefined) {
      const ref = refFlag('webhook-ca-inject-from', opts.webhookCaInjectFrom);
      webhooks = { target, caBundle: '', options: { ...options, caInjectFrom: `${ref.namespace}/${ref.name}` } };
    } else webhooks = { target, options };
  }
  return { certs, webhooks, lease, leaseDurationMs };
}

function failurePolicyFlag(text: string | undefined): FailurePolicy | undefined {
  if (text === undefined) return undefined;
  if (text === 'Fail' || text === 'Ignore') return text;
  throw new DriftgateError('DG_USAGE', `--webhook-failure-policy "${text}" is neither Fail nor Ignore`);
}
