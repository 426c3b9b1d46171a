/**
 * `driftgate break-glass` against the real apiserver with driftgate's webhooks installed: the
 * window it opens is the one the webhook accepts, the ticket it prints is the one the fix lands
 * on, what the webhook would refuse is refused first (locally, in one line), and `close` leaves
 * the object as it was, down to a GitOps pause it set.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN, FLUX, RESPONDER, type Result, cluster, createDeployment, deploymentManifest, driftgate, getJson, kubectl, run, unique } from './cluster.js';

interface Deployment {
  metadata: { annotations?: Record<string, string> };
  spec: { replicas: number; template: { spec: { containers: { resources: { limits: Record<string, string> } }[] } } };
}

const REASON = 'checkout OOMKilled under Black Friday load';
const UNTIL = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** As the responder: the admin's kubeconfig, impersonating dave@example.com in group oncall; `null` passes no --policy. */
function asResponder(args: string[], policy: string | null = cluster().policy): Promise<Result> {
  return driftgate([
    'break-glass',
    ...args,
    '--kubeconfig',
    cluster().kubeconfig,
    '--as',
    'dave@example.com',
    '--as-group',
    'oncall',
    ...(policy === null ? [] : ['--policy', policy]),
  ]);
}

/** As the developer, with their own client certificate: no impersonation, the apiserver knows who they are. */
function asDeveloper(args: string[], policy = cluster().policy): Promise<Result> {
  return driftgate(['break-glass', ...args, '--kubeconfig', cluster().developerKubeconfig, '--policy', policy]);
}

function ticketOf(r: Result): string {
  const id = /^ {2}ticket: +(\S+)$/m.exec(r.stdout)?.[1];
  if (id === undefined) throw new Error(`no ticket printed: ${r.stdout}${r.stderr}`);
  return id;
}

/** oneLine asserts a failure printed one line, without a stack trace, and returns it. */
function oneLine(r: Result): string {
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  return lines[0] ?? '';
}

async function annotationsOf(name: string): Promise<Record<string, string>> {
  return (await getJson<Deployment>(['-n', 'prod', 'deployment', name])).metadata.annotations ?? {};
}

function windowKeys(annotations: Record<string, string>): string[] {
  return Object.keys(annotations).filter((k) => k.startsWith('driftgate.dev/break-glass-'));
}

