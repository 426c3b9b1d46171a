/**
 * The admission.k8s.io/v1 AdmissionReview envelope: its JSON Schema and the parsers that turn a
 * request body into a typed AdmissionRequest, or into one line that says what is wrong and how to
 * fix it. Additional properties are allowed everywhere: the apiserver adds fields over time.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { DriftgateError } from '../errors.js';
import { parseJsonExact } from '../util/json.js';
import { type ReviewLimits, DEFAULT_REVIEW_LIMITS, checkReviewShape } from './limits.js';
import { type AdmissionRequest, OPERATIONS } from './types.js';
import { isRecord } from '../util/json.js';
import { jsonProblem } from '../util/json-syntax.js';

const API_VERSION = 'admission.k8s.io/v1';

const gvk = {
  type: 'object',
  required: ['group', 'version', 'kind'],
  properties: { group: { type: 'string' }, version: { type: 'string' }, kind: { type: 'string' } },
} as const;

const gvr = {
  type: 'object',
  required: ['group', 'version', 'resource'],
  properties: { group: { type: 'string' }, version: { type: 'string' }, resource: { type: 'string' } },
} as const;

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;

// Only the metadata fields the AdmissionRequest type promises are checked, so that the cast
// below stays honest without paying for a whole object schema on every request.
const kubeObject = {
  type: ['object', 'null'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        generateName: { type: 'string' },
        namespace: { type: 'string' },
        uid: { type: 'string' },
        labels: stringMap,
        annotations: stringMap,
      },
    },
  },
} as const;

/** reviewSchema is the JSON Schema of an incoming AdmissionReview v1. */
export const reviewSchema = {
  type: 'object',
  required: ['request', 'apiVersion', 'kind'],
  properties: {
    apiVersion: { const: API_VERSION },
    kind: { const: 'AdmissionReview' },
    request: {
      type: 'object',
      required: ['uid', 'kind', 'resource', 'operation', 'userInfo'],
      properties: {
        uid: { type: 'string', minLength: 1 },
        kind: gvk,
        resource: gvr,
        subResource: { type: 'string' },
        requestKind: gvk,
        requestResource: gvr,
        requestSubResource: { type: 'string' },
        name: { type: 'string' },
        namespace: { type: 'string' },
        operation: { enum: [...OPERATIONS] },
        userInfo: {
          type: 'object',
          required: ['username'],
          properties: {
            username: { type: 'string' },
            uid: { type: 'string' },
            groups: { type: 'array', items: { type: 'string' } },
            extra: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
          },
        },
        object: kubeObject,
        oldObject: kubeObject,
        dryRun: { type: 'boolean' },
      },
    },
  },
} as const;

interface ValidReview {
  request: AdmissionRequest;
}

// Compiled once: this runs on every admission request. `verbose` keeps the offending value on
// each error so a message can quote it.
const validate = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true }).compile<ValidReview>(reviewSchema);

/** parseReview returns the `request` of a valid AdmissionReview v1, or throws DG_REVIEW_INVALID. */
export function parseReview(body: unknown): AdmissionRequest {
  if (validate(body)) return body.request;
  const problems = (validate.errors ?? []).map((e) => ({ rank: rankOf(e), text: explain(e) }));
  // A stable sort keeps ajv's order (the schema's) within a rank.
  problems.sort((a, b) => a.rank - b.rank);
  const lines = [...new Set(problems.map((p) => p.text))];
  const first = lines[0] ?? 'body is not an AdmissionReview';
  if (lines.length <= 1) throw new DriftgateError('DG_REVIEW_INVALID', first);
  const more = lines.length - 1;
  throw new DriftgateError('DG_REVIEW_INVALID', `${first} (and ${more} more problem${more === 1 ? '' : 's'})`, { details: lines });
}

/**
 * parseReviewText returns the `request` of an AdmissionReview in JSON text, or throws
 * DG_REVIEW_INVALID, or DG_REVIEW_TOO_COMPLEX before parsing a review beyond `limits`.
 */
