/**
 * Turns validator findings into the lines a person reads: each names the field by its path
 * (`spec.delegations[1].paths[0]`), says what is wrong and how to fix it. Raw ajv wording never
 * reaches the reader; each keyword has its own sentence here, and each field its own fix.
 */
import type { ErrorObject } from 'ajv';
import { POLICY_API_VERSION, POLICY_KIND, PATTERNS } from './schema.js';

/** A path into the document: keys and list indexes. */
export type FieldPath = ReadonlyArray<string | number>;

/** Problem is one thing wrong with a document, at one field. */
export interface Problem {
  path: FieldPath;
  message: string;
}

interface FieldHelp {
  /** How to write the field correctly; ends every message about it. */
  fix: string;
  /** A sentence about a present but unacceptable value, when "not allowed" is too vague. */
  invalid?: (value: unknown) => string;
  /** Whether `invalid` also answers a value of the wrong type (a number where a duration belongs). */
  invalidAnyType?: boolean;
}

/** show returns a value as it would appear in a message: strings quoted, long values cut. */
export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const FIELDS: Readonly<Record<string, FieldHelp>> = {
  document: { fix: 'write a GuardPolicy mapping, see examples/policy.yaml' },
  apiVersion: { fix: `write ${POLICY_API_VERSION}` },
  kind: { fix: `write ${POLICY_KIND}` },
  metadata: { fix: 'name the policy, e.g. {name: prod}' },
  'metadata.name': {
    fix: 'name the policy, e.g. prod',
    invalid: (v) => `${show(v)} is not a valid name; use lowercase letters, digits, - and ., e.g. prod`,
  },
  'metadata.labels': { fix: 'write a mapping of strings' },
  'metadata.annotations': { fix: 'write a mapping of strings' },
  spec: { fix: 'say what to protect, see examples/policy.yaml' },
  'spec.mode': { fix: 'use enforce or warn' },
  'spec.namespaces': { fix: 'list the namespaces to protect, e.g. ["prod"]' },
  'spec.namespaces[]': { fix: 'write a namespace or a prefix glob, e.g. prod or payments-*', invalid: namespaceMessage },
  'spec.resources': {
    fix: 'list the resources to protect, e.g. [{apiGroups: ["apps"], resources: ["deployments"]}]',
  },
  'spec.resources[]': { fix: 'write a rule, e.g. {apiGroups: ["apps"], resources: ["deployments"]}' },
  'spec.resources[].apiGroups': { fix: 'list API groups, e.g. ["apps"], or [""] for the core group' },
  'spec.resources[].apiGroups[]': {
    fix: 'write "" for the core group, "*" for all groups, or a group such as apps',
    invalid: apiGroupMessage,
  },
  'spec.resources[].resources': { fix: 'list resources, e.g. ["deployments", "deployments/scale"]' },
  'spec.resources[].resources[]': {
    fix: 'write a lowercase plural such as deployments, deployments/scale, * or */scale',
    invalid: resourceMessage,
  },
  'spec.openSubresources': {
    fix: 'list subresources to leave open, each with a reason, e.g. [{apiGroups: ["apps"], resources: ["statefulsets/scale"], reason: "..."}]',
  },
  'spec.openSubresources[]': { fix: 'write a rule with a reason, e.g. {apiGroups: ["apps"], resources: ["statefulsets/scale"], reason: "..."}' },
  'spec.openSubresources[].apiGroups': { fix: 'list API groups, e.g. ["apps"], or [""] for the core group' },
  'spec.openSubresources[].apiGroups[]': { fix: 'write "" for the core group, "*" for all groups, or a group such as apps', invalid: apiGroupMessage },
  'spec.openSubresources[].resources': { fix: 'list subresources, e.g. ["statefulsets/scale"]' },
  'spec.openSubresources[].resources[]': {
    fix: 'write resource/subresource, e.g. statefulsets/scale or */status',
    invalid: (v) => `${show(v)} does not name a subresource; write resource/subresource, e.g. statefulsets/scale`,
  },
  'spec.openSubresources[].reason': { fix: 'say why the subresource is left open and who accepted it; policy check prints it next to the gap' },
  'spec.gitopsWriters': {
    fix: 'list the GitOps controller, e.g. {users: ["system:serviceaccount:argocd:argocd-application-controller"]}',
  },
  'spec.delegations': { fix: 'list delegations, e.g. [{users: ["..."], paths: ["/spec/replicas"]}]' },
  'spec.delegations[]': { fix: 'write users or groups and paths, e.g. {users: ["..."], paths: ["/spec/replicas"]}' },
  'spec.delegations[].paths': { fix: 'list the delegated fields as JSON Pointers, e.g. ["/spec/replicas"]' },
  'spec.delegations[].paths[]': { fix: 'write a JSON Pointer, e.g. /spec/replicas', invalid: pointerMessage },
  'spec.breakGlass': { fix: 'say who may break glass, e.g. {users: ["carol@example.com"], maxDuration: 4h}' },
  'spec.breakGlass.maxDuration': {
    fix: 'write 4h or 30m',
    invalid: (v) => `${show(v)} is not a duration; write 4h or 30m`,
    invalidAnyType: true,
  },
  'spec.breakGlass.incidentPattern': { fix: 'write a regular expression, e.g. ^INC-[0-9]+$' },
  'spec.breakGlass.minReasonLength': { fix: 'write a whole number of characters, e.g. 10' },
  '*.users': { fix: 'list usernames, e.g. ["carol@example.com"]' },
  '*.users[]': { fix: 'write a username, e.g. carol@example.com' },
  '*.groups': { fix: 'list group names, e.g. ["oncall"]' },
  '*.groups[]': { fix: 'write a group name, e.g. oncall' },
};

