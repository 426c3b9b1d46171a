/**
 * The express app end to end over loopback HTTP: what the kube-apiserver sends, what it gets
 * back (whole AdmissionReviews, as controller-runtime's http_test.go compares them), and what
 * driftgate leaves behind in its journal, its log and its metrics.
 */
import { readFile } from 'node:fs/promises';
import fastJsonPatch from 'fast-json-patch';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseReview } from '../../src/admission/schema.js';
import type { AdmissionResponse, JsonPatchOp, KubeObject } from '../../src/admission/types.js';
import { decide } from '../../src/decision/decide.js';
import type { Bypass, Decision } from '../../src/decision/types.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import {
  FIXED_NOW,
  SECRET_VALUES,
  breakGlassFor,
  fixture,
  fixturePolicy,
  reviewOf,
  ticketOf,
  withUid,
  type LogRecord,
  type Review,
} from '../helpers/webhook.js';

const policy = fixturePolicy();
const MiB = 1024 * 1024;
const JSON_TYPE = 'application/json';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

function post(path: string, body: unknown): request.Test {
  return request(h.server).post(path).set('Content-Type', JSON_TYPE).send(JSON.stringify(body));
}

function decided(review: Review): Decision {
  return decide(parseReview(review), policy, FIXED_NOW);
}

function bypassOf(review: Review): Bypass {
  const d = decided(review);
  if (d.kind !== 'bypass') throw new Error(`fixture ${review.request.uid}: want a bypass, decide says ${d.kind}`);
  return d;
}

async function journalLines(): Promise<unknown[]> {
  const text = await readFile(h.journalPath, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown);
}

function decodePatch(response: AdmissionResponse): JsonPatchOp[] {
  return JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString('utf8')) as JsonPatchOp[];
}

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Sends what the Argo CD controller sends and expects it let through: the server still serves. */
async function expectStillServing(): Promise<void> {
  const res = await post('/validate', withUid(fixture('gitops-writer-by-user'), 'after-bad-request'));
  expect({ status: res.status, body: res.body as unknown }).toEqual({ status: 200, body: reviewOf({ uid: 'after-bad-request', allowed: true }) });
}

/** A ConfigMap of `bytes` bytes of data, as a realistic worst case of an object in etcd. */
function bigConfigMap(bytes: number, version: string): KubeObject {
  const line = `feature.${version}.flag=${'x'.repeat(80)}\n`;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'feature-flags', namespace: 'prod', uid: 'c0nf1g', resourceVersion: version },
    data: { 'flags.properties': line.repeat(Math.ceil(bytes / line.length)) },
  };
}

