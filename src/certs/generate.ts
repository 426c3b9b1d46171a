/**
 * The webhook's own small PKI: a CA whose certificate goes into the webhook configuration's
 * caBundle, and serving certificates it signs for the Service's names. node:crypto makes the
 * RSA keys (native, fast); node-forge builds and signs the X.509 certificates.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';
import { DriftgateError } from '../errors.js';

/** PemPair is a certificate and its private key (PKCS#8), both PEM. */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

// Clocks across a cluster disagree a little; a certificate valid "from now" would be refused by
// an apiserver whose clock runs a minute behind.
const SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** MAX_CERT_DAYS is the longest validity driftgate issues, CA included (ten years). */
export const MAX_CERT_DAYS = 3650;

/** generateCA returns a new self-signed CA (default CN "driftgate-ca", 3650 days). */
export function generateCA(opts: { commonName?: string; days?: number }, now: Date): PemPair {
  const days = checkDays(opts.days ?? MAX_CERT_DAYS);
  return generateCAFor(days * DAY_MS, now, opts.commonName);
}

/**
 * generateCAFor returns a new self-signed CA valid for `validityMs` from `now` (the self-managed
 * certificates use durations, and tests use seconds to force a rotation).
 */
export function generateCAFor(validityMs: number, now: Date, commonName = 'driftgate-ca'): PemPair {
  checkValidity(validityMs);
  const { keys, keyPem } = rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now.getTime() - SKEW_MS);
  cert.validity.notAfter = new Date(now.getTime() + validityMs);
  const name = [{ name: 'commonName', value: commonName }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/**
 * generateServing returns a serving certificate for `hosts` signed by `ca`: CN is the first host,
 * IP literals become IP SANs and the rest DNS SANs. It never outlives the CA.
 */
export function generateServing(ca: PemPair, hosts: readonly string[], days: number, now: Date): PemPair {
  checkDays(days);
  return generateServingFor(ca, hosts, days * DAY_MS, now);
}

/** generateServingFor is generateServing with a validity in milliseconds. */
export function generateServingFor(ca: PemPair, hosts: readonly string[], validityMs: number, now: Date): PemPair {
  checkValidity(validityMs);
  const altNames = hosts.map(altName);
  const first = hosts[0];
  if (first === undefined)
    throw new DriftgateError('DG_CERT_REQUEST', 'hosts: none given; name at least the Service DNS name, e.g. driftgate.driftgate-system.svc');
  const issuer = parseCA(ca);
  const { keys, keyPem } = rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now.getTime() - SKEW_MS);
  const wanted = now.getTime() + validityMs;
  cert.validity.notAfter = new Date(Math.min(wanted, issuer.cert.validity.notAfter.getTime()));
  cert.setSubject([{ name: 'commonName', value: first }]);
  cert.setIssuer(issuer.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: issuerKeyId(issuer.cert) },
  ]);
  cert.sign(issuer.key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/**
 * generateClient returns a client certificate (CN `name`, extKeyUsage clientAuth) signed by `ca`:
 * what the kube-apiserver presents to driftgate when `serve --client-ca` requires one. It never
 * outlives the CA.
 */
export function generateClient(ca: PemPair, name: string, days: number, now: Date): PemPair {
  checkDays(days);
  if (name === '') throw new DriftgateError('DG_USAGE', 'client name: empty; name the caller, e.g. kube-apiserver-admission');
  const issuer = parseCA(ca);
  const { keys, keyPem } = rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now.getTime() - SKEW_MS);
  cert.validity.notAfter = new Date(Math.min(now.getTime() + days * DAY_MS, issuer.cert.validity.notAfter.getTime()));
  cert.setSubject([{ name: 'commonName', value: name }]);
  cert.setIssuer(issuer.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: issuerKeyId(issuer.cert) },
  ]);
  cert.sign(issuer.key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/**
 * issuerKeyId returns the key identifier a certificate signed by `ca` must name as its authority:
 * the CA's own subjectKeyIdentifier when it has one. Computing it instead is only right for CAs
 * that computed theirs the same way (forge hashes the key's bit string, Go the whole
 * SubjectPublicKeyInfo), and OpenSSL finds no issuer when the two differ.
 */
function issuerKeyId(ca: forge.pki.Certificate): string {
  const ext = ca.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null;
  return typeof ext?.subjectKeyIdentifier === 'string' ? forge.util.hexToBytes(ext.subjectKeyIdentifier) : ca.generateSubjectKeyIdentifier().getBytes();
}

/** certExpiry returns the notAfter of a PEM certificate, or throws DG_CERT_INVALID. */
export function certExpiry(certPem: string): Date {
  return readCert(certPem, 'certificate').validity.notAfter;
}

/** caBundle returns the CA certificate as the base64 string a webhook configuration's caBundle takes. */
export function caBundle(caPem: string): string {
  return Buffer.from(caPem, 'utf8').toString('base64');
}

/** ParsedCA is a CA certificate and its private key, checked to belong together. */
export interface ParsedCA {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

/** parseCA returns the CA as forge objects, or throws DG_CERT_INVALID saying what is wrong with it. */
export function parseCA(ca: PemPair): ParsedCA {
  const cert = readCert(ca.certPem, 'CA certificate');
  let key: forge.pki.rsa.PrivateKey;
  try {
    key = forge.pki.privateKeyFromPem(ca.keyPem);
  } catch (err) {
    throw new DriftgateError('DG_CERT_INVALID', 'CA key: not an RSA private key in PEM', { cause: err });
  }
  const pub = cert.publicKey as forge.pki.rsa.PublicKey;
  if (pub.n === undefined || pub.n.compareTo(key.n) !== 0 || pub.e.compareTo(key.e) !== 0) {
    throw new DriftgateError('DG_CERT_INVALID', 'CA key: does not belong to the CA certificate');
  }
  const constraints = cert.getExtension('basicConstraints') as { cA?: boolean } | null;
  if (constraints?.cA !== true) {
    throw new DriftgateError('DG_CERT_INVALID', 'CA certificate: not a CA (basicConstraints cA is not true)');
  }
  return { cert, key };
}

function readCert(pem: string, what: string): forge.pki.Certificate {
  try {
    return forge.pki.certificateFromPem(pem);
  } catch (err) {
    // forge reads RSA certificates only; an ECDSA CA made elsewhere lands here too.
    throw new DriftgateError('DG_CERT_INVALID', `${what}: not an RSA X.509 certificate in PEM`, { cause: err });
  }
}

function checkValidity(ms: number): void {
  if (!Number.isFinite(ms) || ms < 1_000 || ms > MAX_CERT_DAYS * DAY_MS) {
    throw new DriftgateError('DG_CERT_REQUEST', `validity: ${ms} ms is not from one second to ${MAX_CERT_DAYS} days`);
  }
}

function checkDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > MAX_CERT_DAYS) {
    throw new DriftgateError('DG_CERT_REQUEST', `days: ${days} is not a whole number of days from 1 to ${MAX_CERT_DAYS}`);
  }
  return days;
}