const GENERIC: FieldHelp = { fix: 'see docs/policy-reference.md' };

function namespaceMessage(value: unknown): string {
  const text = String(value);
  const star = text.indexOf('*');
  if (star !== -1 && star !== text.length - 1) {
    return `${show(value)} is not allowed; only a trailing * is a glob, e.g. payments-*`;
  }
  return `${show(value)} is not a namespace; use lowercase letters, digits and -, e.g. prod or payments-*`;
}

function apiGroupMessage(value: unknown): string {
  const text = String(value);
  const slash = text.indexOf('/');
  // "apps/v1" is an apiVersion; the group is what precedes the slash.
  if (slash > 0) return `${show(value)} is not an API group; write ${text.slice(0, slash)} (the group without its version)`;
  return `${show(value)} is not an API group; write "" for the core group, "*" for all groups, or a group such as apps`;
}

function resourceMessage(value: unknown): string {
  const lower = String(value).toLowerCase();
  if (new RegExp(PATTERNS.resource).test(lower)) return `${show(value)} is not a resource; write ${lower}`;
  return `${show(value)} is not a resource; write a lowercase plural such as deployments, deployments/scale, * or */scale`;
}

function pointerMessage(value: unknown): string {
  const text = String(value);
  if (text === '') return '"" names the whole object; a delegation must name a field, e.g. /spec/replicas';
  if (/^\/+$/.test(text)) return `${show(value)} names no field; write the field to delegate, e.g. /spec/replicas`;
  if (!text.startsWith('/')) {
    // "spec.replicas" is the dotted form people know from kubectl; dots only mean nesting when no slash is used.
    const suggestion = text.includes('/') ? `/${text}` : `/${text.replace(/^\.+/, '').split('.').join('/')}`;
    return `${show(value)} is not a JSON Pointer; write ${suggestion}`;
  }
  if (/~(?![01])/.test(text)) return `${show(value)} is not a JSON Pointer; escape ~ as ~0 and / as ~1`;
  const tidy = `/${text
    .split('/')
    .filter((token) => token !== '')
    .join('/')}`;
  return `${show(value)} has an empty segment; write ${tidy}`;
}

/** fieldKey returns the lookup key of a path: list indexes become "[]". */
function fieldKey(path: FieldPath): string {
  if (path.length === 0) return 'document';
  return path.map((s, i) => (typeof s === 'number' ? '[]' : i === 0 ? s : `.${s}`)).join('');
}

/** helpFor returns what to tell a person about the field at `path`. */
export function helpFor(path: FieldPath): FieldHelp {
  const key = fieldKey(path);
  const exact = FIELDS[key];
  if (exact !== undefined) return exact;
  const subjects = /\.(users|groups)(\[\])?$/.exec(key);
  return (subjects !== null ? FIELDS[`*${subjects[0]}`] : undefined) ?? GENERIC;
}

/** formatPath returns the path as written in messages, e.g. `spec.delegations[1].paths[0]`. */
export function formatPath(path: FieldPath): string {
  if (path.length === 0) return 'document';
  return path
    .map((s, i) => {
      if (typeof s === 'number') return `[${s}]`;
      if (/^[A-Za-z_$][\w$-]*$/.test(s)) return i === 0 ? s : `.${s}`;
      return `[${JSON.stringify(s)}]`;
    })
    .join('');
}

/** levenshtein returns the edit distance between two strings. */
function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** suggest returns the allowed key closest to `key` when it is close enough to be a typo. */
export function suggest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const distance = levenshtein(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const tolerance = Math.max(2, Math.floor((best?.length ?? 0) / 3));
  return bestDistance <= tolerance ? best : undefined;
}

/** pathOf returns the path ajv's instancePath points at, telling list indexes from keys by the data. */
function pathOf(instancePath: string, doc: unknown): Array<string | number> {
  if (instancePath === '') return [];
  const path: Array<string | number> = [];
  let node = doc;
  for (const raw of instancePath.slice(1).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      const index = Number(token);
      path.push(index);
      node = node[index];
    } else {
      path.push(token);
      node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[token] : undefined;
    }
  }
  return path;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  array: 'a list',
  object: 'a mapping',
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
};

