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
  apiVersion?: string;
  operation: 'Update' | 'Apply';
  time: string;
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

const T0 = '2026-11-20T10:00:00Z';
const T1 = '2026-11-24T02:59:00Z';
const REPLICAS = { 'f:spec': { 'f:replicas': {} } };
const TEMPLATE = { 'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {} } } } } } };
/** kubectl-edit's entry after an earlier image edit, handed POOL_SIZE's env item as well. */
const IMAGE_AND_POOL = {
  'f:spec': {
    'f:template': {
      'f:spec': {
        'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:env': { 'k:{"name":"POOL_SIZE"}': { '.': {}, 'f:name': {}, 'f:value': {} } } } },
      },
    },
  },
};
/** Argo CD's applied set: container app with its image and both env entries, and the app label. */
const ARGO_FULL = {
  'f:metadata': { 'f:labels': { 'f:app': {} } },
  'f:spec': {
    'f:template': {
      'f:spec': {
        'f:containers': {
          'k:{"name":"app"}': {
            '.': {},
            'f:name': {},
            'f:image': {},
            'f:env': { 'k:{"name":"LOG_LEVEL"}': { '.': {}, 'f:name': {}, 'f:value': {} }, 'k:{"name":"POOL_SIZE"}': { '.': {}, 'f:name': {}, 'f:value': {} } },
          },
        },
      },
    },
  },
};
const ARGO_WITHOUT_POOL = {
  ...ARGO_FULL,
  'f:spec': {
    'f:template': {
      'f:spec': {
        'f:containers': {
          'k:{"name":"app"}': { '.': {}, 'f:name': {}, 'f:image': {}, 'f:env': { 'k:{"name":"LOG_LEVEL"}': { '.': {}, 'f:name': {}, 'f:value': {} } } },
        },
      },
    },
  },
};
/** After a change of POOL_SIZE's value: the item and its name stay Argo CD's, the value moves. */
const ARGO_POOL_NAME_ONLY = {
  ...ARGO_FULL,
  'f:spec': {
    'f:template': {
      'f:spec': {
        'f:containers': {
          'k:{"name":"app"}': {
            '.': {},
            'f:name': {},
            'f:image': {},
            'f:env': { 'k:{"name":"LOG_LEVEL"}': { '.': {}, 'f:name': {}, 'f:value': {} }, 'k:{"name":"POOL_SIZE"}': { '.': {}, 'f:name': {} } },
          },
        },
      },
    },
  },
};
const POOL_VALUE = {
  'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { 'f:env': { 'k:{"name":"POOL_SIZE"}': { 'f:value': {} } } } } } } },
};
const APP_LABEL = { 'f:metadata': { 'f:labels': { 'f:app': {} } } };
const LABEL = { 'f:metadata': { 'f:labels': { 'f:tier': {} } } };

function entry(manager: string, operation: Entry['operation'], time: string, fieldsV1: Record<string, unknown>): Entry {
  return { manager, operation, apiVersion: 'apps/v1', time, fieldsV1 };
}