describe('break-glass open, fix, extend, close', () => {
  it('prints what it did as data with -o json: the window, the ticket, then the close naming it', async () => {
    const name = await createDeployment('bgjson');
    const opened = await asResponder(['open', `deploy/${name}`, '-n', 'prod', '--for', '30m', '--reason', REASON, '--incident', 'INC-78', '-o', 'json']);
    expect({ code: opened.code, stderr: opened.stderr }).toEqual({ code: 0, stderr: '' });
    const open = JSON.parse(opened.stdout) as {
      action: string;
      ticket: string;
      window: { until: string; incident: string; reason: string };
      object: { name: string };
    };
    expect(open).toMatchObject({ action: 'open', object: { name }, window: { incident: 'INC-78', reason: REASON } });
    expect(open.ticket).toMatch(new RegExp(`^${name}-inc-78-[0-9a-f]{10}$`));
    expect((await annotationsOf(name))['driftgate.dev/break-glass-until']).toBe(open.window.until);
    const fixed = await kubectl(RESPONDER, ['-n', 'prod', 'set', 'resources', `deployment/${name}`, '-c', 'app', '--limits=memory=2Gi']);
    expect(fixed.stderr).toContain(`backport ticket ${open.ticket}`);
    const closed = await asResponder(['close', `deployment/${name}`, '-n', 'prod', '-o', 'json']);
    expect(closed.code).toBe(0);
    const close = JSON.parse(closed.stdout) as { action: string; closed: boolean; tickets: { id: string }[] };
    expect(close).toMatchObject({ action: 'close', closed: true });
    expect(close.tickets.map((t) => t.id)).toContain(open.ticket);
  });

  it('opens a window the webhook accepts, and the fix lands on exactly the printed ticket', async () => {
    const name = await createDeployment('bgcli');
    const opened = await asResponder(['open', `deploy/${name}`, '-n', 'prod', '--for', '30m', '--reason', REASON, '--incident', 'INC-77']);
    expect(opened.stderr).toBe('');
    expect(opened.code).toBe(0);
    const ticket = ticketOf(opened);
    expect(ticket).toMatch(new RegExp(`^${name}-inc-77-[0-9a-f]{10}$`));
    expect(opened.stdout).toContain(`break-glass window open on deployments.apps/${name} in namespace prod`);
    expect(opened.stdout).toMatch(/ {2}until: +\S+ \(in 30m\)/);
    expect(opened.stdout).toContain('  incident:  INC-77');
    expect(opened.stdout).toContain(`driftgate tickets show ${ticket} --tickets kubernetes`);

    // The CLI wrote an absolute end itself: no relative `for` left for the mutating webhook.
    const a = await annotationsOf(name);
    expect(a['driftgate.dev/break-glass-until']).toMatch(UNTIL);
    expect(opened.stdout).toContain(`until:     ${a['driftgate.dev/break-glass-until'] ?? '?'}`);
    expect(a['driftgate.dev/break-glass-for']).toBeUndefined();
    expect(a['driftgate.dev/break-glass-incident']).toBe('INC-77');
    expect(a['driftgate.dev/break-glass-reason']).toBe(REASON);

    const fixed = await kubectl(RESPONDER, ['-n', 'prod', 'set', 'resources', `deployment/${name}`, '-c', 'app', '--limits=memory=2Gi']);
    expect(fixed.code).toBe(0);
    expect(fixed.stderr).toContain(`backport ticket ${ticket}`);
    expect((await annotationsOf(name))['driftgate.dev/backport-ticket']).toBe(ticket);
    const stored = await getJson<{ items: { spec: { window: { incident: string; until: string } } }[] }>([
      '-n',
      'driftgate-system',
      'backporttickets',
      '-l',
      `driftgate.dev/ticket=${ticket}`,
    ]);
    expect(stored.items.map((o) => o.spec.window)).toMatchObject([{ incident: 'INC-77', until: a['driftgate.dev/break-glass-until'] }]);

    // extend: a new end, so a new ticket; what was changed before stays on the old one.
    const extended = await asResponder(['extend', `deployments.apps/${name}`, '-n', 'prod', '--for', '1h']);
    expect(extended.code).toBe(0);
    const next = ticketOf(extended);
    expect(next).not.toBe(ticket);
    expect(extended.stdout).toMatch(/until: +\S+ \(in 1h\)/);
    expect(extended.stdout).toContain(`had ticket ${ticket}: changes made under the old window stay on that ticket`);
    const scaled = await kubectl(RESPONDER, ['-n', 'prod', 'scale', `deployment/${name}`, '--replicas=5']);
    expect(scaled.code).toBe(0);
    expect(scaled.stderr).toContain(`backport ticket ${next}`);

    // close: the four annotations go; the ticket to review is named with the command to read it.
    const closed = await asResponder(['close', `deployment/${name}`, '-n', 'prod']);
    expect(closed.stderr).toBe('');
    expect(closed.code).toBe(0);
    expect(closed.stdout).toContain(`break-glass window closed on deployments.apps/${name} in namespace prod (INC-77`);
    // The fix stamped the first ticket on the object; the scale, through /scale, could not stamp the second.
    expect(closed.stdout).toContain(`  backport ticket ${ticket} (the ticket last stamped on the object)`);
    expect(closed.stdout).toContain(`  backport ticket ${next} (this window's ticket`);
    expect(closed.stdout).toContain(`driftgate tickets show ${ticket} --tickets kubernetes`);
    expect(closed.stdout).toContain(`driftgate tickets show ${next} --tickets kubernetes`);
    const after = await annotationsOf(name);
    expect(windowKeys(after)).toEqual([]);
    expect(after['driftgate.dev/backport-ticket']).toBe(ticket);
    // And the window is really gone: the responder is refused again.
    const refused = await kubectl(RESPONDER, ['-n', 'prod', 'set', 'resources', `deployment/${name}`, '-c', 'app', '--limits=memory=3Gi']);
    expect(refused.stderr).toContain('[driftgate/drift]');
  });

  it('refuses a developer locally: the apiserver says who they are, the policy who may', async () => {
    const name = await createDeployment('bgdev');
    const line = oneLine(await asDeveloper(['open', `deploy/${name}`, '-n', 'prod', '--for', '30m', '--reason', REASON, '--incident', 'INC-77']));
    expect(line).toBe(
      'driftgate: dev@example.com (groups developers, system:authenticated) may not use break-glass: GuardPolicy e2e-prod opens it only to users carol@example.com and groups oncall; ask one of them to open the window, or make the change in Git',
    );
    expect(windowKeys(await annotationsOf(name))).toEqual([]);
  });

  it('refuses a window longer than the policy allows, before writing', async () => {
    const name = await createDeployment('bglong');
    const line = oneLine(await asResponder(['open', `deploy/${name}`, '-n', 'prod', '--for', '12h', '--reason', REASON, '--incident', 'INC-77']));
    expect(line).toBe(
      `driftgate: cannot open the window on deployments.apps/${name} in namespace prod: --for "12h" is longer than the policy's maximum of 4h; write at most 4h (GuardPolicy e2e-prod)`,
    );
    expect(windowKeys(await annotationsOf(name))).toEqual([]);
  });

  it('names a missing flag before asking the cluster anything', async () => {
    const line = oneLine(await asResponder(['open', 'deploy/whatever', '-n', 'prod', '--for', '30m', '--incident', 'INC-77']));
    expect(line).toBe('driftgate: --reason is required: say why the change cannot wait for Git, e.g. --reason "checkout OOMKilled under load"');
  });

  it('answers a mistyped kind with close matches from API discovery', async () => {
    const line = oneLine(await asResponder(['open', 'deploymnet/x', '-n', 'prod', '--for', '30m', '--reason', REASON, '--incident', 'INC-77']));
    expect(line).toContain('unknown kind "deploymnet"');
    expect(line).toContain('did you mean deployments.apps (deploy)?');
  });

  it('resolves kubectl short names through discovery (cm/, configmap/)', async () => {
    const cm = unique('bgcm');
    expect((await kubectl(FLUX, ['-n', 'prod', 'create', 'configmap', cm, '--from-literal=timeout=5s'])).code).toBe(0);
    const opened = await asResponder(['open', `cm/${cm}`, '-n', 'prod', '--for', '10m', '--reason', REASON, '--incident', 'INC-79']);
    expect(opened.code).toBe(0);
    const fixed = await kubectl(RESPONDER, ['-n', 'prod', 'patch', 'configmap', cm, '--type=merge', '-p', '{"data":{"timeout":"30s"}}']);
    expect(fixed.stderr).toContain(`backport ticket ${ticketOf(opened)}`);
    expect((await asResponder(['close', `configmap/${cm}`, '-n', 'prod'])).code).toBe(0);
  });

  it('names the object when it does not exist', async () => {
    const line = oneLine(await asResponder(['open', 'sts/no-such-thing', '-n', 'prod', '--for', '30m', '--reason', REASON, '--incident', 'INC-77']));
    expect(line).toBe(
      'driftgate: statefulsets.apps "no-such-thing" not found in namespace prod; check the name and namespace with: kubectl get statefulsets.apps -n prod',
    );
  });
});

