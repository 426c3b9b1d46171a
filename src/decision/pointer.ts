/**
 * RFC 6901 JSON Pointers: the one way driftgate names a field, in patches, changed paths,
 * delegations and messages. Pure string work, no I/O.
 */
import { DriftgateError } from '../errors.js';

// An array index token as RFC 6901 §4 allows it: no leading zeros, no sign, no "-" (which names
// the slot after the end and so never holds a value).
const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

/** escapeToken returns `s` as one pointer token: "~" becomes "~0", then "/" becomes "~1". */
export function escapeToken(s: string): string {
  // Most keys need no escaping: answering those without a copy keeps a pointer per leaf cheap.
  if (!s.includes('~') && !s.includes('/')) return s;
  // "~" first, or the "~" of a freshly written "~1" would be escaped again.
  return s.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** unescapeToken returns the key a pointer token stands for ("~1" → "/", "~0" → "~"). */
export function unescapeToken(s: string): string {
  // One pass, so that "~01" decodes to "~1" and not to "/".
  return s.replace(/~[01]/g, (m) => (m === '~1' ? '/' : '~'));
}

/** toPointer returns the pointer naming `tokens` from the root ("" for no tokens). */
export function toPointer(tokens: readonly string[]): string {
  return tokens.map((t) => `/${escapeToken(t)}`).join('');
}

/** isPointer tells whether `p` is a well-formed RFC 6901 pointer: "" or "/…" with only ~0/~1 escapes. */
export function isPointer(p: string): boolean {
  return (p === '' || p.startsWith('/')) && !/~(?![01])/.test(p);
}

/**
 * parsePointer returns the unescaped tokens of `p` ("" gives []). It throws a DriftgateError
 * (DG_INTERNAL) for a malformed pointer: callers that take pointers from people check them with
 * isPointer first and word their own message.
 */
export function parsePointer(p: string): string[] {
  if (!isPointer(p)) {
    const hint = p.startsWith('/') ? 'escape "~" as "~0" and "/" inside a key as "~1"' : `write "/${p}"`;
    throw new DriftgateError('DG_INTERNAL', `${JSON.stringify(p)} is not a JSON Pointer (RFC 6901): ${hint}`);
  }
  if (p === '') return [];
  return p.slice(1).split('/').map(unescapeToken);
}

/**
 * isWithin returns true when `path` is `owner` or lies below it. It compares whole tokens:
 * "/spec/replicasX" is not within "/spec/replicas", and every path is within "" (the root).
 */
export function isWithin(path: string, owner: string): boolean {
  // Escaping is canonical (only ~0 and ~1 exist), so equal tokens are equal strings and a
  // string prefix ending at a "/" is a token prefix.
  return owner === '' || path === owner || path.startsWith(`${owner}/`);
}

/**
 * getAt returns the value `pointer` names inside `obj`, or undefined when nothing is there
 * (JSON has no undefined, so it cannot be mistaken for a stored value).
 */
export function getAt(obj: unknown, pointer: string): unknown {
  let here: unknown = obj;
  for (const token of parsePointer(pointer)) {
    if (Array.isArray(here)) {
      if (!ARRAY_INDEX.test(token)) return undefined;
      here = here[Number(token)];
    } else if (typeof here === 'object' && here !== null) {
      // Own keys only: "__proto__" or "constructor" must not reach Object.prototype.
      if (!Object.hasOwn(here, token)) return undefined;
      here = (here as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
  }
  return here;
}
