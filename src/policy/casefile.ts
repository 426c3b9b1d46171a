/**
 * The case format of `driftgate policy test`: what a case's expect.yaml may say, and how an
 * answer is held against it. Pure: the CLI reads the files and runs the admission path, this
 * module only parses text and compares values, so every expectation and every mismatch message
 * is testable without a file system.
 *
 * A malformed expect.yaml is a value (`invalid`, with one line per field), not an exception: one
 * broken case must not hide the results of the others.
 */
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { formatPath, show, suggest, type FieldPath } from './messages.js';
import { isRfc3339 } from '../util/rfc3339.js';
import { yamlProblem } from './load.js';
import { isRecord } from '../util/json.js';

/**
 * The time a case is decided at when its expect.yaml gives no `now`. Fixed, never the clock, so a
 * case gives the same answer in every CI run; a case with a break-glass window should say `now`.
 */
export const DEFAULT_CASE_NOW = '2026-01-01T00:00:00Z';

/** The RFC 6902 operations a patch may hold. */
export const PATCH_OPS = ['add', 'remove', 'replace', 'move', 'copy', 'test'] as const;

/** PatchOpName is one RFC 6902 operation name. */
export type PatchOpName = (typeof PATCH_OPS)[number];

/** PatchExpectation is one operation the answer's patch must hold; `value` is compared only when given. */
export interface PatchExpectation {
  op: PatchOpName;
  path: string;
  value?: unknown;
}

/** CaseExpectation is a parsed expect.yaml, defaults applied. */
export interface CaseExpectation {
  name?: string;
  /** The time to decide at, as written (or DEFAULT_CASE_NOW). */
  now: string;
  /** Answer as the mutating webhook rather than the validating one. */
  mutate: boolean;
  /** File (relative to the case folder) holding the parent object of a subresource request. */
  parent?: string;
  allowed: boolean;
  /** Expected `status.code` of the answer. */
  code?: number;
  messageContains: string[];
  warningsContain: string[];
  patchContains: PatchExpectation[];
}

/** ParsedExpectation is an expect.yaml read: the expectation, or every problem in it. */
export type ParsedExpectation = { kind: 'ok'; expectation: CaseExpectation } | { kind: 'invalid'; problems: string[] };

/** Observed is what an AdmissionResponse says, in the terms of the case format. */
export interface Observed {
  allowed: boolean;
  /** `status.code`; absent when the response has no status, as allowed responses do. */
  code?: number;
  /** `status.message`; absent when the response has none. */
  message?: string;
  warnings: readonly string[];
  /** The decoded JSONPatch; empty when the response carries none. */
  patch: ReadonlyArray<{ op: string; path: string; value?: unknown }>;
}

/** Mismatch is one expectation an answer failed: which, what was wanted and what came back. */
export interface Mismatch {
  /** The expectation as written in expect.yaml, e.g. `messageContains[1]`. */
  expectation: string;
  want: string;
  got: string;
}

const FIELDS = ['name', 'now', 'mutate', 'parent', 'allowed', 'code', 'messageContains', 'warningsContain', 'patchContains'];
const PATCH_FIELDS = ['op', 'path', 'value'];

type Node = Record<string, unknown>;

const isNode: (value: unknown) => value is Node = isRecord;

/** Collects problems as `field: message` lines while the fields are read. */
class Reader {
  readonly problems: string[] = [];

  problem(path: FieldPath, message: string): void {
    this.problems.push(`${formatPath(path)}: ${message}`);
  }

  unknownKeys(node: Node, allowed: readonly string[], path: FieldPath): void {
    for (const key of Object.keys(node)) {
      if (allowed.includes(key)) continue;
      const guess = suggest(key, allowed);
      this.problem([...path, key], `unknown field; ${guess !== undefined ? `did you mean ${guess}?` : `allowed fields are ${allowed.join(', ')}`}`);
    }
  }

  string(node: Node, key: string, fix: string): string | undefined {
    const value = node[key];
    if (value === undefined) return undefined;
    if (typeof value === 'string' && value !== '') return value;
    this.problem([key], `${show(value)} is not allowed; ${fix}`);
    return undefined;
  }

  boolean(node: Node, key: string): boolean | undefined {
    const value = node[key];
    if (value === undefined || typeof value === 'boolean') return value;
    this.problem([key], `${show(value)} is not true or false; write ${key}: true or ${key}: false`);
    return undefined;
  }