describe('requests that are not a review', () => {
  const uid = '705ab4f5-6393-11e8-b7cc-42010a800002';
  // `message` may be an asymmetric matcher where the exact words are not this test's point.
  const refusal = (status: number, reason: string, message: string, echoedUid = '') =>
    reviewOf({ uid: echoedUid, allowed: false, status: { code: status, message, reason } });
  const cases: { name: string; send: () => request.Test; status: number; body: unknown }[] = [
    {
      name: 'refuses an empty body with 400, saying the body is empty',
      send: () => request(h.server).post('/validate').set('Content-Type', JSON_TYPE).send(''),
      status: 400,
      body: refusal(400, 'BadRequest', expect.stringContaining('body is empty')),
    },
    {
      name: 'refuses a text/plain body with 400, naming the content type',
      send: () =>
        request(h.server)
          .post('/validate')
          .set('Content-Type', 'text/plain')
          .send(JSON.stringify(fixture('gitops-writer-by-user'))),
      status: 400,
      body: refusal(400, 'BadRequest', 'Content-Type "text/plain" is not supported; send an AdmissionReview as application/json, as the kube-apiserver does'),
    },
    {
      name: 'refuses a body without a content type with 400',
      send: () =>
        request(h.server)
          .post('/mutate')
          .unset('Content-Type')
          .send(Buffer.from(JSON.stringify(fixture('gitops-writer-by-user')))),
      status: 400,
      body: refusal(400, 'BadRequest', 'Content-Type "(none)" is not supported; send an AdmissionReview as application/json, as the kube-apiserver does'),
    },
    {
      name: 'refuses undecodable JSON with 400, saying it is not JSON',
      send: () =>
        request(h.server)
          .post('/validate')
          .set('Content-Type', JSON_TYPE)
          .send('{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"cut-short",'),
      status: 400,
      body: refusal(400, 'BadRequest', expect.stringMatching(/^body is not JSON: /)),
    },
    {
      name: 'refuses a JSON array with 400',
      send: () => request(h.server).post('/validate').set('Content-Type', JSON_TYPE).send('[]'),
      status: 400,
      body: refusal(400, 'BadRequest', 'body is not an AdmissionReview: expected a JSON object, got an array'),
    },
    {
      name: 'refuses an empty JSON object with 400, listing what a review lacks',
      send: () => request(h.server).post('/validate').set('Content-Type', JSON_TYPE).send('{}'),
      status: 400,
      body: refusal(
        400,
        'BadRequest',
        'body is not an AdmissionReview: no "request" (and 2 more problems)\n' +
          '  - body is not an AdmissionReview: no "request"\n' +
          '  - apiVersion: missing; expected "admission.k8s.io/v1"\n' +
          '  - kind: missing; expected "AdmissionReview"',
      ),
    },
    {
      name: 'refuses an admission.k8s.io/v1beta1 review with 400, echoing its uid and saying to register v1',
      send: () => post('/validate', { ...fixture('gitops-writer-by-user'), apiVersion: 'admission.k8s.io/v1beta1' }),
      status: 400,
      body: refusal(
        400,
        'BadRequest',
        'apiVersion: "admission.k8s.io/v1beta1" is not supported; register the webhook with admissionReviewVersions: ["v1"]',
        uid,
      ),
    },
    {
      name: 'refuses a review without request.uid with 400',
      send: () => {
        const review = fixture('gitops-writer-by-user');
        const { uid: _uid, ...rest } = review.request;
        return post('/validate', { ...review, request: rest });
      },
      status: 400,
      body: refusal(400, 'BadRequest', 'request.uid: missing; an AdmissionReview v1 from the kube-apiserver always has one'),
    },
    {
      name: 'refuses an unknown operation with 400, echoing the uid',
      send: () => {
        const review = fixture('gitops-writer-by-user');
        return post('/mutate', { ...review, request: { ...review.request, operation: 'PATCH' } });
      },
      status: 400,
      body: refusal(400, 'BadRequest', 'request.operation: "PATCH" is not one of CREATE, UPDATE, DELETE, CONNECT', uid),
    },
    {
      name: 'refuses a 20 MiB body with 413',
      send: () =>
        request(h.server)
          .post('/validate')
          .set('Content-Type', JSON_TYPE)
          .send(' '.repeat(20 * MiB)),
      status: 413,
      body: refusal(
        413,
        'RequestEntityTooLarge',
        'body is larger than the 12 MiB limit; no Kubernetes object is that large, so this is not a review from the kube-apiserver',
      ),
    },
  ];

  for (const c of cases) {
    it(`${c.name}, answering an AdmissionReview, and keeps serving`, async () => {
      const res = await c.send();
      expect({ status: res.status, type: res.type, body: res.body as unknown }).toEqual({ status: c.status, type: JSON_TYPE, body: c.body });
      await expectStillServing();
    });
  }

  it('lets through an 8 MiB review (object and oldObject of 3.5 MiB each): the limit holds a real worst case', async () => {
    const review = withUid(fixture('gitops-writer-by-user'), 'big-configmap');
    review.request = {
      ...review.request,
      kind: { group: '', version: 'v1', kind: 'ConfigMap' },
      resource: { group: '', version: 'v1', resource: 'configmaps' },
      requestKind: { group: '', version: 'v1', kind: 'ConfigMap' },
      requestResource: { group: '', version: 'v1', resource: 'configmaps' },
      name: 'feature-flags',
      namespace: 'prod',
      object: bigConfigMap(3.5 * MiB, '12'),
      oldObject: bigConfigMap(3.5 * MiB, '11'),
    };
    const body = JSON.stringify(review);
    expect(body.length).toBeGreaterThan(7 * MiB);
    const res = await request(h.server).post('/validate').set('Content-Type', JSON_TYPE).send(body);
    expect({ status: res.status, body: res.body as unknown }).toEqual({ status: 200, body: reviewOf({ uid: 'big-configmap', allowed: true }) });
  });

  it('does not quote an undecodable body back: it may carry a Secret', async () => {
    const secretAsYaml = 'apiVersion: v1\nkind: Secret\nstringData:\n  password: hunter2\n';
    const unquoted = '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","object":{"data":{"password":hunter2}}}}';
    for (const body of [secretAsYaml, unquoted, 'hunter2']) {
      const res = await request(h.server).post('/validate').set('Content-Type', JSON_TYPE).send(body);
      expect(res.status).toBe(400);
      expect(res.text).not.toContain('hunter2');
    }
    expect(h.sink.text()).not.toContain('hunter2');
  });
});

