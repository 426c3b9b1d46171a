/**
 * `serve --manage-webhooks`: the leader keeps driftgate's two webhook configurations as the policy
 * in force renders them (the renderer of `driftgate manifests`, so the two never disagree). It
 * writes them with server-side apply under its own field manager, forcing ownership of the fields
 * it renders: a `kubectl edit` of one of them (failurePolicy Ignore, a narrower selector) is put
 * back, and a deleted configuration is created again, within a second of the watch event. Each
 * restore is logged and counted (driftgate_webhook_configuration_restores_total), because it
 * means someone tried to turn protection off: the apiserver never asks a webhook about writes to
 * webhook configurations, so driftgate is the only one who sees it.
 *
 * The one way to turn them off on purpose is the switch on the Lease (`driftgate webhooks
 * disable`): with it set, the keeper deletes them and restores nothing, and
 * driftgate_webhooks_disabled says so.
 */
import { createHash } from 'node:crypto';
import { messageOf } from '../errors.js';
import type { KubeClient, WatchEvent } from '../kube/client.js';
import type { MutatingWebhookConfiguration, ValidatingWebhookConfiguration } from '../manifests/render.js';
import type { Logger } from '../server/logger.js';
import type { Metrics } from '../server/metrics.js';
import type { DisableSwitch } from './lease-api.js';

/** FIELD_MANAGER is the server-side apply field manager driftgate writes its configurations as. */
export const FIELD_MANAGER = 'driftgate';
/** RENDERED_HASH_ANNOTATION carries a digest of what was rendered, to tell a policy change from an edit. */
export const RENDERED_HASH_ANNOTATION = 'driftgate.dev/rendered-hash';

/** WebhookKind is one of the two configurations. */
export type WebhookKind = 'validating' | 'mutating';

const RESOURCES: Record<WebhookKind, string> = {
  validating: 'validatingwebhookconfigurations',
  mutating: 'mutatingwebhookconfigurations',
};
const KINDS: readonly WebhookKind[] = ['validating', 'mutating'];

/** LiveState is what the keeper reads of a live configuration. */
export interface LiveState {
  /** metadata.uid: a configuration deleted and created again is a new object, whatever its generation. */
  uid: string;
  generation: number;
  resourceVersion: string;
  hash: string | undefined;
}

/** ApplyOutcome is what an apply did, for the log and the metric. */
export type ApplyOutcome = 'created' | 'restored-deleted' | 'restored-edited' | 'updated' | 'unchanged';

/**
 * outcomeOf returns what an apply of the rendering `desiredHash` did, from the configuration as it
 * was before (undefined: absent) and after. Pure. A spec change (generation moved) while the live
 * object already carried this very rendering can only be someone else's edit being undone; a
 * change of rendering (a policy or CA change) is an update. An absent configuration the keeper had
 * seen, or one whose uid changed between the read and the apply, is a deletion undone.
 */
export function outcomeOf(before: LiveState | undefined, after: LiveState, desiredHash: string, seenBefore: boolean): ApplyOutcome {
  if (before === undefined) return seenBefore ? 'restored-deleted' : 'created';
  // Read before someone deleted it, applied after: the apply created a new object.
  if (before.uid !== after.uid) return 'restored-deleted';
  if (after.generation === before.generation) return 'unchanged';
  return before.hash === desiredHash ? 'restored-edited' : 'updated';
}

/** renderingHash returns the digest of a rendered configuration's webhooks (what a policy change alters). */
export function renderingHash(config: ValidatingWebhookConfiguration | MutatingWebhookConfiguration): string {
  return createHash('sha256').update(JSON.stringify(config.webhooks)).digest('hex').slice(0, 16);
}

/** WebhookKeeperDeps are what the keeper needs, all passed in. */
export interface WebhookKeeperDeps {
  client: KubeClient;
  /** Renders both configurations from the policy in force and the current caBundle; may throw (a policy that selects nothing). */
  render: () => [ValidatingWebhookConfiguration, MutatingWebhookConfiguration];
  /** Reads the disable switch, fresh (the Lease), before every decision to restore. */
  readSwitch: () => Promise<DisableSwitch>;
  metrics: Metrics;
  logger: Logger;
  /** A full reconcile this often, in case a watch event was missed. */
  resyncMs: number;
}

