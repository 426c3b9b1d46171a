/**
 * Issue 11, "No input can stall driftgate", over HTTP: a review beyond the shape limits is refused
 * at once, naming the limit and the fix, and records nothing; a large review within them is still
 * judged (denied, or let through and ticketed under a window); and a normal review is answered
 * while the worst ones are still being judged, because large reviews are judged on a worker
 * thread. Ordering is asserted, never a duration.
 */
import { readFile } from 'node:fs/promises';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPolicy } from '../../src/policy/load.js';
// An absolute window, as the mutating webhook stores it (a stored -for counts as expired).
import { BREAK_GLASS_INCIDENT, BREAK_GLASS_REASON, BREAK_GLASS_UNTIL } from '../../src/decision/annotations.js';
import { HOSTILE_GROUP, HOSTILE_RESOURCE, hostileReview, hostileReviewText } from '../../bench/hostile.js';
import { startHarness, type Harness, type HarnessOptions } from '../helpers/harness.js';
import { POLICY_FILE, fixture, reviewOf, withUid } from '../helpers/webhook.js';

const JSON_TYPE = 'application/json';
const KiB = 1024;

// The fixtures' policy, also guarding the custom resource the hostile reviews write.
const policy = loadPolicy(
  (await readFile(POLICY_FILE, 'utf8')).replace(
    '  gitopsWriters:',
    `    - apiGroups: ["${HOSTILE_GROUP}"]\n      resources: ["${HOSTILE_RESOURCE}"]\n  gitopsWriters:`,
  ),
  POLICY_FILE,
);

let h: Harness | undefined;
async function harness(opts: HarnessOptions = {}): Promise<Harness> {
  h = await startHarness({ policy, ...opts });
  return h;
}
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function send(server: Harness, text: string, path = '/validate'): request.Test {
  return request(server.server).post(path).set('Content-Type', JSON_TYPE).send(text);
}

async function journal(server: Harness): Promise<string> {
  return readFile(server.journalPath, 'utf8').catch(() => '');
}

async function stillServes(server: Harness, uid: string): Promise<void> {
  const res = await send(server, JSON.stringify(withUid(fixture('gitops-writer-by-user'), uid)));
  expect({ status: res.status, body: res.body as unknown }).toEqual({ status: 200, body: reviewOf({ uid, allowed: true }) });
}

