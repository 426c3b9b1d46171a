import { describe, expect, test } from 'vitest';
import type { KubeObject } from '../../../src/admission/types.js';
import { leafPaths, normalizedDiff } from '../../../src/decision/diff.js';

describe('leafPaths', () => {
  test.each([
    { name: 'a scalar is its own leaf', value: 3, want: [''] },
    { name: 'an empty map or list is a leaf', value: { a: {}, b: [] }, want: ['/a', '/b'] },
    { name: 'keys are sorted and escaped', value: { z: 1, 'a/b': { '~': null } }, want: ['/a~1b/~0', '/z'] },
    { name: 'lists go by index', value: { c: ['x', { d: true }] }, want: ['/c/0', '/c/1/d'] },
    { name: 'no value has no leaves', value: undefined, want: [] },
  ])('$name', ({ value, want }) => {
    expect(leafPaths(value)).toEqual(want);
  });
});

describe('normalizedDiff', () => {
  test.each([
    { name: 'no object on either side is no change', a: null, b: undefined },
    { name: 'equal objects are no change', a: { kind: 'ConfigMap', data: { a: '1' } }, b: { data: { a: '1' }, kind: 'ConfigMap' } },
  ])('$name', ({ a, b }) => {
    expect(normalizedDiff(a, b)).toEqual({ patch: [], revert: [], paths: [] });
  });

  test('a scalar replaced by a map reports the old leaf and each new one', () => {
    const a: KubeObject = { spec: { strategy: 'Recreate' } };
    const b: KubeObject = { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } };
    expect(normalizedDiff(a, b)).toEqual({
      patch: [{ op: 'replace', path: '/spec/strategy', value: { rollingUpdate: { maxSurge: 1 }, type: 'RollingUpdate' } }],
      revert: [{ op: 'replace', path: '/spec/strategy', value: 'Recreate' }],
      paths: ['/spec/strategy', '/spec/strategy/rollingUpdate/maxSurge', '/spec/strategy/type'],
    });
  });

  test('a shortened list loses its tail last element first', () => {
    const change = normalizedDiff({ args: ['a', 'b', 'c', 'd'] }, { args: ['a'] });
    expect(change.patch).toEqual([
      { op: 'remove', path: '/args/3' },
      { op: 'remove', path: '/args/2' },
      { op: 'remove', path: '/args/1' },
    ]);
    expect(change.revert).toEqual([
      { op: 'add', path: '/args/1', value: 'b' },
      { op: 'add', path: '/args/2', value: 'c' },
      { op: 'add', path: '/args/3', value: 'd' },
    ]);
    expect(change.paths).toEqual(['/args/1', '/args/2', '/args/3']);
  });

  test('a value in the patch is a copy: changing it leaves the input alone', () => {
    const b: KubeObject = { spec: { selector: { app: 'x' } } };
    const op = normalizedDiff({}, b).patch[0];
    (op as { value: Record<string, unknown> }).value['spec'] = 'changed';
    expect(b).toEqual({ spec: { selector: { app: 'x' } } });
  });
});

// Issue 11, "No input can stall driftgate": the diff walks with explicit stacks, so nesting no
// call stack could hold is still diffed, and every pointer is built from its parent's.
describe('normalizedDiff on hostile shapes', () => {
  const DEPTH = 50_000;
  function deep(leaf: unknown): KubeObject {
    let value: unknown = leaf;
    for (let i = 0; i < DEPTH; i++) value = { a: value };
    return { spec: value } as KubeObject;
  }
  const deepPath = `/spec${'/a'.repeat(DEPTH)}`;

  test('a leaf nested deeper than the call stack is one replace with its whole path', () => {
    const change = normalizedDiff(deep(0), deep(1));
    expect(change.patch).toEqual([{ op: 'replace', path: deepPath, value: 1 }]);
    expect(change.revert).toEqual([{ op: 'replace', path: deepPath, value: 0 }]);
    expect(change.paths).toEqual([deepPath]);
  });

  test('creating and deleting a deeply nested object copy and list it without recursion', () => {
    const created = normalizedDiff(null, deep([1, 2]));
    expect(created.paths).toEqual([`${deepPath}/0`, `${deepPath}/1`]);
    // The patch holds a copy as deep as the object (JSON.stringify itself could not print it).
    let copied: unknown = (created.patch[0] as { value: KubeObject }).value['spec'];
    for (let i = 0; i < DEPTH; i++) copied = (copied as Record<string, unknown>)['a'];
    expect(copied).toEqual([1, 2]);
    expect(normalizedDiff(deep('x'), null).paths).toEqual([deepPath]);
    expect(leafPaths(deep({}))).toEqual([deepPath]);
  });

  test('a long list deep down: one replace per changed item, in order, each named once', () => {
    const items = 20_000;
    const change = normalizedDiff(deep(new Array(items).fill(0)), deep(new Array(items).fill(1)));
    expect(change.paths).toHaveLength(items);
    expect(change.paths[0]).toBe(`${deepPath}/0`);
    expect(change.paths[items - 1]).toBe(`${deepPath}/${items - 1}`);
    expect(change.patch[items - 1]).toEqual({ op: 'replace', path: `${deepPath}/${items - 1}`, value: 1 });
  });

  test('a map replaced by a list sharing index-like keys names each shared leaf once', () => {
    const change = normalizedDiff({ spec: { x: { '0': 'a', b: 'c' } } }, { spec: { x: ['z', 'y'] } });
    expect(change.paths).toEqual(['/spec/x/0', '/spec/x/b', '/spec/x/1']);
  });
});
