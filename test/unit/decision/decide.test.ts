/**
 * Table-driven tests of decide(): one directory per case under testdata/, each holding what a
 * kube-apiserver really sends (request.json, or request.patch.json: its differences from the
 * shared base-request.json), optionally the looked-up parent (parent.json) and its own policy
 * (policy.yaml), and what driftgate must decide (want.json).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe as group, expect, it } from 'vitest';
import { parseReviewText } from '../../../src/admission/schema.js';
import type { JsonPatchOp, KubeObject } from '../../../src/admission/types.js';
import { decide } from '../../../src/decision/decide.js';
import type { Decision } from '../../../src/decision/types.js';
import { loadPolicy } from '../../../src/policy/load.js';
import { readFixtureReviewText } from '../../helpers/fixture-review.js';

const TESTDATA = join(import.meta.dirname, 'testdata');
const NOW = new Date('2026-11-24T03:00:00Z');

interface Want {
  name: string;
  kind: Decision['kind'];
  code?: string;
  changedPaths?: string[];
  messageContains?: string[];
  warningsContain?: string[];
  mutation?: JsonPatchOp[];
  mutationContains?: Partial<JsonPatchOp>[];
  secretsAbsent?: string[];
  /** Characters that must not appear raw in the message or the warnings (control characters). */
  rawAbsent?: string[];
  ticket?: {
    id?: string;
    object?: unknown;
    window?: unknown;
    patch?: JsonPatchOp[];
    revert?: JsonPatchOp[];
    patchContains?: Partial<JsonPatchOp>[];
  };
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

const sharedPolicy = loadPolicy(readFileSync(join(TESTDATA, 'policy.yaml'), 'utf8'), 'policy.yaml');
const cases = readdirSync(TESTDATA, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => {
    const dir = join(TESTDATA, d.name);
    const policyPath = join(dir, 'policy.yaml');
    return {
      dir: d.name,
      want: readJson<Want>(join(dir, 'want.json')),
      // As the server reads a body: exactly, so integers beyond 2^53 keep their digits.
      request: parseReviewText(readFixtureReviewText(TESTDATA, d.name)),
      parent: existsSync(join(dir, 'parent.json')) ? readJson<KubeObject>(join(dir, 'parent.json')) : undefined,
      policy: existsSync(policyPath) ? loadPolicy(readFileSync(policyPath, 'utf8'), policyPath) : sharedPolicy,
    };
  });

group('decide', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThan(30));

  for (const c of cases) {
    it(`${c.want.name} (${c.dir})`, () => {
      const got = decide(c.request, c.policy, NOW, c.parent);
      const want = c.want;
      expect(got.kind).toBe(want.kind);
      if (want.code !== undefined) expect(got.kind === 'bypass' ? 'bypass' : got.code).toBe(want.code);
      if (want.changedPaths !== undefined) expect(got.changedPaths).toEqual(want.changedPaths);
      for (const text of want.messageContains ?? []) {
        expect(got.kind === 'deny' ? got.message : '').toContain(text);
      }
      for (const text of want.warningsContain ?? []) {
        expect(got.warnings.join('\n')).toContain(text);
      }
      const mutation = got.kind === 'deny' ? [] : got.mutation;
      if (want.mutation !== undefined) expect(mutation).toEqual(want.mutation);
      for (const op of want.mutationContains ?? []) expect(mutation).toContainEqual(expect.objectContaining(op));
      for (const secret of want.secretsAbsent ?? []) expect(JSON.stringify(got)).not.toContain(secret);
      for (const raw of want.rawAbsent ?? []) expect([got.kind === 'deny' ? got.message : '', ...got.warnings].join('\n')).not.toContain(raw);
      if (want.ticket !== undefined) {
        if (got.kind !== 'bypass') throw new Error(`want a bypass, got ${got.kind}`);
        const t = got.ticket;
        if (want.ticket.id !== undefined) expect(t.id.startsWith(want.ticket.id)).toBe(true);
        if (want.ticket.object !== undefined) expect(t.object).toEqual(want.ticket.object);
        if (want.ticket.window !== undefined) expect(t.window).toEqual(want.ticket.window);
        if (want.ticket.patch !== undefined) expect(t.change.patch).toEqual(want.ticket.patch);
        if (want.ticket.revert !== undefined) expect(t.change.revert).toEqual(want.ticket.revert);
        for (const op of want.ticket.patchContains ?? []) expect(t.change.patch).toContainEqual(expect.objectContaining(op));
        expect(t.change.requestUid).toBe(c.request.uid);
        expect(t.change.username).toBe(c.request.userInfo.username);
        expect(t.change.at).toBe(NOW.toISOString());
      }
    });
  }
});
