/**
 * `driftgate break-glass open|extend|close KIND/NAME -n NS`: the runbook's window, opened the
 * way the webhook will accept it. Every check the webhook would make is made first, with the
 * webhook's own functions (src/breakglass/plan.ts), so a responder hears "no" before writing;
 * then one merge patch of annotations, and the ticket id the changes will land on.
 */
import { Command, Option } from 'commander';
import { BACKPORT_TICKET } from '../decision/annotations.js';
import type { ObjectRef } from '../decision/types.js';
import { DriftgateError } from '../errors.js';
import { createKubeClient, type KubeClient } from '../kube/client.js';
import { loadKubeConfig } from './kubeconfig.js';
import { clusterPolicy, discover, getObject, patchAnnotations, whoAmI } from '../breakglass/cluster.js';
import { PAUSE_ANNOTATIONS, describeOwner } from '../breakglass/gitops.js';
import {
  type Checks,
  type ClosePlan,
  type Subject,
  type WindowPlan,
  checkFlags,
  currentWindow,
  label,
  planClose,
  planWindow,
  relative,
} from '../breakglass/plan.js';
import { parseTarget, resolveKind } from '../breakglass/resolve-kind.js';
import { type DataFormat, type Io, formatData, processIo, readPolicyFile } from './io.js';

interface BreakGlassOptions {
  namespace?: string;
  for?: string;
  until?: string;
  reason?: string;
  incident?: string;
  kubeconfig?: string;
  context?: string;
  policy?: string;
  pauseGitops?: boolean;
  as?: string;
  asGroup?: string[];
  output: 'table' | DataFormat;
}

type Action = 'open' | 'extend' | 'close';

/** breakGlassCommand returns the `break-glass` command with its `open`, `extend` and `close` subcommands. */
export function breakGlassCommand(io: Io = processIo, clock: () => Date = () => new Date()): Command {
  const root = new Command('break-glass').description('open, extend or close a break-glass window on one object, checked first as the webhook will check it');
  const sub = (action: Action, summary: string): Command => {
    const cmd = root
      .command(action)
      .description(summary)
      .argument('<kind/name>', 'the object, as kubectl names it: deploy/checkout-api, deployments.apps/x, cm/settings')
      .option('-n, --namespace <ns>', "the object's namespace (default: the context's namespace)")
      .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster, $KUBECONFIG, ~/.kube/config)')
      .option('--context <name>', 'kubeconfig context')
      .option(
        '--policy <file>',
        `the GuardPolicy driftgate runs, to check against (default: read it from the cluster's ConfigMap driftgate-system/driftgate-policy)`,
      )
      .option('--as <user>', 'act as this user (impersonation, as kubectl --as)')
      .option('--as-group <group>', 'act with this group; repeat for several (as kubectl --as-group)', (value: string, all: string[] = []) => [...all, value])
      .addOption(new Option('-o, --output <format>', 'table, json or yaml').choices(['table', 'json', 'yaml']).default('table'));
    if (action !== 'close') {
      cmd
        .option('--for <duration>', 'how long the window stays open from now, e.g. 30m, 2h')
        .option('--until <time>', 'when the window ends, RFC 3339, e.g. 2026-11-24T04:00:00Z')
        .option('--reason <text>', action === 'open' ? 'why the change cannot wait for Git' : 'a new reason (default: the current one)')
        .option('--incident <id>', action === 'open' ? 'the incident, e.g. INC-123' : 'a new incident (default: the current one)')
        .option('--pause-gitops', 'pause GitOps reconciliation of this object until close (Flux); Argo CD: prints how to disable self-heal');
    }
    return cmd.action(async (target: string, opts: BreakGlassOptions) => run(action, target, opts, io, clock()));
  };
  sub('open', 'open a window: the checks first, then the annotations; prints the backport ticket the changes will land on');
  sub('extend', "move the window's end (--for from now, or --until); the ticket id changes with it");
  sub('close', 'remove the window (and a GitOps pause driftgate set); prints the ticket to review next');
  return root;
}

/** Context is everything an action needs once the cluster has answered. */
interface Context {
  client: KubeClient;
  subject: Subject;
  checks: Checks;
  /** Lines saying which local checks could not be made, and why. */
  unchecked: string[];
  who: string;
  flags: string;
}

