/**
 * JSON parsed without losing integers. `JSON.parse` reads every number as a double, so the int64
 * values of custom resources beyond 2^53 are rounded: 9007199254740992 and 9007199254740993 read
 * the same, and a change from one to the other would be no change at all. Such integers are kept
 * as `JSON.rawJSON` values holding their digits: JSON.stringify writes them back digit for digit,
 * and `sameJson` compares them by their text.
 *
 * The cost is paid only by bodies that may hold one: a reviver (called once per value, several
 * times slower than a bare parse) runs only when a scan finds sixteen digits in a row (2^53 has
 * sixteen digits). The scan costs a few microseconds per review; the reviver path several times
 * a bare parse. bench/parse.ts measures both; docs/security.md quotes a run.
 */

import { DriftgateError } from '../errors.js';

// Sixteen digits in a row. Digits inside a string (a digest, a long id) match too; that only
// costs the slower, still exact, path. Simpler than asking for a value position, and faster.
const LONG_NUMBER = /\d{16}/;
const INTEGER = /^-?\d+$/;

interface RawJsonApi {
  rawJSON(text: string): object;
  isRawJSON(value: unknown): boolean;
}
// Typed here because the TypeScript lib in use does not declare them yet (Node ≥ 21 has them).
const RAW = JSON as unknown as RawJsonApi;

type Reviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;

const exact: Reviver = (_key, value, context) => {
  if (typeof value === 'number' && !Number.isSafeInteger(value) && context?.source !== undefined && INTEGER.test(context.source)) {
    return RAW.rawJSON(context.source);
  }
  return value;
};

/**
 * EXACT_JSON_SUPPORTED tells whether this runtime hands revivers the source text of each value
 * and has JSON.rawJSON (Node ≥ 22). Without them a long integer would be rounded silently, and a
 * change from one to its neighbour read as no change: the product would fail open.
 */
export const EXACT_JSON_SUPPORTED: boolean = (() => {
  let source: string | undefined;
  JSON.parse('1', ((_key: string, value: unknown, context?: { source?: string }) => {
    source = context?.source;
    return value;
  }) as (this: unknown, key: string, value: unknown) => unknown);
  return source === '1' && typeof RAW.rawJSON === 'function';
})();

/**
 * parseJsonExact returns `JSON.parse(text)`, except that integers beyond ±(2^53−1) keep every
 * digit. On a runtime that cannot keep them it throws rather than round (fail closed).
 */
export function parseJsonExact(text: string): unknown {
  if (!LONG_NUMBER.test(text)) return JSON.parse(text);
  if (!EXACT_JSON_SUPPORTED) {
    throw new DriftgateError(
      'DG_INTERNAL',
      `this runtime (Node ${process.versions.node}) cannot read integers beyond 2^53 exactly; run driftgate on Node 22 or later (the Docker image and npm scripts use Node 24)`,
    );
  }
  return JSON.parse(text, exact as (this: unknown, key: string, value: unknown) => unknown);
}

/** isRawJson tells whether `value` is an exact integer kept by parseJsonExact. */
export function isRawJson(value: unknown): value is { rawJSON: string } {
  return typeof value === 'object' && value !== null && typeof RAW.isRawJSON === 'function' && RAW.isRawJSON(value);
}

/** sameScalar tells whether two JSON leaves are equal, comparing exact integers by their digits. */
export function sameScalar(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return isRawJson(a) && isRawJson(b) && a.rawJSON === b.rawJSON;
}

/**
 * isRecord tells whether `v` is a JSON object (not null, not an array, and not an exact integer
 * kept as raw JSON by parseJsonExact, which is a leaf).
 */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isRawJson(v);
}
