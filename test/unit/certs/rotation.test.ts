/**
 * The self-managed certificates' schedule (issue 14): the serving certificate re-issued at 2/3 of
 * its life, the CA rotated with overlap so the caBundle always trusts whatever any replica serves.
 * Pure, with an injected clock; the end of the file runs the whole CA rotation on real
 * certificates and checks, at every step, that the caBundle trusts the serving certificate.
 */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { applyStep, bundleOf, factsOf, freshMaterial } from '../../../src/controller/cert-secret.js';
import { checkRotationSettings, type RotationSettings, type SecretFacts, rotationStep } from '../../../src/certs/rotation.js';

const H = 3_600_000;
const DAY = 24 * H;
const S: RotationSettings = { servingValidityMs: 90 * DAY, caValidityMs: 3650 * DAY, overlapMs: H };

function facts(over: Partial<SecretFacts> = {}, serving: Partial<SecretFacts['serving']> = {}): SecretFacts {
  return {
    ca: { notAfter: 3650 * DAY },
    serving: { notAfter: 90 * DAY, issuedByCurrent: true, hostsMatch: true, ...serving },
    ...over,
  };
}

describe('rotationStep', () => {
  it('waits while the serving certificate has more than a third of its validity left, and says until when', () => {
    expect(rotationStep(facts(), 0, S)).toEqual({ kind: 'none', nextAt: 60 * DAY });
  });
  it('re-issues the serving certificate at 2/3 of its life', () => {
    expect(rotationStep(facts(), 60 * DAY - 1, S).kind).toBe('none');
    expect(rotationStep(facts(), 60 * DAY, S)).toEqual({ kind: 'serving', why: 'due' });
  });
  it('re-issues at once a serving certificate the current CA did not sign, or for other hosts', () => {
    expect(rotationStep(facts({}, { issuedByCurrent: false }), 0, S)).toEqual({ kind: 'serving', why: 'not-issued-by-current-ca' });
    expect(rotationStep(facts({}, { hostsMatch: false }), 0, S)).toEqual({ kind: 'serving', why: 'hosts-changed' });
  });
  it('introduces a next CA once a third of the CA validity is left, then promotes it after the overlap, then retires the old one after another', () => {
    const renewAt = 3650 * DAY - (3650 * DAY) / 3;
    expect(rotationStep(facts({}, { notAfter: 10_000 * DAY }), renewAt - 1, S).kind).toBe('none');
    expect(rotationStep(facts({}, { notAfter: 10_000 * DAY }), renewAt, S)).toEqual({ kind: 'ca-introduce' });
    const next = { cert: { notAfter: renewAt + 3650 * DAY }, since: renewAt };
    expect(rotationStep(facts({ next }, { notAfter: 10_000 * DAY }), renewAt + H - 1, S)).toEqual({ kind: 'none', nextAt: renewAt + H });
    expect(rotationStep(facts({ next }, { notAfter: 10_000 * DAY }), renewAt + H, S)).toEqual({ kind: 'ca-promote' });
    const previous = { cert: { notAfter: 3650 * DAY }, since: renewAt + H };
    expect(rotationStep(facts({ previous }, { notAfter: 10_000 * DAY }), renewAt + 2 * H - 1, S).kind).toBe('none');
    expect(rotationStep(facts({ previous }, { notAfter: 10_000 * DAY }), renewAt + 2 * H, S)).toEqual({ kind: 'ca-retire' });
  });
  it('never introduces a new CA while the previous one is still being retired', () => {
    const previous = { cert: { notAfter: 1 }, since: 0 };
    expect(rotationStep(facts({ previous, ca: { notAfter: 0 } }), 10, S).kind).not.toBe('ca-introduce');
  });
});

describe('checkRotationSettings', () => {
  it('accepts the defaults (90 days, 10 years, 1 hour)', () => {
    expect(checkRotationSettings(S)).toBeUndefined();
  });
  it('refuses a serving certificate longer than a third of the CA, and an overlap the old CA would not outlive', () => {
    expect(checkRotationSettings({ ...S, servingValidityMs: 2000 * DAY })).toMatch(/at most a third of the CA validity/);
    expect(checkRotationSettings({ ...S, overlapMs: 700 * DAY })).toMatch(/overlap/);
  });
});

describe('a whole CA rotation on real certificates', () => {
  it('keeps the caBundle trusting the served certificate at every step', () => {
    const hosts = ['driftgate.driftgate-system.svc', '127.0.0.1'];
    const s: RotationSettings = { servingValidityMs: 30_000, caValidityMs: 120_000, overlapMs: 5_000 };
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    let m = freshMaterial(hosts, s, new Date(t0));
    const trusted = (): boolean => {
      const bundle = Buffer.from(bundleOf(m), 'base64').toString('utf8');
      const cas = bundle.split(/(?=-----BEGIN CERTIFICATE-----)/).map((p) => new X509Certificate(p));
      const serving = new X509Certificate(m.serving.certPem);
      return cas.some((ca) => serving.checkIssued(ca) && serving.verify(ca.publicKey));
    };
    const steps: string[] = [];
    for (let t = t0; t <= t0 + 200_000; t += 1_000) {
      const step = rotationStep(factsOf(m, hosts), t, s);
      if (step.kind === 'none') continue;
      steps.push(step.kind);
      m = applyStep(m, step, hosts, s, new Date(t));
      expect(trusted()).toBe(true);
      expect(new X509Certificate(m.serving.certPem).subjectAltName).toContain('IP Address:127.0.0.1');
    }
    expect(steps).toContain('serving');
    const ca = steps.filter((k) => k.startsWith('ca-'));
    expect(ca.slice(0, 3)).toEqual(['ca-introduce', 'ca-promote', 'ca-retire']);
  });
});
