/**
 * `serve --self-managed-certs NS/NAME`: driftgate's own CA and serving certificate, in one
 * Secret every replica reads. The first replica to start creates it (if several race, the
 * apiserver lets one create win and the others read the winner's); from then on only the leader
 * rotates it (src/certs/rotation.ts says when), writing with the resourceVersion it read so a
 * stale writer is refused. Every replica polls the Secret and hands a changed pair to the HTTPS
 * listener (`setKeyPair`: new connections get the new certificate, open ones finish on the old),
 * and the caBundle to the webhook keeper.
 *
 * Key material never leaves this file except into the Secret and the TLS context: logs carry
 * fingerprints and expiry dates only.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { generateCAFor, generateServingFor, type PemPair } from '../certs/generate.js';
import { type RotationSettings, type RotationStep, type SecretFacts, rotationStep } from '../certs/rotation.js';
import { DriftgateError, messageOf } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import type { Logger } from '../server/logger.js';
import type { Metrics } from '../server/metrics.js';
import { type KeyPair, keyPairOf } from '../server/tls.js';

/** Secret keys. tls.crt/tls.key make it a valid kubernetes.io/tls Secret as well. */
export const KEYS = {
  cert: 'tls.crt',
  key: 'tls.key',
  caCert: 'ca.crt',
  caKey: 'ca.key',
  nextCert: 'ca-next.crt',
  nextKey: 'ca-next.key',
  previousCert: 'ca-previous.crt',
  bundle: 'ca-bundle.crt',
} as const;
const NEXT_SINCE = 'driftgate.dev/ca-next-since';
const PREVIOUS_SINCE = 'driftgate.dev/ca-previous-since';

/** Material is the Secret's content, decoded. */
export interface Material {
  serving: PemPair;
  ca: PemPair;
  next?: PemPair & { since: number };
  previous?: { certPem: string; since: number };
}

interface SecretObject {
  apiVersion: 'v1';
  kind: 'Secret';
  type?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  data?: Record<string, string>;
}

/** bundleOf returns the caBundle (base64 of the PEM certificates) the webhooks must trust: current, next and previous CA. */
export function bundleOf(m: Material): string {
  const pems = [m.ca.certPem, m.next?.certPem, m.previous?.certPem].filter((p): p is string => p !== undefined).map((p) => p.trim());
  return Buffer.from(`${pems.join('\n')}\n`, 'utf8').toString('base64');
}

/** factsOf returns what the rotation schedule reads of the material, for the serving `hosts`. */
export function factsOf(m: Material, hosts: readonly string[]): SecretFacts {
  const ca = new X509Certificate(m.ca.certPem);
  const serving = new X509Certificate(m.serving.certPem);
  const issuedByCurrent = serving.checkIssued(ca) && serving.verify(ca.publicKey);
  return {
    ca: { notAfter: Date.parse(ca.validTo) },
    ...(m.next === undefined ? {} : { next: { cert: { notAfter: Date.parse(new X509Certificate(m.next.certPem).validTo) }, since: m.next.since } }),
    ...(m.previous === undefined
      ? {}
      : { previous: { cert: { notAfter: Date.parse(new X509Certificate(m.previous.certPem).validTo) }, since: m.previous.since } }),
    serving: { notAfter: Date.parse(serving.validTo), issuedByCurrent, hostsMatch: sameHosts(serving, hosts) },
  };
}

function sameHosts(cert: X509Certificate, hosts: readonly string[]): boolean {
  const names = (cert.subjectAltName ?? '')
    .split(',')
    .map((n) =>
      n
        .trim()
        .replace(/^(DNS|IP Address):/, '')
        .toLowerCase(),
    )
    .filter((n) => n !== '');
  const want = hosts.map((h) => h.toLowerCase());
  return names.length === want.length && want.every((h) => names.includes(h));
}

/** freshMaterial returns a new CA and a serving certificate it signed. */
export function freshMaterial(hosts: readonly string[], s: RotationSettings, now: Date): Material {
  const ca = generateCAFor(s.caValidityMs, now);
  return { ca, serving: generateServingFor(ca, hosts, s.servingValidityMs, now) };
}