async function run(action: Action, targetText: string, opts: BreakGlassOptions, io: Io, now: Date): Promise<void> {
  // A missing flag is said before the cluster is asked anything.
  const bad = action === 'close' ? undefined : checkFlags(action, opts);
  if (bad !== undefined) throw new DriftgateError('DG_USAGE', bad.message);
  const ctx = await connect(targetText, opts);
  if (action === 'close') return close(ctx, io, now, opts.output);
  const plan = planWindow(action, ctx.subject, opts, ctx.checks, now);
  if (plan.kind === 'refused') throw new DriftgateError('DG_BREAK_GLASS_REFUSED', plan.message);
  for (const line of [...ctx.unchecked, ...plan.notes]) io.err.write(`warning: ${line}\n`);
  await patchAnnotations(ctx.client, ctx.subject.ref, plan.patch, ctx.who);
  if (opts.output === 'table') io.out.write(describeWindow(action, ctx, plan, now));
  else {
    const { window, ticket, previous, paused } = plan;
    io.out.write(
      formatData(
        { action, object: ctx.subject.ref, window, ticket, ...(previous === undefined ? {} : { previous }), ...(paused === undefined ? {} : { paused }) },
        opts.output,
      ),
    );
  }
}

async function connect(targetText: string, opts: BreakGlassOptions): Promise<Context> {
  const target = parseTarget(targetText);
  if (opts.asGroup !== undefined && opts.as === undefined) throw new DriftgateError('DG_USAGE', '--as-group needs --as USER, as in kubectl');
  const kc = await loadKubeConfig({
    ...(opts.kubeconfig === undefined ? {} : { kubeconfig: opts.kubeconfig }),
    ...(opts.context === undefined ? {} : { context: opts.context }),
  });
  const namespace = opts.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace;
  if (namespace === undefined || namespace === '')
    throw new DriftgateError('DG_USAGE', `-n NAMESPACE is required: the context ${kc.getCurrentContext()} names no namespace`);
  const client = createKubeClient(kc, opts.as === undefined ? undefined : { user: opts.as, groups: opts.asGroup ?? [] });

  const [resources, policy, me] = await Promise.all([
    discover(client, target.kind),
    opts.policy === undefined ? clusterPolicy(client) : readPolicyFile(opts.policy).then((p) => ({ kind: 'policy' as const, policy: p })),
    whoAmI(client),
  ]);
  const resource = resolveKind(target.kind, resources);
  const ref: ObjectRef = { group: resource.group, version: resource.version, resource: resource.resource, kind: resource.kind, namespace, name: target.name };
  const object = await getObject(client, ref);

  const unchecked: string[] = [];
  if (policy.kind === 'unknown') {
    unchecked.push(
      `not checking the window against a policy: ${policy.why}; driftgate's webhook checks it when it is written (pass --policy FILE, the policy driftgate serves, to check first)`,
    );
  }
  if (me.kind === 'unknown') unchecked.push(`cannot ask the apiserver who you are (${me.why}); driftgate's webhook checks whether you may break glass`);
  const checks: Checks = {
    ...(policy.kind === 'policy' ? { policy: policy.policy } : {}),
    ...(me.kind === 'user' ? { user: me.user } : {}),
  };
  const flags = [opts.kubeconfig === undefined ? '' : ` --kubeconfig ${opts.kubeconfig}`, opts.context === undefined ? '' : ` --context ${opts.context}`].join(
    '',
  );
  return { client, subject: { object, ref }, checks, unchecked, who: me.kind === 'user' ? me.user.username : (opts.as ?? 'you'), flags };
}

