/**
 * The break-glass plan: what `open`, `extend` and `close` write, the refusals they give before
 * writing (in the flags' terms), the GitOps warnings, and the ticket id, which must be the very
 * id decide() gives the changes made under the window.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest, KubeObject } from '../../../src/admission/types.js';
import {
  type Checks,
  type MergePatch,
  type Subject,
  type WindowPlan,
  checkFlags,
  forbidden,
  planClose,
  planWindow,
  relative,
} from '../../../src/breakglass/plan.js';
import { decide } from '../../../src/decision/decide.js';
import { ticketId } from '../../../src/decision/ticket-id.js';
import type { ObjectRef } from '../../../src/decision/types.js';
import { loadPolicy } from '../../../src/policy/load.js';
import type { Requester } from '../../../src/policy/match.js';

const policy = loadPolicy(readFileSync(join(import.meta.dirname, 'testdata/policy.yaml'), 'utf8'), 'policy.yaml');
// Not on a whole second: the window's end is cut to the second, as the webhook cuts it.
const NOW = new Date('2026-11-24T03:00:00.400Z');
const DAVE: Requester = { username: 'dave@example.com', groups: ['oncall', 'system:authenticated'] };
const DEV: Requester = { username: 'dev@example.com', groups: ['developers', 'system:authenticated'] };
const CHECKS: Checks = { policy, user: DAVE };
const REASON = 'checkout OOMKilled under load';

const DEPLOY_REF: ObjectRef = { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespace: 'prod', name: 'checkout-api' };

function deployment(meta: { annotations?: Record<string, string>; labels?: Record<string, string> } = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'checkout-api',
      namespace: 'prod',
      uid: 'u-1',
      resourceVersion: '7',
      labels: { app: 'checkout-api', ...meta.labels },
      ...(meta.annotations ? { annotations: meta.annotations } : {}),
    },
    spec: { replicas: 2, template: { spec: { containers: [{ name: 'app', image: 'checkout:v1', resources: { limits: { memory: '512Mi' } } }] } } },
  };
}

function subject(object: KubeObject, ref: ObjectRef = DEPLOY_REF): Subject {
  return { object, ref };
}

/** applyMerge returns the object as the apiserver stores it after the merge patch. */
function applyMerge(obj: KubeObject, patch: MergePatch): KubeObject {
  const copy = structuredClone(obj);
  const annotations: Record<string, string> = { ...copy.metadata?.annotations };
  for (const [k, v] of Object.entries(patch.metadata.annotations)) {
    if (v === null) delete annotations[k];
    else annotations[k] = v;
  }
  copy.metadata = { ...copy.metadata, annotations };
  return copy;
}

function update(ref: ObjectRef, oldObject: KubeObject, object: KubeObject, user: Requester, subResource?: string): AdmissionRequest {
  return {
    uid: 'req-1',
    kind: { group: ref.group, version: ref.version, kind: ref.kind },
    resource: { group: ref.group, version: ref.version, resource: ref.resource },
    ...(subResource === undefined ? {} : { subResource }),
    name: ref.name,
    namespace: ref.namespace,
    operation: 'UPDATE',
    userInfo: user,
    object,
    oldObject,
  };
}

function ready(plan: ReturnType<typeof planWindow>): WindowPlan {
  if (plan.kind !== 'window') throw new Error(`want a plan, got the refusal: ${plan.message}`);
  return plan;
}

function refusal(plan: { kind: string; message?: string }): string {
  if (plan.kind !== 'refused') throw new Error(`want a refusal, got ${plan.kind}`);
  return plan.message ?? '';
}

const OPEN = { for: '30m', reason: REASON, incident: 'INC-77' };

