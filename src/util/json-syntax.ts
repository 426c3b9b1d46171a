/**
 * Where and why a text stops being JSON (RFC 8259), said without quoting it: JSON.parse's own
 * message gives no position for an unexpected token but quotes the text, and a request body or a
 * policy may carry a Secret's values. One home for the AdmissionReview body and the policy file.
 */

/**
 * jsonProblem returns where and why `text` stops being JSON. JSON.parse's own message is not used: for an unexpected
 * token V8 gives no position but quotes the body, and a body may carry a Secret's values.
 */
export function jsonProblem(text: string): string {
  const at = jsonErrorOffset(text);
  if (at < 0) return 'it could not be parsed';
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - before.lastIndexOf('\n');
  const where = `line ${line} column ${column} (offset ${at})`;
  if (at >= text.length) return `it ends early at ${where}`;
  const ch = String.fromCodePoint(text.codePointAt(at) ?? 0);
  return `unexpected ${JSON.stringify(ch)} at ${where}`;
}

type Expect = 'value' | 'valueOrClose' | 'key' | 'keyOrClose' | 'colon' | 'commaOrClose' | 'end';

/** jsonErrorOffset returns the offset of the first character that breaks RFC 8259, text.length if it ends early, or -1. */
function jsonErrorOffset(text: string): number {
  // Iterative, not recursive: a hostile body may nest deeper than the call stack.
  const open: string[] = [];
  let expect: Expect = 'value';
  let i = 0;
  const afterValue = (): Expect => (open.length === 0 ? 'end' : 'commaOrClose');
  for (;;) {
    while (i < text.length && ' \t\n\r'.includes(text.charAt(i))) i++;
    if (expect === 'end') return i < text.length ? i : -1;
    if (i >= text.length) return i;
    const c = text.charAt(i);
    if (expect === 'colon') {
      if (c !== ':') return i;
      i++;
      expect = 'value';
    } else if (expect === 'commaOrClose') {
      const top = open[open.length - 1];
      if (c === ',') expect = top === '{' ? 'key' : 'value';
      else if (c === (top === '{' ? '}' : ']')) open.pop();
      else return i;
      i++;
      if (c !== ',') expect = afterValue();
    } else if (expect === 'key' || expect === 'keyOrClose') {
      if (expect === 'keyOrClose' && c === '}') {
        open.pop();
        i++;
        expect = afterValue();
        continue;
      }
      if (c !== '"') return i;
      const end = scanString(text, i);
      if (end < 0) return -end - 1;
      i = end;
      expect = 'colon';
    } else {
      if (expect === 'valueOrClose' && c === ']') {
        open.pop();
        i++;
        expect = afterValue();
        continue;
      }
      if (c === '{' || c === '[') {
        open.push(c);
        i++;
        expect = c === '{' ? 'keyOrClose' : 'valueOrClose';
        continue;
      }
      const end = c === '"' ? scanString(text, i) : scanScalar(text, i);
      if (end < 0) return -end - 1;
      i = end;
      expect = afterValue();
    }
  }
}

// Scanners return the offset just past the token, or -(offset of the bad character) - 1.
function scanString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (code === 0x22) return i + 1;
    if (code < 0x20) return -i - 1;
    if (code === 0x5c) {
      const esc = text.charAt(i + 1);
      if (esc === 'u') {
        for (let k = 2; k < 6; k++) if (!/[0-9a-fA-F]/.test(text.charAt(i + k))) return -(i + k) - 1;
        i += 6;
        continue;
      }
      if (!'"\\/bfnrt'.includes(esc) || esc === '') return -(i + 1) - 1;
      i += 2;
      continue;
    }
    i++;
  }
  return -i - 1;
}

function scanScalar(text: string, start: number): number {
  for (const word of ['true', 'false', 'null']) {
    if (text.charAt(start) !== word.charAt(0)) continue;
    for (let k = 1; k < word.length; k++) if (text.charAt(start + k) !== word.charAt(k)) return -(start + k) - 1;
    return start + word.length;
  }
  const match = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  match.lastIndex = start;
  const m = match.exec(text);
  // A lone "-" is wrong at the character after it.
  if (m === null) return text.charAt(start) === '-' ? -(start + 1) - 1 : -start - 1;
  return start + m[0].length;
}
