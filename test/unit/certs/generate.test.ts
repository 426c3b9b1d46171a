import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import forge from 'node-forge';
import { caBundle, certExpiry, generateCA, generateClient, generateServing, parseCA } from '../../../src/certs/generate.js';
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

describe('generateClient', () => {
  it("is a clientAuth certificate with the caller's name as CN, issued by the CA and no longer lived", () => {
    const callersCa = generateCA({ commonName: 'callers-ca', days: 30 }, now);
    const client = generateClient(callersCa, 'kube-apiserver-admission', 365, now);
    const cert = new X509Certificate(client.certPem);
    const issuer = new X509Certificate(callersCa.certPem);
    expect(cert.subject).toBe('CN=kube-apiserver-admission');
    expect(cert.checkIssued(issuer)).toBe(true);
    expect(cert.verify(issuer.publicKey)).toBe(true);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(new Date(cert.validTo).getTime()).toBeLessThanOrEqual(new Date(issuer.validTo).getTime());
    expect(() => generateClient(callersCa, '', 1, now)).toThrow(/client name: empty/);
  });
});

describe('certificates signed by a CA made elsewhere', () => {
  it("name the CA's own key identifier as their authority, which OpenSSL matches (a Go-made CA hashes its key differently)", () => {
    const keys = forge.pki.rsa.generateKeyPair(2048);
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = '01';
    cert.validity.notBefore = new Date(now.getTime() - 60_000);
    cert.validity.notAfter = new Date(now.getTime() + 86_400_000);
    cert.setSubject([{ name: 'commonName', value: 'go-style-ca' }]);
    cert.setIssuer([{ name: 'commonName', value: 'go-style-ca' }]);
    // Not forge's own computation: the identifier a Go CA writes (SHA-1 of the whole SubjectPublicKeyInfo).
    const skid = forge.md.sha1
      .create()
      .update(forge.asn1.toDer(forge.pki.publicKeyToAsn1(keys.publicKey)).getBytes())
      .digest()
      .toHex();
    // Given as a raw value: forge would otherwise write its own computation.
    const skidValue = forge.asn1
      .toDer(forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OCTETSTRING, false, forge.util.hexToBytes(skid)))
      .getBytes();
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, critical: true },
      { id: '2.5.29.14', value: skidValue },
    ]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    const foreign = { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
    const issuer = new X509Certificate(foreign.certPem);
    expect(new X509Certificate(generateClient(foreign, 'kube-apiserver-admission', 1, now).certPem).checkIssued(issuer)).toBe(true);
    expect(new X509Certificate(generateServing(foreign, ['localhost'], 1, now).certPem).checkIssued(issuer)).toBe(true);
  });
});
