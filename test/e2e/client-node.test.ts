/**
 * The same product seen from a program rather than kubectl: writes through
 * @kubernetes/client-node, as a controller or a script would make them, with the developer's
 * own client certificate and with the admin impersonating the GitOps ServiceAccount (the
 * kubeconfig user's `as:`, which client-node honours).
 */
import { ApiException, AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { cluster, createDeployment, getJson, unique } from './cluster.js';

function config(kubeconfig: string, impersonate?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  if (impersonate === undefined) return kc;
  const user = kc.getCurrentUser();
  if (user === null) throw new Error('no current user');
  // Rebuild the config with the same credentials plus `as:`.
  const users = kc.users.map((u) => (u.name === user.name ? { ...u, impersonateUser: impersonate } : u));
  const out = new KubeConfig();
  out.loadFromOptions({ clusters: kc.clusters, users, contexts: kc.contexts, currentContext: kc.currentContext });
  return out;
}

function denial(err: unknown): string {
  if (!(err instanceof ApiException)) throw err;
  expect(err.code).toBe(403);
  return String((JSON.parse(String(err.body)) as { message?: string }).message ?? '');
}

describe('writes through @kubernetes/client-node', () => {
  it('refuses a developer replacing a Deployment with a new image, and lets Argo CD do it', async () => {
    const name = await createDeployment('cn');
    const dev = config(cluster().developerKubeconfig).makeApiClient(AppsV1Api);
    // The deployment controller writes the new Deployment's status meanwhile: a replace built on
    // an older read is a 409 Conflict from the apiserver, not driftgate's answer; read again.
    let message = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await dev.readNamespacedDeployment({ name, namespace: 'prod' });
      const container = current.spec?.template.spec?.containers[0];
      if (container === undefined) throw new Error('no container');
      container.image = 'registry.example.com/checkout:from-a-script';
      const outcome = await dev.replaceNamespacedDeployment({ name, namespace: 'prod', body: current }).then(
        () => 'allowed',
        (err: unknown) => (err instanceof ApiException && err.code === 409 ? 'conflict' : denial(err)),
      );
      if (outcome === 'conflict') continue;
      message = outcome;
      break;
    }
    expect(message).toContain('[driftgate/drift]');
    expect(message).toContain('/spec/template/spec/containers/0/image');

    const argo = config(cluster().kubeconfig, 'system:serviceaccount:argocd:argocd-application-controller').makeApiClient(AppsV1Api);
    for (let attempt = 0; attempt < 5; attempt++) {
      const fresh = await argo.readNamespacedDeployment({ name, namespace: 'prod' });
      const c = fresh.spec?.template.spec?.containers[0];
      if (c === undefined) throw new Error('no container');
      c.image = 'registry.example.com/checkout:from-git';
      const conflict = await argo.replaceNamespacedDeployment({ name, namespace: 'prod', body: fresh }).then(
        () => false,
        (err: unknown) => {
          if (err instanceof ApiException && err.code === 409) return true;
          throw err;
        },
      );
      if (!conflict) break;
    }
    const stored = await getJson<{ spec: { template: { spec: { containers: { image: string }[] } } } }>(['-n', 'prod', 'deployment', name]);
    expect(stored.spec.template.spec.containers[0]?.image).toBe('registry.example.com/checkout:from-git');
  });

  it('refuses a developer deleting a collection, one review per item', async () => {
    const argo = config(cluster().kubeconfig, 'system:serviceaccount:argocd:argocd-application-controller').makeApiClient(CoreV1Api);
    const batch = unique('cnbatch');
    for (let i = 0; i < 2; i++) {
      await argo.createNamespacedConfigMap({ namespace: 'prod', body: { metadata: { name: `${batch}-${i}`, labels: { batch } }, data: { k: 'v' } } });
    }
    const dev = config(cluster().developerKubeconfig).makeApiClient(CoreV1Api);
    const message = await dev.deleteCollectionNamespacedConfigMap({ namespace: 'prod', labelSelector: `batch=${batch}` }).then(
      () => 'allowed',
      (err: unknown) => denial(err),
    );
    expect(message).toContain('deleting the object');
    const left = await argo.listNamespacedConfigMap({ namespace: 'prod', labelSelector: `batch=${batch}` });
    expect(left.items).toHaveLength(2);
  });
});
