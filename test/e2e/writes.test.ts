/**
 * Real writes through a real kube-apiserver, as the identities driftgate meets in production:
 * the GitOps controllers, the HPA, a developer, a responder. Each assertion reads what kubectl
 * printed or what the apiserver stored.
 */
import { describe, expect, it } from 'vitest';
import {
  ADMIN,
  ARGOCD,
  DEVELOPER,
  FLUX,
  HPA,
  RESPONDER,
  cluster,
  createDeployment,
  deploymentManifest,
  driftgate,
  getJson,
  kubectl,
  refusal,
  unique,
} from './cluster.js';

interface Deployment {
  metadata: { annotations?: Record<string, string> };
  spec: { replicas: number; template: { spec: { containers: { image: string; resources: { limits: Record<string, string> } }[] } } };
}

describe('GitOps controllers', () => {
  it('lets the Argo CD application controller create, change the image and delete', async () => {
    const name = await createDeployment('argo');
    expect((await kubectl(ARGOCD, ['-n', 'prod', 'set', 'image', `deployment/${name}`, 'app=registry.example.com/checkout:v2'])).code).toBe(0);
    const d = await getJson<Deployment>(['-n', 'prod', 'deployment', name]);
    expect(d.spec.template.spec.containers[0]?.image).toBe('registry.example.com/checkout:v2');
    expect(d.metadata.annotations?.['driftgate.dev/backport-ticket']).toBeUndefined();
    expect((await kubectl(ARGOCD, ['-n', 'prod', 'delete', 'deployment', name])).code).toBe(0);
  });

  it('lets a Flux controller through by its ServiceAccount group', async () => {
    const name = unique('flux');
    expect((await kubectl(FLUX, ['apply', '-f', '-'], deploymentManifest(name))).code).toBe(0);
    expect((await kubectl(FLUX, ['-n', 'prod', 'set', 'image', `deployment/${name}`, 'app=registry.example.com/checkout:v3'])).code).toBe(0);
    expect((await kubectl(FLUX, ['-n', 'prod', 'delete', 'deployment', name])).code).toBe(0);
  });
});

