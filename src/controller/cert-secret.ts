/**
 * The self-managed certificates as one Secret's content: decoding and encoding it, the caBundle it
 * implies, what the rotation schedule reads of it, and each rotation step applied to it. Pure
 * (certificate generation aside): src/controller/cert-keeper.ts does the reading and writing.
 */
import { X509Certificate } from 'node:crypto';
import { generateCAFor, generateServingFor, type PemPair } from '../certs/generate.js';
import type { RotationSettings, RotationStep, SecretFacts } from '../certs/rotation.js';
import { DriftgateError } from '../errors.js';
import { keyPairOf } from '../server/tls.js';

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

/** SecretObject is the v1 Secret as read and written. */
export interface SecretObject {
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
