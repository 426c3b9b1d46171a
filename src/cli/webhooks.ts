/**
 * `driftgate webhooks disable|enable|status`: the documented way to turn driftgate off on purpose
 * while `serve --manage-webhooks` keeps its webhook configurations. Deleting them by hand would
 * only see them restored (and counted as an attack); `disable` first sets the switch on the Lease
 * that every keeper reads before restoring anything, then deletes them. `enable` clears the switch
 * and the leader applies them again within seconds.
 */
import { Command, Option } from 'commander';
import { DISABLED_ANNOTATION, type LeaseRef, setSwitch, switchOf } from '../controller/lease-api.js';
import type { LeaseObject } from '../controller/lease.js';
import { DriftgateError } from '../errors.js';
import { createKubeClient, type KubeClient } from '../kube/client.js';
import { type DataFormat, type Io, formatData, processIo } from './io.js';
import { loadKubeConfig } from './kubeconfig.js';
import { refFlag } from './flags.js';

interface WebhooksOptions {
  lease: string;
  name: string;
  reason?: string;
  kubeconfig?: string;
  context?: string;
  output: 'table' | DataFormat;
}

const RESOURCES = ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'] as const;

/** webhooksCommand returns the `webhooks` command. */
export function webhooksCommand(io: Io = processIo): Command {
  const cmd = new Command('webhooks').description("turn driftgate's webhooks off on purpose, and back on, when `serve --manage-webhooks` keeps them");
  const common = (sub: Command): Command =>
    sub
      .option('--lease <ns/name>', 'the Lease the keepers elect their leader with (serve --lease)', 'driftgate-system/driftgate')
      .option('--name <name>', 'the webhook configurations (serve --webhook-name)', 'driftgate')
      .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster, $KUBECONFIG, ~/.kube/config)')
      .option('--context <name>', 'kubeconfig context')
      .addOption(new Option('-o, --output <format>', 'table, json or yaml').choices(['table', 'json', 'yaml']).default('table'));
  cmd.addCommand(
    common(
      new Command('disable').description(
        'switch the keeper off (it restores nothing) and delete both webhook configurations: guarded writes are no longer checked',
      ),
    )
      .requiredOption('--reason <text>', 'why, for the alert and whoever reads the Lease later (e.g. "INC-1234: uninstalling")')
      .action(async (opts: WebhooksOptions) => disable(opts, io)),
  );
  cmd.addCommand(
    common(new Command('enable').description('clear the switch: the leading replica applies the webhook configurations again within seconds')).action(
      async (opts: WebhooksOptions) => enable(opts, io),
    ),
  );
  cmd.addCommand(
    common(new Command('status').description('whether the webhooks are switched off, who leads, and which configurations exist')).action(
      async (opts: WebhooksOptions) => status(opts, io),
    ),
  );
  return cmd;
}

function leaseRefOf(text: string): LeaseRef {
  return refFlag('lease', text);
}

async function clientOf(opts: WebhooksOptions): Promise<KubeClient> {
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(opts.name)) throw new DriftgateError('DG_USAGE', `--name "${opts.name}" is not a Kubernetes object name`);
  const kc = await loadKubeConfig({
    ...(opts.kubeconfig === undefined ? {} : { kubeconfig: opts.kubeconfig }),
    ...(opts.context === undefined ? {} : { context: opts.context }),
  });
  return createKubeClient(kc);
}

function configPath(resource: string, name: string): string {
  return `/apis/admissionregistration.k8s.io/v1/${resource}/${encodeURIComponent(name)}`;
}

async function disable(opts: WebhooksOptions, io: Io): Promise<void> {
  const reason = (opts.reason ?? '').trim();
  if (reason === '') throw new DriftgateError('DG_USAGE', '--reason is empty; say why, e.g. --reason "INC-1234: uninstalling driftgate"');
  const ref = leaseRefOf(opts.lease);
  const client = await clientOf(opts);
  // The switch first: a keeper that sees the deletion re-reads it before restoring anything.
  await setSwitch(client, ref, reason, new Date());
  const deleted: string[] = [];
  for (const resource of RESOURCES) {
    try {
      await client.request({ method: 'DELETE', path: configPath(resource, opts.name) });
      deleted.push(`${resource}/${opts.name}`);
    } catch (err) {
      if (!(err instanceof DriftgateError && err.code === 'DG_KUBE_NOT_FOUND')) throw err;
    }
  }
  const result = { disabled: true, reason, lease: `${ref.namespace}/${ref.name}`, deleted };
  if (opts.output !== 'table') {
    io.out.write(formatData(result, opts.output));
    return;
  }
  io.out.write(
    [
      `driftgate's webhooks are switched off (${DISABLED_ANNOTATION} on Lease ${ref.namespace}/${ref.name}): guarded writes are no longer checked.`,
      deleted.length === 0 ? 'No webhook configuration was left to delete.' : `Deleted: ${deleted.join(', ')}.`,
      'The keeper will not restore them; DriftgateWebhooksDisabled fires while they stay off.',
      `Turn them back on with: driftgate webhooks enable --lease ${ref.namespace}/${ref.name}`,
      '',
    ].join('\n'),
  );
}

async function enable(opts: WebhooksOptions, io: Io): Promise<void> {
  const ref = leaseRefOf(opts.lease);
  const client = await clientOf(opts);
  await setSwitch(client, ref, undefined, new Date());
  const result = { disabled: false, lease: `${ref.namespace}/${ref.name}` };
  if (opts.output !== 'table') io.out.write(formatData(result, opts.output));
  else io.out.write(`driftgate's webhooks are switched back on: the leading replica of serve --manage-webhooks applies them within seconds.\n`);
}

async function status(opts: WebhooksOptions, io: Io): Promise<void> {
  const ref = leaseRefOf(opts.lease);
  const client = await clientOf(opts);
  let lease: LeaseObject | undefined;
  try {
    lease = await client.request<LeaseObject>({ method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${ref.namespace}/leases/${ref.name}` });
  } catch (err) {
    if (!(err instanceof DriftgateError && err.code === 'DG_KUBE_NOT_FOUND')) throw err;
  }
  const present: Record<string, boolean> = {};
  for (const resource of RESOURCES) {
    try {
      await client.request({ method: 'GET', path: configPath(resource, opts.name) });
      present[resource] = true;
    } catch (err) {
      if (!(err instanceof DriftgateError && err.code === 'DG_KUBE_NOT_FOUND')) throw err;
      present[resource] = false;
    }
  }
  const sw = switchOf(lease);
  const result = {
    disabled: sw.disabled,
    ...(sw.disabled ? { reason: sw.reason, disabledAt: sw.at } : {}),
    leader: lease?.spec.holderIdentity ?? '',
    lease: `${ref.namespace}/${ref.name}`,
    present,
  };
  if (opts.output !== 'table') {
    io.out.write(formatData(result, opts.output));
    return;
  }
  io.out.write(
    [
      sw.disabled ? `switched OFF since ${sw.at}: ${sw.reason}` : 'switched on (kept by the leader)',
      `leader: ${result.leader === '' ? 'none' : result.leader}`,
      ...RESOURCES.map((r) => `${r}/${opts.name}: ${present[r] ? 'present' : 'absent'}`),
      '',
    ].join('\n'),
  );
}