const TEMPLATE_IMAGE = { 'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { 'f:image': {} } } } } } };
const ARGO = entry('argocd-controller', 'Apply', T0, TEMPLATE);
const KCM = entry('kube-controller-manager', 'Update', T0, REPLICAS);

/**
 * write is a developer's UPDATE of the base Deployment: `before` and `after` are the managedFields,
 * `change` edits the new object (nothing: a no-op write), `fieldManager` what the request named.
 */
function write(
  before: Entry[],
  after: Entry[],
  change?: (obj: KubeObject) => void,
  fieldManager?: string,
  optionsKind: 'PatchOptions' | 'UpdateOptions' = 'PatchOptions',
): AdmissionRequest {
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
    options: { kind: optionsKind, apiVersion: 'meta.k8s.io/v1', ...(fieldManager === undefined ? {} : { fieldManager }) },
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
    req: write([ARGO, KCM], [ARGO, { ...KCM, fieldsV1: { ...REPLICAS, ...APP_LABEL } }]),
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
  {
    name: "takes one env item away from Argo CD's entry (one item of a list, the list still owned)",
    req: write([{ ...ARGO, fieldsV1: ARGO_FULL }, KCM], [{ ...ARGO, fieldsV1: ARGO_WITHOUT_POOL }, KCM]),
    rewritten: true,
  },
  {
    name: 'hands its own entry an unchanged env item of a list it already owns part of',
    req: write(
      [{ ...ARGO, fieldsV1: ARGO_FULL }, KCM, entry('kubectl-edit', 'Update', T0, TEMPLATE)],
      [{ ...ARGO, fieldsV1: ARGO_FULL }, KCM, entry('kubectl-edit', 'Update', T1, IMAGE_AND_POOL)],
    ),
    rewritten: true,
  },
  {
    name: "folds Argo CD's Apply entry into ancient-changes (only Update entries are folded)",
    req: write([{ ...ARGO, fieldsV1: ARGO_FULL }, KCM], [KCM, entry('ancient-changes', 'Update', T0, ARGO_FULL)]),
    rewritten: true,
  },
  {
    name: 'folds an Update entry into ancient-changes with two Update entries (the apiserver folds past ten)',
    req: write([ARGO, KCM, entry('kubectl-edit', 'Update', T0, APP_LABEL)], [ARGO, KCM, entry('ancient-changes', 'Update', T0, APP_LABEL)]),
    rewritten: true,
  },
  {
    name: "hands Argo CD's Apply entry a field under a PUT naming Argo CD's manager (an apply is a PATCH)",
    req: write([ARGO, KCM], [{ ...ARGO, fieldsV1: { ...TEMPLATE, ...APP_LABEL } }, KCM], undefined, 'argocd-controller', 'UpdateOptions'),
    rewritten: true,
  },
  {
    name: 'gives a new Update entry of another version a field absent from the object (read in its own version, it may be there)',
    req: write(
      [ARGO, KCM],
      [ARGO, KCM, { ...entry('hpa', 'Update', T1, { 'f:spec': { 'f:targetCPUUtilizationPercentage': {} } }), apiVersion: 'apps/v1beta2' }],
    ),
    rewritten: true,
  },
  {
    name: 'hands its own entry the whole pod template as nodes when only the image changed (nodes change hands only when added or removed)',
    req: write(
      [ARGO, KCM],
      [
        ARGO,
        KCM,
        entry('kubectl-edit', 'Update', T1, {
          'f:spec': { '.': {}, 'f:template': { '.': {}, 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {} } } } } },
        }),
      ],
      (obj) => {
        const c = (obj['spec'] as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0];
        if (c) c.image = 'registry.example.com/checkout:hotfix';
      },
      'kubectl-edit',
    ),
    rewritten: true,
  },
  {
    name: "moves Argo CD's Apply entry to another version under a write naming no manager",
    req: write([ARGO, KCM], [{ ...ARGO, apiVersion: 'apps/v1beta2' } as Entry, KCM]),
    rewritten: true,
  },
  // Legitimate neighbours: what the apiserver itself writes.
  {
    name: 'an image change: the requester gains the image leaf, Argo CD loses only it (the container item stays Argo CD’s)',
    req: write(
      [ARGO, KCM],
      [
        { ...ARGO, fieldsV1: { 'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {} } } } } } } },
        KCM,
        entry('kubectl-edit', 'Update', T1, TEMPLATE_IMAGE),
      ],
      (obj) => {
        const c = (obj['spec'] as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0];
        if (c) c.image = 'registry.example.com/checkout:hotfix';
      },
      'kubectl-edit',
    ),
    rewritten: false,
  },
  {
    name: "a change of one env item: the requester's entry takes it, Argo CD's loses only that item",
    req: write(
      [{ ...ARGO, fieldsV1: ARGO_FULL }, KCM],
      [{ ...ARGO, fieldsV1: ARGO_POOL_NAME_ONLY }, KCM, entry('kubectl-edit', 'Update', T1, POOL_VALUE)],
      (obj) => {
        const env = (obj['spec'] as { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } }).template.spec.containers[0]?.env;
        const pool = env?.find((e) => e.name === 'POOL_SIZE');
        if (pool) pool.value = '40';
      },
      'kubectl-edit',
    ),
    rewritten: false,
  },
  {
    name: 'eleven Update entries: the apiserver folds the oldest into ancient-changes of its version',
    req: write(
      [ARGO, ...Array.from({ length: 11 }, (_, i) => entry(`m${i}`, 'Update', `2026-11-2${i < 9 ? 0 : 1}T10:0${i % 9}:00Z`, APP_LABEL))],
      [
        ARGO,
        entry('ancient-changes', 'Update', '2026-11-20T10:01:00Z', APP_LABEL),
        ...Array.from({ length: 9 }, (_, i) => entry(`m${i + 2}`, 'Update', `2026-11-2${i + 2 < 9 ? 0 : 1}T10:0${(i + 2) % 9}:00Z`, APP_LABEL)),
      ],
    ),
    rewritten: false,
  },
  {
    name: 'the same manager holding Update entries of two versions (autoscaling/v1 and v2 alike), a no-op write',
    req: write([ARGO, KCM, { ...KCM, apiVersion: 'apps/v1beta2' } as Entry], [ARGO, KCM, { ...KCM, apiVersion: 'apps/v1beta2' } as Entry]),
    rewritten: false,
  },
  {
    name: 'closing a window: the entry that opened it keeps the annotations map, written as {} once its keys are gone (real apiserver output)',
    req: (() => {
      const opened = entry('unknown', 'Update', T0, {
        'f:metadata': { 'f:annotations': { '.': {}, 'f:driftgate.dev/break-glass-until': {}, 'f:driftgate.dev/break-glass-reason': {} } },
      });
      const closed = entry('unknown', 'Update', T0, { 'f:metadata': { 'f:annotations': {} } });
      const req = write([ARGO, opened], [ARGO, closed]);
      const window = { 'driftgate.dev/break-glass-until': '2026-11-24T03:30:00Z', 'driftgate.dev/break-glass-reason': 'restoring checkout' };
      const old = req.oldObject ?? {};
      old.metadata = { ...old.metadata, annotations: { ...(old.metadata?.annotations ?? {}), ...window } };
      return req;
    })(),
    rewritten: false,
  },
  {
    name: 'a new entry owning a field a mutating webhook then renamed (no longer in the object: it keeps nothing alive)',
    req: write(
      [ARGO, KCM],
      [ARGO, KCM, entry('kubectl-annotate', 'Update', T1, { 'f:metadata': { 'f:annotations': { 'f:driftgate.dev/break-glass-for': {} } } })],
    ),
    rewritten: false,
  },
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

describe("managedFields: Kubernetes' own controllers within their grant", () => {
  const REVISION = 'deployment.kubernetes.io/revision';
  const stamp = (obj: KubeObject): void => {
    obj.metadata = { ...obj.metadata, annotations: { ...(obj.metadata?.annotations ?? {}), [REVISION]: '2' } };
  };
  const stampEntry = entry('kube-controller-manager', 'Update', T1, {
    'f:metadata': { 'f:annotations': { '.': {}, [`f:${REVISION}`]: {} }, 'f:labels': { 'f:app': {} } },
  });
  const as = (username: string): AdmissionRequest => {
    const req = write([ARGO], [ARGO, stampEntry], stamp);
    return { ...req, userInfo: { username, groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] } };
  };

  it("lets the deployment controller's first revision stamp through, its new entry written by the apiserver", () => {
    const decision = decide(as('system:serviceaccount:kube-system:deployment-controller'), fixturePolicy(), FIXED_NOW);
    expect(decision.kind).toBe('allow');
  });

  it('refuses the same write from anyone else: the new entry co-owns the unchanged app label', () => {
    const decision = decide(as('system:serviceaccount:prod:ci-bot'), fixturePolicy(), FIXED_NOW);
    expect(decision.kind).toBe('deny');
    expect(decision.kind === 'deny' ? decision.changedPaths : []).toContain(MANAGED_FIELDS_PATH);
  });
});