  strings(node: Node, key: string, example: string): string[] {
    const value = node[key];
    if (value === undefined) return [];
    const fix = `write a list of texts, e.g. ${key}: [${JSON.stringify(example)}]`;
    if (!Array.isArray(value)) {
      this.problem([key], `must be a list; ${fix}`);
      return [];
    }
    const out: string[] = [];
    value.forEach((item, i) => {
      if (typeof item === 'string' && item !== '') out.push(item);
      else this.problem([key, i], `${show(item)} is not a text to look for; ${fix}`);
    });
    return out;
  }

  patchOps(node: Node): PatchExpectation[] {
    const value = node['patchContains'];
    if (value === undefined) return [];
    const example = 'e.g. patchContains: [{op: add, path: /metadata/annotations/driftgate.dev~1break-glass-until}]';
    if (!Array.isArray(value)) {
      this.problem(['patchContains'], `must be a list of JSON Patch operations; ${example}`);
      return [];
    }
    const out: PatchExpectation[] = [];
    value.forEach((item, i) => {
      const at = ['patchContains', i];
      if (!isNode(item)) {
        this.problem(at, `must be a mapping {op, path, value?}; ${example}`);
        return;
      }
      this.unknownKeys(item, PATCH_FIELDS, at);
      const op = item['op'];
      const path = item['path'];
      const opOk = typeof op === 'string' && (PATCH_OPS as readonly string[]).includes(op);
      if (op === undefined) this.problem([...at, 'op'], `required; use ${PATCH_OPS.join(', ')}`);
      else if (!opOk) this.problem([...at, 'op'], `${show(op)} is not a JSON Patch operation; use ${PATCH_OPS.join(', ')}`);
      const pathOk = typeof path === 'string' && (path === '' || path.startsWith('/'));
      if (path === undefined) this.problem([...at, 'path'], 'required; write a JSON Pointer, e.g. /spec/replicas');
      else if (!pathOk) this.problem([...at, 'path'], `${show(path)} is not a JSON Pointer; write e.g. /spec/replicas ("~1" stands for "/" in a key)`);
      if (!opOk || !pathOk) return;
      const want: PatchExpectation = { op: op as PatchOpName, path: path as string };
      if (Object.hasOwn(item, 'value')) want.value = item['value'];
      out.push(want);
    });
    return out;
  }
}

function readYaml(text: string): { kind: 'ok'; doc: unknown } | { kind: 'invalid'; problems: string[] } {
  const docs = parseAllDocuments(text.replace(/^\uFEFF/, ''));
  const errors = docs.flatMap((doc) => doc.errors);
  if (errors.length > 0) {
    return {
      kind: 'invalid',
      problems: errors.map(yamlProblem),
    };
  }
  const present = docs.filter((doc) => doc.contents !== null);
  if (present.length > 1) return { kind: 'invalid', problems: [`document: holds ${present.length} YAML documents; write one mapping per case`] };
  try {
    return { kind: 'ok', doc: present[0]?.toJS({ maxAliasCount: 100 }) ?? null };
  } catch (err) {
    return { kind: 'invalid', problems: [`document: ${err instanceof Error ? err.message : String(err)}`] };
  }
}

/**
 * parseExpectation returns the expectation an expect.yaml text describes, defaults applied, or
 * every problem in it, one `field: message; fix` line each. Unknown fields are problems: a
 * misspelt `messageContain` would otherwise check nothing and pass.
 */