describe('open', () => {
  it('writes an absolute until (cut to the second), the reason and the incident, and removes a relative for', () => {
    const plan = ready(planWindow('open', subject(deployment()), OPEN, CHECKS, NOW));
    expect(plan.patch).toEqual({
      metadata: {
        annotations: {
          'driftgate.dev/break-glass-until': '2026-11-24T03:30:00Z',
          'driftgate.dev/break-glass-reason': REASON,
          'driftgate.dev/break-glass-incident': 'INC-77',
          'driftgate.dev/break-glass-for': null,
        },
      },
    });
    expect(plan.window).toEqual({ until: '2026-11-24T03:30:00Z', reason: REASON, incident: 'INC-77' });
    expect(plan.ticket).toBe(ticketId(DEPLOY_REF, plan.window));
    expect(plan.ticket).toMatch(/^checkout-api-inc-77-[0-9a-f]{10}$/);
    expect(plan.notes).toEqual([]);
    expect(plan.previous).toBeUndefined();
  });

  it('takes --until as it is, normalized as the webhook normalizes it', () => {
    const plan = ready(planWindow('open', subject(deployment()), { until: '2026-11-24T05:00:00+01:00', reason: REASON, incident: 'INC-77' }, CHECKS, NOW));
    expect(plan.window.until).toBe('2026-11-24T04:00:00Z');
  });

  describe('refuses locally, naming the flag and the fix', () => {
    const cases: { name: string; flags: Parameters<typeof planWindow>[2]; checks?: Checks; want: string }[] = [
      {
        name: 'a window longer than the maximum',
        flags: { ...OPEN, for: '12h' },
        want: `cannot open the window on deployments.apps/checkout-api in namespace prod: --for "12h" is longer than the policy's maximum of 4h; write at most 4h (GuardPolicy prod)`,
      },
      {
        name: 'an end beyond the maximum',
        flags: { until: '2026-11-24T09:00:00Z', reason: REASON, incident: 'INC-77' },
        want: `cannot open the window on deployments.apps/checkout-api in namespace prod: --until 2026-11-24T09:00:00Z is 6h from now, beyond the policy's maximum of 4h; write a time no later than 2026-11-24T07:00:00Z (GuardPolicy prod)`,
      },
      {
        name: 'an end in the past',
        flags: { until: '2026-11-24T02:00:00Z', reason: REASON, incident: 'INC-77' },
        want: `cannot open the window on deployments.apps/checkout-api in namespace prod: --until expired at 2026-11-24T02:00:00Z (1h ago); open a new window with a time after now, at most 4h ahead (GuardPolicy prod)`,
      },
      {
        name: 'an incident off the pattern',
        flags: { ...OPEN, incident: 'outage' },
        want: `cannot open the window on deployments.apps/checkout-api in namespace prod: --incident "outage" does not match ^INC-[0-9]+$ (GuardPolicy prod)`,
      },
      {
        name: 'a short reason',
        flags: { ...OPEN, reason: 'oom' },
        want: `cannot open the window on deployments.apps/checkout-api in namespace prod: --reason "oom" is 3 characters; the policy asks for at least 10 visible ones (spaces and invisible characters do not count) (GuardPolicy prod)`,
      },
      {
        name: 'every problem at once',
        flags: { for: '5h', reason: 'oom', incident: 'x' },
        want: `cannot open the window on deployments.apps/checkout-api in namespace prod: --for "5h" is longer than the policy's maximum of 4h; write at most 4h; also --reason "oom" is 3 characters; the policy asks for at least 10 visible ones (spaces and invisible characters do not count); also --incident "x" does not match ^INC-[0-9]+$ (GuardPolicy prod)`,
      },
      {
        name: 'a user the policy does not let break glass, naming who may',
        flags: OPEN,
        checks: { policy, user: DEV },
        want: 'dev@example.com (groups developers, system:authenticated) may not use break-glass: GuardPolicy prod opens it only to users carol@example.com and groups oncall; ask one of them to open the window, or make the change in Git',
      },
      {
        name: 'both --for and --until',
        flags: { ...OPEN, until: '2026-11-24T04:00:00Z' },
        want: '--for and --until both set the end of the window; pass one of them',
      },
      {
        name: 'no end',
        flags: { reason: REASON, incident: 'INC-77' },
        want: '--for or --until is required: how long the window stays open, e.g. --for 30m, or --until 2026-11-24T04:00:00Z',
      },
      {
        name: 'no reason',
        flags: { for: '30m', incident: 'INC-77' },
        want: '--reason is required: say why the change cannot wait for Git, e.g. --reason "checkout OOMKilled under load"',
      },
      {
        name: 'no incident',
        flags: { for: '30m', reason: REASON },
        want: '--incident is required: name the incident the change is for, e.g. --incident INC-123',
      },
      {
        name: 'a --for that is no duration, without a policy',
        flags: { ...OPEN, for: 'half an hour' },
        checks: {},
        want: '--for "half an hour" is not a duration; write e.g. 30m or 2h',
      },
      { name: 'a --for that is no duration, with a policy', flags: { ...OPEN, for: '30x' }, want: '--for "30x" is not a duration; write e.g. 30m or 2h' },
      {
        name: 'an --until that is no RFC 3339 time',
        flags: { reason: REASON, incident: 'INC-77', until: 'tomorrow 4am' },
        want: '--until "tomorrow 4am" is not an RFC 3339 time; write e.g. 2026-11-24T04:00:00Z',
      },
    ];
    for (const c of cases) {
      it(c.name, () => expect(refusal(planWindow('open', subject(deployment()), c.flags, c.checks ?? CHECKS, NOW))).toBe(c.want));
    }
  });

  it('without a policy or a user, still writes the window and leaves the rest to the webhook', () => {
    const plan = ready(planWindow('open', subject(deployment()), { ...OPEN, reason: 'x' }, {}, NOW));
    expect(plan.window).toEqual({ until: '2026-11-24T03:30:00Z', reason: 'x', incident: 'INC-77' });
  });

  it('says when the policy does not protect the object', () => {
    const ref = { ...DEPLOY_REF, namespace: 'dev' };
    const plan = ready(planWindow('open', subject(deployment(), ref), OPEN, CHECKS, NOW));
    expect(plan.notes).toEqual(['GuardPolicy prod does not protect deployments.apps in namespace dev: changes there need no window (opening it anyway)']);
  });

  it('names the ticket of a window it replaces', () => {
    const live = deployment({
      annotations: {
        'driftgate.dev/break-glass-until': '2026-11-24T03:10:00Z',
        'driftgate.dev/break-glass-incident': 'INC-70',
        'driftgate.dev/break-glass-reason': REASON,
      },
    });
    const plan = ready(planWindow('open', subject(live), OPEN, CHECKS, NOW));
    expect(plan.previous).toEqual({
      until: '2026-11-24T03:10:00Z',
      incident: 'INC-70',
      ticket: ticketId(DEPLOY_REF, { until: '2026-11-24T03:10:00Z', incident: 'INC-70' }),
    });
  });
});

