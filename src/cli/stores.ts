/**
 * Opening the ticket store a `--tickets` flag names, and the Kubernetes client when one is
 * configured (the parent lookup of `/scale` and friends needs it; a laptop run does without).
 */
import type { ParentLookup } from '../admission/admit.js';
import { JournalStore, parseTicketsSpec } from '../tickets/journal.js';
import { KubernetesStore } from '../tickets/kubernetes.js';
import type { TicketStore } from '../tickets/types.js';
import { createKubeClient, parentLookup, type KubeClient } from '../kube/client.js';
import { inCluster, loadKubeConfig, type KubeOptions } from './kubeconfig.js';

/** OpenedStore is a ticket store and, when a cluster is reachable by config, the parent lookup. */
export interface OpenedStore {
  store: TicketStore;
  kind: 'journal' | 'kubernetes';
  parents?: ParentLookup;
  /** The API client, when a cluster is configured. */
  client?: KubeClient;
}

/** openTicketStore returns the store named by `spec` (journal:FILE, kubernetes or kubernetes:NAMESPACE). */
export async function openTicketStore(spec: string, opts: KubeOptions & { onWarning?: (message: string) => void } = {}): Promise<OpenedStore> {
  const parsed = parseTicketsSpec(spec);
  if (parsed.kind === 'kubernetes') {
    const client = createKubeClient(await loadKubeConfig(opts));
    const store = new KubernetesStore({
      client,
      ...(parsed.namespace === undefined ? {} : { namespace: parsed.namespace }),
      ...(opts.onWarning === undefined ? {} : { onWarning: opts.onWarning }),
    });
    return { store, kind: 'kubernetes', parents: parentLookup(client), client };
  }
  const kubeWanted = opts.kubeconfig !== undefined || inCluster();
  const client = kubeWanted ? createKubeClient(await loadKubeConfig(opts)) : undefined;
  const store = await JournalStore.open(parsed.path, opts.onWarning === undefined ? {} : { onWarning: opts.onWarning });
  return { store, kind: 'journal', ...(client === undefined ? {} : { parents: parentLookup(client), client }) };
}
