/**
 * The webhook over real TLS, where TLS is the point: a client that trusts only the generated CA
 * (as the kube-apiserver trusts only the caBundle) completes a review; anything else is refused;
 * a rotated pair is served to new connections without a restart, and a bad one never is.
 */
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeCertificates, type Written } from '../../src/certs/files.js';
import { messageOf } from '../../src/errors.js';
import { TIMEOUTS, listenHttps, type Listener } from '../../src/server/https.js';
import { loadKeyPair, watchKeyPair, type CertWatcher } from '../../src/cli/keypair-files.js';
import type { KeyPair } from '../../src/server/tls.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { fixture, reviewOf, withUid } from '../helpers/webhook.js';

const HOSTS = ['127.0.0.1', 'localhost', 'driftgate.driftgate-system.svc'];

/** Reply is what a client saw of one exchange. */
interface Reply {
  status: number;
  body: string;
  /** SHA-256 fingerprint of the certificate the server presented. */
  fingerprint: string;
  reusedSocket: boolean;
  localPort: number;
}

interface ClientOptions {
  ca?: string;
  agent?: https.Agent | false;
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  ciphers?: string;
}

let root: string;
let live: Written;
let h: Harness;
let listener: Listener;
let watcher: CertWatcher;
let initial: KeyPair;
let reloaded: KeyPair[];
let refused: unknown[];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'driftgate-tls-'));
  live = await writeCertificates(join(root, 'live'), HOSTS, 1, new Date());
  initial = await loadKeyPair(live.paths.cert, live.paths.key);
  h = await startHarness();
  listener = await listenHttps(h.app, initial, 0, '127.0.0.1');
  reloaded = [];
  refused = [];
  watcher = watchKeyPair({
    certFile: live.paths.cert,
    keyFile: live.paths.key,
    initial,
    // The test calls check() itself; the poll must not race it.
    intervalMs: 3_600_000,
    onPair: (pair) => {
      reloaded.push(pair);
      listener.setKeyPair(pair);
    },
    onError: (err) => refused.push(err),
  });
});

afterEach(async () => {
  watcher.stop();
  await listener.close();
  await h.close();
  await rm(root, { recursive: true, force: true });
});

/** exchange posts a review (or GETs /healthz) and returns what the client saw. */
function exchange(opts: ClientOptions, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: listener.port,
        method: body === undefined ? 'GET' : 'POST',
        path: body === undefined ? '/healthz' : '/validate',
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        agent: opts.agent ?? false,
        ...(opts.ca === undefined ? {} : { ca: opts.ca }),
        ...(opts.minVersion === undefined ? {} : { minVersion: opts.minVersion }),
        ...(opts.maxVersion === undefined ? {} : { maxVersion: opts.maxVersion }),
        ...(opts.ciphers === undefined ? {} : { ciphers: opts.ciphers }),
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const fingerprint = socket.getPeerCertificate().fingerprint256;
        const localPort = socket.localPort ?? 0;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, fingerprint, reusedSocket: req.reusedSocket, localPort }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** failure returns the error code (and, for a TLS alert, its words) of an exchange that must fail. */
async function failure(opts: ClientOptions): Promise<string> {
  try {
    await exchange(opts);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return /alert protocol version/.test(e.message) ? `${e.code ?? ''}: alert protocol version` : (e.code ?? e.message);
  }
  return 'connected';
}

async function caOf(written: Written): Promise<string> {
  return readFile(written.paths.caCert, 'utf8');
}

function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** replaceAtomically puts `from` in place of `to` the way Kubernetes and writeCertificates do: rename over. */
async function replaceAtomically(from: string, to: string): Promise<void> {
  const tmp = `${to}.incoming`;
  await copyFile(from, tmp);
  await rename(tmp, to);
}