describe('checkFlags: what is said before the cluster is asked anything', () => {
  it.each([
    [{ for: '30x', reason: REASON, incident: 'INC-77' }, '--for "30x" is not a duration; write e.g. 30m or 2h'],
    [{ until: '2026-11-24', reason: REASON, incident: 'INC-77' }, '--until "2026-11-24" is not an RFC 3339 time; write e.g. 2026-11-24T04:00:00Z'],
  ])('refuses %j', (flags, want) => {
    expect(checkFlags('open', flags)).toEqual({ kind: 'refused', message: want });
  });

  it('lets a well-formed window through to the cluster checks', () => {
    expect(checkFlags('open', { for: '30m', reason: REASON, incident: 'INC-77' })).toBeUndefined();
    expect(checkFlags('extend', { until: '2026-11-24T04:00:00Z' })).toBeUndefined();
  });
});

describe('the ticket id is the one decide() gives', () => {
  const cases: { name: string; ref: ObjectRef; object: KubeObject; change: (o: KubeObject) => void; pauseGitops?: boolean }[] = [
    {
      name: 'a Deployment whose memory limit is raised',
      ref: DEPLOY_REF,
      object: deployment(),
      change: (o) => {
        (o['spec'] as { template: { spec: { containers: { resources: { limits: Record<string, string> } }[] } } }).template.spec
          .containers[0]!.resources.limits['memory'] = '2Gi';
      },
    },
    {
      name: 'a ConfigMap (core group) whose value changes',
      ref: { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespace: 'payments-eu', name: 'settings' },
      object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'payments-eu' }, data: { timeout: '5s' } },
      change: (o) => {
        o['data'] = { timeout: '30s' };
      },
    },
    {
      name: 'a Flux-managed Deployment, paused in the same write',
      ref: DEPLOY_REF,
      object: deployment({ labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' } }),
      change: (o) => {
        (o['spec'] as { replicas: number }).replicas = 6;
      },
      pauseGitops: true,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = ready(planWindow('open', subject(c.object, c.ref), { ...OPEN, pauseGitops: c.pauseGitops === true }, CHECKS, NOW));
      const opened = applyMerge(c.object, plan.patch);

      // The annotation PATCH itself, as the webhook reviews it.
      const atOpen = decide(update(c.ref, c.object, opened, DAVE), policy, NOW);
      expect(atOpen.kind).not.toBe('deny');
      if (atOpen.kind === 'bypass') expect(atOpen.ticket.id).toBe(plan.ticket);
      else expect(atOpen.warnings.join('\n')).toContain(`backport ticket ${plan.ticket}`);

      // The fix, ten minutes later, under the window.
      const fixed = structuredClone(opened);
      c.change(fixed);
      const fix = decide(update(c.ref, opened, fixed, DAVE), policy, new Date(NOW.getTime() + 600_000));
      if (fix.kind !== 'bypass') throw new Error(`want a bypass, got ${fix.kind}: ${fix.kind === 'deny' ? fix.message : fix.code}`);
      expect(fix.ticket.id).toBe(plan.ticket);
      expect(fix.ticket.window).toEqual(plan.window);
    });
  }

  it('for kubectl scale, whose window is on the parent Deployment', () => {
    const plan = ready(planWindow('open', subject(deployment()), OPEN, CHECKS, NOW));
    const parent = applyMerge(deployment(), plan.patch);
    const scale = (replicas: number): KubeObject => ({
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: { name: 'checkout-api', namespace: 'prod' },
      spec: { replicas },
    });
    const d = decide(update(DEPLOY_REF, scale(2), scale(6), DAVE, 'scale'), policy, NOW, parent);
    expect(d.kind === 'bypass' ? d.ticket.id : d.kind).toBe(plan.ticket);
  });
});

