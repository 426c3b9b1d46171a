/**
 * YAML for a terminal (and for Git): the yaml library escapes C0 controls in double-quoted
 * scalars but writes C1 and bidi controls raw, and may write a string holding them plain, where
 * no escape exists. Every such string is forced into double quotes, then those characters are
 * written as `\uXXXX`, which a YAML parser reads back as the same character: lossless.
 */
import { Document, isScalar, visit, type ToStringOptions } from 'yaml';
import { isRawJson } from './json.js';
import { hasUnsafe, jsonSafe } from './terminal.js';

/** safeYaml returns the document as YAML text with no control or bidi character raw. */
export function safeYaml(doc: Document, options: ToStringOptions = {}): string {
  visit(doc, {
    Scalar(_key, node) {
      if (isScalar(node) && typeof node.value === 'string' && hasUnsafe(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  // Outside double-quoted scalars (comments), the escape is shown as text, which is what a
  // person should see there anyway.
  return jsonSafe(doc.toString(options));
}

/** safeYamlOf returns `value` as YAML text (see safeYaml); exact integers beyond 2^53 keep their digits. */
export function safeYamlOf(value: unknown, options: ToStringOptions = {}): string {
  return safeYaml(new Document(exactForYaml(value)), options);
}

/**
 * exactForYaml returns `value` with every exact integer (raw JSON) as a BigInt: the yaml library
 * writes a BigInt as its digits, a raw JSON value as a map.
 */
export function exactForYaml(value: unknown): unknown {
  if (isRawJson(value)) return BigInt(value.rawJSON);
  if (Array.isArray(value)) return value.map(exactForYaml);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: exactForYaml(v), enumerable: true, writable: true, configurable: true });
  return out;
}