describe('break-glass without --policy', () => {
  it('reads the policy the cluster runs from its ConfigMap when the user may', async () => {
    // The admin may read driftgate-system; the manifests' ConfigMap holds the example policy ("prod").
    const name = await createDeployment('bgcm-policy');
    const line = oneLine(
      await driftgate([
        'break-glass',
        'open',
        `deploy/${name}`,
        '-n',
        'prod',
        '--for',
        '30m',
        '--reason',
        REASON,
        '--incident',
        'INC-77',
        '--kubeconfig',
        cluster().kubeconfig,
      ]),
    );
    expect(line).toMatch(/may not use break-glass: GuardPolicy prod opens it only to users carol@example\.com and groups oncall/);
  });

  it("says it could not check, and lets driftgate's webhook judge", async () => {
    const name = await createDeployment('bgnopolicy');
    const opened = await asResponder(['open', `deploy/${name}`, '-n', 'prod', '--for', '20m', '--reason', REASON, '--incident', 'INC-80'], null);
    expect(opened.code).toBe(0);
    expect(opened.stderr).toContain('warning: not checking the window against a policy: you may not read ConfigMap driftgate-system/driftgate-policy');
    ticketOf(opened);
    // The webhook's own refusal, when a check could not be made first, comes back as the apiserver worded it.
    const bad = await asResponder(['extend', `deploy/${name}`, '-n', 'prod', '--for', '9h'], null);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('admission webhook "validate.driftgate.dev" denied the request: [driftgate/break-glass]');
    expect(bad.stderr).toContain("beyond the policy's maximum of 4h");
    expect(bad.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('refusals by others than the CLI', () => {
  it("passes driftgate's own refusal on as is, when a local policy disagrees with the cluster's", async () => {
    const name = await createDeployment('bgdisagree');
    const dir = mkdtempSync(join(tmpdir(), 'bg-policy-'));
    const lenient = join(dir, 'policy.yaml');
    writeFileSync(lenient, readFileSync(cluster().policy, 'utf8').replace('groups: ["oncall"]', 'groups: ["oncall", "developers"]'));
    const r = await asDeveloper(['open', `deploy/${name}`, '-n', 'prod', '--for', '30m', '--reason', REASON, '--incident', 'INC-77'], lenient);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^driftgate: admission webhook "validate\.driftgate\.dev" denied the request: \[driftgate\/break-glass\]/);
    expect(r.stderr).toContain('dev@example.com may not use break-glass');
    expect(windowKeys(await annotationsOf(name))).toEqual([]);
  });

  it('tells Kubernetes RBAC apart: a user who may read but not patch', async () => {
    const ns = unique('bg-rbac');
    const cm = 'settings';
    const setup = [
      ['create', 'namespace', ns],
      ['-n', ns, 'create', 'configmap', cm, '--from-literal=k=v'],
      ['-n', ns, 'create', 'role', 'reader', '--verb=get', '--resource=configmaps'],
      ['-n', ns, 'create', 'rolebinding', 'reader', '--role=reader', '--user=reader@example.com'],
    ];
    for (const args of setup) expect((await kubectl(ADMIN, args)).code).toBe(0);
    const r = await driftgate([
      'break-glass',
      'open',
      `cm/${cm}`,
      '-n',
      ns,
      '--for',
      '10m',
      '--reason',
      REASON,
      '--incident',
      'INC-81',
      '--kubeconfig',
      cluster().kubeconfig,
      '--as',
      'reader@example.com',
      '--as-group',
      'oncall',
      '--policy',
      cluster().policy,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`warning: GuardPolicy e2e-prod does not protect configmaps in namespace ${ns}`);
    expect(r.stderr).toContain(`driftgate: reader@example.com may not patch configmaps in namespace ${ns}: Kubernetes RBAC refused it, not driftgate (`);
    expect(r.stderr).toContain('cannot patch resource "configmaps"');
    expect(r.stderr).not.toContain('[driftgate/');
    await kubectl(ADMIN, ['delete', 'namespace', ns, '--wait=false']);
  });
});

describe('GitOps', () => {
  const FLUX_LABELS = { 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' };

  async function createFluxDeployment(): Promise<string> {
    const name = unique('bgflux');
    const manifest = JSON.parse(deploymentManifest(name)) as { metadata: { labels: Record<string, string> } };
    manifest.metadata.labels = { ...manifest.metadata.labels, ...FLUX_LABELS };
    const r = await kubectl(FLUX, ['apply', '-f', '-'], JSON.stringify(manifest));
    if (r.code !== 0) throw new Error(r.stderr);
    return name;
  }

  it('warns that Flux will revert the fix', async () => {
    const name = await createFluxDeployment();
    const opened = await asResponder(['open', `deploy/${name}`, '-n', 'prod', '--for', '30m', '--reason', REASON, '--incident', 'INC-82']);
    expect(opened.code).toBe(0);
    expect(opened.stderr).toBe(
      'warning: this object is managed by Flux Kustomization flux-system/apps: your fix will be reverted at the next sync unless it is backported to Git or reconciliation is paused; pass --pause-gitops to pause it for this object until close\n',
    );
    expect((await annotationsOf(name))['kustomize.toolkit.fluxcd.io/reconcile']).toBeUndefined();
  });

  it('--pause-gitops pauses Flux for the object, and close resumes exactly that', async () => {
    const name = await createFluxDeployment();
    const opened = await asResponder(['open', `deploy/${name}`, '-n', 'prod', '--for', '30m', '--reason', REASON, '--incident', 'INC-83', '--pause-gitops']);
    expect(opened.stderr).toBe('');
    expect(opened.code).toBe(0);
    expect(opened.stdout).toContain(
      'Paused Flux Kustomization flux-system/apps for this object (kustomize.toolkit.fluxcd.io/reconcile: disabled); close resumes it.',
    );
    const ticket = ticketOf(opened);
    const paused = await annotationsOf(name);
    expect(paused['kustomize.toolkit.fluxcd.io/reconcile']).toBe('disabled');
    expect(paused['driftgate.dev/paused-gitops']).toBe('flux');
    // Pausing is a live change like any other: it is on the window's ticket.
    expect(paused['driftgate.dev/backport-ticket']).toBe(ticket);

    const closed = await asResponder(['close', `deploy/${name}`, '-n', 'prod']);
    expect(closed.stderr).toBe('');
    expect(closed.code).toBe(0);
    expect(closed.stdout).toContain('resumed GitOps reconciliation of this object (removed kustomize.toolkit.fluxcd.io/reconcile, which driftgate set)');
    expect(closed.stdout).toContain(`  backport ticket ${ticket} (the changes made under this window)`);
    const after = await annotationsOf(name);
    expect(after['kustomize.toolkit.fluxcd.io/reconcile']).toBeUndefined();
    expect(after['driftgate.dev/paused-gitops']).toBeUndefined();
    expect(windowKeys(after)).toEqual([]);
  });
});

describe('the whole loop: open, fix, close, export the revert, apply it under a window', () => {
  it('restores the old value with the printed kubectl patch', async () => {
    const name = await createDeployment('bgloop');
    const opened = await asResponder(['open', `deploy/${name}`, '-n', 'prod', '--for', '30m', '--reason', REASON, '--incident', 'INC-90']);
    const ticket = ticketOf(opened);
    expect((await kubectl(RESPONDER, ['-n', 'prod', 'set', 'resources', `deployment/${name}`, '-c', 'app', '--limits=memory=2Gi'])).code).toBe(0);
    expect((await asResponder(['close', `deploy/${name}`, '-n', 'prod'])).code).toBe(0);

    const exported = await driftgate([
      'tickets',
      'export',
      ticket,
      '--revert',
      '--tickets',
      'kubernetes:driftgate-system',
      '--kubeconfig',
      cluster().kubeconfig,
    ]);
    expect(exported.code).toBe(0);
    const command = exported.stdout.split('\n').find((l) => l.startsWith('kubectl patch '));
    if (command === undefined) throw new Error(`no kubectl patch printed: ${exported.stdout}`);
    expect(command).toContain(`deployments.apps/${name}`);

    // Reverting live is a change to prod too: it needs its own window, and lands on its own ticket.
    const again = await asResponder([
      'open',
      `deploy/${name}`,
      '-n',
      'prod',
      '--for',
      '15m',
      '--reason',
      `revert of ${ticket}, fix carried differently`,
      '--incident',
      'INC-90',
    ]);
    expect(again.code).toBe(0);
    const c = cluster();
    const asDave = `${c.kubectl} --kubeconfig ${c.kubeconfig} --as=dave@example.com --as-group=oncall `;
    const reverted = await run('sh', ['-c', command.replace(/^kubectl /, asDave)]);
    expect(reverted.stderr).toContain(`backport ticket ${ticketOf(again)}`);
    expect(reverted.code).toBe(0);
    expect((await asResponder(['close', `deploy/${name}`, '-n', 'prod'])).code).toBe(0);

    const d = await getJson<Deployment>(['-n', 'prod', 'deployment', name]);
    expect(d.spec.template.spec.containers[0]?.resources.limits['memory']).toBe('512Mi');
  });
});
