import { describe, expect, test } from 'vitest';
import { isDriftgateError } from '../../../src/errors.js';
import { escapeToken, getAt, isPointer, isWithin, parsePointer, toPointer, unescapeToken } from '../../../src/decision/pointer.js';

describe('escapeToken / unescapeToken', () => {
  test.each([
    { key: 'replicas', token: 'replicas' },
    { key: 'deployment.kubernetes.io/revision', token: 'deployment.kubernetes.io~1revision' },
    { key: 'a~b', token: 'a~0b' },
    // "~" is escaped before "/", so the "~" of "~1" is not mistaken for an escape.
    { key: '~1', token: '~01' },
    { key: '/~', token: '~1~0' },
    { key: '', token: '' },
  ])('$key ⇄ $token', ({ key, token }) => {
    expect(escapeToken(key)).toBe(token);
    expect(unescapeToken(token)).toBe(key);
  });
});

describe('toPointer / parsePointer', () => {
  test.each([
    { tokens: [], pointer: '' },
    { tokens: ['spec', 'replicas'], pointer: '/spec/replicas' },
    { tokens: ['metadata', 'annotations', 'kubectl.kubernetes.io/restartedAt'], pointer: '/metadata/annotations/kubectl.kubernetes.io~1restartedAt' },
    { tokens: [''], pointer: '/' },
    { tokens: ['spec', '', 'x'], pointer: '/spec//x' },
  ])('$pointer', ({ tokens, pointer }) => {
    expect(toPointer(tokens)).toBe(pointer);
    expect(parsePointer(pointer)).toEqual(tokens);
  });

  test.each(['spec/replicas', '/spec/a~2b', '/spec/a~', '~'])('refuses %j with an actionable message', (p) => {
    expect(isPointer(p)).toBe(false);
    try {
      parsePointer(p);
      expect.unreachable();
    } catch (err) {
      expect(isDriftgateError(err)).toBe(true);
      expect((err as Error).message).toContain(JSON.stringify(p));
    }
  });

  test('tells the writer of "spec/replicas" to write "/spec/replicas"', () => {
    expect(() => parsePointer('spec/replicas')).toThrow('write "/spec/replicas"');
  });
});

describe('isWithin', () => {
  test.each([
    { path: '/spec/replicas', owner: '/spec/replicas', want: true },
    { path: '/spec/replicas/x', owner: '/spec/replicas', want: true },
    { path: '/spec/replicasX', owner: '/spec/replicas', want: false },
    { path: '/spec', owner: '/spec/replicas', want: false },
    { path: '/spec/replicas', owner: '', want: true },
    { path: '', owner: '', want: true },
    { path: '', owner: '/spec', want: false },
    { path: '/metadata/annotations/a~1b', owner: '/metadata/annotations/a', want: false },
    { path: '/metadata/annotations/a~1b', owner: '/metadata/annotations', want: true },
  ])('$path within $owner: $want', ({ path, owner, want }) => {
    expect(isWithin(path, owner)).toBe(want);
  });
});

describe('getAt', () => {
  const doc = {
    spec: { replicas: 3, template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': 'now' } } } },
    list: ['a', { b: null }],
  };
  test.each([
    { pointer: '', want: doc },
    { pointer: '/spec/replicas', want: 3 },
    { pointer: '/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt', want: 'now' },
    { pointer: '/list/1/b', want: null },
    { pointer: '/list/0', want: 'a' },
    { pointer: '/list/01', want: undefined },
    { pointer: '/list/-', want: undefined },
    { pointer: '/list/2', want: undefined },
    { pointer: '/spec/replicas/x', want: undefined },
    { pointer: '/spec/missing', want: undefined },
    // Inherited members are not fields of the document.
    { pointer: '/spec/constructor', want: undefined },
    { pointer: '/spec/__proto__', want: undefined },
  ])('$pointer', ({ pointer, want }) => {
    expect(getAt(doc, pointer)).toBe(want);
  });
});
