import { createHash } from 'node:crypto';
import type { ObjectRef, Window } from './types.js';

/**
 * ticketId returns the deterministic id of the backport ticket for one break-glass window on one
 * object. Deterministic so that two replicas (or the mutating and the validating webhook) agree
 * without talking to each other; readable so that `kubectl get backporttickets` says what it is;
 * a valid Kubernetes object name (lowercase alphanumerics and '-', at most 63 characters).
 */
export function ticketId(object: ObjectRef, window: Pick<Window, 'incident' | 'until'>): string {
  const key = [object.namespace, object.group, object.resource, object.name, window.incident, window.until].join('\u0000');
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 10);
  const parts = [slug(object.name, 30), slug(window.incident, 20), hash].filter((p) => p !== '');
  return parts.join('-');
}

function slug(text: string, max: number): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, max)
    .replace(/^-+|-+$/g, '');
}
