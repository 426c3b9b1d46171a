/**
 * Text a user controls (names, annotation values, reasons, usernames, JSON keys) must never reach
 * a terminal raw: an ANSI escape can rewrite what a responder or an auditor sees ("allowed" for
 * "denied", a hidden line), a C1 control is one on many terminals, and a bidi override reorders
 * what is shown (Trojan Source). The one place these characters are named and escaped.
 */

// C0 controls and DEL, C1 controls, the line and paragraph separators, and the bidi controls
// (embeddings, overrides, isolates and marks, including the Arabic letter mark).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// The same set without the C0 range, which JSON.stringify already escapes (DEL it does not).
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function hex4(ch: string): string {
  return `\\u${(ch.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`;
}

/** hasUnsafe tells whether `text` holds a character `escapeControls` would escape. */
export function hasUnsafe(text: string): boolean {
  UNSAFE.lastIndex = 0;
  const found = UNSAFE.test(text);
  UNSAFE.lastIndex = 0;
  return found;
}

/**
 * escapeControls returns `text` with every control character (C0 including newline and tab, DEL,
 * C1), line separator and bidi control written as a visible `\uXXXX` escape, so one value stays
 * on one line and shows what it holds. For text meant for people: logs, messages, tables.
 */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, hex4);
}

/**
 * jsonSafe returns JSON text with the C1 controls, line separators and bidi controls that
 * JSON.stringify leaves raw written as `\uXXXX` escapes. Lossless: they can only occur inside
 * JSON strings, where the escape means the same character, so a parser reads the same value.
 */
export function jsonSafe(json: string): string {
  return json.replace(UNSAFE_IN_JSON, hex4);
}

/** escapeDeep returns a copy of a JSON-like value whose every string (keys too) went through escapeControls. */
export function escapeDeep(value: unknown): unknown {
  if (typeof value === 'string') return escapeControls(value);
  if (Array.isArray(value)) return value.map(escapeDeep);
  if (typeof value !== 'object' || value === null || value instanceof Error) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const key = escapeControls(k);
    if (key === '__proto__') Object.defineProperty(out, key, { value: escapeDeep(v), enumerable: true, writable: true, configurable: true });
    else out[key] = escapeDeep(v);
  }
  return out;
}

/**
 * escapeControlsKeepLines is escapeControls except for "\n": for a multi-line text driftgate
 * wrote itself (a denial), whose user-controlled parts were already escaped where they were put in.
 * A second line of defence, so that nothing raw leaves even if one interpolation was missed.
 */
export function escapeControlsKeepLines(text: string): string {
  return text.replace(UNSAFE, (ch) => (ch === '\n' ? ch : hex4(ch)));
}
