import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeCertificates } from '../../../src/certs/files.js';
import { generateCA } from '../../../src/certs/generate.js';
import { DriftgateError } from '../../../src/errors.js';

const now = new Date('2026-03-01T12:00:00Z');
const hosts = ['driftgate.driftgate-system.svc', '127.0.0.1'];
let root: string;
let dir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'driftgate-certs-'));
  dir = join(root, 'tls');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const mode = (path: string): number => statSync(path).mode & 0o777;
const read = (path: string): string => readFileSync(path, 'utf8');

describe('writeCertificates', () => {
  it('creates the directory 0700 with a new CA and a serving pair, keys 0600', async () => {
    const written = await writeCertificates(dir, hosts, 30, now);
    expect(written).toEqual({
      caReused: false,
      caBundle: Buffer.from(read(join(dir, 'ca.crt'))).toString('base64'),
      paths: { caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') },
      notAfter: new Date('2026-03-31T12:00:00Z'),
    });
    expect(mode(dir)).toBe(0o700);
    expect(mode(written.paths.caKey)).toBe(0o600);
    expect(mode(written.paths.key)).toBe(0o600);
    expect(mode(written.paths.caCert)).toBe(0o644);
    expect(mode(written.paths.cert)).toBe(0o644);
    // No temporary file is left behind.
    expect(readdirSync(dir).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const serving = new X509Certificate(read(written.paths.cert));
    expect(serving.verify(new X509Certificate(read(written.paths.caCert)).publicKey)).toBe(true);
  });

  it('keeps the CA on a second run and issues a new serving certificate', async () => {
    const first = await writeCertificates(dir, hosts, 30, now);
    const caBytes = readFileSync(first.paths.caCert);
    const caKeyBytes = readFileSync(first.paths.caKey);
    const firstServing = read(first.paths.cert);

    const later = new Date('2026-03-20T12:00:00Z');
    const second = await writeCertificates(dir, [...hosts, 'driftgate.example.com'], 30, later);
    expect(second.caReused).toBe(true);
    expect(second.caBundle).toBe(first.caBundle);
    expect(readFileSync(second.paths.caCert).equals(caBytes)).toBe(true);
    expect(readFileSync(second.paths.caKey).equals(caKeyBytes)).toBe(true);
    expect(read(second.paths.cert)).not.toBe(firstServing);
    const serving = new X509Certificate(read(second.paths.cert));
    expect(serving.verify(new X509Certificate(caBytes).publicKey)).toBe(true);
    expect(serving.checkHost('driftgate.example.com')).toBe('driftgate.example.com');
    expect(mode(second.paths.key)).toBe(0o600);
  });

  it('starts a new CA once the old one has expired', async () => {
    mkdirSync(dir, { mode: 0o700 });
    const old = generateCA({ days: 1 }, new Date('2025-01-01T00:00:00Z'));
    writeFileSync(join(dir, 'ca.crt'), old.certPem);
    writeFileSync(join(dir, 'ca.key'), old.keyPem, { mode: 0o600 });
    const written = await writeCertificates(dir, hosts, 30, now);
    expect(written.caReused).toBe(false);
    expect(read(written.paths.caCert)).not.toBe(old.certPem);
  });

  it('refuses a CA key that does not belong to ca.crt, and writes nothing', async () => {
    const first = await writeCertificates(dir, hosts, 30, now);
    writeFileSync(first.paths.caKey, generateCA({}, now).keyPem);
    const serving = read(first.paths.cert);
    await expect(writeCertificates(dir, hosts, 30, now)).rejects.toThrow(
      new DriftgateError(
        'DG_CERT_INVALID',
        `${dir}: CA key: does not belong to the CA certificate; restore the pair, or remove ca.crt and ca.key to start a new CA (then register its caBundle again)`,
      ),
    );
    expect(read(first.paths.cert)).toBe(serving);
  });

  it('refuses an unreadable ca.crt', async () => {
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'ca.crt'), 'not a certificate');
    writeFileSync(join(dir, 'ca.key'), 'not a key');
    await expect(writeCertificates(dir, hosts, 30, now)).rejects.toThrow(
      `${dir}: CA certificate: not an RSA X.509 certificate in PEM; restore the pair, or remove ca.crt and ca.key to start a new CA (then register its caBundle again)`,
    );
  });

  it('refuses a ca.crt without its ca.key', async () => {
    const first = await writeCertificates(dir, hosts, 30, now);
    rmSync(first.paths.caKey);
    await expect(writeCertificates(dir, hosts, 30, now)).rejects.toThrow(
      `${dir}: ca.crt is there but ca.key is not; restore ca.key, or remove ca.crt and ca.key to start a new CA (then register its caBundle again)`,
    );
  });

  it('writes nothing when the hosts are wrong', async () => {
    await expect(writeCertificates(dir, ['bad host'], 30, now)).rejects.toThrow('hosts[0]: "bad host" is neither an IP address nor a DNS name');
    expect(readdirSync(dir)).toEqual([]);
  });
});
