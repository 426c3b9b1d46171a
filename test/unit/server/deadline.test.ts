/**
 * recordDeadline: how much of the apiserver's `?timeout=` the admission path may spend. The
 * apiserver writes the webhook's timeoutSeconds as a Go duration ("5s", "10s"); anything else is
 * not from it and gets the apiserver's default of 10 s.
 */
import { describe, expect, it } from 'vitest';
import { recordDeadline } from '../../../src/server/app.js';

describe('recordDeadline (?timeout=)', () => {
  it.each([
    ['5s', 4_000],
    ['10s', 8_000],
    ['30s', 8_000],
    ['1s', 750],
    ['500ms', 250],
    ['2.5s', 2_000],
    ['1m', 8_000],
  ])('?timeout=%s leaves %i ms (less a fifth, at least 250 ms, at most --max-record-time)', (timeout, want) => {
    expect(recordDeadline(timeout)).toBe(want);
  });

  it.each([[undefined], [''], ['soon'], ['5 s'], ['-5s'], ['5h'], [['5s', '1s']]])('falls back to the apiserver default of 10 s for %j', (timeout) => {
    expect(recordDeadline(timeout)).toBe(8_000);
  });

  it('never gives less than 1 ms, even for a timeout shorter than the margin', () => {
    expect(recordDeadline('100ms')).toBe(1);
    expect(recordDeadline('0s')).toBe(1);
  });

  it('is capped by --max-record-time', () => {
    expect(recordDeadline('30s', 2_000)).toBe(2_000);
    expect(recordDeadline('1s', 2_000)).toBe(750);
  });
});