function rsaKeys(): { keys: forge.pki.rsa.KeyPair; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const priv = forge.pki.privateKeyFromPem(privateKey);
  const publicKey = forge.pki.setRsaPublicKey(priv.n, priv.e);
  return { keys: { privateKey: priv, publicKey }, keyPem: privateKey };
}

// 127 random bits, high byte non-zero and top bit clear: a positive, minimally encoded DER
// INTEGER, which strict parsers (Go's crypto/x509) insist on.
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return bytes.toString('hex');
}

const DNS_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

function altName(host: string, index: number): { type: 2; value: string } | { type: 7; value: string } {
  if (host.includes('%')) {
    throw new DriftgateError('DG_CERT_REQUEST', `hosts[${index}]: "${host}" has an IPv6 zone; a certificate cannot name one, drop the %… part`);
  }
  if (isIP(host) !== 0) return { type: 7, value: ipBytes(host) };
  if (host.length > 253 || !DNS_NAME.test(host)) {
    throw new DriftgateError('DG_CERT_REQUEST', `hosts[${index}]: "${host}" is neither an IP address nor a DNS name`);
  }
  return { type: 2, value: host.toLowerCase() };
}

/** ipBytes returns the 4 or 16 network-order bytes of an IP literal, as the binary string forge writes. */
function ipBytes(ip: string): string {
  if (isIP(ip) === 4) return String.fromCharCode(...ip.split('.').map(Number));
  // The URL parser folds every IPv6 spelling (embedded IPv4 included) into hex groups.
  const hex = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const [head = '', tail] = hex.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  const words = [...left, ...zeros, ...right].map((g) => parseInt(g, 16));
  return words.map((w) => String.fromCharCode(w >> 8, w & 0xff)).join('');
}
