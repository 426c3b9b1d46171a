/**
 * The serving certificate's files, kept fresh: cert-manager or `driftgate certs generate` rewrite
 * them in place, and new connections must use the new pair without a restart. A pair that does
 * not load (half-written, mismatched key) is refused with a log line and the old one kept. Here,
 * in the CLI, because only the CLI reads files; the server is handed the checked pair.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DriftgateError, messageOf } from '../errors.js';
import { type KeyPair, keyPairOf } from '../server/tls.js';

/** loadKeyPair returns the pair in the two files, or throws DG_CERT_INVALID naming what is wrong. */
export async function loadKeyPair(certFile: string, keyFile: string): Promise<KeyPair> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  } catch (err) {
    throw new DriftgateError('DG_CERT_INVALID', `cannot read the serving certificate (${certFile}, ${keyFile}): ${messageOf(err)}`, { cause: err });
  }
  return keyPairOf(cert, key, { cert: certFile, key: keyFile });
}

/** CertWatcher polls the files and hands each new valid pair to `onPair`. */
export interface CertWatcher {
  current(): KeyPair;
  /** Checks the files now (the poll does the same on its interval). */
  check(): Promise<void>;
  stop(): void;
}

/**
 * watchKeyPair returns a watcher that re-reads the files every `intervalMs`. Polling, not
 * fs.watch: Kubernetes updates mounted Secrets by swapping a symlink, which inotify on the file
 * itself does not see.
 */
export function watchKeyPair(opts: {
  certFile: string;
  keyFile: string;
  initial: KeyPair;
  intervalMs: number;
  onPair: (pair: KeyPair) => void;
  onError: (err: unknown) => void;
}): CertWatcher {
  let current = opts.initial;
  let lastBad = '';
  async function check(): Promise<void> {
    try {
      const pair = await loadKeyPair(opts.certFile, opts.keyFile);
      // Any good read (the old pair restored too) ends a bad episode: the next bad pair is news.
      lastBad = '';
      if (pair.fingerprint === current.fingerprint) return;
      current = pair;
      opts.onPair(pair);
    } catch (err) {
      // Report a given bad state once, not every poll.
      const message = messageOf(err);
      if (message !== lastBad) opts.onError(err);
      lastBad = message;
    }
  }
  const timer = setInterval(() => void check(), opts.intervalMs);
  timer.unref();
  return { current: () => current, check, stop: () => clearInterval(timer) };
}

/** loadClientCa returns the PEM bundle in `file` after checking it holds at least one certificate, or throws DG_CERT_INVALID. */
export async function loadClientCa(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new DriftgateError('DG_CERT_INVALID', `--client-ca ${file}: cannot read it: ${messageOf(err)}`, { cause: err });
  }
  try {
    new X509Certificate(pem);
  } catch (err) {
    throw new DriftgateError(
      'DG_CERT_INVALID',
      `--client-ca ${file}: not a PEM certificate (the CA that signs the apiserver's client certificate): ${messageOf(err)}`,
      { cause: err },
    );
  }
  return pem;
}
