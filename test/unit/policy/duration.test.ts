import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../src/policy/index.js';
import { parseAge } from '../../../src/policy/duration.js';

describe('parseDuration', () => {
  const cases: Array<{ text: string; want: number | undefined }> = [
    { text: '4h', want: 4 * 3_600_000 },
    { text: '30m', want: 30 * 60_000 },
    { text: '1h30m', want: 90 * 60_000 },
    { text: '90s', want: 90_000 },
    { text: '500ms', want: 500 },
    { text: '1h0m30s', want: 3_630_000 },
    { text: '1.5h', want: 5_400_000 },
    { text: '.5s', want: 500 },
    { text: '2m3s4ms', want: 123_004 },
    { text: '1500us', want: 1.5 },
    { text: '1500µs', want: 1.5 },
    { text: '2000000ns', want: 2 },
    { text: '0', want: 0 },
    { text: '0s', want: 0 },
    { text: '', want: undefined },
    { text: '4', want: undefined },
    { text: '4 hours', want: undefined },
    { text: '4hours', want: undefined },
    { text: 'h', want: undefined },
    { text: '-4h', want: undefined },
    { text: '+4h', want: undefined },
    { text: ' 4h', want: undefined },
    { text: '4H', want: undefined },
    { text: '1d', want: undefined },
    { text: '1h 30m', want: undefined },
    { text: '.s', want: undefined },
  ];
  it.each(cases)('reads $text as $want', ({ text, want }) => {
    expect(parseDuration(text)).toBe(want);
  });
});

describe('formatDuration', () => {
  const cases: Array<{ ms: number; want: string }> = [
    { ms: 4 * 3_600_000, want: '4h' },
    { ms: 90 * 60_000, want: '1h30m' },
    { ms: 30 * 60_000, want: '30m' },
    { ms: 45_000, want: '45s' },
    { ms: 500, want: '500ms' },
    { ms: 3_630_000, want: '1h30s' },
    { ms: 61_500, want: '1m1s500ms' },
    { ms: 0, want: '0s' },
    { ms: 1.5, want: '1ms500us' },
    { ms: 0.1 + 0.2, want: '300us' },
    { ms: 100 * 3_600_000, want: '100h' },
    { ms: -90_000, want: '-1m30s' },
  ];
  it.each(cases)('writes $ms as $want', ({ ms, want }) => {
    expect(formatDuration(ms)).toBe(want);
  });

  it('refuses a value that is not a finite number', () => {
    expect(() => formatDuration(Number.NaN)).toThrow(RangeError);
    expect(() => formatDuration(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });

  it('writes what parseDuration reads back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 365 * 24 * 3_600_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
    );
  });
});

describe('parseAge (durations that may start with days)', () => {
  it.each([
    ['3d', 3 * 86_400_000],
    ['1d12h', 36 * 3_600_000],
    ['72h', 72 * 3_600_000],
    ['0d', 0],
  ])('reads %s', (text, ms) => {
    expect(parseAge(text)).toBe(ms);
  });

  it.each(['3 days', 'd', '1d12', '-1d', '', '3D'])('refuses %j', (text) => {
    expect(parseAge(text)).toBeUndefined();
  });
});
