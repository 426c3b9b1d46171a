import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { caBundle, certExpiry, generateCA, generateServing, parseCA } from '../../../src/certs/generate.js';
import { DriftgateError } from '../../../src/errors.js';

const now = new Date('2026-03-01T12:00:00Z');
const hosts = ['driftgate.driftgate-system.svc', 'driftgate.driftgate-system.svc.cluster.local', '127.0.0.1', '::1'];
const ca = generateCA({ commonName: 'driftgate test CA', days: 30 }, now);
const serving = generateServing(ca, hosts, 7, now);
const caX = new X509Certificate(ca.certPem);
const servingX = new X509Certificate(serving.certPem);

describe('generateCA', () => {
  it('returns a self-signed CA valid from five minutes before now', () => {
    expect(caX.ca).toBe(true);
    expect(caX.subject).toBe('CN=driftgate test CA');
    expect(caX.issuer).toBe(caX.subject);
    expect(caX.verify(caX.publicKey)).toBe(true);
    expect(new Date(caX.validFrom)).toEqual(new Date('2026-03-01T11:55:00Z'));
    expect(new Date(caX.validTo)).toEqual(new Date('2026-03-31T12:00:00Z'));
    expect(caX.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('returns a key that belongs to the certificate', () => {
    expect(caX.checkPrivateKey(createPrivateKey(ca.keyPem))).toBe(true);
    expect(() => parseCA(ca)).not.toThrow();
  });

  it('uses a positive serial that differs each time', () => {
    const other = new X509Certificate(generateCA({}, now).certPem);
    expect(other.serialNumber).not.toBe(caX.serialNumber);
    for (const x of [caX, other]) expect(Number.parseInt(x.serialNumber.slice(0, 2), 16)).toBeLessThan(0x80);
    expect(other.subject).toBe('CN=driftgate-ca');
  });
});

describe('generateServing', () => {
  it('returns a certificate the CA signed, for every host', () => {
    expect(servingX.verify(caX.publicKey)).toBe(true);
    expect(servingX.checkIssued(caX)).toBe(true);
    expect(servingX.ca).toBe(false);
    expect(servingX.subject).toBe('CN=driftgate.driftgate-system.svc');
    expect(servingX.checkHost('driftgate.driftgate-system.svc')).toBe('driftgate.driftgate-system.svc');
    expect(servingX.checkHost('driftgate.driftgate-system.svc.cluster.local')).toBe('driftgate.driftgate-system.svc.cluster.local');
    expect(servingX.checkHost('other.driftgate-system.svc')).toBeUndefined();
    expect(servingX.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(servingX.checkIP('::1')).toBe('::1');
    expect(servingX.checkIP('127.0.0.2')).toBeUndefined();
    expect(servingX.checkPrivateKey(createPrivateKey(serving.keyPem))).toBe(true);
  });

  it('writes IP literals as IP SANs, not DNS', () => {
    expect(servingX.subjectAltName).toBe(
      'DNS:driftgate.driftgate-system.svc, DNS:driftgate.driftgate-system.svc.cluster.local, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
  });

  it('is for serving only', () => {
    expect(servingX.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(servingX.toLegacyObject().ext_key_usage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it('writes every IPv6 spelling as its 16 bytes', () => {
    const x = new X509Certificate(generateServing(ca, ['svc', '2001:db8::8a2e:370:7334', '::ffff:10.0.0.1', 'fe80::'], 1, now).certPem);
    expect(x.subjectAltName).toBe('DNS:svc, IP Address:2001:DB8:0:0:0:8A2E:370:7334, IP Address:0:0:0:0:0:FFFF:A00:1, IP Address:FE80:0:0:0:0:0:0:0');
  });

  it('runs the days from now, and never past the CA', () => {
    expect(new Date(servingX.validFrom)).toEqual(new Date('2026-03-01T11:55:00Z'));
    expect(certExpiry(serving.certPem)).toEqual(new Date('2026-03-08T12:00:00Z'));
    expect(certExpiry(generateServing(ca, hosts, 365, now).certPem)).toEqual(certExpiry(ca.certPem));
  });

  it.each([
    [[], 'hosts: none given; name at least the Service DNS name, e.g. driftgate.driftgate-system.svc'],
    [['ok.svc', 'bad host'], 'hosts[1]: "bad host" is neither an IP address nor a DNS name'],
    [['fe80::1%eth0'], 'hosts[0]: "fe80::1%eth0" has an IPv6 zone; a certificate cannot name one, drop the %… part'],
  ])('refuses hosts %j', (bad, message) => {
    expect(() => generateServing(ca, bad, 1, now)).toThrow(new DriftgateError('DG_CERT_REQUEST', message));
  });

  it.each([0, -1, 1.5, 3651, Number.NaN])('refuses %s days', (days) => {
    expect(() => generateServing(ca, hosts, days, now)).toThrow(`days: ${days} is not a whole number of days from 1 to 3650`);
  });

  it('refuses a CA whose key is another one', () => {
    const other = generateCA({}, now);
    expect(() => generateServing({ certPem: ca.certPem, keyPem: other.keyPem }, hosts, 1, now)).toThrow('CA key: does not belong to the CA certificate');
  });

  it('refuses a serving certificate as CA', () => {
    expect(() => generateServing(serving, hosts, 1, now)).toThrow('CA certificate: not a CA (basicConstraints cA is not true)');
  });
});

describe('certExpiry and caBundle', () => {
  it('certExpiry refuses what is not a certificate', () => {
    expect(() => certExpiry('nonsense')).toThrow(new DriftgateError('DG_CERT_INVALID', 'certificate: not an RSA X.509 certificate in PEM'));
  });

  it('caBundle is the base64 of the PEM', () => {
    expect(Buffer.from(caBundle(ca.certPem), 'base64').toString('utf8')).toBe(ca.certPem);
  });
});
