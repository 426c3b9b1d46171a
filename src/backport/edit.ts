/**
 * Editing one YAML document inside a file so that only the changed lines change. The yaml
 * library's Document API finds the nodes and their byte ranges; the edit itself is a splice of
 * the source text at those ranges, because re-printing a document (even through the Document API)
 * re-spaces flow collections, re-indents sequences and moves comments: a reviewer would then read
 * a diff of the whole file instead of the backport. Every value is written in YAML 1.1 terms
 * (kubectl and Kustomize read manifests that way), so a label "yes" stays a string.
 */
import { isMap, isScalar, isSeq, parseAllDocuments, stringify, type Document, type Node, type Pair, type YAMLMap, type YAMLSeq } from 'yaml';
import { DriftgateError } from '../errors.js';
import { isRawJson } from '../util/json.js';
import { exactForYaml } from '../util/yaml-safe.js';

/** YamlPath is a path into a document: map keys as strings, list indexes as numbers. */
export type YamlPath = ReadonlyArray<string | number>;

/** parseDocuments returns the documents of `text`, or throws DG_USAGE naming `file` and the first parse error. */
export function parseDocuments(text: string, file: string): Document.Parsed[] {
  const docs = parseAllDocuments(text, { prettyErrors: false });
  if (!Array.isArray(docs)) return [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err !== undefined) throw new DriftgateError('DG_USAGE', `${file}: not valid YAML (${err.message.split('\n')[0] ?? ''})`);
  }
  return docs;
}

/** nodeAt returns the node at `path` in `doc`, or undefined when a step is missing. */
export function nodeAt(doc: Document.Parsed, path: YamlPath): Node | undefined {
  let node: unknown = doc.contents;
  for (const token of path) {
    if (isMap(node)) node = pairOf(node, String(token))?.value ?? undefined;
    else if (isSeq(node) && typeof token === 'number') node = node.items[token];
    else return undefined;
    if (node === undefined || node === null) return undefined;
  }
  return node as Node;
}

/**
 * setAt returns `text` with the value at `path` of document `index` set to `value`: a scalar
 * replaced in place (its quoting style and trailing comment kept), a missing key appended to its
 * map at the map's indentation, a missing list item appended, a collection written as block YAML
 * at the indentation of its key. Nothing outside those lines changes.
 */
export function setAt(text: string, index: number, path: YamlPath, value: unknown, file: string): string {
  const doc = documentAt(text, index, file);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  let node: unknown = doc.contents;
  let holder: Holder = { kind: 'root' };
  for (let i = 0; i < path.length; i++) {
    const token = path[i] as string | number;
    const rest = path.slice(i + 1);
    if (isMap(node)) {
      const pair = pairOf(node, String(token));
      if (pair === undefined) return insertIntoMap(text, node, String(token), build(rest, value), eol);
      holder = { kind: 'pair', pair };
      node = pair.value;
    } else if (isSeq(node) && typeof token === 'number') {
      if (token === node.items.length) return insertIntoSeq(text, node, build(rest, value), eol);
      if (token > node.items.length) throw new DriftgateError('DG_USAGE', `${file}: cannot set ${show(path)}: the list has ${node.items.length} items`);
      holder = { kind: 'item' };
      node = node.items[token];
    } else {
      // A scalar (or nothing) where the path goes deeper: it becomes the collection the path needs.
      return replaceValue(text, holder, node, build(path.slice(i), value), eol, file);
    }
  }
  return replaceValue(text, holder, node, value, eol, file);
}

/**
 * removeAt returns `text` without the map key at `path` of document `index` (the key's lines
 * deleted; a map left empty written `{}`), or `text` itself when the key is already absent.
 * Removes only the last item of a list: removing another renumbers the rest (DG_USAGE).
 */
