/**
 * Go-style durations ("4h", "1h30m", "90s", "500ms"), the form Kubernetes users already write in
 * manifests and flags. Only non-negative durations exist here: a sign is refused, because a
 * negative window or limit never means what its writer wanted.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 MICRO SIGN, as Go accepts
  μs: 1e-3, // U+03BC GREEK SMALL LETTER MU, as Go accepts
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

// One "<number><unit>" term; the longer units come first so "ms" is not read as "m" then "s".
const TERM = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/**
 * parseDuration returns the length of a Go-style duration in milliseconds (possibly fractional
 * below 1ms, and 0 for "0" or "0s"), or undefined when `text` is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  // Go accepts a bare "0" as the only unit-less duration.
  if (text === '0') return 0;
  if (text === '') return undefined;
  let rest = text;
  let total = 0;
  while (rest !== '') {
    const term = TERM.exec(rest);
    if (term === null) return undefined;
    const [whole, amount, unit] = term;
    const factor = UNIT_MS[unit ?? ''];
    if (amount === undefined || factor === undefined) return undefined;
    total += Number(amount) * factor;
    rest = rest.slice(whole.length);
  }
  return Number.isFinite(total) ? total : undefined;
}

const DAY_MS = 86_400_000;

/**
 * parseAge returns the length of a duration that may start with whole days ("3d", "1d12h", or
 * any Go-style duration such as "72h"), in milliseconds, or undefined when `text` is not one.
 * Go durations stop at hours; days are what people write for ticket ages and overdue limits.
 */
export function parseAge(text: string): number | undefined {
  const days = /^(\d+)d(.*)$/.exec(text);
  if (days === null) return parseDuration(text);
  const rest = days[2] === '' ? 0 : parseDuration(days[2] ?? '');
  return rest === undefined ? undefined : Number(days[1]) * DAY_MS + rest;
}

const PARTS: ReadonlyArray<readonly [string, number]> = [
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
];

/**
 * formatDuration returns `ms` as Go-style text that parseDuration reads back: "4h", "1h30m",
 * "30m", "45s", "1m500ms"; 0 is "0s". Zero parts are left out (Go would write "1h0m30s"), and
 * anything below a millisecond is rounded to whole microseconds.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`formatDuration: ${ms} is not a finite number of milliseconds`);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  // Work in whole microseconds so that float noise (0.1 + 0.2) never prints as a part.
  let micros = Math.round(ms * 1_000);
  if (micros === 0) return '0s';
  let out = '';
  for (const [unit, size] of PARTS) {
    const sizeMicros = size * 1_000;
    const count = Math.floor(micros / sizeMicros);
    if (count > 0) out += `${count}${unit}`;
    micros -= count * sizeMicros;
  }
  if (micros > 0) out += `${micros}us`;
  return out;
}
