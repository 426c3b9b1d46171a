/**
 * RFC 3339 times, read strictly: the one parser every room uses (break-glass windows, `--now`,
 * `--since`, policy test cases), so that a time means the same thing everywhere. `Date.parse`
 * alone is not enough: it accepts "2026-11-24" and other forms, and rolls "2026-02-30" over into
 * March instead of refusing it.
 */

// Date, "T" (or "t"; a space too when `allowSpace`), time with optional fraction, then a
// mandatory offset. Groups: year, month, day, hour, minute, second, offset hour, offset minute.
const SHAPE = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;
const SHAPE_SPACE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** RFC3339_EXAMPLE is the form messages suggest. */
export const RFC3339_EXAMPLE = '2026-11-24T03:00:00Z';

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * parseRfc3339 returns the instant an RFC 3339 date-time names, in milliseconds since the epoch,
 * or undefined when `text` is not one: wrong shape, no offset, or no such calendar time (month 13,
 * February 30th, hour 24, minute or second 60, offset beyond 23:59). Leap seconds (":60") are
 * refused, as Go's time.Parse (and so Kubernetes) refuses them. `allowSpace` also accepts a space
 * between date and time (RFC 3339 §5.6 allows it; flags accept it, annotations do not).
 */
export function parseRfc3339(text: string, opts: { allowSpace?: boolean } = {}): number | undefined {
  const m = (opts.allowSpace === true ? SHAPE_SPACE : SHAPE).exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  if (m[7] !== undefined && (Number(m[7]) > 23 || Number(m[8]) > 59)) return undefined;
  const ms = Date.parse(opts.allowSpace === true ? text.replace(' ', 'T') : text);
  return Number.isNaN(ms) ? undefined : ms;
}

/** isRfc3339 tells whether `text` is a real RFC 3339 date-time (see parseRfc3339). */
export function isRfc3339(text: string, opts: { allowSpace?: boolean } = {}): boolean {
  return parseRfc3339(text, opts) !== undefined;
}