export function parseReviewText(text: string, limits: ReviewLimits = DEFAULT_REVIEW_LIMITS): AdmissionRequest {
  if (text.trim() === '') {
    throw new DriftgateError('DG_REVIEW_INVALID', 'body is empty; expected an AdmissionReview v1 as JSON');
  }
  checkReviewShape(text, limits);
  let body: unknown;
  try {
    // Exact: an int64 beyond 2^53 in a custom resource must not round into its neighbour.
    body = parseJsonExact(text);
  } catch (err) {
    if (err instanceof DriftgateError) throw err;
    // Reading integers exactly walks the parsed tree recursively: a body nested deeper than the
    // stack is valid JSON that still cannot be read, and must say so rather than "not JSON".
    if (err instanceof RangeError) {
      throw new DriftgateError(
        'DG_REVIEW_INVALID',
        'body nests too deep to be read; no Kubernetes object nests like this, so this is not a review from the kube-apiserver',
        { cause: err },
      );
    }
    throw new DriftgateError('DG_REVIEW_INVALID', `body is not JSON: ${jsonProblem(text)}`, { cause: err });
  }
  return parseReview(body);
}

/** uidOf returns `request.uid` when the body has a string there, else "" (what an error reply echoes then). */
export function uidOf(body: unknown): string {
  if (!isRecord(body) || !isRecord(body.request)) return '';
  const uid = body.request.uid;
  return typeof uid === 'string' ? uid : '';
}

const HINTS: Record<string, string> = {
  apiVersion: `expected "${API_VERSION}"`,
  kind: 'expected "AdmissionReview"',
  'request.uid': 'an AdmissionReview v1 from the kube-apiserver always has one',
  'request.kind': 'expected {group, version, kind}',
  'request.resource': 'expected {group, version, resource}',
  'request.operation': `expected one of ${OPERATIONS.join(', ')}`,
  'request.userInfo': 'expected {username, groups}',
};

// Envelope problems first: a body that is not a review at all should say so, not list every
// field it lacks.
function rankOf(e: ErrorObject): number {
  if (e.instancePath === '' && (e.keyword === 'type' || missing(e) === 'request')) return 0;
  if (e.instancePath === '' || e.instancePath === '/apiVersion' || e.instancePath === '/kind') return 1;
  return 2;
}

function explain(e: ErrorObject): string {
  const at = pathOf(e.instancePath);
  const value: unknown = e.data;
  const name = missing(e);
  if (name !== undefined) {
    if (at === '' && name === 'request') return 'body is not an AdmissionReview: no "request"';
    const field = at === '' ? name : `${at}.${name}`;
    const hint = HINTS[field];
    return hint === undefined ? `${field}: missing` : `${field}: missing; ${hint}`;
  }
  if (e.keyword === 'type') {
    if (at === '') return `body is not an AdmissionReview: expected a JSON object, got ${typeName(value)}`;
    return `${at}: expected ${expectedType(e.params.type)}, got ${typeName(value)}`;
  }
  if (e.keyword === 'const' && at === 'apiVersion') {
    return `apiVersion: ${JSON.stringify(value)} is not supported; register the webhook with admissionReviewVersions: ["v1"]`;
  }
  if (e.keyword === 'const') return `${at}: ${JSON.stringify(value)} is not supported; expected ${JSON.stringify(e.params.allowedValue)}`;
  if (e.keyword === 'enum') {
    const allowed: unknown = e.params.allowedValues;
    const list = Array.isArray(allowed) ? allowed.join(', ') : String(allowed);
    return `${at}: ${JSON.stringify(value)} is not one of ${list}`;
  }
  if (e.keyword === 'minLength') {
    const hint = HINTS[at];
    return hint === undefined ? `${at}: empty` : `${at}: empty; ${hint}`;
  }
  return `${at === '' ? 'body' : at}: ${e.message ?? 'is invalid'}`;
}

function missing(e: ErrorObject): string | undefined {
  if (e.keyword !== 'required') return undefined;
  const name: unknown = e.params.missingProperty;
  return typeof name === 'string' ? name : undefined;
}

// "/request/userInfo/groups/2" → "request.userInfo.groups[2]", the way people write it.
function pathOf(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function expectedType(type: unknown): string {
  const types = Array.isArray(type) ? type.map(String) : [String(type)];
  return types.map((t) => (t === 'null' ? 'null' : `${t === 'object' || t === 'array' ? 'an' : 'a'} ${t}`)).join(' or ');
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return `a ${typeof value}`;
}
