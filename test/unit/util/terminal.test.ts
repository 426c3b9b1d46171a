/** Escaping control and bidi characters (issue 11) and reading integers exactly. */
import { describe, expect, it } from 'vitest';
import { visibleLength } from '../../../src/decision/breakglass.js';
import { isRawJson, parseJsonExact, sameScalar } from '../../../src/util/json.js';
import { escapeControls, escapeControlsKeepLines, jsonSafe } from '../../../src/util/terminal.js';

describe('escapeControls', () => {
  it.each([
    ['ESC (ANSI)', '\u001b[31mred', '\\u001b[31mred'],
    ['BEL and newline', 'a\u0007b\nc', 'a\\u0007b\\u000ac'],
    ['DEL', 'x\u007f', 'x\\u007f'],
    ['C1 CSI', 'x\u009b31m', 'x\\u009b31m'],
    ['bidi override and isolate', '\u202eevil\u2066', '\\u202eevil\\u2066'],
    ['line separator', 'a\u2028b', 'a\\u2028b'],
  ])('%s', (_name, text, want) => {
    expect(escapeControls(text)).toBe(want);
  });

  it('leaves plain text, accents and emoji alone', () => {
    expect(escapeControls('Zahlungsdienst überlastet 🔥 ~/a/b')).toBe('Zahlungsdienst überlastet 🔥 ~/a/b');
  });

  it('keeps newlines when asked, escaping the rest', () => {
    expect(escapeControlsKeepLines('one\ntwo\u001b')).toBe('one\ntwo\\u001b');
  });

  it('jsonSafe is lossless: the JSON reads back to the same string', () => {
    const value = { k: 'a\u009b\u202e\u007f\u2028b', '\u202ekey': 1 };
    const text = jsonSafe(JSON.stringify(value));
    expect(text).not.toMatch(/[\u007f-\u009f\u202a-\u202e\u2028]/);
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe('visibleLength', () => {
  it.each([
    ['plain', 'checkout OOM', 11],
    ['zero-width padding', 'ok\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b', 2],
    ['blank look-alikes', 'ok\u3000\u00a0\u2800\u3164\u115f\ufeff\u2060', 2],
    ['bidi marks', '\u200e\u202eok', 2],
    ['combining marks count with their letter', 'e\u0301e\u0301', 2],
    ['emoji with modifiers is one', '👍🏽🔥', 2],
  ])('%s', (_name, text, n) => {
    expect(visibleLength(text)).toBe(n);
  });
});

describe('parseJsonExact', () => {
  it('keeps integers beyond 2^53 exact and tells neighbours apart', () => {
    const a = parseJsonExact('{"n":9007199254740992}') as { n: unknown };
    const b = parseJsonExact('{"n":9007199254740993}') as { n: unknown };
    expect(JSON.parse('9007199254740992')).toBe(JSON.parse('9007199254740993'));
    expect(sameScalar(a.n, b.n)).toBe(false);
    expect(sameScalar(a.n, (parseJsonExact('{"n": 9007199254740992}') as { n: unknown }).n)).toBe(true);
    expect(JSON.stringify(b)).toBe('{"n":9007199254740993}');
  });

  it('leaves safe integers, floats and digits inside strings as JSON.parse reads them', () => {
    const v = parseJsonExact('{"a":42,"b":1.5e300,"c":"12345678901234567890","d":[-9007199254740991]}');
    expect(v).toEqual({ a: 42, b: 1.5e300, c: '12345678901234567890', d: [-9007199254740991] });
    expect(isRawJson((v as { d: unknown[] }).d[0])).toBe(false);
  });

  it('keeps the int64 extremes', () => {
    const v = parseJsonExact('[-9223372036854775808,9223372036854775807]');
    expect(JSON.stringify(v)).toBe('[-9223372036854775808,9223372036854775807]');
  });
});