describe('reviews beyond the shape limits', () => {
  it.each([
    {
      name: 'the 62 KB review nested 300 deep of the issue',
      text: () => hostileReviewText(300, 62 * KiB),
      want: /^the review nests deeper than 100 levels \(at request\.object\.spec\.a\.a\.a….*--max-review-depth/s,
    },
    {
      name: '12 MiB of nothing but nesting',
      text: () => `{"request":${'['.repeat(12 * 1024 * KiB - 20)}`,
      want: /^the review nests deeper than 100 levels \(at request\[0\]\[0\]/,
    },
    {
      name: 'a list of 300,000 items',
      text: () => hostileReviewText(10, 1200 * KiB),
      want: /^the review holds more than 200000 values .*at request\.object\.spec\.a.*--max-review-values/s,
    },
  ])('refuses $name with 413 naming the limit, records nothing, keeps serving', async ({ text, want }) => {
    const server = await harness();
    for (const path of ['/validate', '/mutate']) {
      const res = await send(server, text(), path);
      const body = res.body as { response: { allowed: boolean; status: { code: number; message: string } } };
      expect({ status: res.status, allowed: body.response.allowed, code: body.response.status.code }).toEqual({ status: 413, allowed: false, code: 413 });
      expect(body.response.status.message).toMatch(want);
    }
    expect(await journal(server)).toBe('');
    expect(await server.metrics.registry.metrics()).toMatch(/driftgate_\w+\{reason="DG_REVIEW_TOO_COMPLEX"\} 2/);
    await stillServes(server, 'after-hostile');
  });

  it('refuses the same way when every review is judged in place (no worker)', async () => {
    const server = await harness({ offload: false });
    const res = await send(server, hostileReviewText(300, 200 * KiB));
    expect(res.status).toBe(413);
    expect((res.body as { response: { status: { message: string } } }).response.status.message).toMatch(/nests deeper than 100 levels/);
    await stillServes(server, 'after-hostile-in-place');
  });
});

describe('large reviews within the limits', () => {
  it('judges a 390 KB review nesting 98 deep: denied, naming the first changed paths', async () => {
    const server = await harness();
    const res = await send(server, hostileReviewText(98, 390 * KiB, { uid: 'large-legit' }));
    const body = res.body as { response: { uid: string; allowed: boolean; status: { code: number; message: string } } };
    expect({ status: res.status, uid: body.response.uid, allowed: body.response.allowed, code: body.response.status.code }).toEqual({
      status: 200,
      uid: 'large-legit',
      allowed: false,
      code: 403,
    });
    expect(body.response.status.message).toMatch(new RegExp(`^\\[driftgate/drift\\] mallory@example.com is changing /spec${'/a'.repeat(96)}/0, `));
    expect(body.response.status.message).toMatch(/ and \d{5} more of widgets\.example\.com\/deep in namespace prod/);
    expect(await journal(server)).toBe('');
  });

  it('lets a responder through under a window, recording the whole change first', async () => {
    const server = await harness();
    const review = hostileReview({ depth: 40, items: 40_000, uid: 'large-bypass', username: 'carol@example.com' });
    const req = review['request'] as {
      object: { metadata: { annotations?: Record<string, string> } };
      oldObject: { metadata: { annotations?: Record<string, string> } };
    };
    const window = {
      [BREAK_GLASS_UNTIL]: '2026-11-24T03:30:00Z',
      [BREAK_GLASS_INCIDENT]: 'INC-4242',
      [BREAK_GLASS_REASON]: 'restoring the widget list during the outage',
    };
    req.object.metadata.annotations = window;
    req.oldObject.metadata.annotations = window;
    const res = await send(server, JSON.stringify(review));
    const body = res.body as { response: { uid: string; allowed: boolean; auditAnnotations?: Record<string, string> } };
    expect({ status: res.status, uid: body.response.uid, allowed: body.response.allowed }).toEqual({ status: 200, uid: 'large-bypass', allowed: true });
    const ticket = body.response.auditAnnotations?.['backport-ticket'] ?? '';
    expect(ticket).not.toBe('');
    expect(server.store.calls.map((draft) => ({ id: draft.id, ops: draft.change.patch.length }))).toEqual([{ id: ticket, ops: 40_000 }]);
    expect(await journal(server)).toContain(ticket);
  });
});

describe('a normal review does not wait behind the worst ones', () => {
  it('records exactly a bypass judged on the worker whose change holds an integer beyond 2^53', async () => {
    // Regression (merge of the exact-integer reader with the worker): a decision carrying raw JSON
    // integers cannot be structured-cloned back from the worker, so it travels as JSON text.
    const server = await harness();
    const review = hostileReview({ depth: 40, items: 40_000, uid: 'large-bigint-bypass', username: 'carol@example.com' });
    const req = review['request'] as {
      object: Record<string, unknown> & { metadata: { annotations?: Record<string, string> } };
      oldObject: Record<string, unknown> & { metadata: { annotations?: Record<string, string> } };
    };
    const window = {
      [BREAK_GLASS_UNTIL]: '2026-11-24T03:30:00Z',
      [BREAK_GLASS_INCIDENT]: 'INC-4243',
      [BREAK_GLASS_REASON]: 'restoring the widget counter during the outage',
    };
    req.object.metadata.annotations = window;
    req.oldObject.metadata.annotations = window;
    req.oldObject['counter'] = 'OLD_COUNTER';
    req.object['counter'] = 'NEW_COUNTER';
    const text = JSON.stringify(review).replace('"OLD_COUNTER"', '9007199254740992').replace('"NEW_COUNTER"', '9007199254740993');
    const res = await send(server, text);
    const body = res.body as { response: { allowed: boolean; status?: { message?: string } } };
    expect({ status: res.status, allowed: body.response.allowed, message: body.response.status?.message }).toEqual({
      status: 200,
      allowed: true,
      message: undefined,
    });
    expect(await journal(server)).toContain('"path":"/counter","value":9007199254740993');
    await stillServes(server, 'after-bigint');
  });

  it('is answered while three worst-case reviews are still being judged', async () => {
    const server = await harness();
    const worst = hostileReviewText(98, 390 * KiB);
    const answered: string[] = [];
    const heavy = [1, 2, 3].map((i) =>
      send(server, worst.replace('"hostile-0001"', `"worst-${i}"`)).then((res) => {
        answered.push(`worst-${i}`);
        return res;
      }),
    );
    // Sent after all three, answered before the last of them: the worker judges them one at a
    // time, and this one never joins their queue.
    const normal = await send(server, JSON.stringify(withUid(fixture('human-memory-limit'), 'normal')));
    answered.push('normal');
    expect(normal.status).toBe(200);
    expect((normal.body as { response: { allowed: boolean } }).response.allowed).toBe(false);
    const results = await Promise.all(heavy);
    // Each is judged (200), or, on a machine so loaded that it waited past the request's deadline
    // behind the others, refused (503, fail closed): either way answered, and after the normal one.
    expect(results.every((r) => r.status === 200 || r.status === 503)).toBe(true);
    expect(results[0]?.status).toBe(200);
    expect(answered.indexOf('normal')).toBeLessThan(3);
    expect(answered.slice(answered.indexOf('normal') + 1).length).toBeGreaterThan(0);
  });

  it('refuses a review that outlives its deadline on the worker, and the next one is judged by a fresh worker', async () => {
    const replaced: string[] = [];
    const server = await harness({ offload: { onReplaced: (why) => replaced.push(why) } });
    // ?timeout=1ms leaves driftgate 1 ms: the review cannot be judged in time.
    const res = await request(server.server)
      .post('/validate?timeout=1ms')
      .set('Content-Type', JSON_TYPE)
      .send(hostileReviewText(98, 390 * KiB));
    const body = res.body as { response: { allowed: boolean; status: { code: number; message: string } } };
    expect({ status: res.status, allowed: body.response.allowed }).toEqual({ status: 503, allowed: false });
    expect(body.response.status.message).toMatch(/could not judge this \d+ KiB review before the apiserver's deadline; it is refused/);
    const next = await send(server, hostileReviewText(60, 200 * KiB, { uid: 'after-timeout' }));
    expect({ status: next.status, uid: (next.body as { response: { uid: string } }).response.uid }).toEqual({ status: 200, uid: 'after-timeout' });
    expect(await journal(server)).toBe('');
    expect(replaced).toEqual(['a review took longer than its deadline']);
  });

  it('refuses at once a large review beyond what may wait for the worker (memory stays bounded)', async () => {
    const server = await harness({ offload: { maxQueuedBytes: 1 } });
    const worst = hostileReviewText(98, 390 * KiB);
    // One judged, one waiting (a queue always takes one), the third refused while both are held.
    const replies = await Promise.all([1, 2, 3].map((i) => send(server, worst.replace('"hostile-0001"', `"held-${i}"`))));
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 503]);
    const busy = replies.find((r) => r.status === 503);
    expect((busy?.body as { response: { allowed: boolean; status: { message: string } } }).response).toMatchObject({
      allowed: false,
      status: { message: expect.stringMatching(/already holding 1 large review .* refused to keep memory bounded/) as unknown },
    });
    await stillServes(server, 'after-busy');
  });

  it('refuses a review whose judging runs the worker out of memory, and keeps serving', async () => {
    const replaced: string[] = [];
    const server = await harness({ offload: { heapMb: 4, onReplaced: (why) => replaced.push(why) } });
    // Within the limits (so it reaches the worker), but far beyond a 4 MiB heap once parsed.
    const res = await send(server, hostileReviewText(98, 390 * KiB).replace(/,0(?=,)/g, ',"0"'), '/validate');
    expect(res.status).toBeGreaterThanOrEqual(400);
    const body = res.body as { response: { allowed: boolean; status: { message: string } } };
    expect({ status: res.status, allowed: body.response.allowed }).toEqual({ status: 500, allowed: false });
    expect(body.response.status.message).toMatch(/^driftgate could not judge this review: the judging worker failed \(.*memory.*\); it is refused$/);
    expect(replaced).toHaveLength(1);
    await stillServes(server, 'after-oom');
    expect(await journal(server)).toBe('');
  });
});