interface KubeMeta {
  metadata?: { name?: string; uid?: string; generation?: number; resourceVersion?: string; annotations?: Record<string, string> };
}

function liveOf(obj: KubeMeta): LiveState {
  return {
    uid: obj.metadata?.uid ?? '',
    generation: obj.metadata?.generation ?? 0,
    resourceVersion: obj.metadata?.resourceVersion ?? '',
    hash: obj.metadata?.annotations?.[RENDERED_HASH_ANNOTATION],
  };
}

/** WebhookKeeper keeps the configurations while started (the leader starts it, and stops it on losing the Lease). */
export class WebhookKeeper {
  readonly #deps: WebhookKeeperDeps;
  readonly #seen = new Set<WebhookKind>();
  readonly #written = new Map<WebhookKind, string>();
  readonly #pending = new Set<WebhookKind>();
  #draining: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;
  #disabledLogged = false;

  constructor(deps: WebhookKeeperDeps) {
    this.#deps = deps;
  }

  /** name returns the configurations' name as rendered. */
  #name(): string {
    return this.#deps.render()[0].metadata.name;
  }

  /** start reconciles both configurations now, watches them, and resyncs every resyncMs. */
  start(): void {
    if (this.#abort !== undefined) return;
    const abort = new AbortController();
    this.#abort = abort;
    this.resync();
    for (const kind of KINDS) void this.#watchLoop(kind, abort.signal);
    this.#timer = setInterval(() => this.resync(), this.#deps.resyncMs);
    this.#timer.unref();
  }

  /** stop stops watching; what is applied stays applied (a leader stepping down must not remove protection). */
  async stop(): Promise<void> {
    this.#abort?.abort();
    this.#abort = undefined;
    clearInterval(this.#timer);
    this.#pending.clear();
    await this.#draining;
  }

  /**
   * resync renders and applies both configurations again: call it when the policy in force or the
   * CA changes (the live GuardPolicy reload subscribes it). A no-op when not started (not leading).
   */
  resync(): void {
    for (const kind of KINDS) this.#schedule(kind);
  }

  /** settled resolves once every scheduled reconcile has run (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.#draining !== undefined) await this.#draining;
  }

  #schedule(kind: WebhookKind): void {
    if (this.#abort === undefined) return;
    this.#pending.add(kind);
    if (this.#draining !== undefined) return;
    this.#draining = (async () => {
      while (this.#pending.size > 0 && this.#abort !== undefined) {
        const next = [...this.#pending][0] as WebhookKind;
        this.#pending.delete(next);
        await this.reconcile(next);
      }
    })().finally(() => {
      this.#draining = undefined;
    });
  }

  /** reconcile brings one configuration to the rendering (or, switched off, removes it). Never throws. */
  async reconcile(kind: WebhookKind): Promise<ApplyOutcome | 'disabled' | 'failed'> {
    const { client, logger, metrics } = this.#deps;
    const resource = RESOURCES[kind];
    let name = 'driftgate';
    try {
      const rendered = this.#deps.render()[kind === 'validating' ? 0 : 1];
      name = rendered.metadata.name;
      const path = `/apis/admissionregistration.k8s.io/v1/${resource}/${encodeURIComponent(name)}`;
      const before = await this.#get(path);
      const sw = await this.#deps.readSwitch();
      if (sw.disabled) {
        metrics.webhooksDisabled.set(1);
        if (before !== undefined) {
          // Gone already (the CLI deletes them too) is what was wanted.
          await client.request({ method: 'DELETE', path, signal: AbortSignal.timeout(5_000) }).catch((err: unknown) => {
            if ((err as { code?: string }).code !== 'DG_KUBE_NOT_FOUND') throw err;
          });
          logger.warn(
            { kind, name, reason: sw.reason, disabledAt: sw.at },
            'webhooks are switched off on purpose (driftgate webhooks disable): configuration removed, not restored',
          );
        } else if (!this.#disabledLogged) {
          logger.warn(
            { kind, name, reason: sw.reason, disabledAt: sw.at },
            'webhooks are switched off on purpose (driftgate webhooks disable): not restoring them',
          );
        }
        this.#disabledLogged = true;
        this.#seen.delete(kind);
        return 'disabled';
      }
      metrics.webhooksDisabled.set(0);
      this.#disabledLogged = false;
      const hash = renderingHash(rendered);
      const body = { ...rendered, metadata: { ...rendered.metadata, annotations: { ...rendered.metadata.annotations, [RENDERED_HASH_ANNOTATION]: hash } } };
      const applied = await client.request<KubeMeta>({
        method: 'PATCH',
        path: `${path}?fieldManager=${FIELD_MANAGER}&force=true`,
        contentType: 'application/apply-patch+yaml',
        // JSON is YAML: the apply body is the rendered object as is.
        body,
        signal: AbortSignal.timeout(5_000),
      });
      const after = liveOf(applied);
      this.#written.set(kind, after.resourceVersion);
      // `webhooks disable` may have set the switch and deleted the configuration between the
      // read above and this apply; then the apply just undid a deliberate turn-off. Read the
      // switch again and take it back at once rather than at the next resync.
      const late = await this.#deps.readSwitch();
      if (late.disabled) {
        await client.request({ method: 'DELETE', path, signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
        metrics.webhooksDisabled.set(1);
        this.#seen.delete(kind);
        return 'disabled';
      }
      const outcome = outcomeOf(before, after, hash, this.#seen.has(kind));
      this.#seen.add(kind);
      // The generation the alerts read (housekeeping reads it too, every minute): a restore is visible at once.
      metrics.webhookGeneration.set({ kind }, after.generation);
      this.#report(kind, name, outcome, before);
      return outcome;
    } catch (err) {
      metrics.webhookKeeperFailures.inc({ kind });
      logger.error({ kind, name, problem: messageOf(err) }, 'could not keep the webhook configuration; retrying at the next event or resync');
      return 'failed';
    }
  }

  #report(kind: WebhookKind, name: string, outcome: ApplyOutcome, before: LiveState | undefined): void {
    const { logger, metrics } = this.#deps;
    metrics.webhookPresent.set({ kind }, 1);
    if (outcome === 'restored-deleted' || outcome === 'restored-edited') {
      const reason = outcome === 'restored-deleted' ? 'deleted' : 'edited';
      metrics.webhookRestores.inc({ kind, reason });
      logger.error(
        { kind, name, reason, editedGeneration: before?.generation },
        reason === 'deleted'
          ? 'webhook configuration was deleted and has been restored; to turn driftgate off on purpose use `driftgate webhooks disable`'
          : 'webhook configuration was edited and has been restored from the policy; change the policy instead',
      );
    } else if (outcome === 'created' || outcome === 'updated') {
      logger.info({ kind, name, outcome }, 'webhook configuration applied from the policy in force');
    }
  }

  async #get(path: string): Promise<LiveState | undefined> {
    try {
      return liveOf(await this.#deps.client.request<KubeMeta>({ method: 'GET', path, signal: AbortSignal.timeout(5_000) }));
    } catch (err) {
      if ((err as { code?: string }).code === 'DG_KUBE_NOT_FOUND') return undefined;
      throw err;
    }
  }

  /** Watches one configuration by name; any change not written by the keeper itself schedules a reconcile. */
  async #watchLoop(kind: WebhookKind, signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      let name = 'driftgate';
      try {
        name = this.#name();
        const path = `/apis/admissionregistration.k8s.io/v1/${RESOURCES[kind]}?watch=true&fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`;
        await this.#deps.client.watch<KubeMeta>(
          path,
          (event: WatchEvent<KubeMeta>) => {
            failures = 0;
            if (event.type === 'BOOKMARK') return;
            if (event.type === 'ERROR') return;
            const rv = event.object.metadata?.resourceVersion;
            if (event.type !== 'DELETED' && rv !== undefined && rv === this.#written.get(kind)) return;
            this.#schedule(kind);
          },
          signal,
        );
      } catch (err) {
        failures++;
        if (!signal.aborted) this.#deps.logger.warn({ kind, name, problem: messageOf(err) }, 'watching the webhook configuration failed; watching again');
      }
      if (signal.aborted) return;
      // The stream ended (the apiserver closes watches after a while) or failed: look again at
      // once (a change may have happened in the gap), and back off while it keeps failing.
      this.#schedule(kind);
      await new Promise((r) => setTimeout(r, Math.min(30_000, 200 * 2 ** Math.min(failures, 8))).unref());
    }
  }
}