describe('reviews', () => {
  it('allows the GitOps writer with a bare allowed review', async () => {
    const res = await post('/validate', fixture('gitops-writer-by-user'));
    expect({ status: res.status, body: res.body as unknown }).toEqual({
      status: 200,
      body: reviewOf({ uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true }),
    });
  });

  it("denies a developer's memory-limit change with 403, naming the path and how to proceed", async () => {
    const review = fixture('human-memory-limit');
    const want = decided(review);
    if (want.kind !== 'deny') throw new Error('human-memory-limit should be denied');
    const res = await post('/validate', review);
    expect({ status: res.status, body: res.body as unknown }).toEqual({
      status: 200,
      body: reviewOf({ uid: review.request.uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: want.message } }),
    });
    expect(want.message).toContain('/spec/template/spec/containers/0/resources/limits/memory');
    expect(want.message).toContain('To proceed: make the change in Git');
    expect(await journalLines()).toEqual([]);
  });

  it('mutates a break-glass-for bypass into an absolute until plus its ticket, and records nothing', async () => {
    const review = breakGlassFor(fixture('break-glass-valid'));
    const ticketId = bypassOf(review).ticket.id;
    const res = await post('/mutate', review);
    const body = res.body as { response: AdmissionResponse };
    expect({ status: res.status, body: body as unknown }).toEqual({
      status: 200,
      body: reviewOf({ uid: review.request.uid, allowed: true, patchType: 'JSONPatch', patch: expect.any(String) as string }),
    });
    expect(decodePatch(body.response)).toEqual([
      { op: 'remove', path: '/metadata/annotations/driftgate.dev~1break-glass-for' },
      { op: 'add', path: '/metadata/annotations/driftgate.dev~1backport-ticket', value: ticketId },
      { op: 'add', path: '/metadata/annotations/driftgate.dev~1break-glass-until', value: '2026-11-24T03:30:00Z' },
    ]);
    expect(h.store.calls).toEqual([]);
    expect(await journalLines()).toEqual([]);

    // The validating webhook then sees the patched object and records under the stamped ticket.
    const patched = fastJsonPatch.applyPatch(structuredClone(review.request.object), decodePatch(body.response) as fastJsonPatch.Operation[]).newDocument;
    const validated = await post('/validate', { ...review, request: { ...review.request, object: patched } });
    expect((validated.body as { response: AdmissionResponse }).response.auditAnnotations).toEqual({ 'backport-ticket': ticketId });
  });

  it('allows a bypass only after its ticket is durably in the journal', async () => {
    const review = withUid(fixture('break-glass-valid'), 'bypass-1');
    const want = bypassOf(review);
    const held = h.store.hold();
    const pending = post('/validate', review).then((res) => res);
    await held.called;
    for (let i = 0; i < 5; i++) await settle();
    // The store has not answered: neither may the webhook.
    expect(h.events).toEqual(['record called bypass-1']);
    held.release();
    const res = await pending;
    expect(h.events).toEqual(['record called bypass-1', 'record resolved bypass-1', 'response sent /validate']);
    expect({ status: res.status, body: res.body as unknown }).toEqual({
      status: 200,
      body: reviewOf({ uid: 'bypass-1', allowed: true, warnings: want.warnings, auditAnnotations: { 'backport-ticket': want.ticket.id } }),
    });
    expect(await journalLines()).toEqual([{ type: 'change', draft: want.ticket }]);
    expect(await h.store.list()).toEqual([ticketOf(want.ticket)]);
  });

  it('allows a dry-run bypass without recording anything, and says so', async () => {
    const review = fixture('dry-run-same-decision');
    const want = bypassOf(review);
    const res = await post('/validate', review);
    expect({ status: res.status, body: res.body as unknown }).toEqual({
      status: 200,
      body: reviewOf({
        uid: review.request.uid,
        allowed: true,
        warnings: [...want.warnings, `driftgate: dry run, nothing recorded; the real write will be recorded on ticket ${want.ticket.id}`],
      }),
    });
    expect(h.store.calls).toEqual([]);
    expect(await journalLines()).toEqual([]);
  });

  it('denies a bypass whose ticket the store refuses to record, saying so', async () => {
    h.store.mode = 'reject';
    const review = withUid(fixture('break-glass-valid'), 'store-down');
    const want = bypassOf(review);
    const res = await post('/validate', review);
    expect({ status: res.status, body: res.body as unknown }).toEqual({
      status: 200,
      body: reviewOf({
        uid: 'store-down',
        allowed: false,
        status: {
          code: 503,
          reason: 'ServiceUnavailable',
          message: expect.stringContaining(
            `could not be recorded on backport ticket ${want.ticket.id}: /var/lib/driftgate/tickets.jsonl: could not append the ticket: ENOSPC`,
          ) as string,
        },
      }),
    });
    expect(await journalLines()).toEqual([]);
  });

  it('denies a bypass once the deadline passes when the store hangs until told to give up', async () => {
    h.store.mode = 'hang';
    const review = withUid(fixture('break-glass-valid'), 'store-slow');
    const res = await post('/validate?timeout=1s', review);
    const response = (res.body as { response: AdmissionResponse }).response;
    expect({ status: res.status, allowed: response.allowed, code: response.status?.code }).toEqual({ status: 200, allowed: false, code: 503 });
    expect(response.status?.message).toContain('could not be recorded on backport ticket');
  });

  it('denies a bypass once the deadline passes even when the store ignores the deadline (fail closed)', async () => {
    h.store.mode = 'hang-ignoring-deadline';
    const review = withUid(fixture('break-glass-valid'), 'store-stuck');
    // Not a measurement: the apiserver itself abandons a call long before 10 s when it sent
    // ?timeout=1s, so an answer later than that is no answer (and the test says so, not hangs).
    const res = await post('/validate?timeout=1s', review).timeout({ response: 10_000 });
    const response = (res.body as { response: AdmissionResponse }).response;
    expect({ status: res.status, allowed: response.allowed, code: response.status?.code }).toEqual({ status: 200, allowed: false, code: 503 });
    expect(response.status?.message).toContain('could not be recorded on backport ticket');
  });
});

