/**
 * `serve --self-managed-certs NS/NAME`: driftgate's own CA and serving certificate, in one
 * Secret every replica reads. The first replica to start creates it (if several race, the
 * apiserver lets one create win and the others read the winner's); from then on only the leader
 * rotates it (src/certs/rotation.ts says when), writing with the resourceVersion it read so a
 * stale writer is refused. Every replica polls the Secret and hands a changed pair to the HTTPS
 * listener (`setKeyPair`: new connections get the new certificate, open ones finish on the old),
 * and the caBundle to the webhook keeper.
 *
 * Key material never leaves the Secret (cert-secret.ts) and the TLS context: logs carry
 * fingerprints and expiry dates only.
 */
import { createHash } from 'node:crypto';
import { type RotationSettings, type RotationStep, rotationStep } from '../certs/rotation.js';
import { DriftgateError, messageOf } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import type { Logger } from '../server/logger.js';
import type { Metrics } from '../server/metrics.js';
import { type KeyPair, keyPairOf } from '../server/tls.js';
import { KEYS, type Material, type SecretObject, applyStep, bundleOf, factsOf, freshMaterial, materialOf, secretOf } from './cert-secret.js';

/** SecretRef names the Secret. */
export interface SecretRef {
  namespace: string;
  name: string;
}

/** CertKeeperDeps are what the keeper needs. */
export interface CertKeeperDeps {
  client: KubeClient;
  ref: SecretRef;
  hosts: readonly string[];
  settings: RotationSettings;
  now: () => Date;
  isLeader: () => boolean;
  /** A new serving pair to serve (every replica). */
  onPair: (pair: KeyPair) => void;
  /** A new caBundle for the webhook configurations (base64). */
  onBundle: (bundle: string) => void;
  metrics: Metrics;
  logger: Logger;
  intervalMs: number;
}

function fingerprint(pem: string): string {
  return createHash('sha256').update(pem).digest('hex').slice(0, 16);
}

/** CertKeeper keeps the Secret and hands its changes to the listener and the webhook keeper. */
export class CertKeeper {
  readonly #deps: CertKeeperDeps;
  #pairFingerprint = '';
  #bundle = '';
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(deps: CertKeeperDeps) {
    this.#deps = deps;
  }