export function removeAt(text: string, index: number, path: YamlPath, file: string): string {
  const doc = documentAt(text, index, file);
  const parent = path.length === 0 ? undefined : nodeAt(doc, path.slice(0, -1));
  const last = path[path.length - 1];
  if (isSeq(parent)) {
    // The diff removes list items from the end, so removing the last item renumbers nothing.
    if (last !== parent.items.length - 1)
      throw new DriftgateError('DG_USAGE', `${file}: removing list item ${show(path)} would renumber the items after it; remove it by hand`);
    if (parent.flow === true || parent.items.length === 1) {
      const [start, end] = trimmed(text, parent);
      return splice(text, start, end, flow((parent.toJSON() as unknown[]).slice(0, -1)));
    }
    const item = parent.items[parent.items.length - 1] as Node;
    const start = lineStart(text, range(item)[0]);
    const end = lineEnd(text, range(item)[1]);
    // From the end of the item before it, so comments between the two stay with the earlier one.
    const before = lineEnd(text, range(parent.items[parent.items.length - 2] as Node)[1]);
    return splice(text, Math.max(before, start - 1), end, '');
  }
  if (!isMap(parent) || last === undefined) return text;
  const pair = pairOf(parent, String(last));
  if (pair === undefined) return text;
  const key = pair.key as Node;
  if (parent.flow === true) {
    const rest = parent.toJSON() as Record<string, unknown>;
    delete rest[String(last)];
    return splice(text, range(parent)[0], range(parent)[1], flow(rest));
  }
  if (parent.items.length === 1) {
    // The map's own key line stays; its value becomes an empty map.
    const start = lineStart(text, range(key)[0]);
    const colon = text.lastIndexOf(':', start);
    const end = lineEnd(text, endOf(pair));
    return splice(text, colon + 1, end, ' {}');
  }
  const start = lineStart(text, range(key)[0]);
  const end = lineEnd(text, endOf(pair));
  return splice(text, start, Math.min(text.length, end + (text[end] === '\r' ? 2 : 1)), '');
}

