/**
 * When the self-managed certificates change (`serve --self-managed-certs`), as a pure function
 * of what the Secret holds and the time, so the whole schedule is tested with an injected clock.
 *
 * - The serving certificate is re-issued once a third of its validity is left (at 2/3 of its
 *   life), or at once when it is not signed by the current CA or does not name the hosts the
 *   apiserver calls.
 * - The CA is long-lived and rotated with overlap, because every caBundle must trust the new CA
 *   before any replica serves a certificate it signed, and keep trusting the old one until no
 *   replica serves one the old CA signed:
 *   1. introduce: a next CA is made once a third of the CA's validity is left; the caBundle
 *      carries current + next; the serving certificate is still the old CA's.
 *   2. promote: `overlap` later (every apiserver has the two-CA caBundle by then), the next CA
 *      becomes current, the serving certificate is re-issued by it, the old CA stays in the
 *      caBundle as previous.
 *   3. retire: `overlap` later (every replica reloaded the new pair by then), the previous CA
 *      leaves the caBundle.
 */

/** CertFacts are what the schedule reads of one certificate. */
export interface CertFacts {
  /** Unix ms. */
  notAfter: number;
}

/** SecretFacts are what the schedule reads of the Secret. */
export interface SecretFacts {
  ca: CertFacts;
  /** The CA being introduced (phase 1), and since when the caBundle carried it. */
  next?: { cert: CertFacts; since: number };
  /** The CA being retired (phase 3), and since when it stopped signing. */
  previous?: { cert: CertFacts; since: number };
  serving: CertFacts & { issuedByCurrent: boolean; hostsMatch: boolean };
}

/** RotationSettings are the validities and the overlap, in ms. */
export interface RotationSettings {
  servingValidityMs: number;
  caValidityMs: number;
  overlapMs: number;
}

/** RotationStep is the one change due now, or when the next one falls due. */
export type RotationStep =
  | { kind: 'none'; nextAt: number }
  | { kind: 'serving'; why: 'due' | 'not-issued-by-current-ca' | 'hosts-changed' }
  | { kind: 'ca-introduce' }
  | { kind: 'ca-promote' }
  | { kind: 'ca-retire' };

/** RENEW_FRACTION: a certificate is renewed once this share of its validity is left. */
export const RENEW_FRACTION = 1 / 3;

/** checkRotationSettings returns a problem with the settings (a sentence), or undefined when they can work. */
export function checkRotationSettings(s: RotationSettings): string | undefined {
  const caWindow = s.caValidityMs * RENEW_FRACTION;
  if (s.servingValidityMs > caWindow) {
    return 'the serving certificate validity must be at most a third of the CA validity (the CA is renewed with a third left, and a serving certificate never outlives its CA)';
  }
  if (2 * s.overlapMs >= caWindow) {
    return 'twice the CA overlap must be under a third of the CA validity (the old CA must outlive both overlap phases)';
  }
  return undefined;
}

/** rotationStep returns the change due at `now`. Pure. */
export function rotationStep(facts: SecretFacts, now: number, s: RotationSettings): RotationStep {
  if (facts.previous !== undefined && now >= facts.previous.since + s.overlapMs) return { kind: 'ca-retire' };
  if (facts.next !== undefined && now >= facts.next.since + s.overlapMs) return { kind: 'ca-promote' };
  const caRenewAt = facts.ca.notAfter - s.caValidityMs * RENEW_FRACTION;
  // One CA change at a time: a new one is introduced only once the last one is retired.
  if (facts.next === undefined && facts.previous === undefined && now >= caRenewAt) return { kind: 'ca-introduce' };
  if (!facts.serving.issuedByCurrent) return { kind: 'serving', why: 'not-issued-by-current-ca' };
  if (!facts.serving.hostsMatch) return { kind: 'serving', why: 'hosts-changed' };
  const servingRenewAt = facts.serving.notAfter - s.servingValidityMs * RENEW_FRACTION;
  if (now >= servingRenewAt) return { kind: 'serving', why: 'due' };
  const candidates = [servingRenewAt];
  if (facts.previous !== undefined) candidates.push(facts.previous.since + s.overlapMs);
  else if (facts.next !== undefined) candidates.push(facts.next.since + s.overlapMs);
  else candidates.push(caRenewAt);
  return { kind: 'none', nextAt: Math.min(...candidates) };
}
