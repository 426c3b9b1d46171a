/**
 * setAt and removeAt, one case per shape of YAML: each compares the whole text after the edit,
 * so a byte changed outside the edited line fails the case.
 */
import { describe, expect, it } from 'vitest';
import { removeAt, setAt, type YamlPath } from '../../../src/backport/edit.js';
import { parseJsonExact } from '../../../src/util/json.js';

interface Case {
  name: string;
  before: string;
  edit: { set: YamlPath; value: unknown } | { remove: YamlPath };
  after: string;
  doc?: number;
}

const cases: Case[] = [
  { name: 'a plain scalar, its trailing comment kept', before: 'a: 1   # one\nb: 2\n', edit: { set: ['a'], value: 5 }, after: 'a: 5   # one\nb: 2\n' },
  { name: 'a double-quoted string stays double-quoted', before: 'image: "web:1"\n', edit: { set: ['image'], value: 'web:2' }, after: 'image: "web:2"\n' },
  {
    name: 'a single-quoted string stays single-quoted, its quote doubled',
    before: "msg: 'hi'\n",
    edit: { set: ['msg'], value: "it's" },
    after: "msg: 'it''s'\n",
  },
  {
    name: 'a YAML 1.1 boolean word is quoted, so it stays a string',
    before: 'labels:\n  a: b\n',
    edit: { set: ['labels', 'hotfix'], value: 'yes' },
    after: 'labels:\n  a: b\n  hotfix: "yes"\n',
  },
  { name: 'a number that was a string becomes a plain number', before: 'replicas: "3"\n', edit: { set: ['replicas'], value: 4 }, after: 'replicas: 4\n' },
  {
    name: 'a newline in a value is escaped, never a new key',
    before: 'a: x\n',
    edit: { set: ['a'], value: 'x\nb: injected' },
    after: 'a: "x\\nb: injected"\n',
  },
  {
    name: 'a key with a colon is quoted',
    before: 'annotations:\n  a: b\n',
    edit: { set: ['annotations', 'x: y'], value: 'z' },
    after: 'annotations:\n  a: b\n  "x: y": z\n',
  },
  {
    name: 'a new key in a flow map, before its brace',
    before: 'labels: {app: web}  # sel\n',
    edit: { set: ['labels', 'tier'], value: 'fe' },
    after: 'labels: {app: web, tier: fe}  # sel\n',
  },
  { name: 'a new item in a flow list', before: 'args: ["--a"]\n', edit: { set: ['args', 1], value: '--b c' }, after: 'args: ["--a", "--b c"]\n' },
  {
    name: 'a new item in an unindented block list, at its indentation',
    before: 'c:\n- name: a\n  x: 1\n# end\n',
    edit: { set: ['c', 1], value: { name: 'b' } },
    after: 'c:\n- name: a\n  x: 1\n- name: b\n# end\n',
  },
  {
    name: 'a missing map made under its key',
    before: 'spec:\n  replicas: 1\n',
    edit: { set: ['spec', 'resources', 'limits', 'memory'], value: '2Gi' },
    after: 'spec:\n  replicas: 1\n  resources:\n    limits:\n      memory: 2Gi\n',
  },
  { name: 'a scalar replaced by a map', before: 'a: null\nb: 1\n', edit: { set: ['a'], value: { x: 1 } }, after: 'a:\n  x: 1\nb: 1\n' },
  { name: 'an empty value filled', before: 'a:\nb: 1\n', edit: { set: ['a'], value: 'v' }, after: 'a: v\nb: 1\n' },
  { name: 'CRLF line endings kept', before: 'a: 1\r\nb:\r\n  c: 2\r\n', edit: { set: ['b', 'd'], value: 3 }, after: 'a: 1\r\nb:\r\n  c: 2\r\n  d: 3\r\n' },
  {
    name: 'the second document only',
    before: 'a: 1\n---\na: 1 # two\n',
    doc: 1,
    edit: { set: ['a'], value: 2 },
    after: 'a: 1\n---\na: 1 # two\n'.replace('a: 1 # two', 'a: 2 # two'),
  },
  {
    name: 'an integer beyond 2^53 keeps its digits',
    before: 'n: 1\n',
    edit: { set: ['n'], value: parseJsonExact('12345678901234567890') },
    after: 'n: 12345678901234567890\n',
  },
  {
    name: 'an integer beyond 2^53 inside a new map keeps its digits',
    before: 'm: 1\n',
    edit: { set: ['m'], value: parseJsonExact('{"x":12345678901234567890}') },
    after: 'm:\n  x: 12345678901234567890\n',
  },
  { name: 'a key removed with its lines', before: 'm:\n  a: 1\n  b:\n    c: 2\n  d: 3\n', edit: { remove: ['m', 'b'] }, after: 'm:\n  a: 1\n  d: 3\n' },
  {
    name: 'the last key of a map leaves {}',
    before: 'labels:\n  hotfix: "yes"\nspec: 1\n',
    edit: { remove: ['labels', 'hotfix'] },
    after: 'labels: {}\nspec: 1\n',
  },
  { name: 'a key already absent: nothing changes', before: 'a: 1\n', edit: { remove: ['b'] }, after: 'a: 1\n' },
  {
    name: 'the last list item removed',
    before: 'c:\n  - name: a\n  - name: b\n    x: 1\nz: 0\n',
    edit: { remove: ['c', 1] },
    after: 'c:\n  - name: a\nz: 0\n',
  },
];

describe('setAt and removeAt', () => {
  for (const c of cases) {
    it(c.name, () => {
      const after = 'set' in c.edit ? setAt(c.before, c.doc ?? 0, c.edit.set, c.edit.value, 'f.yaml') : removeAt(c.before, c.doc ?? 0, c.edit.remove, 'f.yaml');
      expect(after).toBe(c.after);
    });
  }

  it('refuses to remove a list item that is not the last', () => {
    expect(() => removeAt('c:\n  - a\n  - b\n', 0, ['c', 0], 'f.yaml')).toThrow(
      'f.yaml: removing list item c.0 would renumber the items after it; remove it by hand',
    );
  });

  it('names the file when it is not YAML', () => {
    expect(() => setAt('a: [1\n', 0, ['a'], 1, 'bad.yaml')).toThrow(/^bad\.yaml: not valid YAML/);
  });
});
