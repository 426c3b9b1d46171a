/**
 * What `serve` keeps true in the cluster, wired together: the election (one writer among the
 * replicas), the webhook configurations (while leading) and the self-managed certificates (read
 * by every replica, rotated by the leader). Each part is optional: `--manage-webhooks` and
 * `--self-managed-certs` are opt-in, and without either nothing here runs.
 */
import type { GuardPolicy } from '../policy/types.js';
import type { KubeClient } from '../kube/client.js';
import type { RenderOptions, WebhookTarget } from '../manifests/render.js';
import { renderPolicySet } from '../manifests/render-set.js';
import type { Logger } from '../server/logger.js';
import type { Metrics } from '../server/metrics.js';
import type { KeyPair } from '../server/tls.js';
import type { RotationSettings } from '../certs/rotation.js';
import { CertKeeper, type SecretRef } from './cert-keeper.js';
import { LeaderElector } from './lease.js';
import { type LeaseRef, kubeLeaseApi, switchOf } from './lease-api.js';
import { WebhookKeeper } from './webhook-keeper.js';

/** ManagedWebhooks say what `--manage-webhooks` renders. */
export interface ManagedWebhooks {
  target: WebhookTarget;
  /** The caBundle when it does not come from the self-managed certificates: a fixed one ("" with cert-manager injection). */
  caBundle?: string;
  options: RenderOptions;
}

/** ManagedCerts say what `--self-managed-certs` keeps. */
export interface ManagedCerts {
  ref: SecretRef;
  hosts: string[];
  settings: RotationSettings;
  intervalMs: number;
}

/** ControllerDeps are the parts and their settings. */
export interface ControllerDeps {
  client: KubeClient;
  /** The policy in force: read at every render, so a live reload only has to call resync(). */
  /** The policies in force, read at every render (one, from a file; the GuardPolicy objects, live). */
  policies: () => readonly GuardPolicy[];
  lease: LeaseRef;
  identity: string;
  leaseDurationMs: number;
  webhooks?: ManagedWebhooks;
  certs?: ManagedCerts;
  /** The listener's certificate swap (setKeyPair). */
  onPair: (pair: KeyPair) => void;
  metrics: Metrics;
  logger: Logger;
  resyncMs: number;
  now: () => Date;
}

/** Controller is the running keeper. */
export interface Controller {
  /** The pair to serve first (self-managed certificates), before listening. */
  initialPair: KeyPair | undefined;
  /**
   * resync renders and applies the webhook configurations again from `policies()`: the live
   * GuardPolicy reload calls it after a change. A no-op on replicas that do not lead.
   */
  resync(): void;
  isLeader(): boolean;
  /** Starts the election and the keepers (after the listener is up). */
  start(): void;
  /** Stops everything and releases the Lease; what is applied stays applied. */
  stop(): Promise<void>;
}

/** createController returns the keeper; with self-managed certificates it has already read (or created) the Secret. */
export async function createController(deps: ControllerDeps): Promise<Controller> {
  const { client, logger, metrics } = deps;
  const leaseApi = kubeLeaseApi(client, deps.lease);
  let elector: LeaderElector | undefined;
  const isLeader = (): boolean => elector?.isLeader() ?? false;

  let webhooks: WebhookKeeper | undefined;
  let certs: CertKeeper | undefined;
  const managed = deps.webhooks;
  if (deps.certs !== undefined) {
    certs = new CertKeeper({
      client,
      ref: deps.certs.ref,
      hosts: deps.certs.hosts,
      settings: deps.certs.settings,
      now: deps.now,
      isLeader,
      onPair: deps.onPair,
      // A new CA enters (or leaves) the caBundle: apply the webhooks at once, not at the next resync.
      onBundle: () => webhooks?.resync(),
      metrics,
      logger,
      intervalMs: deps.certs.intervalMs,
    });
  }
  const initialPair = certs === undefined ? undefined : await certs.bootstrap();
  if (managed !== undefined) {
    const caBundle = (): string => certs?.bundle() ?? managed.caBundle ?? '';
    webhooks = new WebhookKeeper({
      client,
      render: () => renderPolicySet(deps.policies(), managed.target, caBundle(), managed.options),
      readSwitch: async () => switchOf(await leaseApi.get()),
      metrics,
      logger,
      resyncMs: deps.resyncMs,
    });
  }

  elector = new LeaderElector({
    api: leaseApi,
    identity: deps.identity,
    durationMs: deps.leaseDurationMs,
    renewMs: Math.max(100, Math.floor(deps.leaseDurationMs / 3)),
    renewDeadlineMs: Math.floor((deps.leaseDurationMs * 2) / 3),
    now: () => deps.now().getTime(),
    onStartedLeading: () => {
      metrics.leader.set(1);
      webhooks?.start();
      // Rotation is due-time driven: look at once rather than a poll interval later.
      void certs?.tick();
    },
    onStoppedLeading: () => {
      metrics.leader.set(0);
      void webhooks?.stop();
    },
    onEvent: (level, message, fields) => logger[level]({ lease: `${deps.lease.namespace}/${deps.lease.name}`, identity: deps.identity, ...fields }, message),
  });
  metrics.leader.set(0);

  return {
    initialPair,
    resync: () => webhooks?.resync(),
    isLeader,
    start: () => {
      elector?.start();
      certs?.start();
    },
    stop: async () => {
      await certs?.stop();
      await webhooks?.stop();
      await elector?.stop();
    },
  };
}
