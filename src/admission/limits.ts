/**
 * Sane limits on the shape of an AdmissionReview, checked on its text before it is parsed
 * (issue 11, "No input can stall driftgate"). The body limit bounds the bytes, not what they
 * cost: 12 MiB of "[[[[…" is six million nested lists to allocate, and a long list deep down is
 * hundreds of thousands of changed leaves to diff. A review beyond these limits is refused at
 * once, in one linear pass that allocates nothing per value, with a message naming the limit,
 * where it was crossed and the fix.
 */
import { DriftgateError } from '../errors.js';

/** ReviewLimits bound a review's nesting and its number of leaves. */
export interface ReviewLimits {
  /** Deepest nesting of maps and lists in the whole review (the envelope counts: an object's root is level 3). */
  maxDepth: number;
  /** Most leaves (strings, numbers, booleans, nulls, empty maps and lists) in the whole review. */
  maxLeaves: number;
}

/**
 * DEFAULT_REVIEW_LIMITS are generous for real objects. A Deployment's deepest field sits about 12
 * levels down in its review, and the deepest CRDs in common use (Argo Workflows, Crossplane
 * compositions) stay under 40; 100 leaves room to spare. An object in etcd is at most ~1.5 MiB,
 * and a review carries two: 200,000 leaves is a ConfigMap of 1.5 MiB cut into 100,000 keys of
 * 15 bytes, on both sides. Beyond either, the review is not a Kubernetes object anyone wrote by hand.
 */
export const DEFAULT_REVIEW_LIMITS: Readonly<ReviewLimits> = { maxDepth: 100, maxLeaves: 200_000 };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_MAP = 0x7b;
const CLOSE_MAP = 0x7d;
const OPEN_LIST = 0x5b;
const CLOSE_LIST = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** ReviewShape is what measuring a review found: how many leaves it holds, how deep it nests. */
export interface ReviewShape {
  leaves: number;
  depth: number;
}

/**
 * checkReviewShape throws DG_REVIEW_TOO_COMPLEX when `text` nests deeper than `limits.maxDepth`
 * or holds more than `limits.maxLeaves` leaves. It does not validate JSON (JSON.parse does that
 * next); on malformed text it still stops, in linear time.
 */
export function checkReviewShape(text: string, limits: ReviewLimits = DEFAULT_REVIEW_LIMITS): void {
  measureReview(text, limits);
}

/**
 * measureReview returns the shape of a review given as text or as its UTF-8 bytes (every
 * character JSON gives a meaning to is ASCII, and no byte of a multi-byte UTF-8 sequence is, so
 * the bytes can be measured without decoding them), or throws DG_REVIEW_TOO_COMPLEX as
 * checkReviewShape does.
 */