function describeWindow(action: 'open' | 'extend', ctx: Context, plan: WindowPlan, now: Date): string {
  const { ref } = ctx.subject;
  const { window, ticket } = plan;
  const lines = [
    `break-glass window ${action === 'open' ? 'open' : 'extended'} on ${label(ref)} in namespace ${ref.namespace}`,
    `  until:     ${window.until} (${relative(window.until, now)})`,
    `  incident:  ${window.incident}`,
    `  reason:    ${window.reason}`,
    `  ticket:    ${ticket}`,
    `Every change made under this window is recorded on backport ticket ${ticket}: driftgate tickets show ${ticket} --tickets kubernetes${ctx.flags}`,
  ];
  if (plan.previous !== undefined) {
    const p = plan.previous;
    lines.push(`The window it replaces (until ${p.until}, ${p.incident}) had ticket ${p.ticket}: changes made under the old window stay on that ticket.`);
  }
  if (plan.paused !== undefined && plan.owner !== undefined) {
    const { key, value } = PAUSE_ANNOTATIONS[plan.paused];
    lines.push(
      `Paused ${describeOwner(plan.owner)} for this object (${key}: ${value}); close resumes it. The pause is itself a live change, recorded on the same ticket.`,
    );
  }
  lines.push(`Close the window as soon as the fix is in: driftgate break-glass close ${label(ref)} -n ${ref.namespace}${ctx.flags}`);
  return `${lines.join('\n')}\n`;
}

async function close(ctx: Context, io: Io, now: Date, output: BreakGlassOptions['output']): Promise<void> {
  const plan = planClose(ctx.subject, ctx.checks, now);
  if (plan.kind === 'refused') throw new DriftgateError('DG_BREAK_GLASS_REFUSED', plan.message);
  if (plan.kind === 'nothing') {
    io.out.write(
      output === 'table'
        ? `${plan.message}\n`
        : formatData({ action: 'close', object: ctx.subject.ref, closed: false, message: plan.message, tickets: [] }, output),
    );
    return;
  }
  for (const line of plan.notes) io.err.write(`warning: ${line}\n`);
  let stored = ctx.subject.object;
  for (const step of plan.steps) stored = await patchAnnotations(ctx.client, ctx.subject.ref, step.patch, ctx.who);
  const stamped = stored.metadata?.annotations?.[BACKPORT_TICKET];
  if (output === 'table') io.out.write(describeClose(ctx, plan, stamped, now));
  else {
    const closed = { action: 'close', object: ctx.subject.ref, closed: true, ...(plan.window === undefined ? {} : { window: plan.window }) };
    io.out.write(formatData({ ...closed, tickets: ticketsToReview(ctx, stamped, now) }, output));
  }
}

/** ticketsToReview returns the tickets a closed window leaves to review, and why each. */
function ticketsToReview(ctx: Context, stamped: string | undefined, now: Date): { id: string; why: string }[] {
  // The object carries the ticket of the last write that could stamp it; a write through /scale
  // cannot (the mutating webhook patches only the object written), so this window's own ticket
  // is named too when it differs.
  const closing = currentWindow(ctx.subject, now)?.ticket;
  const tickets: { id: string; why: string }[] = [];
  if (stamped !== undefined)
    tickets.push({ id: stamped, why: stamped === closing ? 'the changes made under this window' : 'the ticket last stamped on the object' });
  if (closing !== undefined && closing !== stamped) {
    tickets.push({
      id: closing,
      why: "this window's ticket: it holds the changes made under it that do not stamp the object (kubectl scale), if there were any",
    });
  }
  return tickets;
}

function describeClose(ctx: Context, plan: ClosePlan, stamped: string | undefined, now: Date): string {
  const { ref } = ctx.subject;
  const lines: string[] = [];
  if (plan.window !== undefined) {
    const { until, incident } = plan.window;
    lines.push(`break-glass window closed on ${label(ref)} in namespace ${ref.namespace} (${incident}, was open until ${until})`);
  }
  for (const step of plan.steps.slice(0, plan.window === undefined ? undefined : -1)) lines.push(step.what);
  const tickets = ticketsToReview(ctx, stamped, now);
  if (tickets.length === 0) {
    lines.push('No change was recorded on a backport ticket for this object (it carries no driftgate.dev/backport-ticket).');
    return `${lines.join('\n')}\n`;
  }
  lines.push('Review next, and carry each change into Git or revert it:');
  for (const t of tickets) lines.push(`  backport ticket ${t.id} (${t.why})`, `    driftgate tickets show ${t.id} --tickets kubernetes${ctx.flags}`);
  lines.push(`  then: driftgate tickets export ID --tickets kubernetes${ctx.flags}    (add --revert to undo it live)`);
  return `${lines.join('\n')}\n`;
}
