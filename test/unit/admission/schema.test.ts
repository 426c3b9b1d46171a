import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseReview, parseReviewText, uidOf } from '../../../src/admission/schema.js';
import { DriftgateError } from '../../../src/errors.js';

const fixtureText = readFileSync(new URL('./testdata/deployment-update.json', import.meta.url), 'utf8');

/** fixture returns a fresh copy of the recorded review, for a case to break one field of. */
function fixture(): Record<string, unknown> & { request: Record<string, unknown> & { userInfo: Record<string, unknown> } } {
  return JSON.parse(fixtureText) as ReturnType<typeof fixture>;
}

/** failure returns the DriftgateError that `fn` throws. */
function failure(fn: () => unknown): DriftgateError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DriftgateError) return err;
    throw err;
  }
  throw new Error('expected a DriftgateError, nothing was thrown');
}

describe('parseReview', () => {
  it('returns the request of a kube-apiserver AdmissionReview, every field kept', () => {
    const body = fixture();
    const request = parseReview(body);
    expect(request).toEqual(body.request);
    expect(request.operation).toBe('UPDATE');
    expect(request.userInfo.groups).toEqual(['oncall', 'system:authenticated']);
    expect(request.object?.metadata?.['managedFields']).toHaveLength(3);
  });

  it('accepts fields the apiserver may add later', () => {
    const body = { ...fixture(), futureField: 1 };
    body.request = { ...body.request, someNewField: { a: 1 } };
    expect(() => parseReview(body)).not.toThrow();
  });

  it('accepts a DELETE with object null and a CREATE without oldObject', () => {
    const del = fixture();
    del.request = { ...del.request, operation: 'DELETE', object: null };
    expect(parseReview(del).object).toBeNull();
    const create = fixture();
    const { oldObject: _old, ...rest } = create.request;
    create.request = { ...rest, operation: 'CREATE', userInfo: create.request.userInfo };
    expect(parseReview(create).oldObject).toBeUndefined();
  });

  const bad: { name: string; body: (b: ReturnType<typeof fixture>) => unknown; message: string }[] = [
    { name: 'a JSON array', body: () => [1], message: 'body is not an AdmissionReview: expected a JSON object, got an array' },
    { name: 'null', body: () => null, message: 'body is not an AdmissionReview: expected a JSON object, got null' },
    {
      name: 'another object altogether',
      body: () => ({ apiVersion: 'v1', kind: 'Pod' }),
      message: 'body is not an AdmissionReview: no "request" (and 2 more problems)',
    },
    {
      name: 'a v1beta1 review',
      body: (b) => ({ ...b, apiVersion: 'admission.k8s.io/v1beta1' }),
      message: 'apiVersion: "admission.k8s.io/v1beta1" is not supported; register the webhook with admissionReviewVersions: ["v1"]',
    },
    { name: 'no apiVersion', body: ({ apiVersion: _a, ...b }) => b, message: 'apiVersion: missing; expected "admission.k8s.io/v1"' },
    {
      name: 'a wrong kind',
      body: (b) => ({ ...b, kind: 'AdmissionRequest' }),
      message: 'kind: "AdmissionRequest" is not supported; expected "AdmissionReview"',
    },
    { name: 'request a string', body: (b) => ({ ...b, request: 'x' }), message: 'request: expected an object, got a string' },
    {
      name: 'no uid',
      body: (b) => ({ ...b, request: { ...b.request, uid: undefined } }),
      message: 'request.uid: missing; an AdmissionReview v1 from the kube-apiserver always has one',
    },
    {
      name: 'an empty uid',
      body: (b) => ({ ...b, request: { ...b.request, uid: '' } }),
      message: 'request.uid: empty; an AdmissionReview v1 from the kube-apiserver always has one',
    },
    { name: 'a numeric uid', body: (b) => ({ ...b, request: { ...b.request, uid: 7 } }), message: 'request.uid: expected a string, got an integer' },
    {
      name: 'an unknown operation',
      body: (b) => ({ ...b, request: { ...b.request, operation: 'PATCH' } }),
      message: 'request.operation: "PATCH" is not one of CREATE, UPDATE, DELETE, CONNECT',
    },
    {
      name: 'no kind',
      body: (b) => ({ ...b, request: { ...b.request, kind: undefined } }),
      message: 'request.kind: missing; expected {group, version, kind}',
    },
    {
      name: 'a resource without its group',
      body: (b) => ({ ...b, request: { ...b.request, resource: { version: 'v1', resource: 'pods' } } }),
      message: 'request.resource.group: missing',
    },
    {
      name: 'no username',
      body: (b) => ({ ...b, request: { ...b.request, userInfo: { groups: ['a'] } } }),
      message: 'request.userInfo.username: missing',
    },
    {
      name: 'a group that is not a string',
      body: (b) => ({ ...b, request: { ...b.request, userInfo: { username: 'u', groups: ['a', 'b', 3] } } }),
      message: 'request.userInfo.groups[2]: expected a string, got an integer',
    },
    {
      name: 'an object that is a string',
      body: (b) => ({ ...b, request: { ...b.request, object: 'x' } }),
      message: 'request.object: expected an object or null, got a string',
    },
    {
      name: 'an annotation that is not a string',
      body: (b) => ({ ...b, request: { ...b.request, oldObject: { metadata: { annotations: { 'driftgate.dev/break-glass-until': 5 } } } } }),
      message: 'request.oldObject.metadata.annotations["driftgate.dev/break-glass-until"]: expected a string, got an integer',
    },
    {
      name: 'dryRun a string',
      body: (b) => ({ ...b, request: { ...b.request, dryRun: 'true' } }),
      message: 'request.dryRun: expected a boolean, got a string',
    },
  ];

  it.each(bad)('refuses $name', ({ body, message }) => {
    // JSON round trip: a field set to undefined is absent, as on the wire.
    const err = failure(() => parseReview(JSON.parse(JSON.stringify(body(fixture()) ?? null))));
    expect(err.code).toBe('DG_REVIEW_INVALID');
    expect(err.message).toBe(message);
  });

  it('lists every problem when there are several, the first one also in the message', () => {
    const body = fixture();
    const err = failure(() => parseReview({ ...body, apiVersion: 'admission.k8s.io/v1beta1', request: { ...body.request, uid: '', operation: 'GET' } }));
    expect(err.message).toBe(
      'apiVersion: "admission.k8s.io/v1beta1" is not supported; register the webhook with admissionReviewVersions: ["v1"] (and 2 more problems)',
    );
    expect(err.details).toEqual([
      'apiVersion: "admission.k8s.io/v1beta1" is not supported; register the webhook with admissionReviewVersions: ["v1"]',
      'request.uid: empty; an AdmissionReview v1 from the kube-apiserver always has one',
      'request.operation: "GET" is not one of CREATE, UPDATE, DELETE, CONNECT',
    ]);
  });
});