describe('health and routes', () => {
  it('answers /healthz with 200', async () => {
    const res = await request(h.server).get('/healthz');
    expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: 'ok\n' });
  });

  it('answers /readyz with 200 or 503 as ready() says', async () => {
    const ok = await request(h.server).get('/readyz');
    h.ready.value = false;
    const notReady = await request(h.server).get('/readyz');
    h.ready.value = true;
    const again = await request(h.server).get('/readyz');
    expect([ok.status, notReady.status, again.status]).toEqual([200, 503, 200]);
    expect(notReady.text).toBe('not ready\n');
  });

  it('answers an unknown route, or a GET of a webhook, with 404', async () => {
    const unknown = await request(h.server).post('/admit').set('Content-Type', JSON_TYPE).send('{}');
    const get = await request(h.server).get('/validate');
    expect([unknown.status, get.status]).toEqual([404, 404]);
    expect(unknown.text).toBe(
      'no route POST /admit; driftgate serves POST /validate, POST /mutate, POST /validate-policy, POST /observe, GET /healthz, GET /readyz\n',
    );
  });
});

describe('secrets', () => {
  it('puts no Secret value in a response, the journal or the log', async () => {
    const responses: string[] = [];
    for (const name of ['secret-edit-bypass', 'secret-edit-denied']) {
      for (const path of ['/validate', '/mutate']) {
        const res = await post(path, withUid(fixture(name), `${name}${path.replace('/', '-')}`));
        expect(res.status).toBe(200);
        responses.push(res.text);
      }
    }
    const journal = await readFile(h.journalPath, 'utf8');
    // The bypass was recorded (with fingerprints), the denial logged: there was something to leak.
    expect(journal).toContain('secret-edit-bypass-validate');
    expect(h.sink.records().filter((r) => r['msg'] === 'decision')).toHaveLength(4);
    for (const value of SECRET_VALUES) {
      expect({ value, where: 'responses', found: responses.some((r) => r.includes(value)) }).toEqual({ value, where: 'responses', found: false });
      expect({ value, where: 'journal', found: journal.includes(value) }).toEqual({ value, where: 'journal', found: false });
      expect({ value, where: 'log', found: h.sink.text().includes(value) }).toEqual({ value, where: 'log', found: false });
    }
  });
});