describe('TLS', () => {
  it('completes a review for a client that trusts only the generated CA', async () => {
    const review = withUid(fixture('gitops-writer-by-user'), 'over-tls');
    const reply = await exchange({ ca: await caOf(live) }, JSON.stringify(review));
    expect({ status: reply.status, body: JSON.parse(reply.body) as unknown, fingerprint: reply.fingerprint }).toEqual({
      status: 200,
      body: reviewOf({ uid: 'over-tls', allowed: true }),
      fingerprint: fingerprintOf(initial.cert),
    });
  });

  it('is refused by a client that trusts nothing else, or another CA', async () => {
    const other = await writeCertificates(join(root, 'other'), HOSTS, 1, new Date());
    expect([await failure({}), await failure({ ca: await caOf(other) })]).toEqual(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']);
  });

  it('refuses a client that speaks at most TLS 1.1, and serves one that speaks TLS 1.2', async () => {
    const ca = await caOf(live);
    // SECLEVEL=0 lets this client offer TLS 1.1 at all: the refusal must come from the server.
    const old = await failure({ ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    const tls12 = await exchange({ ca, maxVersion: 'TLSv1.2' });
    expect({ old, tls12: tls12.status }).toEqual({ old: 'EPROTO: alert protocol version', tls12: 200 });
  });
});

describe('certificate rotation', () => {
  it('serves a new pair, under a new CA, to new connections once the files are replaced, without a restart', async () => {
    const before = await exchange({ ca: await caOf(live) });
    const next = await writeCertificates(join(root, 'next'), HOSTS, 1, new Date());
    expect(next.caReused).toBe(false);
    // Key first, then certificate, each renamed over the watched file.
    await replaceAtomically(next.paths.key, live.paths.key);
    await replaceAtomically(next.paths.cert, live.paths.cert);
    const port = listener.port;
    await watcher.check();

    const newCa = await caOf(next);
    const after = await exchange({ ca: newCa });
    const nextCert = await readFile(next.paths.cert, 'utf8');
    expect({
      before: before.fingerprint,
      after: after.fingerprint,
      reloaded: reloaded.map((p) => p.cert),
      refused: refused.map(messageOf),
      port: listener.port,
    }).toEqual({ before: fingerprintOf(initial.cert), after: fingerprintOf(nextCert), reloaded: [nextCert], refused: [], port });
    expect(watcher.current().fingerprint).not.toBe(initial.fingerprint);
    // Clients still trusting only the old CA are now refused: the new CA is what the caBundle must carry.
    expect(await failure({ ca: await caOf(live) })).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('refuses a certificate that does not match the key, keeps serving the old pair, and says so once', async () => {
    const other = await writeCertificates(join(root, 'other'), HOSTS, 1, new Date());
    await replaceAtomically(other.paths.cert, live.paths.cert);
    await watcher.check();
    await watcher.check();

    const reply = await exchange({ ca: await caOf(live) });
    expect({ fingerprint: reply.fingerprint, reloaded: reloaded.length, current: watcher.current().fingerprint, refused: refused.map(messageOf) }).toEqual({
      fingerprint: fingerprintOf(initial.cert),
      reloaded: 0,
      current: initial.fingerprint,
      refused: [`${live.paths.key} is not the private key of ${live.paths.cert}; write both files of one pair`],
    });
  });

  it('refuses a garbage certificate file and keeps serving the old pair', async () => {
    await writeFile(`${live.paths.cert}.incoming`, 'this is not a certificate\n');
    await rename(`${live.paths.cert}.incoming`, live.paths.cert);
    await watcher.check();

    const reply = await exchange({ ca: await caOf(live) });
    expect({ fingerprint: reply.fingerprint, reloaded: reloaded.length, refused: refused.length }).toEqual({
      fingerprint: fingerprintOf(initial.cert),
      reloaded: 0,
      refused: 1,
    });
    expect(messageOf(refused[0])).toMatch(new RegExp(`^${live.paths.cert.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a PEM certificate: `));
  });

  it('reports a bad pair again after the good one came back, so a second failed rotation is not silent', async () => {
    const other = await writeCertificates(join(root, 'other'), HOSTS, 1, new Date());
    const good = await readFile(live.paths.cert, 'utf8');
    await replaceAtomically(other.paths.cert, live.paths.cert);
    await watcher.check();
    await writeFile(`${live.paths.cert}.incoming`, good);
    await rename(`${live.paths.cert}.incoming`, live.paths.cert);
    await watcher.check();
    await replaceAtomically(other.paths.cert, live.paths.cert);
    await watcher.check();

    const mismatch = `${live.paths.key} is not the private key of ${live.paths.cert}; write both files of one pair`;
    expect({ refused: refused.map(messageOf), reloaded: reloaded.length }).toEqual({ refused: [mismatch, mismatch], reloaded: 0 });
  });
});

describe('keep-alive', () => {
  it('keeps idle connections longer than the apiserver client reuses them (90 s)', () => {
    expect(TIMEOUTS.keepAlive).toBeGreaterThanOrEqual(90_000);
  });

  it('answers two reviews on one connection', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: await caOf(live) });
    try {
      const body = JSON.stringify(fixture('gitops-writer-by-user'));
      const first = await exchange({ agent }, body);
      const second = await exchange({ agent }, body);
      expect({
        statuses: [first.status, second.status],
        reused: [first.reusedSocket, second.reusedSocket],
        samePort: first.localPort === second.localPort,
      }).toEqual({
        statuses: [200, 200],
        reused: [false, true],
        samePort: true,
      });
    } finally {
      agent.destroy();
    }
  });
});