describe('parseReviewText', () => {
  it('parses the recorded review', () => {
    expect(parseReviewText(fixtureText).uid).toBe('7f0b2c3e-5d1a-4c7e-9a8b-2f6d4e1c0b9a');
  });

  const cases: { name: string; text: string; message: string }[] = [
    { name: 'an empty body', text: '  \n', message: 'body is empty; expected an AdmissionReview v1 as JSON' },
    { name: 'plain text', text: 'hello', message: 'body is not JSON: unexpected "h" at line 1 column 1 (offset 0)' },
    // "n" may begin null, so the break is at the "o".
    { name: 'a word that starts like a literal', text: 'not json', message: 'body is not JSON: unexpected "o" at line 1 column 2 (offset 1)' },
    { name: 'YAML', text: 'apiVersion: admission.k8s.io/v1\n', message: 'body is not JSON: unexpected "a" at line 1 column 1 (offset 0)' },
    { name: 'a bad literal', text: '{\n  "a": tru }', message: 'body is not JSON: unexpected " " at line 2 column 11 (offset 12)' },
    { name: 'a trailing comma', text: '{"a": 1,}', message: 'body is not JSON: unexpected "}" at line 1 column 9 (offset 8)' },
    { name: 'a cut-off body', text: '{"request": {"uid": "ab', message: 'body is not JSON: it ends early at line 1 column 24 (offset 23)' },
    { name: 'garbage after the value', text: '{} x', message: 'body is not JSON: unexpected "x" at line 1 column 4 (offset 3)' },
    { name: 'a raw control character in a string', text: '{"a": "b\u0001"}', message: 'body is not JSON: unexpected "\\u0001" at line 1 column 9 (offset 8)' },
    { name: 'a bad escape', text: '["\\x"]', message: 'body is not JSON: unexpected "x" at line 1 column 4 (offset 3)' },
    { name: 'a lone minus', text: '[-]', message: 'body is not JSON: unexpected "]" at line 1 column 3 (offset 2)' },
    { name: 'a missing colon', text: '{"a" 1}', message: 'body is not JSON: unexpected "1" at line 1 column 6 (offset 5)' },
  ];

  it.each(cases)('refuses $name with where it broke', ({ text, message }) => {
    const err = failure(() => parseReviewText(text));
    expect(err.code).toBe('DG_REVIEW_INVALID');
    expect(err.message).toBe(message);
  });

  it('never quotes the body back: it may hold a Secret', () => {
    const err = failure(() => parseReviewText('{"data": {"password": "hunter2-s3cret"}, oops}'));
    expect(err.message).toBe('body is not JSON: unexpected "o" at line 1 column 42 (offset 41)');
    expect(err.message).not.toContain('hunter2');
  });

  it('finds the break in a deeply nested body without exhausting the stack', () => {
    const text = `${'['.repeat(200_000)}x`;
    // Limits raised past the nesting: by default the shape check refuses it before JSON.parse.
    expect(failure(() => parseReviewText(text, { maxDepth: 300_000, maxLeaves: 10 })).message).toBe(
      'body is not JSON: unexpected "x" at line 1 column 200001 (offset 200000)',
    );
  });

  it('runs the envelope checks once the text is JSON', () => {
    expect(failure(() => parseReviewText('{}')).message).toBe('body is not an AdmissionReview: no "request" (and 2 more problems)');
  });
});