describe('GitOps', () => {
  const FLUX = { 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' };

  it('warns that Flux will revert the fix, and how to pause it', () => {
    const plan = ready(planWindow('open', subject(deployment({ labels: FLUX })), OPEN, CHECKS, NOW));
    expect(plan.owner).toEqual({ tool: 'flux', via: 'Kustomization', namespace: 'flux-system', name: 'apps' });
    expect(plan.notes).toEqual([
      'this object is managed by Flux Kustomization flux-system/apps: your fix will be reverted at the next sync unless it is backported to Git or reconciliation is paused; pass --pause-gitops to pause it for this object until close',
    ]);
    expect(plan.paused).toBeUndefined();
  });

  it('--pause-gitops pauses a Flux Kustomization for this object and records that driftgate did', () => {
    const plan = ready(planWindow('open', subject(deployment({ labels: FLUX })), { ...OPEN, pauseGitops: true }, CHECKS, NOW));
    expect(plan.paused).toBe('flux');
    expect(plan.patch.metadata.annotations).toMatchObject({ 'kustomize.toolkit.fluxcd.io/reconcile': 'disabled', 'driftgate.dev/paused-gitops': 'flux' });
    expect(plan.notes).toEqual([]);
  });

  it('--pause-gitops uses the drift-detection annotation for a Flux HelmRelease', () => {
    const labels = { 'helm.toolkit.fluxcd.io/name': 'checkout', 'helm.toolkit.fluxcd.io/namespace': 'apps' };
    const plan = ready(planWindow('open', subject(deployment({ labels })), { ...OPEN, pauseGitops: true }, CHECKS, NOW));
    expect(plan.patch.metadata.annotations).toMatchObject({ 'helm.toolkit.fluxcd.io/driftDetection': 'disabled', 'driftgate.dev/paused-gitops': 'flux-helm' });
  });

  it('leaves a pause it did not set alone', () => {
    const live = deployment({ labels: FLUX, annotations: { 'kustomize.toolkit.fluxcd.io/reconcile': 'disabled' } });
    const plan = ready(planWindow('open', subject(live), { ...OPEN, pauseGitops: true }, CHECKS, NOW));
    expect(plan.paused).toBeUndefined();
    expect(plan.patch.metadata.annotations['driftgate.dev/paused-gitops']).toBeUndefined();
    expect(plan.notes[0]).toContain('already paused (kustomize.toolkit.fluxcd.io/reconcile: disabled, not set by driftgate: close leaves it)');
  });

  it('says Argo CD cannot pause one object, and prints how to disable self-heal', () => {
    const live = deployment({
      labels: { 'app.kubernetes.io/instance': 'checkout' },
      annotations: { 'argocd.argoproj.io/tracking-id': 'shop_checkout:apps/Deployment:prod/checkout-api' },
    });
    const plan = ready(planWindow('open', subject(live), { ...OPEN, pauseGitops: true }, CHECKS, NOW));
    expect(plan.owner).toEqual({ tool: 'argocd', application: 'checkout', namespace: 'shop' });
    expect(plan.paused).toBeUndefined();
    expect(plan.notes).toEqual([
      `this object is managed by Argo CD Application checkout: your fix will be reverted at the next sync unless it is backported to Git or self-heal is disabled on the Application; Argo CD cannot pause one object, so --pause-gitops did nothing here: disable self-heal on the Application: kubectl -n shop patch application checkout --type merge -p '{"spec":{"syncPolicy":{"automated":{"selfHeal":false}}}}' (and turn it back on once Git has the fix)`,
    ]);
  });

  it('reads the argocd.argoproj.io/instance label, in the argocd namespace', () => {
    const plan = ready(planWindow('open', subject(deployment({ labels: { 'argocd.argoproj.io/instance': 'payments' } })), OPEN, CHECKS, NOW));
    expect(plan.owner).toEqual({ tool: 'argocd', application: 'payments', namespace: 'argocd' });
  });

  it('does not take app.kubernetes.io/instance alone for Argo CD (Helm sets it too)', () => {
    expect(ready(planWindow('open', subject(deployment({ labels: { 'app.kubernetes.io/instance': 'checkout' } })), OPEN, CHECKS, NOW)).owner).toBeUndefined();
  });

  it('says there is nothing to pause on an object no controller marks', () => {
    const plan = ready(planWindow('open', subject(deployment()), { ...OPEN, pauseGitops: true }, CHECKS, NOW));
    expect(plan.notes).toEqual(['--pause-gitops: no Flux or Argo CD label or annotation marks this object, so there is no reconciliation to pause']);
  });
});

describe('extend', () => {
  const open = deployment({
    annotations: {
      'driftgate.dev/break-glass-until': '2026-11-24T03:20:00Z',
      'driftgate.dev/break-glass-incident': 'INC-77',
      'driftgate.dev/break-glass-reason': REASON,
    },
  });

  it('moves until from now, keeps reason and incident, and names both tickets', () => {
    const plan = ready(planWindow('extend', subject(open), { for: '1h' }, CHECKS, NOW));
    expect(plan.window).toEqual({ until: '2026-11-24T04:00:00Z', reason: REASON, incident: 'INC-77' });
    expect(plan.ticket).toBe(ticketId(DEPLOY_REF, plan.window));
    expect(plan.previous).toEqual({
      until: '2026-11-24T03:20:00Z',
      incident: 'INC-77',
      ticket: ticketId(DEPLOY_REF, { until: '2026-11-24T03:20:00Z', incident: 'INC-77' }),
    });
    expect(plan.previous?.ticket).not.toBe(plan.ticket);
  });

  it('refuses beyond the maximum, like open', () => {
    expect(refusal(planWindow('extend', subject(open), { for: '5h' }, CHECKS, NOW))).toBe(
      `cannot extend the window on deployments.apps/checkout-api in namespace prod: --for "5h" is longer than the policy's maximum of 4h; write at most 4h (GuardPolicy prod)`,
    );
  });

  it('names the annotation, not a flag, when a kept value is the problem', () => {
    const short = deployment({
      annotations: {
        'driftgate.dev/break-glass-until': '2026-11-24T03:20:00Z',
        'driftgate.dev/break-glass-incident': 'INC-77',
        'driftgate.dev/break-glass-reason': 'oom',
      },
    });
    expect(refusal(planWindow('extend', subject(short), { for: '1h' }, CHECKS, NOW))).toContain(
      'driftgate.dev/break-glass-reason (kept from the object; pass --reason to replace it) "oom" is 3 characters',
    );
  });

  it('refuses an object without a window, pointing at open', () => {
    expect(refusal(planWindow('extend', subject(deployment()), { for: '1h' }, CHECKS, NOW))).toBe(
      'deployments.apps/checkout-api in namespace prod carries no break-glass window to extend; open one: driftgate break-glass open deployments.apps/checkout-api -n prod --for 30m --reason "…" --incident …',
    );
  });
});

describe('close', () => {
  const WINDOW = {
    'driftgate.dev/break-glass-until': '2026-11-24T03:20:00Z',
    'driftgate.dev/break-glass-incident': 'INC-77',
    'driftgate.dev/break-glass-reason': REASON,
  };
  const REMOVE = {
    'driftgate.dev/break-glass-until': null,
    'driftgate.dev/break-glass-for': null,
    'driftgate.dev/break-glass-reason': null,
    'driftgate.dev/break-glass-incident': null,
  };

  it('removes the four annotations', () => {
    const plan = planClose(subject(deployment({ annotations: WINDOW })), CHECKS, NOW);
    expect(plan).toEqual({
      kind: 'close',
      steps: [{ what: 'removed the break-glass annotations', patch: { metadata: { annotations: REMOVE } } }],
      window: { until: '2026-11-24T03:20:00Z', incident: 'INC-77' },
      notes: [],
    });
  });

  it('resumes the Flux pause it set first, while the window still holds', () => {
    const live = deployment({ annotations: { ...WINDOW, 'kustomize.toolkit.fluxcd.io/reconcile': 'disabled', 'driftgate.dev/paused-gitops': 'flux' } });
    const plan = planClose(subject(live), CHECKS, NOW);
    if (plan.kind !== 'close') throw new Error(plan.message);
    expect(plan.steps.map((s) => s.patch.metadata.annotations)).toEqual([
      { 'kustomize.toolkit.fluxcd.io/reconcile': null, 'driftgate.dev/paused-gitops': null },
      REMOVE,
    ]);
    // The webhook lets the resume through under the window (as a recorded change) and the
    // responder's removal as no drift; only someone allowed to break glass may remove a window (issue 11).
    const resumed = applyMerge(live, plan.steps[0]!.patch);
    expect(decide(update(DEPLOY_REF, live, resumed, DAVE), policy, NOW).kind).toBe('bypass');
    const closed = applyMerge(resumed, plan.steps[1]!.patch);
    expect(decide(update(DEPLOY_REF, resumed, closed, DAVE), policy, NOW)).toMatchObject({ kind: 'allow', code: 'no-drift' });
    expect(decide(update(DEPLOY_REF, resumed, closed, DEV), policy, NOW)).toMatchObject({ kind: 'deny', code: 'break-glass-forbidden' });
  });

  it('refuses to resume under an expired window, saying to extend first', () => {
    const live = deployment({ annotations: { ...WINDOW, 'kustomize.toolkit.fluxcd.io/reconcile': 'disabled', 'driftgate.dev/paused-gitops': 'flux' } });
    expect(refusal(planClose(subject(live), CHECKS, new Date('2026-11-24T05:00:00Z')))).toBe(
      'the window on deployments.apps/checkout-api in namespace prod has expired, and resuming GitOps (removing kustomize.toolkit.fluxcd.io/reconcile) is a change driftgate checks under a window: run driftgate break-glass extend deployments.apps/checkout-api -n prod --for 10m, then close again',
    );
  });

  it('leaves a pause it did not set', () => {
    const plan = planClose(subject(deployment({ annotations: { ...WINDOW, 'kustomize.toolkit.fluxcd.io/reconcile': 'disabled' } })), CHECKS, NOW);
    expect(plan.kind === 'close' ? plan.steps.map((s) => s.patch.metadata.annotations) : plan).toEqual([REMOVE]);
  });

  it('has nothing to do without a window', () => {
    expect(planClose(subject(deployment()), CHECKS, NOW)).toEqual({
      kind: 'nothing',
      message: 'deployments.apps/checkout-api in namespace prod carries no break-glass window; nothing to close',
    });
  });
});

describe('forbidden', () => {
  it('says so when the policy lets nobody break glass', () => {
    const closed = { ...policy, breakGlass: { ...policy.breakGlass, users: [], groups: [] } };
    expect(forbidden(DAVE, closed).message).toBe(
      'dave@example.com (groups oncall, system:authenticated) may not use break-glass: GuardPolicy prod lets nobody break glass; make the change in Git',
    );
  });
});

describe('relative', () => {
  it('says whole minutes past one, seconds below', () => {
    expect(relative('2026-11-24T03:30:00Z', NOW)).toBe('in 30m');
    expect(relative('2026-11-24T03:00:30Z', NOW)).toBe('in 30s');
    expect(relative('2026-11-24T02:00:00Z', NOW)).toBe('1h ago');
  });
});
