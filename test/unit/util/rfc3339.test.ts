/** parseRfc3339, the one RFC 3339 parser (issue 11): real calendar times only. */
import { describe, expect, it } from 'vitest';
import { parseRfc3339 } from '../../../src/util/rfc3339.js';

describe('parseRfc3339', () => {
  const valid: Array<[string, string]> = [
    ['2026-11-24T03:00:00Z', '2026-11-24T03:00:00.000Z'],
    ['2026-11-24t03:00:00z', '2026-11-24T03:00:00.000Z'],
    ['2026-11-24T04:00:00+01:00', '2026-11-24T03:00:00.000Z'],
    ['2026-11-24T03:00:00.123456Z', '2026-11-24T03:00:00.123Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ['2000-02-29T23:59:59Z', '2000-02-29T23:59:59.000Z'],
    ['2026-12-31T23:59:59-23:59', '2027-01-01T23:58:59.000Z'],
  ];
  it.each(valid)('reads %s', (text, iso) => {
    expect(new Date(parseRfc3339(text) ?? Number.NaN).toISOString()).toBe(iso);
  });

  const invalid: Array<[string, string]> = [
    ['2026-02-30T00:00:00Z', 'February 30th (Date.parse rolls it into March)'],
    ['2026-02-29T00:00:00Z', 'February 29th in a common year'],
    ['1900-02-29T00:00:00Z', 'February 29th in a century year'],
    ['2026-04-31T00:00:00Z', 'April 31st'],
    ['2026-13-01T00:00:00Z', 'month 13'],
    ['2026-00-10T00:00:00Z', 'month 0'],
    ['2026-11-00T00:00:00Z', 'day 0'],
    ['2026-11-24T24:00:00Z', 'hour 24 (Date.parse reads midnight of the next day)'],
    ['2026-11-24T03:60:00Z', 'minute 60'],
    ['2026-11-24T03:00:60Z', 'a leap second, which Go (and so Kubernetes) refuses'],
    ['2026-11-24T03:00:00+24:00', 'offset hour 24'],
    ['2026-11-24T03:00:00+01:60', 'offset minute 60'],
    ['2026-11-24T03:00:00', 'no offset'],
    ['2026-11-24', 'a date alone'],
    ['2026-11-24 03:00:00Z', 'a space, unless allowed'],
    [' 2026-11-24T03:00:00Z', 'leading space'],
    ['２０２６-11-24T03:00:00Z', 'non-ASCII digits'],
  ];
  it.each(invalid)('refuses %s: %s', (text) => {
    expect(parseRfc3339(text)).toBeUndefined();
  });

  it('takes a space between date and time when asked (flags)', () => {
    expect(parseRfc3339('2026-11-24 03:00:00Z', { allowSpace: true })).toBe(Date.parse('2026-11-24T03:00:00Z'));
    expect(parseRfc3339('2026-02-30 03:00:00Z', { allowSpace: true })).toBeUndefined();
  });
});
