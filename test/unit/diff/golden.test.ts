/**
 * Golden files for the normalized diff. Each case is a directory under testdata/ holding what a
 * kube-apiserver sends (old.json, new.json; `null` for the missing side of a CREATE or DELETE)
 * and the Change we want, compared byte for byte. After an intended change of output run
 *   UPDATE_GOLDEN=1 npx vitest run test/unit/diff
 * and read the rewritten want.*.json files before committing them.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { applyPatch } from 'fast-json-patch';
import { describe, expect, test } from 'vitest';
import type { KubeObject } from '../../../src/admission/types.js';
import { normalizedDiff, type Change } from '../../../src/decision/diff.js';
import { normalize } from '../../../src/decision/normalize.js';
import { redactSecret } from '../../../src/decision/redact.js';

const TESTDATA = new URL('./testdata/', import.meta.url);
const UPDATE = process.env.UPDATE_GOLDEN === '1';

interface Case {
  dir: string;
  name: string;
  /** Checked besides the golden files, so that blessing a wrong golden file still fails here. */
  paths?: string[];
}

const MEMORY = '/spec/template/spec/containers/0/resources/limits/memory';

const cases: Case[] = [
  { dir: 'runtime-fields-only', name: 'sees no change when only status, resourceVersion and managedFields move', paths: [] },
  { dir: 'memory-limit-raised', name: 'reports the memory limit raised from 512Mi to 2Gi as one leaf', paths: [MEMORY] },
  {
    dir: 'rollout-restart',
    name: 'reports the restartedAt leaf, not the annotations map kubectl rollout restart adds',
    paths: ['/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt'],
  },
  {
    dir: 'revision-annotation',
    name: 'escapes the "/" of an annotation key as ~1',
    paths: ['/metadata/annotations/deployment.kubernetes.io~1revision'],
  },
  { dir: 'image-changed', name: 'reports a new image as one replace', paths: ['/spec/template/spec/containers/0/image'] },
  { dir: 'container-added', name: 'adds an appended container whole and lists each of its leaves' },
  { dir: 'env-var-removed-from-middle', name: 'shifts the env list by index and removes its last element' },
  { dir: 'secret-data-changed', name: 'shows a rotated Secret value as a change of fingerprint', paths: ['/data/password'] },
  { dir: 'secret-string-data', name: 'fingerprints stringData as well', paths: ['/stringData/apiKey'] },
  { dir: 'secret-deleted', name: 'deletes a Secret with a revert that holds only fingerprints' },
  { dir: 'driftgate-annotations-added', name: "ignores driftgate's own annotations", paths: [] },
  { dir: 'last-applied-changed-alone', name: 'ignores a rewritten last-applied-configuration', paths: [] },
  { dir: 'create', name: 'creates the whole object at the root and lists its leaves' },
  { dir: 'delete', name: 'deletes the whole object at the root, the revert recreating it' },
];

function readJson(dir: string, file: string): unknown {
  return JSON.parse(readFileSync(new URL(`${dir}/${file}`, TESTDATA), 'utf8'));
}

function readObject(dir: string, file: string): KubeObject | null {
  return readJson(dir, file) as KubeObject | null;
}

// The document a patch applies to: what the diff compared, JSON null for "no object".
function prepared(obj: KubeObject | null): KubeObject | null {
  const normal = normalize(obj);
  return normal === undefined ? null : redactSecret(normal);
}

function golden(dir: string, file: string, value: unknown): void {
  const got = `${JSON.stringify(value, null, 2)}\n`;
  const url = new URL(`${dir}/${file}`, TESTDATA);
  if (UPDATE) writeFileSync(url, got);
  expect(got, `${dir}/${file} differs; if the change is intended run with UPDATE_GOLDEN=1 and review it`).toBe(readFileSync(url, 'utf8'));
}

// Every string a Secret fixture holds in data or stringData, as sent and decoded.
function secretValues(obj: KubeObject | null): string[] {
  if (obj === null || obj.kind !== 'Secret') return [];
  const out: string[] = [];
  for (const [field, decode] of [
    ['data', true],
    ['stringData', false],
  ] as const) {
    const values = obj[field];
    if (typeof values !== 'object' || values === null) continue;
    for (const v of Object.values(values)) {
      if (typeof v !== 'string') continue;
      out.push(v);
      if (decode) out.push(Buffer.from(v, 'base64').toString('utf8'));
    }
  }
  return out;
}

describe('normalizedDiff golden files', () => {
  test('every testdata directory has a case', () => {
    const dirs = readdirSync(TESTDATA, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    expect(dirs.sort()).toEqual(cases.map((c) => c.dir).sort());
  });

  test.each(cases)('$dir: $name', ({ dir, paths }) => {
    const oldObj = readObject(dir, 'old.json');
    const newObj = readObject(dir, 'new.json');
    const change: Change = normalizedDiff(oldObj, newObj);

    golden(dir, 'want.patch.json', change.patch);
    golden(dir, 'want.revert.json', change.revert);
    golden(dir, 'want.paths.json', change.paths);
    if (paths !== undefined) expect(change.paths).toEqual(paths);
    if (paths?.length === 0) expect(change.patch).toEqual([]);

    // Both patches must apply cleanly (validated) and land exactly on the other side.
    const forward = applyPatch(structuredClone(prepared(oldObj)), change.patch, true, true).newDocument;
    expect(forward).toEqual(prepared(newObj));
    const backward = applyPatch(structuredClone(prepared(newObj)), change.revert, true, true).newDocument;
    expect(backward).toEqual(prepared(oldObj));

    // No Secret value, raw or base64, may leave the diff (ARCHITECTURE: redact in one place).
    const text = JSON.stringify(change);
    for (const secret of [...secretValues(oldObj), ...secretValues(newObj)]) expect(text).not.toContain(secret);
  });
});
