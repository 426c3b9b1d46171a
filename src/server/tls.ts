/**
 * The serving certificate as the HTTPS listener uses it: a checked pair of PEM texts and the TLS
 * options driftgate serves with. Reading and re-reading the files is the CLI's
 * (src/cli/keypair-files.ts): this room reads no files.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import { DriftgateError, messageOf } from '../errors.js';

/** KeyPair is a loaded, checked serving certificate. */
export interface KeyPair {
  cert: string;
  key: string;
  notAfter: Date;
  /** Hash of both texts: a change on disk is a different fingerprint. */
  fingerprint: string;
}

/**
 * keyPairOf returns the checked pair, or throws DG_CERT_INVALID naming what is wrong; `names`
 * say where the texts came from (file paths), for the message.
 */
export function keyPairOf(cert: string, key: string, names: { cert: string; key: string }): KeyPair {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new DriftgateError('DG_CERT_INVALID', `${names.cert} is not a PEM certificate: ${messageOf(err)}`, { cause: err });
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) {
      throw new DriftgateError('DG_CERT_INVALID', `${names.key} is not the private key of ${names.cert}; write both files of one pair`);
    }
  } catch (err) {
    if (err instanceof DriftgateError) throw err;
    throw new DriftgateError('DG_CERT_INVALID', `${names.key} is not a PEM private key: ${messageOf(err)}`, { cause: err });
  }
  const fingerprint = createHash('sha256').update(cert).update('\0').update(key).digest('hex');
  return { cert, key, notAfter: new Date(x509.validTo), fingerprint };
}

/** secureOptions returns the TLS options driftgate serves with: TLS 1.2 at least, and the CA client certificates are verified against, if any. */
export function secureOptions(pair: KeyPair, clientCa?: string): SecureContextOptions {
  return { cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2', ...(clientCa === undefined ? {} : { ca: clientCa }) };
}
