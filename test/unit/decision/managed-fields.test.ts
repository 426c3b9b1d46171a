/**
 * Who may move a managedFields entry, as the apiserver does it (structured-merge-diff's Updater and
 * the apiserver's managedFieldsUpdater): no entry gains a field its request did not change (status
 * aside: no GitOps tool applies it); an Apply entry gains fields only under a server-side apply
 * naming that manager; one entry at most moves at all. Regression (adversarial review of issue 11): a
 * developer's no-op UPDATE could restamp or grow another manager's entry and pass as "no drift",
 * changing what the next sync removes. Each attack is paired with the legitimate write it resembles.
 */
import { describe, expect, it } from 'vitest';
import { parseReview } from '../../../src/admission/schema.js';
import type { AdmissionRequest, KubeObject } from '../../../src/admission/types.js';
import { bookkeepingPaths, MANAGED_FIELDS_PATH } from '../../../src/decision/bookkeeping.js';
import { decide } from '../../../src/decision/decide.js';
import { FIXED_NOW, fixture, fixturePolicy } from '../../helpers/webhook.js';

interface Entry {
  manager: string;
  operation: 'Update' | 'Apply';
  time: string;
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

const T0 = '2026-11-20T10:00:00Z';
const T1 = '2026-11-24T02:59:00Z';
const REPLICAS = { 'f:spec': { 'f:replicas': {} } };
const TEMPLATE = { 'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {} } } } } } };
const LABEL = { 'f:metadata': { 'f:labels': { 'f:tier': {} } } };

function entry(manager: string, operation: Entry['operation'], time: string, fieldsV1: Record<string, unknown>): Entry {
  return { manager, operation, time, fieldsV1 };
}

const ARGO = entry('argocd-controller', 'Apply', T0, TEMPLATE);
const KCM = entry('kube-controller-manager', 'Update', T0, REPLICAS);

/**
 * write is a developer's UPDATE of the base Deployment: `before` and `after` are the managedFields,
 * `change` edits the new object (nothing: a no-op write), `fieldManager` what the request named.
 */
function write(before: Entry[], after: Entry[], change?: (obj: KubeObject) => void, fieldManager?: string): AdmissionRequest {
  const request = parseReview(fixture('no-op-update'));
  const old = structuredClone(request.oldObject ?? {});
  const now = structuredClone(old);
  old.metadata = { ...old.metadata, managedFields: before };
  now.metadata = { ...now.metadata, managedFields: after };
  change?.(now);
  return {
    ...request,
    userInfo: { username: 'alice@example.com', groups: ['developers'] },
    oldObject: old,
    object: now,
    options: { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1', ...(fieldManager === undefined ? {} : { fieldManager }) },
  };
}

const label = (obj: KubeObject): void => {
  obj.metadata = { ...obj.metadata, labels: { ...(obj.metadata?.labels ?? {}), tier: 'web' } };
};

const cases: { name: string; req: AdmissionRequest; rewritten: boolean }[] = [
  // Attacks: a write that changes nothing live, yet moves an entry the apiserver would not have moved.
  {
    name: 'restamps two entries on one write (the apiserver moves only the requester’s)',
    req: write(
      [ARGO, KCM],
      [
        { ...ARGO, time: T1 },
        { ...KCM, time: T1 },
      ],
      undefined,
      'argocd-controller',
    ),
    rewritten: true,
  },
  {
    name: 'hands another Update manager an unchanged field',
    req: write([ARGO, KCM], [ARGO, { ...KCM, fieldsV1: { ...REPLICAS, ...LABEL } }]),
    rewritten: true,
  },
  {
    name: 'gives its own new Update entry a field it did not change',
    req: write([ARGO, KCM], [ARGO, KCM, entry('kubectl-edit', 'Update', T1, TEMPLATE)], undefined, 'kubectl-edit'),
    rewritten: true,
  },
  {
    name: "grows Argo CD's Apply entry under a plain update (no apply names that manager)",
    req: write([ARGO, KCM], [{ ...ARGO, fieldsV1: { ...TEMPLATE, ...REPLICAS } }, KCM], undefined, 'kubectl-edit'),
    rewritten: true,
  },
  {
    name: 'a no-op server-side apply under a new manager co-owning unchanged fields (the next sync dropping them would keep them)',
    req: write([ARGO, KCM], [ARGO, KCM, entry('kubectl', 'Apply', T1, TEMPLATE)], undefined, 'kubectl'),
    rewritten: true,
  },
  {
    name: "hands Argo CD's Apply entry a field under a write naming no manager",
    req: write([ARGO, KCM], [{ ...ARGO, fieldsV1: { ...TEMPLATE, ...LABEL } }, KCM], label),
    rewritten: true,
  },
  // Legitimate neighbours: what the apiserver itself writes.
  { name: 'a no-op write leaving every entry as it was', req: write([ARGO, KCM], [ARGO, KCM]), rewritten: false },
  {
    name: 'one entry restamped with its fields unchanged (time and version decide nothing about the next sync)',
    req: write([ARGO, KCM], [ARGO, { ...KCM, time: T1 }]),
    rewritten: false,
  },
  {
    name: 'a new Update entry owning status fields (no GitOps tool applies status)',
    req: write([ARGO, KCM], [ARGO, KCM, entry('kubectl-edit', 'Update', T1, { 'f:status': { 'f:readyReplicas': {} } })]),
    rewritten: false,
  },
  {
    name: 'the requester’s new Update entry owning exactly the field it changed',
    req: write([ARGO, KCM], [ARGO, KCM, entry('kubectl-edit', 'Update', T1, LABEL)], label, 'kubectl-edit'),
    rewritten: false,
  },
  {
    name: "the requester's Update entry restamped because it changed a field it already owned",
    req: write([ARGO, KCM, entry('kubectl-edit', 'Update', T0, LABEL)], [ARGO, KCM, entry('kubectl-edit', 'Update', T1, LABEL)], label),
    rewritten: false,
  },
  {
    name: 'a server-side apply naming its manager, its new Apply entry owning exactly what it changed',
    req: write([ARGO, KCM], [ARGO, KCM, entry('kubectl', 'Apply', T1, LABEL)], label, 'kubectl'),
    rewritten: false,
  },
];

describe('managedFields: which entries a request may move', () => {
  for (const c of cases) {
    it(`${c.rewritten ? 'reports' : 'accepts'}: ${c.name}`, () => {
      expect(bookkeepingPaths(c.req).includes(MANAGED_FIELDS_PATH)).toBe(c.rewritten);
      const decision = decide(c.req, fixturePolicy(), FIXED_NOW);
      if (c.rewritten) {
        expect(decision.kind).toBe('deny');
        expect(decision.kind === 'deny' ? decision.changedPaths : []).toContain(MANAGED_FIELDS_PATH);
      } else if (decision.kind === 'deny') {
        // The label change itself is drift for a developer; what matters here is that the
        // bookkeeping is not reported as a rewrite on top of it.
        expect(decision.changedPaths).not.toContain(MANAGED_FIELDS_PATH);
      }
    });
  }
});
