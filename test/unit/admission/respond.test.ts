import { describe, expect, it } from 'vitest';
import {
  type Answer,
  allowed,
  denied,
  errored,
  fitWarnings,
  patched,
  review,
  WARNING_MAX_RUNES,
  WARNINGS_TOTAL_RUNES,
  withWarnings,
} from '../../../src/admission/respond.js';
import type { JsonPatchOp } from '../../../src/admission/types.js';

const uid = '7f0b2c3e-5d1a-4c7e-9a8b-2f6d4e1c0b9a';

describe('allowed', () => {
  it('admits with nothing else', () => {
    expect(allowed()).toStrictEqual({ allowed: true });
  });

  it('carries warnings and audit annotations', () => {
    expect(allowed({ warnings: ['replicas drift from git'], auditAnnotations: { 'backport-ticket': 'bt-1' } })).toStrictEqual({
      allowed: true,
      warnings: ['replicas drift from git'],
      auditAnnotations: { 'backport-ticket': 'bt-1' },
    });
  });

  it('leaves out empty warnings and annotations', () => {
    expect(allowed({ warnings: [], auditAnnotations: {} })).toStrictEqual({ allowed: true });
  });
});

describe('denied', () => {
  it('refuses with 403 Forbidden and the message whole', () => {
    const message = `[policy/gitops-only] ${'x'.repeat(5000)}`;
    expect(denied(message)).toStrictEqual({ allowed: false, status: { code: 403, reason: 'Forbidden', message } });
  });

  it('takes another code, and warnings', () => {
    expect(denied('ticket store down', 503, { warnings: ['retry'] })).toStrictEqual({
      allowed: false,
      status: { code: 503, reason: 'ServiceUnavailable', message: 'ticket store down' },
      warnings: ['retry'],
    });
  });

  it('has no reason for a code without a standard one', () => {
    expect(denied('odd', 418)).toStrictEqual({ allowed: false, status: { code: 418, message: 'odd' } });
  });
});

describe('patched', () => {
  const ops: JsonPatchOp[] = [
    { op: 'add', path: '/metadata/annotations/driftgate.dev~1backport-ticket', value: 'bt-1' },
    { op: 'remove', path: '/metadata/annotations/driftgate.dev~1break-glass-for' },
  ];

  it('admits with the ops as a base64 JSONPatch', () => {
    const patch = Buffer.from(JSON.stringify(ops)).toString('base64');
    expect(patched(ops)).toStrictEqual({ allowed: true, patchType: 'JSONPatch', patch });
    expect(JSON.parse(Buffer.from(patch, 'base64').toString('utf8'))).toStrictEqual(ops);
  });

  it('is a plain allowed when there is nothing to patch', () => {
    expect(patched([], { warnings: ['w'] })).toStrictEqual({ allowed: true, warnings: ['w'] });
  });
});

describe('errored', () => {
  it('refuses with the code and message', () => {
    expect(errored(400, 'request.uid: missing')).toStrictEqual({
      allowed: false,
      status: { code: 400, reason: 'BadRequest', message: 'request.uid: missing' },
    });
    expect(errored(500, 'boom')).toStrictEqual({ allowed: false, status: { code: 500, reason: 'InternalError', message: 'boom' } });
  });
});

describe('withWarnings', () => {
  it('appends to the warnings already there, without touching the original', () => {
    const original = allowed({ warnings: ['first'] });
    expect(withWarnings(original, ['second', 'first'])).toStrictEqual({ allowed: true, warnings: ['first', 'second'] });
    expect(original).toStrictEqual({ allowed: true, warnings: ['first'] });
  });

  it('adds nothing when there is nothing to add', () => {
    const resp: Answer = denied('no');
    expect(withWarnings(resp, ['', '  '])).toStrictEqual(resp);
  });
});

describe('review', () => {
  it('wraps an answer in the v1 envelope, copying the request uid (the one place it is copied)', () => {
    expect(review(uid, allowed())).toStrictEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
    expect(review('', errored(500, 'boom')).response).toStrictEqual({
      uid: '',
      allowed: false,
      status: { code: 500, reason: 'InternalError', message: 'boom' },
    });
  });
});

describe('fitWarnings', () => {
  it('turns control characters into spaces, since the apiserver drops a warning holding one', () => {
    expect(fitWarnings(['line one\nline two\t\u0007end  '])).toStrictEqual(['line one line two end']);
  });

  it(`cuts a warning longer than ${WARNING_MAX_RUNES} runes with a visible ellipsis, counting runes not UTF-16 units`, () => {
    const long = '🙂'.repeat(300);
    const [fitted] = fitWarnings([long, 'é'.repeat(WARNING_MAX_RUNES)]);
    expect(fitted).toBe(`${'🙂'.repeat(WARNING_MAX_RUNES - 1)}…`);
    expect(fitWarnings(['é'.repeat(WARNING_MAX_RUNES)])).toStrictEqual(['é'.repeat(WARNING_MAX_RUNES)]);
  });

  it(`keeps under ${WARNINGS_TOTAL_RUNES} runes in all and says how many it left out`, () => {
    const many = Array.from({ length: 20 }, (_, i) => `${String(i).padStart(2, '0')}${'w'.repeat(248)}`);
    const fitted = fitWarnings(many);
    expect(fitted.slice(0, -1)).toStrictEqual(many.slice(0, 15));
    expect(fitted.at(-1)).toBe('5 more warnings not shown: the kube-apiserver passes on at most 4096 characters of warnings');
    expect(fitted.reduce((n, w) => n + [...w].length, 0)).toBeLessThanOrEqual(WARNINGS_TOTAL_RUNES);
  });
});