describe('the decision log', () => {
  const fakeToken = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UifQ.ZmFrZS10b2tlbi1wYXlsb2Fk.c2lnbmF0dXJl';

  it('writes exactly one line per decision with who, what, the outcome and the ticket, never a token', async () => {
    const allow = withUid(fixture('gitops-writer-by-user'), 'log-allow');
    const deny = withUid(fixture('human-memory-limit'), 'log-deny');
    deny.request.userInfo.extra = { 'authentication.kubernetes.io/credential-id': [`JTI=${fakeToken}`], token: [fakeToken] };
    const bypass = withUid(fixture('break-glass-valid'), 'log-bypass');
    const ticket = bypassOf(bypass).ticket;
    const responses: string[] = [];
    for (const review of [allow, deny, bypass]) responses.push((await post('/validate', review)).text);
    h.store.mode = 'reject';
    const failed = withUid(fixture('break-glass-valid'), 'log-store-down');
    responses.push((await post('/validate', failed)).text);

    const common = {
      time: expect.any(String) as string,
      service: 'driftgate',
      webhook: 'validate',
      operation: 'UPDATE',
      resource: 'apps/deployments',
      namespace: 'prod',
      name: 'checkout-api',
      dryRun: false,
      durationMs: expect.any(Number) as number,
    };
    const memory = ['/spec/template/spec/containers/0/resources/limits/memory'];
    const oncall = { user: 'dave@example.com', groups: ['oncall', 'system:authenticated'] };
    expect(h.sink.records()).toEqual([
      {
        ...common,
        level: 'info',
        msg: 'decision',
        uid: 'log-allow',
        user: 'system:serviceaccount:argocd:argocd-application-controller',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:argocd', 'system:authenticated'],
        decision: 'allow',
        reason: 'gitops-writer',
        changedPaths: [],
      },
      {
        ...common,
        level: 'info',
        msg: 'decision',
        uid: 'log-deny',
        user: 'alice@example.com',
        groups: ['developers', 'system:authenticated'],
        decision: 'deny',
        reason: 'drift',
        changedPaths: memory,
      },
      {
        ...common,
        ...oncall,
        level: 'info',
        msg: 'decision',
        uid: 'log-bypass',
        decision: 'bypass',
        reason: 'break-glass',
        changedPaths: memory,
        ticket: ticket.id,
      },
      {
        ...common,
        ...oncall,
        level: 'error',
        msg: 'bypass refused: ticket not recorded',
        uid: 'log-store-down',
        decision: 'deny',
        reason: 'ticket-not-recorded',
        changedPaths: memory,
        ticket: ticket.id,
        storeError: '/var/lib/driftgate/tickets.jsonl: could not append the ticket: ENOSPC: no space left on device',
      },
    ]);
    // Plain JSON, each key once: log shippers (Elasticsearch among them) reject repeated keys.
    for (const line of h.sink.lines) expect(JSON.stringify(JSON.parse(line) as LogRecord)).toBe(line);
    expect(h.sink.text()).not.toContain(fakeToken);
    expect(h.sink.text()).not.toContain('JTI=');
    expect(responses.join('\n')).not.toContain(fakeToken);
  });
});

