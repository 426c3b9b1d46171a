/**
 * The case format on its own: what expect.yaml may say (and every way it can be wrong), and how
 * an answer is held against it.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CASE_NOW, compareCase, parseExpectation, type CaseExpectation, type Observed } from '../../../src/policy/casefile.js';

function ok(text: string): CaseExpectation {
  const parsed = parseExpectation(text);
  if (parsed.kind !== 'ok') throw new Error(`expected a valid expect.yaml, got: ${parsed.problems.join('; ')}`);
  return parsed.expectation;
}

function problems(text: string): string[] {
  const parsed = parseExpectation(text);
  if (parsed.kind !== 'invalid') throw new Error('expected expect.yaml to be refused');
  return parsed.problems;
}

describe('parseExpectation', () => {
  it('applies the defaults: the fixed time, validating, nothing to look for', () => {
    expect(ok('allowed: false')).toEqual({
      now: DEFAULT_CASE_NOW,
      mutate: false,
      allowed: false,
      messageContains: [],
      warningsContain: [],
      patchContains: [],
    });
  });

  it('reads every field', () => {
    const got = ok(
      [
        'name: a responder opens a window',
        'now: 2026-11-24T03:00:00Z',
        'mutate: true',
        'parent: parent.json',
        'allowed: true',
        'code: 200',
        'messageContains: [a]',
        'warningsContain: [b, c]',
        'patchContains:',
        '  - {op: add, path: /metadata/annotations/x, value: "2026"}',
        '  - {op: remove, path: /metadata/annotations/y}',
        '  - {op: add, path: /z, value: null}',
      ].join('\n'),
    );
    expect(got).toEqual({
      name: 'a responder opens a window',
      now: '2026-11-24T03:00:00Z',
      mutate: true,
      parent: 'parent.json',
      allowed: true,
      code: 200,
      messageContains: ['a'],
      warningsContain: ['b', 'c'],
      patchContains: [
        { op: 'add', path: '/metadata/annotations/x', value: '2026' },
        { op: 'remove', path: '/metadata/annotations/y' },
        { op: 'add', path: '/z', value: null },
      ],
    });
    // "value: null" is a value to compare; a missing value is none.
    expect(Object.hasOwn(got.patchContains[1] ?? {}, 'value')).toBe(false);
  });

  it('names every problem with its field and a fix, all at once', () => {
    expect(
      problems(
        [
          'alowed: true',
          'now: tomorrow',
          'mutate: "yes"',
          'code: "403"',
          'messageContains: make the change in Git',
          'warningsContain: [ok, 3]',
          'patchContains: [{op: ad, path: spec/replicas, valu: 1}, 7, {path: /a}]',
        ].join('\n'),
      ),
    ).toEqual([
      'alowed: unknown field; did you mean allowed?',
      'now: "tomorrow" is not an RFC 3339 time; write e.g. now: 2026-11-24T03:00:00Z',
      'mutate: "yes" is not true or false; write mutate: true or mutate: false',
      'allowed: required; write allowed: true or allowed: false',
      'code: "403" is not an HTTP status code; write the expected status.code, e.g. code: 403',
      'messageContains: must be a list; write a list of texts, e.g. messageContains: ["make the change in Git"]',
      'warningsContain[1]: 3 is not a text to look for; write a list of texts, e.g. warningsContain: ["backport ticket"]',
      'patchContains[0].valu: unknown field; did you mean value?',
      'patchContains[0].op: "ad" is not a JSON Patch operation; use add, remove, replace, move, copy, test',
      'patchContains[0].path: "spec/replicas" is not a JSON Pointer; write e.g. /spec/replicas ("~1" stands for "/" in a key)',
      'patchContains[1]: must be a mapping {op, path, value?}; e.g. patchContains: [{op: add, path: /metadata/annotations/driftgate.dev~1break-glass-until}]',
      'patchContains[2].op: required; use add, remove, replace, move, copy, test',
    ]);
  });

  it('says where YAML syntax breaks', () => {
    expect(problems('allowed: [true\n')[0]).toMatch(/^line \d+, column \d+: /);
  });

  it('refuses an empty file, a list, and several documents', () => {
    expect(problems('')).toEqual(['document: is empty; write at least allowed: true or allowed: false']);
    expect(problems('- allowed: true')[0]).toMatch(/^document: is \[.*\], not a mapping/);
    expect(problems('allowed: true\n---\nallowed: false\n')).toEqual(['document: holds 2 YAML documents; write one mapping per case']);
  });
});

describe('compareCase', () => {
  const denied: Observed = {
    allowed: false,
    code: 403,
    message: '[driftgate/drift] alice is changing /spec/x; make the change in Git',
    warnings: [],
    patch: [],
  };
  const patched: Observed = {
    allowed: true,
    warnings: ['window open until 2026-11-24T03:30:00Z'],
    patch: [
      { op: 'remove', path: '/metadata/annotations/a' },
      { op: 'add', path: '/metadata/annotations/b', value: '2026-11-24T03:30:00Z' },
    ],
  };

  it('passes when every expectation holds', () => {
    expect(compareCase(ok('allowed: false\ncode: 403\nmessageContains: [/spec/x, in Git]'), denied)).toEqual([]);
    const want = ok(
      'allowed: true\nwarningsContain: ["until 2026"]\npatchContains: [{op: add, path: /metadata/annotations/b, value: "2026-11-24T03:30:00Z"}, {op: remove, path: /metadata/annotations/a}]',
    );
    expect(compareCase(want, patched)).toEqual([]);
  });

  it('says which expectation failed, with want and got', () => {
    expect(compareCase(ok('allowed: true\ncode: 200\nmessageContains: [nope]\nwarningsContain: [w]\npatchContains: [{op: add, path: /p}]'), denied)).toEqual([
      { expectation: 'allowed', want: 'true', got: 'false' },
      { expectation: 'code', want: '200', got: '403' },
      { expectation: 'messageContains[0]', want: 'a message containing "nope"', got: JSON.stringify(denied.message) },
      { expectation: 'warningsContain[0]', want: 'a warning containing "w"', got: 'no warnings' },
      { expectation: 'patchContains[0]', want: 'an operation add /p', got: 'no patch' },
    ]);
  });

  it('explains a code expected of an allowed answer, which carries no status', () => {
    expect(compareCase(ok('allowed: true\ncode: 200'), patched)).toEqual([{ expectation: 'code', want: '200', got: 'no status (allowed answers carry none)' }]);
  });

  it('compares a patch value only when the expectation gives one', () => {
    expect(compareCase(ok('allowed: true\npatchContains: [{op: add, path: /metadata/annotations/b}]'), patched)).toEqual([]);
    expect(compareCase(ok('allowed: true\npatchContains: [{op: add, path: /metadata/annotations/b, value: "2099"}]'), patched)).toEqual([
      {
        expectation: 'patchContains[0]',
        want: 'an operation add /metadata/annotations/b "2099"',
        got: 'remove /metadata/annotations/a; add /metadata/annotations/b "2026-11-24T03:30:00Z"',
      },
    ]);
  });
});
