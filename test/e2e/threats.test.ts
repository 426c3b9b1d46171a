/**
 * The bypass paths of the admission threat model, each tried through the real apiserver: other
 * verbs and subresources that change what runs without a plain UPDATE of the object.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ADMIN, ARGOCD, DEVELOPER, HPA, RESPONDER, cluster, createDeployment, getJson, kubectl, refusal, sleep, unique } from './cluster.js';

async function createPod(name: string): Promise<void> {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'prod', labels: { app: name } },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/checkout:v1.2.3' }] },
  };
  // No scheduler runs: the pod stays Pending, which is enough for admission to see writes to it.
  const r = await kubectl(ADMIN, ['apply', '-f', '-'], JSON.stringify(pod));
  if (r.code !== 0) throw new Error(r.stderr);
}

describe('bypass paths', () => {
  it('status: a pure write to deployments/status passes, and the apiserver keeps the spec', async () => {
    const name = await createDeployment('status');
    const r = await kubectl(DEVELOPER, [
      '-n',
      'prod',
      'patch',
      `deployment/${name}`,
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"spec":{"replicas":9},"status":{"replicas":9}}',
    ]);
    expect(r.code).toBe(0);
    const d = await getJson<{ spec: { replicas: number } }>(['-n', 'prod', 'deployment', name]);
    expect(d.spec.replicas).toBe(2);
  });

  it('scale: statefulsets/scale is guarded by guarding statefulsets (issue 11): kubectl scale sts is refused', async () => {
    const name = unique('sts');
    const sts = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name, namespace: 'prod' },
      spec: {
        replicas: 2,
        serviceName: name,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'registry.example.com/db:1' }] } },
      },
    };
    expect((await kubectl(ARGOCD, ['apply', '-f', '-'], JSON.stringify(sts))).code).toBe(0);
    expect(refusal(await kubectl(DEVELOPER, ['-n', 'prod', 'scale', `statefulset/${name}`, '--replicas=0']))).toContain('statefulsets.apps/' + name + '/scale');
    // The HPA, delegated /spec/replicas, still scales it.
    expect((await kubectl(HPA, ['-n', 'prod', 'scale', `statefulset/${name}`, '--replicas=3'])).code).toBe(0);
  });

  it('status: a services/status write that flips a load-balancer annotation is refused; a pure status write is not', async () => {
    const name = unique('svc');
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'prod', annotations: { 'example.com/lb-internal': 'true' } },
      spec: { ports: [{ port: 80 }], selector: { app: name } },
    };
    expect((await kubectl(ARGOCD, ['apply', '-f', '-'], JSON.stringify(svc))).code).toBe(0);
    // The developer may not write services/status at all (RBAC); an admin who may is still not Git.
    const flip = await kubectl(ADMIN, [
      '-n',
      'prod',
      'patch',
      `service/${name}`,
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"metadata":{"annotations":{"example.com/lb-internal":"false"}}}',
    ]);
    expect(refusal(flip)).toContain('/metadata/annotations/example.com~1lb-internal');
    const pure = await kubectl(ADMIN, [
      '-n',
      'prod',
      'patch',
      `service/${name}`,
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"conditions":[{"type":"Probe","status":"True","reason":"Ok","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}',
    ]);
    expect(pure.code).toBe(0);
  });

  it("driftgate's annotations: a developer can neither stamp a ticket nor remove a responder's window", async () => {
    const name = await createDeployment('forge');
    refusal(await kubectl(DEVELOPER, ['-n', 'prod', 'annotate', `deployment/${name}`, 'driftgate.dev/backport-ticket=made-up']));
    const open = await kubectl(RESPONDER, [
      '-n',
      'prod',
      'annotate',
      `deployment/${name}`,
      'driftgate.dev/break-glass-for=30m',
      'driftgate.dev/break-glass-reason=database failover in progress',
      'driftgate.dev/break-glass-incident=INC-9',
    ]);
    expect(open.code).toBe(0);
    const remove = [
      '-n',
      'prod',
      'annotate',
      `deployment/${name}`,
      'driftgate.dev/break-glass-until-',
      'driftgate.dev/break-glass-reason-',
      'driftgate.dev/break-glass-incident-',
    ];
    expect(refusal(await kubectl(DEVELOPER, remove))).toContain('may not use break-glass');
    expect((await kubectl(RESPONDER, remove)).code).toBe(0);
  });

  it('generateName: the ticket a CREATE is stamped with (before the name exists) is the one recorded', async () => {
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        generateName: 'hotfix-',
        namespace: 'prod',
        annotations: {
          'driftgate.dev/break-glass-for': '30m',
          'driftgate.dev/break-glass-reason': 'feature flag needed now',
          'driftgate.dev/break-glass-incident': 'INC-77',
        },
      },
      data: { flag: 'on' },
    };
    const created = await kubectl(RESPONDER, ['create', '-o', 'json', '-f', '-'], JSON.stringify(cm));
    expect(created.code).toBe(0);
    const obj = JSON.parse(created.stdout) as { metadata: { name: string; annotations: Record<string, string> } };
    const stamp = obj.metadata.annotations['driftgate.dev/backport-ticket'] ?? '';
    expect(stamp).toMatch(/^hotfix-inc-77-[0-9a-f]{10}$/);
    const ticket = await getJson<{ items: { spec: { object: { name: string } } }[] }>([
      '-n',
      'driftgate-system',
      'backporttickets',
      '-l',
      `driftgate.dev/ticket=${stamp}`,
    ]);
    expect(ticket.items.map((o) => o.spec.object.name)).toEqual([obj.metadata.name]);
  });

  it('scale: deployments/scale is refused to a developer', async () => {
    const name = await createDeployment('scale');
    const raw = await kubectl(DEVELOPER, ['-n', 'prod', 'patch', `deployment/${name}`, '--subresource=scale', '--type=merge', '-p', '{"spec":{"replicas":5}}']);
    expect(refusal(raw)).toContain('/spec/replicas');
  });

  it('ephemeral containers: kubectl debug is refused', async () => {
    const pod = unique('debug');
    await createPod(pod);
    const r = await kubectl(DEVELOPER, ['-n', 'prod', 'debug', pod, '--image=busybox', '--container=dbg', '--attach=false']);
    refusal(r);
  });

  it('exec: kubectl exec (CONNECT pods/exec) is refused', async () => {
    const pod = unique('exec');
    await createPod(pod);
    const r = await kubectl(DEVELOPER, ['-n', 'prod', 'exec', pod, '--', 'sh', '-c', 'true']);
    expect(refusal(r)).toContain('exec into the object');
  });

  it('eviction: an Eviction of a protected pod is refused', async () => {
    const pod = unique('evict');
    await createPod(pod);
    const eviction = JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: 'prod' } });
    const r = await kubectl(DEVELOPER, ['create', '--raw', `/api/v1/namespaces/prod/pods/${pod}/eviction`, '-f', '-'], eviction);
    expect(refusal(r)).toContain('evicting the pod');
  });

  it('deletecollection: kubectl delete --all and a collection DELETE are refused item by item', async () => {
    const label = unique('batch');
    for (let i = 0; i < 3; i++) {
      const r = await kubectl(ARGOCD, ['-n', 'prod', 'create', 'configmap', `${label}-${i}`, '--from-literal=k=v']);
      expect(r.code).toBe(0);
      await kubectl(ARGOCD, ['-n', 'prod', 'label', 'configmap', `${label}-${i}`, `batch=${label}`]);
    }
    refusal(await kubectl(DEVELOPER, ['-n', 'prod', 'delete', 'configmap', '--all']));
    refusal(await kubectl(DEVELOPER, ['delete', '--raw', `/api/v1/namespaces/prod/configmaps?labelSelector=batch%3D${label}`]));
    const left = await getJson<{ items: unknown[] }>(['-n', 'prod', 'configmaps', '-l', `batch=${label}`]);
    expect(left.items).toHaveLength(3);
  });

  it('finalizers: a developer cannot remove the finalizer of an object being deleted', async () => {
    const name = unique('final');
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'prod', finalizers: ['example.com/keep'] }, data: { k: 'v' } };
    expect((await kubectl(ARGOCD, ['apply', '-f', '-'], JSON.stringify(cm))).code).toBe(0);
    expect((await kubectl(ARGOCD, ['-n', 'prod', 'delete', 'configmap', name, '--wait=false'])).code).toBe(0);
    const deleting = await getJson<{ metadata: { deletionTimestamp?: string } }>(['-n', 'prod', 'configmap', name]);
    expect(deleting.metadata.deletionTimestamp).toBeDefined();
    const r = await kubectl(DEVELOPER, ['-n', 'prod', 'patch', 'configmap', name, '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
    expect(refusal(r)).toContain('/metadata/finalizers');
    expect(
      (await kubectl(ARGOCD, ['-n', 'prod', 'patch', 'configmap', name, '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]'])).code,
    ).toBe(0);
  });

  it('namespace labels: relabelling a protected namespace is refused (and the selector uses the immutable name label)', async () => {
    refusal(await kubectl(DEVELOPER, ['label', 'namespace', 'prod', 'env=sandbox']));
    const web = readFileSync(cluster().webhooksFile, 'utf8');
    expect(web).toContain('kubernetes.io/metadata.name');
  });

  it('impersonation: a developer without the right cannot impersonate the GitOps ServiceAccount', async () => {
    const name = await createDeployment('imp');
    const r = await kubectl(DEVELOPER, [
      '--as=system:serviceaccount:argocd:argocd-application-controller',
      '-n',
      'prod',
      'set',
      'image',
      `deployment/${name}`,
      'app=x:1',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot impersonate/);
  });

  it('an unreachable webhook with failurePolicy Fail refuses the write', async () => {
    const docs = parseAllDocuments(readFileSync(cluster().webhooksFile, 'utf8')).map((d) => d.toJS() as Record<string, unknown>);
    const validating = docs.find((d) => d['kind'] === 'ValidatingWebhookConfiguration') as {
      metadata: { name: string };
      webhooks: { name: string; clientConfig: { url?: string }; namespaceSelector?: unknown; matchConditions?: unknown }[];
    };
    const dead = structuredClone(validating);
    dead.metadata = { name: 'driftgate-unreachable' };
    dead.webhooks = dead.webhooks.slice(0, 1).map((w) => ({
      ...w,
      name: 'unreachable.driftgate.dev',
      clientConfig: { ...w.clientConfig, url: 'https://127.0.0.1:1/validate' },
      namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['blackhole'] }] },
    }));
    for (const w of dead.webhooks) delete w.matchConditions;
    const file = join(cluster().work, 'unreachable.json');
    writeFileSync(file, JSON.stringify(dead));
    expect((await kubectl(ADMIN, ['apply', '-f', file])).code).toBe(0);
    try {
      let refused = '';
      for (let i = 0; i < 60 && refused === ''; i++) {
        const r = await kubectl(ARGOCD, ['-n', 'blackhole', 'create', 'configmap', unique('bh'), '--from-literal=k=v']);
        if (r.code !== 0) refused = r.stderr;
        else await sleep(500);
      }
      expect(refused).toContain('failed calling webhook');
    } finally {
      await kubectl(ADMIN, ['delete', 'validatingwebhookconfiguration', 'driftgate-unreachable']);
    }
  });

  it('a responder is still refused when the ticket cannot be recorded (driftgate may not write BackportTickets)', async () => {
    const name = await createDeployment('norbac');
    const open = await kubectl(RESPONDER, [
      '-n',
      'prod',
      'annotate',
      `deployment/${name}`,
      'driftgate.dev/break-glass-for=30m',
      'driftgate.dev/break-glass-reason=database failover in progress',
      'driftgate.dev/break-glass-incident=INC-9',
    ]);
    expect(open.code).toBe(0);
    const binding = await kubectl(ADMIN, ['-n', 'driftgate-system', 'get', 'rolebinding', '-o', 'json']);
    const bindings = (JSON.parse(binding.stdout) as { items: { metadata: { name: string }; roleRef: { name: string } }[] }).items;
    expect(bindings.length).toBeGreaterThan(0);
    expect((await kubectl(ADMIN, ['-n', 'driftgate-system', 'delete', 'rolebindings', '--all'])).code).toBe(0);
    try {
      const r = refusal(await kubectl(RESPONDER, ['-n', 'prod', 'set', 'image', `deployment/${name}`, 'app=x:2']));
      expect(r).toContain('could not be recorded');
      const d = await getJson<{ spec: { template: { spec: { containers: { image: string }[] } } } }>(['-n', 'prod', 'deployment', name]);
      expect(d.spec.template.spec.containers[0]?.image).toBe('registry.example.com/checkout:v1.2.3');
    } finally {
      // Put back exactly what an operator installs.
      const restored = await kubectl(ADMIN, ['apply', '--server-side', '-f', join(import.meta.dirname, '../../manifests/install.yaml')]);
      expect(restored.code).toBe(0);
    }
  });
});

describe('the webhook configuration itself', () => {
  it('is watched: removing it shows in driftgate_webhook_configuration_present, for the alert', async () => {
    const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${cluster().metricsPort}/metrics`)).text();
    expect(await metrics()).toContain('driftgate_webhook_configuration_present{kind="validating"} 1');
    expect((await kubectl(ADMIN, ['delete', 'mutatingwebhookconfiguration', 'driftgate'])).code).toBe(0);
    try {
      let seen = '';
      for (let i = 0; i < 40 && !seen.includes('driftgate_webhook_configuration_present{kind="mutating"} 0'); i++) {
        await sleep(250);
        seen = await metrics();
      }
      expect(seen).toContain('driftgate_webhook_configuration_present{kind="mutating"} 0');
    } finally {
      expect((await kubectl(ADMIN, ['apply', '-f', cluster().webhooksFile])).code).toBe(0);
    }
  });
});