describe('a developer in prod', () => {
  it('is refused kubectl set image, with a message telling how to proceed', async () => {
    const name = await createDeployment('dev-image');
    const message = refusal(await kubectl(DEVELOPER, ['-n', 'prod', 'set', 'image', `deployment/${name}`, 'app=registry.example.com/checkout:hotfix']));
    expect(message).toContain('/spec/template/spec/containers/0/image');
    expect(message).toContain('make the change in Git');
    expect(message).toContain('dev@example.com may not use break-glass');
    expect(message).toContain('groups oncall');
  });

  it('is refused kubectl set resources, scale, edit and delete', async () => {
    const name = await createDeployment('dev-all');
    refusal(await kubectl(DEVELOPER, ['-n', 'prod', 'set', 'resources', `deployment/${name}`, '-c', 'app', '--limits=memory=2Gi']));
    const scaled = refusal(await kubectl(DEVELOPER, ['-n', 'prod', 'scale', `deployment/${name}`, '--replicas=9']));
    expect(scaled).toContain('/spec/replicas');
    // kubectl edit, with an "editor" that changes the memory limit as a person would by hand.
    const edited = await kubectl(DEVELOPER, ['-n', 'prod', 'edit', `deployment/${name}`], undefined, { KUBE_EDITOR: 'sed -i s/512Mi/3Gi/' });
    expect(refusal(edited)).toContain('/resources/limits/memory');
    expect(refusal(await kubectl(DEVELOPER, ['-n', 'prod', 'delete', `deployment/${name}`]))).toContain('deleting the object');
    const d = await getJson<Deployment>(['-n', 'prod', 'deployment', name]);
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.template.spec.containers[0]?.resources.limits['memory']).toBe('512Mi');
  });

  it('may do anything in an unprotected namespace', async () => {
    const name = await createDeployment('dev-free', 'dev');
    expect((await kubectl(DEVELOPER, ['-n', 'dev', 'set', 'image', `deployment/${name}`, 'app=x:1'])).code).toBe(0);
  });

  it('is refused in a namespace matched by a glob (payments-*)', async () => {
    const name = await createDeployment('glob', 'payments-eu');
    refusal(await kubectl(DEVELOPER, ['-n', 'payments-eu', 'set', 'image', `deployment/${name}`, 'app=x:1']));
  });

  it('may kubectl rollout restart, as the policy delegates restartedAt to everyone', async () => {
    const name = await createDeployment('restart');
    const r = await kubectl(DEVELOPER, ['-n', 'prod', 'rollout', 'restart', `deployment/${name}`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('the HPA', () => {
  it('scales through the /scale subresource', async () => {
    const name = await createDeployment('hpa');
    expect((await kubectl(HPA, ['-n', 'prod', 'scale', `deployment/${name}`, '--replicas=7'])).code).toBe(0);
    expect((await getJson<Deployment>(['-n', 'prod', 'deployment', name])).spec.replicas).toBe(7);
  });

  it('is refused changing the image', async () => {
    const name = await createDeployment('hpa-img');
    refusal(await kubectl(HPA, ['-n', 'prod', 'set', 'image', `deployment/${name}`, 'app=x:1']));
  });
});

describe('break-glass', () => {
  const annotations = (name: string, extra: string[] = []): string[] => [
    '-n',
    'prod',
    'annotate',
    '--overwrite',
    `deployment/${name}`,
    'driftgate.dev/break-glass-reason=checkout OOMKilled under Black Friday load',
    'driftgate.dev/break-glass-incident=INC-4711',
    ...extra,
  ];

  it('lets a responder fix prod under a window, stamps the object and records the exact change as a BackportTicket object of its ticket', async () => {
    const name = await createDeployment('bg');
    const opened = await kubectl(RESPONDER, annotations(name, ['driftgate.dev/break-glass-for=30m']));
    expect(opened.code).toBe(0);
    expect(opened.stderr).toContain('break-glass window open');
    const windowed = await getJson<Deployment>(['-n', 'prod', 'deployment', name]);
    const until = windowed.metadata.annotations?.['driftgate.dev/break-glass-until'] ?? '';
    expect(until).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(windowed.metadata.annotations?.['driftgate.dev/break-glass-for']).toBeUndefined();

    const fixed = await kubectl(RESPONDER, ['-n', 'prod', 'set', 'resources', `deployment/${name}`, '-c', 'app', '--limits=memory=2Gi']);
    expect(fixed.code).toBe(0);
    expect(fixed.stderr).toContain('backport ticket');
    const d = await getJson<Deployment>(['-n', 'prod', 'deployment', name]);
    expect(d.spec.template.spec.containers[0]?.resources.limits['memory']).toBe('2Gi');
    const ticketId = d.metadata.annotations?.['driftgate.dev/backport-ticket'] ?? '';
    expect(ticketId).toMatch(new RegExp(`^${name}-inc-4711-[0-9a-f]{10}$`));

    // One BackportTicket object per recorded change, labelled with the ticket id (the stamp).
    type Recorded = { spec: { event: string; window: { incident: string; until: string }; change: { username: string; patch: unknown[]; revert: unknown[] } } };
    const recorded = async (): Promise<Recorded[]> =>
      (await getJson<{ items: Recorded[] }>(['-n', 'driftgate-system', 'backporttickets', '-l', `driftgate.dev/ticket=${ticketId}`])).items;
    const [first, ...none] = await recorded();
    expect(none).toEqual([]);
    expect(first?.spec.event).toBe('change');
    expect(first?.spec.window).toMatchObject({ incident: 'INC-4711', until });
    expect(first?.spec.change.username).toBe('dave@example.com');
    expect(first?.spec.change.patch).toEqual([{ op: 'replace', path: '/spec/template/spec/containers/0/resources/limits/memory', value: '2Gi' }]);
    expect(first?.spec.change.revert).toEqual([{ op: 'replace', path: '/spec/template/spec/containers/0/resources/limits/memory', value: '512Mi' }]);

    // kubectl scale under the same window: the Scale carries no annotations, driftgate looks up the parent.
    expect((await kubectl(RESPONDER, ['-n', 'prod', 'scale', `deployment/${name}`, '--replicas=6'])).code).toBe(0);
    const after = await recorded();
    expect(after).toHaveLength(2);
    expect(after.map((o) => o.spec.change.patch)).toContainEqual([{ op: 'replace', path: '/spec/replicas', value: 6 }]);

    const listed = await kubectl(ADMIN, ['get', 'backporttickets', '-A']);
    expect(listed.stdout).toContain(ticketId);
    expect(listed.stdout).toContain('INC-4711');

    // Security reads and closes it with the CLI, against the same apiserver.
    const k8s = ['--tickets', 'kubernetes:driftgate-system', '--kubeconfig', cluster().kubeconfig];
    const json = await driftgate(['tickets', 'list', ...k8s, '--incident', 'INC-4711', '-o', 'json']);
    expect(json.code).toBe(0);
    const fromCli = (JSON.parse(json.stdout) as { id: string; changes: { requestUid: string }[] }[]).find((t) => t.id === ticketId);
    expect(fromCli?.changes.map((c) => c.requestUid).every((u) => u.length > 0)).toBe(true);
    const shown = await driftgate(['tickets', 'show', ticketId, ...k8s]);
    expect(shown.stdout).toContain('"512Mi" → "2Gi"');
    const resolved = await driftgate([
      'tickets',
      'resolve',
      ticketId,
      ...k8s,
      '--decision',
      'backport',
      '--ref',
      'https://git.example.com/prod/pull/42',
      '--by',
      'security@example.com',
    ]);
    expect(resolved.stdout).toContain('backported');
    const closed = await getJson<{ items: { spec: { covers: number; resolution: { ref: string } } }[] }>([
      '-n',
      'driftgate-system',
      'backporttickets',
      '-l',
      `driftgate.dev/ticket=${ticketId},driftgate.dev/event=resolve`,
    ]);
    expect(closed.items.map((o) => o.spec)).toMatchObject([{ covers: 2, resolution: { ref: 'https://git.example.com/prod/pull/42' } }]);
    expect(JSON.parse((await driftgate(['tickets', 'show', ticketId, ...k8s, '-o', 'json'])).stdout)).toMatchObject({ state: 'backported' });
  });

  it('refuses a window longer than the maximum when it is opened', async () => {
    const name = await createDeployment('bg-long');
    const r = refusal(await kubectl(RESPONDER, annotations(name, ['driftgate.dev/break-glass-for=12h'])));
    expect(r).toContain("longer than the policy's maximum of 4h");
  });

  it('refuses a change once the window has expired, saying when', async () => {
    const name = await createDeployment('bg-exp');
    const until = new Date(Date.now() + 4_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    expect((await kubectl(RESPONDER, annotations(name, [`driftgate.dev/break-glass-until=${until}`]))).code).toBe(0);
    await new Promise((r) => setTimeout(r, 5_000));
    const r = refusal(await kubectl(RESPONDER, ['-n', 'prod', 'set', 'image', `deployment/${name}`, 'app=x:1']));
    expect(r).toContain(`expired at ${until}`);
  });

  it('refuses a developer who copies the annotations', async () => {
    const name = await createDeployment('bg-copy');
    expect((await kubectl(RESPONDER, annotations(name, ['driftgate.dev/break-glass-for=30m']))).code).toBe(0);
    const r = refusal(await kubectl(DEVELOPER, ['-n', 'prod', 'set', 'image', `deployment/${name}`, 'app=x:1']));
    expect(r).toContain('dev@example.com may not use break-glass');
    const own = refusal(await kubectl(DEVELOPER, annotations(name, ['driftgate.dev/break-glass-for=20m'])));
    expect(own).toContain('may not use break-glass');
  });

  it('decides a server-side dry run like the real write and records nothing', async () => {
    const name = await createDeployment('bg-dry');
    expect((await kubectl(RESPONDER, annotations(name, ['driftgate.dev/break-glass-for=30m']))).code).toBe(0);
    const manifest = JSON.parse(deploymentManifest(name)) as { spec: { template: { spec: { containers: { image: string }[] } } } };
    const container = manifest.spec.template.spec.containers[0];
    if (container) container.image = 'registry.example.com/checkout:dry';
    const dry = await kubectl(RESPONDER, ['apply', '--dry-run=server', '-f', '-'], JSON.stringify(manifest));
    expect(dry.code).toBe(0);
    const diff = await kubectl(RESPONDER, ['diff', '-f', '-'], JSON.stringify(manifest));
    expect(diff.code).toBe(1); // kubectl diff exits 1 when there is a difference, >1 on error
    const devDry = refusal(await kubectl(DEVELOPER, ['apply', '--dry-run=server', '-f', '-'], JSON.stringify(manifest)));
    expect(devDry).toContain('may not use break-glass');
    const tickets = await kubectl(ADMIN, ['-n', 'driftgate-system', 'get', 'backporttickets', '-o', 'name']);
    expect(tickets.stdout).not.toContain(name);
  });
});
