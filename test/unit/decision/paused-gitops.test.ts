/**
 * The GitOps-pause marker is guarded like a window: only a requester allowed to break glass may set
 * it, and only under a window valid now. Regression: adversarial review of issue 11 (a responder
 * could set it on an object with no window at all).
 */
import { describe, expect, it } from 'vitest';
import { parseReview } from '../../../src/admission/schema.js';
import type { AdmissionRequest } from '../../../src/admission/types.js';
import { BREAK_GLASS_INCIDENT, BREAK_GLASS_REASON, BREAK_GLASS_UNTIL, PAUSED_GITOPS } from '../../../src/decision/annotations.js';
import { decide } from '../../../src/decision/decide.js';
import { FIXED_NOW, fixture, fixturePolicy } from '../../helpers/webhook.js';

const WINDOW = { [BREAK_GLASS_UNTIL]: '2026-11-24T03:30:00Z', [BREAK_GLASS_INCIDENT]: 'INC-7', [BREAK_GLASS_REASON]: 'restoring checkout during the outage' };

function edit(before: Record<string, string>, after: Record<string, string>, username = 'carol@example.com'): AdmissionRequest {
  const request = parseReview(fixture('no-op-update'));
  const old = structuredClone(request.oldObject ?? {});
  const now = structuredClone(request.object ?? {});
  old.metadata = { ...old.metadata, annotations: { ...(old.metadata?.annotations ?? {}), ...before } };
  now.metadata = { ...now.metadata, annotations: { ...(now.metadata?.annotations ?? {}), ...after } };
  return { ...request, userInfo: { username, groups: ['system:authenticated'] }, oldObject: old, object: now };
}

const cases = [
  { name: 'refuses a responder setting the marker on an object with no window', req: edit({}, { [PAUSED_GITOPS]: 'flux' }), want: 'deny' },
  { name: 'lets a responder set the marker under a valid window', req: edit(WINDOW, { ...WINDOW, [PAUSED_GITOPS]: 'flux' }), want: 'allow' },
  {
    name: 'lets a responder remove a stray marker with no window (GitOps resumes: the safe direction)',
    req: edit({ [PAUSED_GITOPS]: 'flux' }, {}),
    want: 'allow',
  },
  {
    name: 'refuses a developer setting the marker even under a window',
    req: edit(WINDOW, { ...WINDOW, [PAUSED_GITOPS]: 'flux' }, 'dev@example.com'),
    want: 'deny',
  },
] as const;

describe('driftgate.dev/paused-gitops', () => {
  for (const c of cases) {
    it(c.name, () => {
      expect(decide(c.req, fixturePolicy(), FIXED_NOW).kind).toBe(c.want);
    });
  }
});
