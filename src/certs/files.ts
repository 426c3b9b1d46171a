/**
 * Certificates on disk, laid out the way a Kubernetes TLS Secret mounts them (ca.crt, tls.crt,
 * tls.key) plus the CA key. Rotation keeps the CA so the caBundle already registered with the
 * apiserver stays valid; only the serving pair changes.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DriftgateError } from '../errors.js';
import { writeAtomic } from '../util/write-atomic.js';
import { caBundle, certExpiry, generateCA, generateClient, generateServing, parseCA, type PemPair } from './generate.js';

// A certificate file that cannot be written is reported like one that cannot be read.
const CERT_FILE = 'DG_CERT_INVALID';

/** CertificatePaths are the files writeCertificates manages in its directory. */
export interface CertificatePaths {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

/** Written is what writeCertificates did. */
export interface Written {
  caReused: boolean;
  /** Base64 of ca.crt, for the webhook configuration's clientConfig.caBundle. */
  caBundle: string;
  paths: CertificatePaths;
  /** When the new serving certificate expires. */
  notAfter: Date;
}

/**
 * writeCertificates returns what it wrote after issuing a new serving pair for `hosts` in `dir`,
 * signed by the CA already there (both ca.crt and ca.key, valid at `now`) or else by a new one.
 */
export async function writeCertificates(dir: string, hosts: readonly string[], days: number, now: Date): Promise<Written> {
  const paths: CertificatePaths = {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    cert: join(dir, 'tls.crt'),
    key: join(dir, 'tls.key'),
  };
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new DriftgateError('DG_CERT_INVALID', `${dir}: cannot create it (${(err as Error).message})`, { cause: err });
  }
  let ca = await existingCA(dir, paths, now);
  const caReused = ca !== undefined;
  // Issue the serving pair before writing anything: bad hosts or days must leave the directory as it was.
  ca ??= generateCA({}, now);
  const serving = generateServing(ca, hosts, days, now);
  if (!caReused) {
    await writeAtomic(paths.caKey, ca.keyPem, 0o600, CERT_FILE);
    await writeAtomic(paths.caCert, ca.certPem, 0o644, CERT_FILE);
  }
  // Key first: a reloader woken by the certificate's change then finds the matching key.
  await writeAtomic(paths.key, serving.keyPem, 0o600, CERT_FILE);
  await writeAtomic(paths.cert, serving.certPem, 0o644, CERT_FILE);
  return { caReused, caBundle: caBundle(ca.certPem), paths, notAfter: certExpiry(serving.certPem) };
}

/** ClientWritten is what writeClientCertificate did. */
export interface ClientWritten {
  caReused: boolean;
  paths: { caCert: string; caKey: string; cert: string; key: string; kubeconfig: string };
  notAfter: Date;
}

/**
 * writeClientCertificate returns what it wrote after issuing, in `dir`, a client certificate with
 * CN `name` for the kube-apiserver to present to driftgate (serve --client-ca DIR/ca.crt
 * --client-name NAME), signed by the CA already there or a new one, and the kubeconfig the
 * apiserver's AdmissionConfiguration names, offering it to `webhookHost`.
 */
export async function writeClientCertificate(dir: string, name: string, webhookHost: string, days: number, now: Date): Promise<ClientWritten> {
  const paths = {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    cert: join(dir, 'client.crt'),
    key: join(dir, 'client.key'),
    kubeconfig: join(dir, 'webhook-clients.kubeconfig'),
  };
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new DriftgateError('DG_CERT_INVALID', `${dir}: cannot create it (${(err as Error).message})`, { cause: err });
  }
  let ca = await existingCA(dir, { caCert: paths.caCert, caKey: paths.caKey, cert: paths.cert, key: paths.key }, now);
  const caReused = ca !== undefined;
  ca ??= generateCA({ commonName: 'driftgate-callers-ca' }, now);
  const client = generateClient(ca, name, days, now);
  if (!caReused) {
    await writeAtomic(paths.caKey, ca.keyPem, 0o600, CERT_FILE);
    await writeAtomic(paths.caCert, ca.certPem, 0o644, CERT_FILE);
  }
  await writeAtomic(paths.key, client.keyPem, 0o600, CERT_FILE);
  await writeAtomic(paths.cert, client.certPem, 0o644, CERT_FILE);
  const b64 = (pem: string): string => Buffer.from(pem, 'utf8').toString('base64');
  // Only `users` is read from this kubeconfig: the entry whose name is the webhook's host.
  const kubeconfig = [
    'apiVersion: v1',
    'kind: Config',
    'users:',
    `  - name: ${JSON.stringify(webhookHost)}`,
    '    user:',
    `      client-certificate-data: ${b64(client.certPem)}`,
    `      client-key-data: ${b64(client.keyPem)}`,
    '',
  ].join('\n');
  await writeAtomic(paths.kubeconfig, kubeconfig, 0o600, CERT_FILE);
  return { caReused, paths, notAfter: certExpiry(client.certPem) };
}

/** existingCA returns the CA in `dir` when it is there and valid at `now`, undefined when absent or expired. */
async function existingCA(dir: string, paths: CertificatePaths, now: Date): Promise<PemPair | undefined> {
  const certPem = await readIfThere(paths.caCert);
  const keyPem = await readIfThere(paths.caKey);
  if (certPem === undefined && keyPem === undefined) return undefined;
  const startOver = 'or remove ca.crt and ca.key to start a new CA (then register its caBundle again)';
  if (certPem === undefined || keyPem === undefined) {
    const [have, lack] = certPem === undefined ? ['ca.key', 'ca.crt'] : ['ca.crt', 'ca.key'];
    throw new DriftgateError('DG_CERT_INVALID', `${dir}: ${have} is there but ${lack} is not; restore ${lack}, ${startOver}`);
  }
  const ca = { certPem, keyPem };
  let notBefore: Date;
  let notAfter: Date;
  try {
    ({ notBefore, notAfter } = parseCA(ca).cert.validity);
  } catch (err) {
    if (!(err instanceof DriftgateError)) throw err;
    throw new DriftgateError('DG_CERT_INVALID', `${dir}: ${err.message}; restore the pair, ${startOver}`, { cause: err });
  }
  if (notAfter.getTime() <= now.getTime()) return undefined;
  if (notBefore.getTime() > now.getTime()) {
    throw new DriftgateError(
      'DG_CERT_INVALID',
      `${paths.caCert}: not valid before ${notBefore.toISOString()} (now is ${now.toISOString()}); check this machine's clock`,
    );
  }
  return ca;
}

async function readIfThere(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DriftgateError('DG_CERT_INVALID', `${path}: cannot read it (${(err as Error).message})`, { cause: err });
  }
}
