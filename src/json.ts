/**
 * The one home of the JSON shape checks every room needs when it reads a value it did not build
 * (a request body, a journal line, a policy document, a custom resource).
 */
import { isRawJson } from './util/json.js';

/**
 * isRecord tells whether `v` is a JSON object (not null, not an array, and not an exact integer
 * kept as raw JSON by parseJsonExact, which is a leaf).
 */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isRawJson(v);
}
