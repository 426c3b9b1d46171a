/**
 * Secret redaction: THE one place it happens (ARCHITECTURE rule). The diff redacts both sides
 * before comparing, so no patch, path, message, ticket or log line built from a Change can carry
 * a Secret's values. A value is replaced by a short fingerprint, so a changed value still shows
 * as a change and an unchanged one as none.
 */
import { createHash } from 'node:crypto';
import type { KubeObject } from '../admission/types.js';
import { isRecord } from './normalize.js';

// The fields of a core/v1 Secret that hold values: `data` (base64) and `stringData` (write-only
// plain text the apiserver folds into `data`).
const VALUE_FIELDS = ['data', 'stringData'] as const;

/**
 * isSecret tells whether `obj` is a core/v1 Secret. An object with kind Secret and no apiVersion
 * counts too: redacting something that did not need it is the safe mistake.
 */
export function isSecret(obj: KubeObject | null | undefined): boolean {
  return isRecord(obj) && obj.kind === 'Secret' && (obj.apiVersion === 'v1' || obj.apiVersion === undefined);
}

/**
 * fingerprint returns "<redacted sha256:…>" holding the first 12 hex digits of the SHA-256
 * of the value as sent (the base64 text for `data`). Enough to tell two values apart; not a
 * secret-safe hash: a weak value (a short password) could be guessed from it by brute force,
 * which is why tickets are sensitive (docs/security.md).
 */
export function fingerprint(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  const hex = createHash('sha256').update(text, 'utf8').digest('hex');
  return `<redacted sha256:${hex.slice(0, 12)}>`;
}

/**
 * redactSecret returns a copy of a Secret whose every `data` and `stringData` value is a
 * fingerprint; any other object is returned as it is, and no object (null or undefined) as
 * undefined. The input is never modified.
 */
export function redactSecret(obj: KubeObject): KubeObject;
export function redactSecret(obj: KubeObject | null | undefined): KubeObject | undefined;
export function redactSecret(obj: KubeObject | null | undefined): KubeObject | undefined {
  if (obj === null || obj === undefined) return undefined;
  if (!isSecret(obj)) return obj;
  const copy: KubeObject = { ...obj };
  for (const field of VALUE_FIELDS) {
    const values = copy[field];
    if (values === undefined || values === null) continue;
    // A malformed field (not a map) is fingerprinted whole rather than passed through: whatever
    // it holds might still be secret.
    copy[field] = isRecord(values) ? Object.fromEntries(Object.entries(values).map(([k, v]) => [k, fingerprint(v)])) : fingerprint(values);
  }
  return copy;
}
