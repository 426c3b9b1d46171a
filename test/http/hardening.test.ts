/**
 * Issue 11 through the HTTP app, each attack next to its legitimate neighbour: what the
 * apiserver would send, what driftgate answers, and what it leaves in its journal and its log.
 */
import { readFile } from 'node:fs/promises';
import fastJsonPatch from 'fast-json-patch';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AdmissionResponse, JsonPatchOp } from '../../src/admission/types.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { fixture, withUid, type Review } from '../helpers/webhook.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

function postText(path: string, body: string): request.Test {
  return request(h.server).post(path).set('Content-Type', 'application/json').send(body);
}

async function answer(path: string, review: unknown): Promise<AdmissionResponse> {
  const res = await postText(path, JSON.stringify(review));
  expect(res.status).toBe(200);
  return (res.body as { response: AdmissionResponse }).response;
}

function patchOf(response: AdmissionResponse): JsonPatchOp[] {
  return response.patch === undefined ? [] : (JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as JsonPatchOp[]);
}

async function journal(): Promise<Array<{ draft?: { id: string; object: { name: string } } }>> {
  const text = await readFile(h.journalPath, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { draft?: { id: string; object: { name: string } } });
}

// eslint-disable-next-line no-control-regex
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('the mutating webhook turns a -for into an -until only for a responder', () => {
  it("leaves a developer's -for bundled with a rollout restart alone, and the validating webhook refuses it", async () => {
    const review = fixture('window-bundled-with-restart-by-developer');
    expect(patchOf(await answer('/mutate', review))).toEqual([]);
    const validated = await answer('/validate', review);
    expect(validated.allowed).toBe(false);
    expect(validated.status?.message).toContain('may not use break-glass');
  });

  it('patches the same edit by a responder, and the patched object passes validation', async () => {
    const review = fixture('window-bundled-with-restart-by-responder');
    const patch = patchOf(await answer('/mutate', review));
    expect(patch).toContainEqual({ op: 'add', path: '/metadata/annotations/driftgate.dev~1break-glass-until', value: '2026-11-24T03:30:00Z' });
    const object = fastJsonPatch.applyPatch(structuredClone(review.request.object), patch as fastJsonPatch.Operation[]).newDocument;
    expect((await answer('/validate', { ...review, request: { ...review.request, object } })).allowed).toBe(true);
  });
});

describe('a generateName CREATE is stamped and recorded under one ticket id', () => {
  it('records, after the apiserver generated the name, the ticket id the mutating webhook stamped', async () => {
    const mutating = fixture('generate-name-mutating');
    const patch = patchOf(await answer('/mutate', mutating));
    const stamp = patch.find((op) => op.path === '/metadata/annotations/driftgate.dev~1backport-ticket');
    if (stamp === undefined || !('value' in stamp)) throw new Error('no ticket stamp');
    // What the apiserver does next: apply the patch, then generate the name.
    const object = fastJsonPatch.applyPatch(structuredClone(mutating.request.object), patch as fastJsonPatch.Operation[]).newDocument as {
      metadata: Record<string, unknown>;
    };
    object.metadata['name'] = 'feature-flags-q8w2z';
    const validated = await answer('/validate', { ...mutating, request: { ...mutating.request, object } });
    expect(validated.allowed).toBe(true);
    expect(validated.auditAnnotations).toEqual({ 'backport-ticket': stamp.value });
    const recorded = (await journal()).flatMap((e) => (e.draft === undefined ? [] : [e.draft]));
    expect(recorded.map((d) => [d.id, d.object.name])).toEqual([[stamp.value, 'feature-flags-q8w2z']]);
  });

  it('refuses the same CREATE when the stamp was written by hand, and records nothing', async () => {
    const review = fixture('generate-name-mutating');
    const object = structuredClone(review.request.object) as { metadata: { annotations: Record<string, string> } };
    object.metadata.annotations['driftgate.dev/backport-ticket'] = 'made-up';
    const validated = await answer('/validate', { ...review, request: { ...review.request, object } });
    expect(validated.allowed).toBe(false);
    expect(validated.status?.message).toContain('only driftgate writes');
    expect(await journal()).toEqual([]);
  });
});

describe('integers beyond 2^53 are compared exactly, as sent', () => {
  async function bodyWith(before: string, after: string): Promise<string> {
    // Pretty-printed as the fixture files are, whichever form (full or base plus patch) it is kept in.
    const text = JSON.stringify(fixture('no-op-update'), null, 2);
    // progressDeadlineSeconds appears in object, then oldObject.
    const first = text.indexOf('"progressDeadlineSeconds": 600');
    const second = text.indexOf('"progressDeadlineSeconds": 600', first + 1);
    return `${text.slice(0, first)}"progressDeadlineSeconds": ${after}${text.slice(first + 30, second)}"progressDeadlineSeconds": ${before}${text.slice(second + 30)}`;
  }

  it('refuses 9007199254740992 -> 9007199254740993', async () => {
    const res = await postText('/validate', await bodyWith('9007199254740992', '9007199254740993'));
    const response = (res.body as { response: AdmissionResponse }).response;
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('/spec/progressDeadlineSeconds');
  });

  it('records a bypass of such a change on its ticket, every digit kept', async () => {
    const text = JSON.stringify(fixture('break-glass-valid'), null, 2);
    const first = text.indexOf('"progressDeadlineSeconds": 600');
    const second = text.indexOf('"progressDeadlineSeconds": 600', first + 1);
    const body = `${text.slice(0, first)}"progressDeadlineSeconds": 9007199254740993${text.slice(first + 30, second)}"progressDeadlineSeconds": 9007199254740992${text.slice(second + 30)}`;
    const res = await postText('/validate', body);
    expect((res.body as { response: AdmissionResponse }).response.allowed).toBe(true);
    const line = await readFile(h.journalPath, 'utf8');
    expect(line).toContain('"path":"/spec/progressDeadlineSeconds","value":9007199254740993');
    expect(line).toContain('"value":9007199254740992');
  });

  it('allows the same big integer on both sides', async () => {
    const res = await postText('/validate', await bodyWith('9007199254740993', '9007199254740993'));
    expect((res.body as { response: AdmissionResponse }).response.allowed).toBe(true);
  });
});

describe('fail closed on what cannot be judged', () => {
  it('refuses a DELETE without oldObject from a responder and records nothing', async () => {
    const review = fixture('delete-without-old-object');
    const response = await answer('/validate', review);
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('cannot judge');
    expect(await journal()).toEqual([]);
  });

  it('still lets the complete DELETE under a window through, recorded', async () => {
    const response = await answer('/validate', withUid(fixture('delete-under-window'), 'complete-delete'));
    expect(response.allowed).toBe(true);
    expect((await journal()).length).toBe(1);
  });
});

describe('control characters never reach the apiserver or the log raw', () => {
  it('escapes them in the denial and in the decision log line', async () => {
    const review: Review = fixture('control-characters-in-path');
    const response = await answer('/validate', review);
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('\\u001b]0;pwned\\u0007');
    expect(response.status?.message).not.toMatch(RAW);
    expect(h.sink.text()).not.toMatch(RAW);
    expect(h.sink.text()).toContain('pwned');
  });
});
