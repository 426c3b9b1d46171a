import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import type { KubeObject } from '../../../src/admission/types.js';
import { fingerprint, isSecret, redactSecret } from '../../../src/decision/redact.js';

const PASSWORD = 's3cr3t-Passw0rd-2025';
const PASSWORD_B64 = Buffer.from(PASSWORD).toString('base64');

const secret = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  type: 'Opaque',
  metadata: { name: 'checkout-db', namespace: 'prod' },
  data: { password: PASSWORD_B64 },
  stringData: { apiKey: 'sk_live_51HxQ2eFake0nly4Tests' },
});

describe('isSecret', () => {
  test.each([
    { obj: { apiVersion: 'v1', kind: 'Secret' }, want: true },
    { obj: { kind: 'Secret' }, want: true },
    { obj: { apiVersion: 'example.com/v1', kind: 'Secret' }, want: false },
    { obj: { apiVersion: 'v1', kind: 'ConfigMap' }, want: false },
    { obj: null, want: false },
  ])('$obj: $want', ({ obj, want }) => {
    expect(isSecret(obj)).toBe(want);
  });
});

describe('fingerprint', () => {
  test('is the first 12 hex digits of the SHA-256 of the value as sent', () => {
    const hex = createHash('sha256').update(PASSWORD_B64).digest('hex').slice(0, 12);
    expect(fingerprint(PASSWORD_B64)).toBe(`<redacted sha256:${hex}>`);
  });

  test('tells different values apart and gives equal values the same fingerprint', () => {
    expect(fingerprint('a')).not.toBe(fingerprint('b'));
    expect(fingerprint('a')).toBe(fingerprint('a'));
  });
});

describe('redactSecret', () => {
  test('replaces every data and stringData value by its fingerprint', () => {
    expect(redactSecret(secret())).toEqual({
      ...secret(),
      data: { password: fingerprint(PASSWORD_B64) },
      stringData: { apiKey: fingerprint('sk_live_51HxQ2eFake0nly4Tests') },
    });
  });

  test('leaves no value in clear or in base64', () => {
    const text = JSON.stringify(redactSecret(secret()));
    for (const value of [PASSWORD, PASSWORD_B64, 'sk_live_51HxQ2eFake0nly4Tests']) expect(text).not.toContain(value);
  });

  test('fingerprints a malformed value field whole rather than passing it through', () => {
    const obj = { ...secret(), data: PASSWORD_B64, stringData: [PASSWORD] };
    expect(JSON.stringify(redactSecret(obj))).not.toContain(PASSWORD_B64);
    expect(JSON.stringify(redactSecret(obj))).not.toContain(PASSWORD);
  });

  test.each([null, undefined])('has no object for %s', (missing) => {
    expect(redactSecret(missing)).toBeUndefined();
  });

  test('returns any other object as it is', () => {
    const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', data: { password: 'not secret' } };
    expect(redactSecret(cm)).toBe(cm);
  });

  test('never modifies its input', () => {
    const obj = secret();
    redactSecret(obj);
    expect(obj).toEqual(secret());
  });
});