/** hasTemplate returns true when the node at `path` (or the document, for an empty path) holds `{{ }}`: a template, not a manifest. */
export function hasTemplate(text: string, node: Node | undefined): boolean {
  if (node === undefined) return false;
  const [start, end] = range(node);
  return /\{\{/.test(text.slice(start, end));
}

type Holder = { kind: 'root' } | { kind: 'pair'; pair: Pair } | { kind: 'item' };

function documentAt(text: string, index: number, file: string): Document.Parsed {
  const doc = parseDocuments(text, file)[index];
  if (doc === undefined) throw new DriftgateError('DG_INTERNAL', `${file}: document ${index} is gone`);
  return doc;
}

function replaceValue(text: string, holder: Holder, node: unknown, value: unknown, eol: string, file: string): string {
  if (holder.kind === 'root') throw new DriftgateError('DG_USAGE', `${file}: the change replaces the whole document; write it by hand`);
  const collection = isCollectionValue(value);
  if (isScalar(node) && !collection) {
    const [start, end] = range(node);
    // An empty value (`key:` and nothing) is a scalar of no characters right after the colon.
    const gap = start === end && text[start - 1] === ':' ? ' ' : '';
    return splice(text, start, end, `${gap}${scalar(value, node.type)}`);
  }
  if ((isMap(node) || isSeq(node)) && node.flow !== true && collection) {
    // A block collection starts at its first key or dash; the lines after it carry that column.
    const [start, end] = trimmed(text, node);
    return splice(text, start, end, block(value, column(text, start), eol).trimStart());
  }
  if (holder.kind === 'item') {
    const [start, end] = trimmed(text, node as Node);
    return splice(text, start, end, collection ? block(value, column(text, start), eol).trimStart() : scalar(value, undefined));
  }
  // A key whose value is a scalar, a flow collection or nothing: rewrite what follows its colon.
  const key = holder.pair.key as Node;
  const colon = text.indexOf(':', range(key)[1]);
  const end = node === null || node === undefined ? colon + 1 : range(node as Node)[1];
  if (!collection) return splice(text, colon + 1, end, ` ${scalar(value, undefined)}`);
  return splice(text, colon + 1, end, `${eol}${block(value, column(text, range(key)[0]) + 2, eol)}`);
}

function insertIntoMap(text: string, map: YAMLMap, key: string, value: unknown, eol: string): string {
  if (map.flow === true || map.items.length === 0) {
    const [start, end] = trimmed(text, map);
    // Before the closing brace, so the entries already there keep their spelling.
    if (map.items.length > 0 && text[end - 1] === '}') return splice(text, end - 1, end - 1, `, ${inFlow(key)}: ${inFlow(value)}`);
    return splice(text, start, end, flow({ ...(map.toJSON() as Record<string, unknown>), [key]: value }));
  }
  const first = map.items[0] as Pair;
  const indent = column(text, range(first.key as Node)[0]);
  const at = lineEnd(text, endOf(map.items[map.items.length - 1] as Pair));
  const head = `${' '.repeat(indent)}${scalar(key, undefined)}:`;
  const tail = isCollectionValue(value) ? `${eol}${block(value, indent + 2, eol)}` : ` ${scalar(value, undefined)}`;
  return splice(text, at, at, `${eol}${head}${tail}`);
}

function insertIntoSeq(text: string, seq: YAMLSeq, value: unknown, eol: string): string {
  if (seq.flow === true || seq.items.length === 0) {
    const [start, end] = trimmed(text, seq);
    if (seq.items.length > 0 && text[end - 1] === ']') return splice(text, end - 1, end - 1, `, ${inFlow(value)}`);
    return splice(text, start, end, flow([...(seq.toJSON() as unknown[]), value]));
  }
  const dash = column(text, range(seq)[0]);
  const last = seq.items[seq.items.length - 1] as Node;
  const at = lineEnd(text, range(last)[1]);
  const item = isCollectionValue(value) ? block(value, dash + 2, eol).trimStart() : scalar(value, undefined);
  return splice(text, at, at, `${eol}${' '.repeat(dash)}- ${item}`);
}

// The value the rest of a path needs: `{a: {b: value}}` for ["a", "b"], a list for index 0.
function build(path: YamlPath, value: unknown): unknown {
  let out = value;
  for (let i = path.length - 1; i >= 0; i--) {
    const token = path[i] as string | number;
    out = typeof token === 'number' ? [out] : { [token]: out };
  }
  return out;
}

function isCollectionValue(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !isRawJson(value) && (Array.isArray(value) ? value.length > 0 : Object.keys(value).length > 0);
}

/** scalar returns `value` as one-line YAML 1.1, in the quoting style it replaces when that still fits. */
function scalar(value: unknown, style: string | undefined): string {
  // An integer beyond 2^53, kept as its digits (issue 11).
  if (isRawJson(value)) return value.rawJSON;
  if (typeof value === 'object' && value !== null) return flow(value);
  if (typeof value !== 'string') return JSON.stringify(value) ?? 'null';
  if (style === 'QUOTE_DOUBLE' || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value)) return doubleQuoted(value);
  if (style === 'QUOTE_SINGLE') return `'${value.replaceAll("'", "''")}'`;
  return stringify(value, { version: '1.1', lineWidth: 0 }).trimEnd();
}

// JSON's string syntax is YAML's double-quoted style, but for U+2028/2029, which YAML 1.1 reads as line breaks.
function doubleQuoted(value: string): string {
  return JSON.stringify(value).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

// A flow collection in JSON syntax (valid YAML): every string double-quoted, so no comma or
// bracket in a value can end it early.
function flow(value: unknown): string {
  return (JSON.stringify(value) ?? 'null').replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

// Inside a flow collection a plain scalar may not hold , [ ] { } or a colon: quote all but the simplest.
function inFlow(value: unknown): string {
  if (typeof value === 'string' && /^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(value)) return scalar(value, undefined);
  return typeof value === 'string' ? doubleQuoted(value) : flow(value);
}

function block(value: unknown, indent: number, eol: string): string {
  const lines = stringify(exactForYaml(value), { version: '1.1', lineWidth: 0 }).trimEnd().split('\n');
  return lines.map((line) => `${' '.repeat(indent)}${line}`).join(eol);
}

function pairOf(map: YAMLMap, key: string): Pair | undefined {
  return map.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === key) as Pair | undefined;
}

function range(node: Node): [number, number] {
  const r = node.range;
  if (r === undefined || r === null) throw new DriftgateError('DG_INTERNAL', 'a YAML node without a source range');
  return [r[0], r[1]];
}

// A node's range without the line breaks and spaces a block collection's range ends with.
function trimmed(text: string, node: Node): [number, number] {
  const [start, end] = range(node);
  let stop = end;
  while (stop > start && /[\s]/.test(text[stop - 1] ?? '')) stop--;
  return [start, stop];
}

function endOf(pair: Pair): number {
  return range((pair.value ?? pair.key) as Node)[1];
}

function column(text: string, at: number): number {
  return at - lineStart(text, at);
}

function lineStart(text: string, at: number): number {
  return text.lastIndexOf('\n', at - 1) + 1;
}

// The end of the line holding `at`, before its line break (a trailing comment stays on it).
function lineEnd(text: string, at: number): number {
  // A block collection's range ends after its last line break; step back onto that line.
  let from = at;
  while (from > 0 && (text[from - 1] === '\n' || text[from - 1] === '\r')) from--;
  const nl = text.indexOf('\n', from);
  const end = nl === -1 ? text.length : nl;
  return text[end - 1] === '\r' ? end - 1 : end;
}

function splice(text: string, start: number, end: number, insert: string): string {
  return `${text.slice(0, start)}${insert}${text.slice(end)}`;
}

function show(path: YamlPath): string {
  return path.map(String).join('.');
}