// When a field breaks several rules, the most telling one is kept: a wrong constant says more
// than a wrong type, and an empty string more than a pattern mismatch.
const RANK: Readonly<Record<string, number>> = {
  const: 0,
  enum: 0,
  type: 1,
  required: 1,
  additionalProperties: 1,
  minItems: 2,
  minLength: 2,
  maxLength: 3,
  pattern: 3,
};

function propertyNames(schema: unknown): string[] {
  if (typeof schema !== 'object' || schema === null || !('properties' in schema)) return [];
  const properties = schema.properties;
  return typeof properties === 'object' && properties !== null ? Object.keys(properties) : [];
}

function param(error: ErrorObject, name: string): unknown {
  return (error.params as Record<string, unknown>)[name];
}

/** describeError returns the problem one ajv error (compiled with `verbose: true`) stands for. */
function describeError(error: ErrorObject, doc: unknown): Problem {
  const path = pathOf(error.instancePath, doc);
  const help = helpFor(path);
  const value = error.data;
  switch (error.keyword) {
    case 'required': {
      const child = [...path, String(param(error, 'missingProperty'))];
      return { path: child, message: `required; ${helpFor(child).fix}` };
    }
    case 'additionalProperties': {
      const key = String(param(error, 'additionalProperty'));
      const allowed = propertyNames(error.parentSchema);
      const guess = suggest(key, allowed);
      const hint = guess !== undefined ? `did you mean ${guess}?` : `allowed fields are ${allowed.join(', ')}`;
      return { path: [...path, key], message: `unknown field; ${hint}` };
    }
    case 'type': {
      if (help.invalid !== undefined && help.invalidAnyType === true) return { path, message: help.invalid(value) };
      const expected = TYPE_NAMES[String(param(error, 'type'))] ?? String(param(error, 'type'));
      return { path, message: `must be ${expected}; ${help.fix}` };
    }
    case 'const':
      return { path, message: `must be ${String(param(error, 'allowedValue'))}` };
    case 'enum': {
      const allowed = param(error, 'allowedValues');
      const list = Array.isArray(allowed) ? allowed.map(String).join(' or ') : '';
      return { path, message: `${show(value)} is not allowed; use ${list}` };
    }
    case 'minItems':
    case 'minLength':
      return { path, message: `must not be empty; ${help.fix}` };
    case 'maxLength':
      return { path, message: `must be at most ${String(param(error, 'limit'))} characters; ${help.fix}` };
    case 'minimum':
      return { path, message: `must be ${String(param(error, 'limit'))} or more; ${help.fix}` };
    case 'pattern':
      return { path, message: help.invalid?.(value) ?? `${show(value)} is not allowed; ${help.fix}` };
    default:
      return { path, message: `is not valid; ${help.fix}` };
  }
}

/** describeErrors returns one problem per field for a list of ajv errors, the most telling first. */
export function describeErrors(errors: readonly ErrorObject[], doc: unknown): Problem[] {
  const ranked = [...errors].sort((a, b) => (RANK[a.keyword] ?? 9) - (RANK[b.keyword] ?? 9));
  return ranked.map((error) => describeError(error, doc));
}

// Field order in messages follows the order of the reference, not the validator's walk.
const KEY_ORDER = [
  'apiVersion',
  'kind',
  'metadata',
  'name',
  'labels',
  'annotations',
  'spec',
  'mode',
  'namespaces',
  'apiGroups',
  'resources',
  'openSubresources',
  'reason',
  'gitopsWriters',
  'delegations',
  'users',
  'groups',
  'paths',
  'breakGlass',
  'maxDuration',
  'incidentPattern',
  'minReasonLength',
];

/** orderOf returns a key's place; a misspelt key takes the place of the key it resembles. */
function orderOf(key: string): number {
  const known = KEY_ORDER.indexOf(key);
  if (known !== -1) return known;
  const guess = suggest(key, KEY_ORDER);
  return guess !== undefined ? KEY_ORDER.indexOf(guess) : -1;
}

function compareSegment(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const ia = orderOf(String(a));
  const ib = orderOf(String(b));
  if (ia !== ib) return (ia === -1 ? KEY_ORDER.length : ia) - (ib === -1 ? KEY_ORDER.length : ib);
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

function comparePaths(a: FieldPath, b: FieldPath): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const order = compareSegment(a[i] ?? '', b[i] ?? '');
    if (order !== 0) return order;
  }
  return a.length - b.length;
}

/**
 * report returns the lines of a report: one per field (the first problem found for a field wins),
 * in reference order, each `path: message`.
 */
export function report(problems: readonly Problem[]): string[] {
  const byField = new Map<string, Problem>();
  for (const problem of problems) {
    const key = formatPath(problem.path);
    if (!byField.has(key)) byField.set(key, problem);
  }
  return [...byField.values()].sort((a, b) => comparePaths(a.path, b.path)).map((problem) => `${formatPath(problem.path)}: ${problem.message}`);
}