  #path(named: boolean): string {
    const base = `/api/v1/namespaces/${encodeURIComponent(this.#deps.ref.namespace)}/secrets`;
    return named ? `${base}/${encodeURIComponent(this.#deps.ref.name)}` : base;
  }

  /** bundle returns the caBundle (base64) the webhooks must carry now. */
  bundle(): string {
    return this.#bundle;
  }

  async #get(): Promise<SecretObject | undefined> {
    try {
      return await this.#deps.client.request<SecretObject>({ method: 'GET', path: this.#path(true), signal: AbortSignal.timeout(5_000) });
    } catch (err) {
      if (err instanceof DriftgateError && err.code === 'DG_KUBE_NOT_FOUND') return undefined;
      throw err;
    }
  }

  /**
   * bootstrap returns the serving pair to start with: the Secret's, or a new one this replica
   * creates. Two replicas creating at once: one create wins, the other gets 409 and reads the
   * winner's, so all serve certificates of one CA.
   */
  async bootstrap(): Promise<KeyPair> {
    const { ref, logger } = this.#deps;
    let secret = await this.#get();
    if (secret === undefined) {
      const m = freshMaterial(this.#deps.hosts, this.#deps.settings, this.#deps.now());
      try {
        secret = await this.#deps.client.request<SecretObject>({
          method: 'POST',
          path: this.#path(false),
          body: secretOf(m, { name: ref.name, namespace: ref.namespace }),
          signal: AbortSignal.timeout(10_000),
        });
        logger.info(
          { secret: `${ref.namespace}/${ref.name}`, ca: fingerprint(m.ca.certPem) },
          'self-managed certificates: created the CA and serving certificate',
        );
      } catch (err) {
        if (!(err instanceof DriftgateError && err.code === 'DG_KUBE_CONFLICT')) throw err;
        logger.info({ secret: `${ref.namespace}/${ref.name}` }, 'self-managed certificates: another replica created them first; using theirs');
        secret = await this.#get();
        if (secret === undefined) throw new DriftgateError('DG_CERT_INVALID', `Secret ${ref.namespace}/${ref.name} was created and is gone again; start again`);
      }
    }
    let m: Material;
    try {
      m = materialOf(secret);
    } catch (err) {
      // Not ours, or garbled: say so, and replace it (for instance a cert-manager Secret of the
      // same name left from certificates.mode=cert-manager, which has no ca.key). Replicas racing
      // to replace it write with the resourceVersion they read: one wins, the others read theirs.
      logger.error(
        { secret: `${ref.namespace}/${ref.name}`, problem: messageOf(err) },
        'self-managed certificates: the Secret is unusable; replacing it with a new CA and certificate',
      );
      const fresh = freshMaterial(this.#deps.hosts, this.#deps.settings, this.#deps.now());
      try {
        await this.#write(fresh, secret);
        m = fresh;
      } catch (writeErr) {
        if (!(writeErr instanceof DriftgateError && writeErr.code === 'DG_KUBE_CONFLICT')) throw writeErr;
        const theirs = await this.#get();
        if (theirs === undefined)
          throw new DriftgateError('DG_CERT_INVALID', `Secret ${ref.namespace}/${ref.name} was replaced and is gone again; start again`);
        m = materialOf(theirs);
      }
    }
    return this.#use(m);
  }

  #use(m: Material): KeyPair {
    const pair = keyPairOf(m.serving.certPem, m.serving.keyPem, { cert: `data.${KEYS.cert}`, key: `data.${KEYS.key}` });
    const bundle = bundleOf(m);
    if (pair.fingerprint !== this.#pairFingerprint) {
      const first = this.#pairFingerprint === '';
      this.#pairFingerprint = pair.fingerprint;
      this.#deps.metrics.certExpiry.set(pair.notAfter.getTime() / 1000);
      if (!first) {
        this.#deps.onPair(pair);
        this.#deps.logger.info(
          { notAfter: pair.notAfter.toISOString(), certificate: fingerprint(m.serving.certPem) },
          'self-managed certificates: serving the new certificate',
        );
      }
    }
    if (bundle !== this.#bundle) {
      this.#bundle = bundle;
      this.#deps.onBundle(bundle);
    }
    return pair;
  }

  /** start polls the Secret every intervalMs (the leader also rotates it). */
  start(): void {
    const loop = (): void => {
      this.#running = this.tick().then(() => {
        this.#running = undefined;
        this.#timer = setTimeout(loop, this.#deps.intervalMs);
        this.#timer.unref();
      });
    };
    this.#timer = setTimeout(loop, this.#deps.intervalMs);
    this.#timer.unref();
  }

  /** stop ends the polling, after a round in progress. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#running;
    clearTimeout(this.#timer);
  }

  /** tick reads the Secret, rotates it when leading and a step is due, and serves what it holds. Never throws. */
  async tick(): Promise<RotationStep['kind'] | 'failed' | 'missing'> {
    const { ref, logger, metrics } = this.#deps;
    try {
      const secret = await this.#get();
      if (secret === undefined) {
        // Deleted: the leader makes a new one (the webhooks follow with its caBundle); the
        // others keep serving what they have until it appears.
        if (this.#deps.isLeader()) {
          logger.error({ secret: `${ref.namespace}/${ref.name}` }, 'self-managed certificates: the Secret is gone; creating a new CA and certificate');
          await this.bootstrap().then((pair) => this.#deps.onPair(pair));
        }
        return 'missing';
      }
      let m: Material;
      try {
        m = materialOf(secret);
      } catch (err) {
        if (!this.#deps.isLeader()) throw err;
        logger.error(
          { secret: `${ref.namespace}/${ref.name}`, problem: messageOf(err) },
          'self-managed certificates: the Secret is unusable; replacing it with a new CA and certificate',
        );
        m = freshMaterial(this.#deps.hosts, this.#deps.settings, this.#deps.now());
        await this.#write(m, secret);
        this.#use(m);
        return 'serving';
      }
      let step: RotationStep = { kind: 'none', nextAt: 0 };
      if (this.#deps.isLeader()) {
        const now = this.#deps.now();
        step = rotationStep(factsOf(m, this.#deps.hosts), now.getTime(), this.#deps.settings);
        if (step.kind !== 'none') {
          m = applyStep(m, step, this.#deps.hosts, this.#deps.settings, now);
          await this.#write(m, secret);
          const label = { serving: 'serving', 'ca-introduce': 'ca-introduced', 'ca-promote': 'ca-promoted', 'ca-retire': 'ca-retired' }[step.kind];
          metrics.certRotations.inc({ step: label });
          logger.info(
            { step: label, ...(step.kind === 'serving' ? { why: step.why } : {}), ca: fingerprint(m.ca.certPem), secret: `${ref.namespace}/${ref.name}` },
            'self-managed certificates rotated',
          );
        }
      }
      this.#use(m);
      return step.kind;
    } catch (err) {
      metrics.certKeeperFailures.inc();
      logger.error(
        { secret: `${ref.namespace}/${ref.name}`, problem: messageOf(err) },
        'self-managed certificates: could not read or rotate the Secret; serving the pair in use',
      );
      return 'failed';
    }
  }

  async #write(m: Material, read: SecretObject): Promise<void> {
    await this.#deps.client.request({
      method: 'PUT',
      path: this.#path(true),
      body: secretOf(m, read.metadata),
      signal: AbortSignal.timeout(10_000),
    });
  }
}