describe('metrics', () => {
  it('names the object of an unnamed DELETE (the namespace controller sends some) in its denial and log line, from oldObject', async () => {
    const review = fixture('delete-by-human');
    review.request.name = '';
    const res = await post('/validate', review).expect(200);
    const body = res.body as { response: AdmissionResponse };
    expect(body.response.allowed).toBe(false);
    expect(body.response.status?.message).toContain('deployments.apps/checkout-api');
    expect(body.response.status?.message).not.toContain('(unnamed)');
    expect(h.sink.records().find((r) => r['msg'] === 'decision')).toMatchObject({ operation: 'DELETE', name: 'checkout-api', decision: 'deny' });
  });

  it('counts each request once under bounded labels, never an object name or a username', async () => {
    const sent: Review[] = [
      withUid(fixture('gitops-writer-by-user'), 'm-allow'),
      withUid(fixture('human-memory-limit'), 'm-deny'),
      withUid(fixture('break-glass-valid'), 'm-bypass'),
      withUid(fixture('secret-edit-denied'), 'm-secret'),
    ];
    for (const review of sent) expect((await post('/validate', review)).status).toBe(200);
    const opening = withUid(fixture('open-window-for'), 'm-patch');
    expect((await post('/mutate', opening)).status).toBe(200);
    h.store.mode = 'reject';
    const failing = withUid(fixture('break-glass-valid'), 'm-store-down');
    expect((await post('/validate', failing)).status).toBe(200);
    expect((await request(h.server).post('/validate').set('Content-Type', 'text/plain').send('x')).status).toBe(400);

    const requests = await h.metrics.requests.get();
    const byLabels = requests.values.map((v) => ({ labels: v.labels, value: v.value }));
    expect(byLabels).toEqual([
      { labels: { webhook: 'validate', operation: 'UPDATE', decision: 'allow' }, value: 1 },
      { labels: { webhook: 'validate', operation: 'UPDATE', decision: 'deny' }, value: 3 },
      { labels: { webhook: 'validate', operation: 'UPDATE', decision: 'bypass' }, value: 1 },
      { labels: { webhook: 'mutate', operation: 'UPDATE', decision: 'patch' }, value: 1 },
      { labels: { webhook: 'validate', operation: 'unknown', decision: 'error' }, value: 1 },
    ]);

    const text = await h.metrics.registry.metrics();
    expect(text).toContain('driftgate_admission_requests_total{webhook="validate",operation="UPDATE",decision="deny"} 3');
    expect(text).toMatch(/^driftgate_admission_duration_seconds_bucket\{le="0\.005",webhook="validate"\} \d+$/m);
    expect(text).toMatch(/^driftgate_admission_duration_seconds_bucket\{le="0\.025",webhook="validate"\} \d+$/m);
    expect(text).toContain('driftgate_bypasses_total{operation="UPDATE"} 1');
    expect(text).toContain('driftgate_denials_total{reason="drift"} 2');
    expect(text).toContain('driftgate_denials_total{reason="ticket-not-recorded"} 1');
    expect(text).toContain('driftgate_ticket_store_failures_total{store="journal"} 1');

    const labelValues = [...text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => m[2] ?? '');
    const personal = [...sent, opening, failing].flatMap((r) => [r.request.name ?? '', r.request.userInfo.username, r.request.namespace ?? '', r.request.uid]);
    const leaked = labelValues.filter((v) => personal.some((p) => p !== '' && v.includes(p)));
    expect(leaked).toEqual([]);
  });
});