export function parseExpectation(text: string): ParsedExpectation {
  const read = readYaml(text);
  if (read.kind === 'invalid') return read;
  const doc = read.doc;
  if (!isNode(doc)) {
    const what = doc === null || doc === undefined ? 'is empty' : `is ${show(doc)}, not a mapping`;
    return { kind: 'invalid', problems: [`document: ${what}; write at least allowed: true or allowed: false`] };
  }
  const r = new Reader();
  r.unknownKeys(doc, FIELDS, []);
  const name = r.string(doc, 'name', 'write a short sentence naming the case');
  let now = DEFAULT_CASE_NOW;
  const rawNow = doc['now'];
  if (rawNow !== undefined) {
    // YAML may have read an unquoted time as a Date under some schemas; take it back as text.
    const text = rawNow instanceof Date ? rawNow.toISOString() : rawNow;
    if (typeof text === 'string' && isRfc3339(text)) now = text;
    else r.problem(['now'], `${show(rawNow)} is not an RFC 3339 time; write e.g. now: 2026-11-24T03:00:00Z`);
  }
  const mutate = r.boolean(doc, 'mutate') ?? false;
  const parent = r.string(doc, 'parent', 'name the JSON file in the case folder that holds the parent object, e.g. parent: parent.json');
  const allowed = r.boolean(doc, 'allowed');
  if (doc['allowed'] === undefined) r.problem(['allowed'], 'required; write allowed: true or allowed: false');
  let code: number | undefined;
  const rawCode = doc['code'];
  if (rawCode !== undefined) {
    if (typeof rawCode === 'number' && Number.isInteger(rawCode) && rawCode >= 100 && rawCode <= 599) code = rawCode;
    else r.problem(['code'], `${show(rawCode)} is not an HTTP status code; write the expected status.code, e.g. code: 403`);
  }
  const messageContains = r.strings(doc, 'messageContains', 'make the change in Git');
  const warningsContain = r.strings(doc, 'warningsContain', 'backport ticket');
  const patchContains = r.patchOps(doc);
  if (r.problems.length > 0 || allowed === undefined) return { kind: 'invalid', problems: r.problems };
  const expectation: CaseExpectation = { now, mutate, allowed, messageContains, warningsContain, patchContains };
  if (name !== undefined) expectation.name = name;
  if (parent !== undefined) expectation.parent = parent;
  if (code !== undefined) expectation.code = code;
  return { kind: 'ok', expectation };
}

function showOp(op: { op: string; path: string; value?: unknown }): string {
  const value = Object.hasOwn(op, 'value') ? ` ${JSON.stringify(op.value)}` : '';
  return `${op.op} ${op.path}${value}`;
}

/**
 * compareCase returns every expectation `observed` fails, in expect.yaml order; an empty list
 * means the case passes. Texts are looked for as substrings; a patch operation matches on op and
 * path, and on value only when the expectation gives one.
 */
export function compareCase(want: CaseExpectation, observed: Observed): Mismatch[] {
  const out: Mismatch[] = [];
  if (observed.allowed !== want.allowed) {
    out.push({ expectation: 'allowed', want: String(want.allowed), got: String(observed.allowed) });
  }
  if (want.code !== undefined && observed.code !== want.code) {
    out.push({
      expectation: 'code',
      want: String(want.code),
      got: observed.code === undefined ? 'no status (allowed answers carry none)' : String(observed.code),
    });
  }
  want.messageContains.forEach((text, i) => {
    if (observed.message?.includes(text) === true) return;
    out.push({
      expectation: `messageContains[${i}]`,
      want: `a message containing ${JSON.stringify(text)}`,
      got: observed.message === undefined ? 'no message' : JSON.stringify(observed.message),
    });
  });
  want.warningsContain.forEach((text, i) => {
    if (observed.warnings.some((w) => w.includes(text))) return;
    out.push({
      expectation: `warningsContain[${i}]`,
      want: `a warning containing ${JSON.stringify(text)}`,
      got: observed.warnings.length === 0 ? 'no warnings' : observed.warnings.map((w) => JSON.stringify(w)).join(', '),
    });
  });
  want.patchContains.forEach((op, i) => {
    const found = observed.patch.some(
      (got) => got.op === op.op && got.path === op.path && (!Object.hasOwn(op, 'value') || isDeepStrictEqual(got.value, op.value)),
    );
    if (found) return;
    out.push({
      expectation: `patchContains[${i}]`,
      want: `an operation ${showOp(op)}`,
      got: observed.patch.length === 0 ? 'no patch' : observed.patch.map(showOp).join('; '),
    });
  });
  return out;
}

/** describeExpected returns the short form of an expectation for a table: "denied 403", "allowed + patch". */
export function describeExpected(want: CaseExpectation): string {
  const verdict = want.allowed ? 'allowed' : 'denied';
  const code = want.code === undefined ? '' : ` ${want.code}`;
  return `${verdict}${code}${want.patchContains.length > 0 ? ' + patch' : ''}`;
}

/** describeObserved returns the short form of an answer for a table, in the words of describeExpected. */
export function describeObserved(observed: Observed): string {
  const verdict = observed.allowed ? 'allowed' : 'denied';
  const code = observed.code === undefined ? '' : ` ${observed.code}`;
  return `${verdict}${code}${observed.patch.length > 0 ? ' + patch' : ''}`;
}