/** applyStep returns the material after `step` (a new object; the input is kept). */
export function applyStep(m: Material, step: RotationStep, hosts: readonly string[], s: RotationSettings, now: Date): Material {
  switch (step.kind) {
    case 'none':
      return m;
    case 'serving':
      return { ...m, serving: generateServingFor(m.ca, hosts, s.servingValidityMs, now) };
    case 'ca-introduce':
      return { ...m, next: { ...generateCAFor(s.caValidityMs, now), since: now.getTime() } };
    case 'ca-promote': {
      if (m.next === undefined) return m;
      const ca = { certPem: m.next.certPem, keyPem: m.next.keyPem };
      const { next: _, ...rest } = m;
      return { ...rest, ca, previous: { certPem: m.ca.certPem, since: now.getTime() }, serving: generateServingFor(ca, hosts, s.servingValidityMs, now) };
    }
    case 'ca-retire': {
      const { previous: _, ...rest } = m;
      return rest;
    }
  }
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function unb64(data: Record<string, string>, key: string): string | undefined {
  const v = data[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

/** materialOf returns the Secret's material, or throws DG_CERT_INVALID naming the key that is missing or wrong. */
export function materialOf(secret: SecretObject): Material {
  const data = secret.data ?? {};
  const need = (key: string): string => {
    const v = unb64(data, key);
    if (v === undefined || v === '')
      throw new DriftgateError('DG_CERT_INVALID', `Secret ${secret.metadata.namespace}/${secret.metadata.name}: data.${key} is missing`);
    return v;
  };
  const m: Material = { serving: { certPem: need(KEYS.cert), keyPem: need(KEYS.key) }, ca: { certPem: need(KEYS.caCert), keyPem: need(KEYS.caKey) } };
  const since = (annotation: string): number => {
    const t = Date.parse(secret.metadata.annotations?.[annotation] ?? '');
    return Number.isNaN(t) ? 0 : t;
  };
  const nextCert = unb64(data, KEYS.nextCert);
  const nextKey = unb64(data, KEYS.nextKey);
  if (nextCert !== undefined && nextKey !== undefined) m.next = { certPem: nextCert, keyPem: nextKey, since: since(NEXT_SINCE) };
  const previous = unb64(data, KEYS.previousCert);
  if (previous !== undefined) m.previous = { certPem: previous, since: since(PREVIOUS_SINCE) };
  // Fail here, not in the TLS context: a pair that does not belong together is refused whole.
  keyPairOf(m.serving.certPem, m.serving.keyPem, { cert: `data.${KEYS.cert}`, key: `data.${KEYS.key}` });
  keyPairOf(m.ca.certPem, m.ca.keyPem, { cert: `data.${KEYS.caCert}`, key: `data.${KEYS.caKey}` });
  return m;
}

/** secretOf returns the Secret holding `m` (metadata as given, so a write keeps the resourceVersion it read). */
export function secretOf(m: Material, metadata: SecretObject['metadata']): SecretObject {
  const data: Record<string, string> = {
    [KEYS.cert]: b64(m.serving.certPem),
    [KEYS.key]: b64(m.serving.keyPem),
    [KEYS.caCert]: b64(m.ca.certPem),
    [KEYS.caKey]: b64(m.ca.keyPem),
    [KEYS.bundle]: bundleOf(m),
  };
  const annotations = { ...(metadata.annotations ?? {}) };
  delete annotations[NEXT_SINCE];
  delete annotations[PREVIOUS_SINCE];
  if (m.next !== undefined) {
    data[KEYS.nextCert] = b64(m.next.certPem);
    data[KEYS.nextKey] = b64(m.next.keyPem);
    annotations[NEXT_SINCE] = new Date(m.next.since).toISOString();
  }
  if (m.previous !== undefined) {
    data[KEYS.previousCert] = b64(m.previous.certPem);
    annotations[PREVIOUS_SINCE] = new Date(m.previous.since).toISOString();
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      ...metadata,
      labels: { ...(metadata.labels ?? {}), 'app.kubernetes.io/name': 'driftgate', 'app.kubernetes.io/component': 'certificates' },
      annotations,
    },
    data,
  };
}

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