export function measureReview(body: string | Uint8Array, limits: ReviewLimits = DEFAULT_REVIEW_LIMITS): ReviewShape {
  // One loop over bytes, indexed directly (what V8 compiles best); text is encoded first, which
  // only the small reviews judged in place and the CLI pay (the server measures large ones as
  // the bytes it received).
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const levels = limits.maxDepth + 1;
  // Per level: a map (1) or a list (0); whether it has a child yet; the current key's offsets or
  // list index, kept only to name where a limit was crossed.
  const isMap = new Uint8Array(levels);
  const hasChild = new Uint8Array(levels);
  const keyStart = new Int32Array(levels);
  const keyEnd = new Int32Array(levels);
  const index = new Int32Array(levels);
  let depth = 0;
  let deepest = 0;
  let leaves = 0;
  let expectKey = false;

  // The path to the value being counted runs through every open level.
  const tooMany = (): DriftgateError => {
    const where = describePath(bytes, depth, isMap, keyStart, keyEnd, index);
    return new DriftgateError(
      'DG_REVIEW_TOO_COMPLEX',
      `the review holds more than ${limits.maxLeaves} values (strings, numbers, booleans, empty maps and lists; the count passed the limit at ${where}): ` +
        `driftgate judges reviews up to ${limits.maxLeaves} values (--max-review-values). No object written by hand is that large; ` +
        'if a guarded resource really is, raise --max-review-values on driftgate serve, or leave that resource out of the GuardPolicy.',
    );
  };
  // The map or list that would open one level too deep sits at the end of every open level.
  const tooDeep = (): DriftgateError => {
    const where = describePath(bytes, depth, isMap, keyStart, keyEnd, index);
    return new DriftgateError(
      'DG_REVIEW_TOO_COMPLEX',
      `the review nests deeper than ${limits.maxDepth} levels (at ${where}): driftgate judges reviews up to ${limits.maxDepth} levels deep (--max-review-depth). ` +
        'No Kubernetes object needs that; if a guarded custom resource really does, raise --max-review-depth on driftgate serve, or leave that resource out of the GuardPolicy.',
    );
  };
  // A value starts at this level: count it for its parent (a list's index moves on).
  const child = (): void => {
    if (depth === 0) return;
    hasChild[depth - 1] = 1;
    if (isMap[depth - 1] === 0) index[depth - 1] = (index[depth - 1] ?? 0) + 1;
  };

  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const c = bytes[i] as number;
    if (c === QUOTE) {
      // To the closing quote, an escaped character at a time: one pass whatever the string holds.
      let end = i + 1;
      for (; end < n; end++) {
        const d = bytes[end] as number;
        if (d === BACKSLASH) end++;
        else if (d === QUOTE) break;
      }
      if (end >= n) end = n - 1;
      if (expectKey && depth > 0) {
        keyStart[depth - 1] = i;
        keyEnd[depth - 1] = end + 1;
        expectKey = false;
      } else {
        child();
        if (++leaves > limits.maxLeaves) throw tooMany();
      }
      i = end;
    } else if (c === OPEN_MAP || c === OPEN_LIST) {
      child();
      if (depth >= limits.maxDepth) throw tooDeep();
      isMap[depth] = c === OPEN_MAP ? 1 : 0;
      hasChild[depth] = 0;
      index[depth] = -1;
      keyEnd[depth] = -1;
      depth++;
      if (depth > deepest) deepest = depth;
      expectKey = c === OPEN_MAP;
    } else if (c === CLOSE_MAP || c === CLOSE_LIST) {
      if (depth === 0) break;
      depth--;
      // An empty map or list is a leaf, as the diff counts it.
      if (hasChild[depth] === 0 && ++leaves > limits.maxLeaves) throw tooMany();
      expectKey = false;
    } else if (c === COMMA) {
      expectKey = depth > 0 && isMap[depth - 1] === 1;
    } else if (c === COLON) {
      expectKey = false;
    } else if (c > 0x20) {
      // A number, true, false or null: one leaf, up to the next delimiter.
      child();
      if (++leaves > limits.maxLeaves) throw tooMany();
      while (i + 1 < n && !isDelimiter(bytes[i + 1] as number)) i++;
    }
  }
  return { leaves, depth: deepest };
}

function isDelimiter(c: number): boolean {
  return c === COMMA || c === CLOSE_MAP || c === CLOSE_LIST || c === COLON || c <= 0x20 || c === QUOTE || c === OPEN_MAP || c === OPEN_LIST;
}

const SHOWN_HEAD = 6;
const SHOWN_TAIL = 2;

/** Where the scan is, as people write a path: request.object.spec.a[3]; long paths elided in the middle. */
function describePath(bytes: Uint8Array, levels: number, isMap: Uint8Array, keyStart: Int32Array, keyEnd: Int32Array, index: Int32Array): string {
  const known = Math.min(levels, isMap.length);
  const tokens: string[] = [];
  const token = (level: number): string => {
    if (isMap[level] === 0) return `[${Math.max(0, index[level] ?? 0)}]`;
    const end = keyEnd[level] ?? -1;
    if (end < 0) return '';
    const from = keyStart[level] ?? 0;
    const raw = Buffer.from(bytes.buffer, bytes.byteOffset + from, end - from).toString('utf8');
    let key: string;
    try {
      key = String(JSON.parse(raw));
    } catch {
      key = '?';
    }
    if (/^[A-Za-z_$][\w$-]*$/.test(key)) return `.${key}`;
    // A key is the requester's text: quoted, and any control or direction character escaped, so
    // that it cannot rewrite the terminal or the log line it lands in.
    const shown = JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key).replace(
      /[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
    return `[${shown}]`;
  };
  if (known <= SHOWN_HEAD + SHOWN_TAIL + 1) {
    for (let level = 0; level < known; level++) tokens.push(token(level));
  } else {
    for (let level = 0; level < SHOWN_HEAD; level++) tokens.push(token(level));
    tokens.push(`…(${known - SHOWN_HEAD - SHOWN_TAIL} more levels)…`);
    for (let level = known - SHOWN_TAIL; level < known; level++) tokens.push(token(level));
  }
  const path = tokens.join('').replace(/^\./, '');
  return path === '' ? 'the top level' : path;
}