describe('uidOf', () => {
  it('returns request.uid when it is a string', () => {
    expect(uidOf(fixture())).toBe('7f0b2c3e-5d1a-4c7e-9a8b-2f6d4e1c0b9a');
    expect(uidOf({ request: { uid: 'abc' }, apiVersion: 'nonsense' })).toBe('abc');
  });

  it.each([[undefined], [null], ['x'], [[]], [{}], [{ request: null }], [{ request: { uid: 5 } }]])('returns "" for %j', (body) => {
    expect(uidOf(body)).toBe('');
  });
});

describe('parseReviewText on arbitrary text', () => {
  // The position finder must agree with JSON.parse: whenever JSON.parse refuses, it names a place.
  it('names a place for every text JSON.parse refuses', () => {
    const broken = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.tuple(fc.json(), fc.nat(), fc.constantFrom(',', '}', ']', '"', '\\', ':', 'x', '\n', '\u0000', '-', '.', 'e')).map(([json, at, ch]) => {
        const i = at % (json.length + 1);
        return json.slice(0, i) + ch + json.slice(i);
      }),
      fc.tuple(fc.json(), fc.nat()).map(([json, at]) => json.slice(0, at % (json.length + 1))),
    );
    fc.assert(
      fc.property(broken, (text) => {
        let parsed = true;
        try {
          JSON.parse(text);
        } catch {
          parsed = false;
        }
        fc.pre(!parsed);
        const message = failure(() => parseReviewText(text)).message;
        expect(message).toMatch(/^body is (empty; |not JSON: (unexpected .* at line \d+ column \d+ \(offset \d+\)|it ends early at line))/);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseReviewText and exact integers (issue 11)', () => {
  it('refuses, with a clear message and no crash, a body nested too deep to read exactly', () => {
    const d = 20000;
    const text = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"x":${'['.repeat(d)}9007199254740993${']'.repeat(d)}}}`;
    // The shape limits refuse it first, naming the limit…
    expect(() => parseReviewText(text)).toThrow(/nests deeper than 100 levels/);
    // …and an operator who raised them past what the exact reader can walk still gets a clear refusal.
    expect(() => parseReviewText(text, { maxDepth: 10 * d, maxLeaves: 10 * d })).toThrow(/nests too deep/);
  });
});
