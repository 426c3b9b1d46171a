/**
 * The shape limits checked on a review's text before it is parsed (issue 11, "No input can stall
 * driftgate"): both ways, the hostile shape refused naming the limit, where, and the fix, and its
 * legitimate neighbour (just within the limit) passed on to JSON.parse.
 */
import { describe, expect, test } from 'vitest';
import { checkReviewShape, DEFAULT_REVIEW_LIMITS, measureReview } from '../../../src/admission/limits.js';
import { parseReviewText } from '../../../src/admission/schema.js';
import { DriftgateError } from '../../../src/errors.js';
import { hostileReviewText } from '../../../bench/hostile.js';

function refusal(text: string, limits = { maxDepth: 10, maxLeaves: 20 }): DriftgateError {
  try {
    checkReviewShape(text, limits);
  } catch (err) {
    if (err instanceof DriftgateError) return err;
    throw err;
  }
  throw new Error('expected DG_REVIEW_TOO_COMPLEX, the review passed');
}

describe('checkReviewShape', () => {
  test.each([
    { name: 'a flat map', text: '{"a":1,"b":"x","c":null}' },
    { name: 'exactly the deepest allowed nesting', text: `${'['.repeat(10)}${']'.repeat(10)}` },
    { name: 'exactly the most leaves allowed', text: JSON.stringify(new Array(20).fill(0)) },
    { name: 'brackets and quotes inside strings do not count', text: JSON.stringify({ a: '[[[[[[[[[[[[{{{{{{{{{{{', b: 'say \\"[[[[[[[[[[[[[[[[[[' }) },
    { name: 'malformed text is left to JSON.parse', text: '{"a": [1, 2' },
  ])('passes $name', ({ text }) => {
    expect(() => checkReviewShape(text, { maxDepth: 10, maxLeaves: 20 })).not.toThrow();
  });

  test('refuses one level too deep, naming the limit, the path and the flag', () => {
    const err = refusal(JSON.stringify({ request: { object: { spec: { a: { b: { c: { d: { e: { f: { g: { h: 1 } } } } } } } } } } }));
    expect(err.code).toBe('DG_REVIEW_TOO_COMPLEX');
    expect(err.message).toContain('nests deeper than 10 levels (at request.object.spec.a.b.c…(2 more levels)….f.g)');
    expect(err.message).toContain('--max-review-depth');
  });

  test('a path through lists and odd keys reads as people write it, elided when long', () => {
    expect(refusal(JSON.stringify({ 'a/b': [[{ x: [[[[[[[1]]]]]]] }]] })).message).toContain('(at ["a/b"][0][0].x[0][0]…(2 more levels)…[0][0])');
  });

  test('refuses one leaf too many, counting empty maps and lists', () => {
    const err = refusal(JSON.stringify({ request: { object: { data: [...new Array(18).fill('v'), {}, []] } } }).replace(']}}}', ',true]}}}'));
    expect(err.message).toContain('holds more than 20 values');
    expect(err.message).toContain('at request.object.data[20]');
    expect(err.message).toContain('--max-review-values');
  });

  test('the defaults pass a large legitimate review and refuse the hostile one at once', () => {
    expect(() => checkReviewShape(hostileReviewText(60, 350 * 1024))).not.toThrow();
    expect(() => checkReviewShape(hostileReviewText(300, 62 * 1024))).toThrow(
      /nests deeper than 100 levels \(at request\.object\.spec\.a\.a\.a…\(92 more levels\)…\.a\.a\)/,
    );
    expect(() => checkReviewShape(hostileReviewText(20, 1024 * 1024))).toThrow(/more than 200000 values/);
    expect(DEFAULT_REVIEW_LIMITS).toEqual({ maxDepth: 100, maxLeaves: 200_000 });
  });

  test('12 MiB of nothing but nesting is refused without parsing it', () => {
    const text = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":${'['.repeat(12 * 1024 * 1024)}`;
    expect(() => parseReviewText(text)).toThrow(/nests deeper than 100 levels/);
  });
});

test('a key shown in the path has its control and direction characters escaped', () => {
  const key = 'evil\u202e\u0085\u001b[31m';
  const err = refusal(JSON.stringify({ [key]: [[[[[[[[[[1]]]]]]]]]] }));
  expect(err.message).toContain('(at ["evil\\u202e\\u0085\\u001b[31m"][0]');
  expect(err.message).not.toMatch(/[\u0000-\u001f\u0085\u202e]/);
});

describe('measureReview', () => {
  test('measures text and its UTF-8 bytes alike, multi-byte characters included', () => {
    const text = JSON.stringify({ request: { object: { 'clé€': ['ä', '"quoted\\" [[[', 1, {}, []], b: { c: 'ü' } } } });
    expect(measureReview(text)).toEqual({ leaves: 6, depth: 5 });
    expect(measureReview(Buffer.from(text, 'utf8'))).toEqual({ leaves: 6, depth: 5 });
  });

  test('refuses the bytes of a hostile review with the same message as its text', () => {
    const text = JSON.stringify({ ключ: [[[[[[[[[[1]]]]]]]]]] });
    const limits = { maxDepth: 10, maxLeaves: 20 };
    const fromText = (): unknown => measureReview(text, limits);
    const fromBytes = (): unknown => measureReview(new Uint8Array(Buffer.from(text, 'utf8')), limits);
    expect(fromText).toThrow(/\(at \["ключ"\]\[0\]/);
    let message = '';
    try {
      fromText();
    } catch (err) {
      message = (err as Error).message;
    }
    expect(fromBytes).toThrow(message);
  });
});
