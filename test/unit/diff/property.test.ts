/**
 * Properties of the normalized diff over random JSON objects: the patch lands exactly on the new
 * object, the revert exactly on the old one, and `paths` names what the patch touches.
 */
import fc from 'fast-check';
import { applyPatch } from 'fast-json-patch';
import { describe, expect, test } from 'vitest';
import type { KubeObject } from '../../../src/admission/types.js';
import { normalizedDiff } from '../../../src/decision/diff.js';
import { normalize } from '../../../src/decision/normalize.js';
import { isWithin } from '../../../src/decision/pointer.js';

// A small key space, so two random objects share keys often, with the keys that need escaping
// ("/", "~", "~1"), index-like keys and the empty key. "__proto__" is left out only because
// fast-json-patch refuses to touch it.
const key = fc.oneof(
  fc.constantFrom('a', 'b', 'spec', 'app.kubernetes.io/name', 'x~y', '~1', '', '0', '10', 'constructor'),
  fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__'),
);

// JSON scalars; -0 is left out because JSON cannot tell it from 0 and neither can the diff.
const scalar = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
  fc.boolean(),
  fc.constant(null),
);

const { json } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('json'), { maxLength: 4 }), fc.dictionary(key, tie('json'), { maxKeys: 4 })),
}));

// Runtime and identity keys are left out at the top: normalization drops them, and kind Secret
// would be redacted, so the result would not equal the input (normalize.test.ts covers those).
const TOP_LEVEL_EXCLUDED = new Set(['status', 'metadata', 'kind', 'apiVersion']);

// Metadata normalize keeps as it is: non-empty label and annotation maps, no driftgate keys.
const keptMap = fc.dictionary(
  key.filter((k) => !k.startsWith('driftgate.dev/') && k !== 'kubectl.kubernetes.io/last-applied-configuration'),
  fc.string({ maxLength: 8 }),
  { minKeys: 1, maxKeys: 3 },
);
const metadata = fc.record({ name: fc.constantFrom('checkout-api', 'payments'), labels: keptMap, annotations: keptMap }, { requiredKeys: ['name'] });

const object: fc.Arbitrary<KubeObject> = fc
  .tuple(
    fc.dictionary(
      key.filter((k) => !TOP_LEVEL_EXCLUDED.has(k)),
      json,
      { maxKeys: 5 },
    ),
    fc.option(metadata),
  )
  .map(([body, meta]) => (meta === null ? { ...body } : { ...body, metadata: meta }));

const side = fc.option(object, { freq: 8 });

function apply(doc: KubeObject | null, patch: ReturnType<typeof normalizedDiff>['patch']): unknown {
  return applyPatch(structuredClone(doc), patch, true, true).newDocument;
}

describe('normalizedDiff properties', () => {
  test('the patch turns old into new and the revert turns new back into old', () => {
    fc.assert(
      fc.property(side, side, (a, b) => {
        expect(normalize(a) ?? null).toEqual(a);
        expect(normalize(b) ?? null).toEqual(b);
        const change = normalizedDiff(a, b);
        expect(apply(a, change.patch)).toEqual(normalize(b) ?? null);
        expect(apply(b, change.revert)).toEqual(normalize(a) ?? null);
      }),
      { numRuns: 2000 },
    );
  });

  test('paths are the leaves under the operations, the same in both directions', () => {
    fc.assert(
      fc.property(side, side, (a, b) => {
        const change = normalizedDiff(a, b);
        expect(change.paths.length === 0).toBe(change.patch.length === 0);
        for (const op of change.patch) expect(change.paths.some((p) => isWithin(p, op.path))).toBe(true);
        for (const p of change.paths) expect(change.patch.some((op) => isWithin(p, op.path))).toBe(true);
        expect(new Set(normalizedDiff(b, a).paths)).toEqual(new Set(change.paths));
        expect(new Set(change.paths).size).toBe(change.paths.length);
      }),
      { numRuns: 1000 },
    );
  });

  test('the same pair gives the same bytes whatever order its keys were written in', () => {
    fc.assert(
      fc.property(side, side, (a, b) => {
        const shuffled = normalizedDiff(reversedKeys(a) as KubeObject | null, reversedKeys(b) as KubeObject | null);
        expect(JSON.stringify(shuffled)).toBe(JSON.stringify(normalizedDiff(a, b)));
      }),
      { numRuns: 300 },
    );
  });

  test('no Secret value leaves the diff, in clear or in base64', () => {
    const values = fc.dictionary(
      key,
      fc.string({ minLength: 1, maxLength: 12 }).map((s) => `SECRET-${s}`),
      { maxKeys: 4 },
    );
    const secret = fc.record({ data: values, stringData: values }, { requiredKeys: [] }).map(
      ({ data, stringData }): KubeObject => ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'checkout-db' },
        ...(data === undefined ? {} : { data: base64Values(data) }),
        ...(stringData === undefined ? {} : { stringData }),
      }),
    );
    fc.assert(
      fc.property(fc.option(secret, { freq: 8 }), fc.option(secret, { freq: 8 }), (a, b) => {
        const text = JSON.stringify(normalizedDiff(a, b));
        expect(text).not.toContain('SECRET-');
        // Every value starts with "SECRET-", so every base64 value starts with its encoding.
        expect(text).not.toContain(Buffer.from('SECRET-').toString('base64').slice(0, 9));
      }),
      { numRuns: 500 },
    );
  });
});

function base64Values(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
}

function reversedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reversedKeys);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(
    Object.entries(v)
      .reverse()
      .map(([k, x]) => [k, reversedKeys(x)]),
  );
}
