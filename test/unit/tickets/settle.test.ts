/**
 * Settlement's judgement, table-driven: a ticket (replicas 3 → 5 and a `hotfix` label added, by
 * a responder at 10:00) against what GitOps did afterwards. Every rule is tested both ways: what
 * must close a ticket, and the neighbour that must not (a value Git never declared, a responder's
 * own server-side apply, evidence older than the change).
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../../src/admission/types.js';
import type { TicketDraft } from '../../../src/decision/types.js';
import { openTicket, withChange } from '../../../src/tickets/fold.js';
import { type Declaration, LAST_APPLIED, declarationOfWrite } from '../../../src/tickets/git-declaration.js';
import { type Observation, assess, nextStep, ticketPaths } from '../../../src/tickets/settle.js';
import type { Evidence, Ticket } from '../../../src/tickets/types.js';
import { fingerprint } from '../../../src/decision/redact.js';
import { draft } from './drafts.js';

const AFTER = '2025-06-01T10:05:00Z';

function deployment(replicas: number, labels: Record<string, string> | undefined, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', resourceVersion: '42', ...(labels === undefined ? {} : { labels }), ...extra },
    spec: { replicas, template: { spec: { containers: [{ name: 'app', image: 'web:1' }] } } },
    status: { replicas },
  };
}

function manifest(value: unknown): Declaration {
  return { kind: 'manifest', manifest: value };
}

const ticket = openTicket(draft());
const both = ['/spec/replicas', '/metadata/labels/hotfix'];

interface Case {
  name: string;
  ticket?: Ticket;
  observation: Observation;
  want: ReturnType<typeof assess>;
}

const cases: Case[] = [
  {
    name: 'Git declares both new values and live holds them: backported',
    observation: {
      live: deployment(5, { hotfix: 'yes' }),
      declaration: manifest({ spec: { replicas: 5 }, metadata: { labels: { hotfix: 'yes' } } }),
      at: AFTER,
    },
    want: { kind: 'settled', decision: 'backport', carried: both, undone: [] },
  },
  {
    name: 'live holds the values from before the window: reverted',
    observation: { live: deployment(3, undefined), declaration: manifest({ spec: { replicas: 3 } }), at: AFTER },
    want: { kind: 'settled', decision: 'revert', carried: [], undone: both },
  },
  {
    name: 'Git carries replicas but never declared the label, which live still has: the label remains',
    observation: { live: deployment(5, { hotfix: 'yes' }), declaration: manifest({ spec: { replicas: 5 } }), at: AFTER },
    want: { kind: 'partial', carried: ['/spec/replicas'], undone: [], remaining: ['/metadata/labels/hotfix'] },
  },
  {
    name: 'Git carries replicas and the sync removed the label: settled, part carried and part undone, closed as backported',
    observation: { live: deployment(5, undefined), declaration: manifest({ spec: { replicas: 5 } }), at: AFTER },
    want: { kind: 'settled', decision: 'backport', carried: ['/spec/replicas'], undone: ['/metadata/labels/hotfix'] },
  },
  {
    name: 'a GitOps write that changed nothing proves nothing about Git (no manifest, no ownership)',
    observation: { live: deployment(5, { hotfix: 'yes' }), declaration: { kind: 'changed', before: deployment(5, { hotfix: 'yes' }) }, at: AFTER },
    want: { kind: 'unsettled', remaining: both, why: 'GitOps has neither carried nor undone any of its changes yet' },
  },
  {
    name: 'a plain GitOps write that set the values itself carries them',
    observation: { live: deployment(5, { hotfix: 'yes' }), declaration: { kind: 'changed', before: deployment(4, { hotfix: 'no' }) }, at: AFTER },
    want: { kind: 'settled', decision: 'backport', carried: both, undone: [] },
  },
  {
    name: 'an Argo CD / Flux report of the object in sync after the change: backported',
    observation: { live: deployment(5, { hotfix: 'yes' }), declaration: { kind: 'in-sync' }, at: AFTER },
    want: { kind: 'settled', decision: 'backport', carried: both, undone: [] },
  },
  {
    name: 'evidence from before the change settles nothing',
    observation: { live: deployment(5, { hotfix: 'yes' }), declaration: { kind: 'in-sync' }, at: '2025-06-01T09:59:59Z' },
    want: { kind: 'unsettled', remaining: both, why: 'the evidence (2025-06-01T09:59:59Z) does not follow the change at 2025-06-01T10:00:00Z' },
  },
  {
    name: 'the object gone (pruned by GitOps): every change on it went with it, reverted',
    observation: { live: undefined, declaration: { kind: 'changed', before: deployment(5, { hotfix: 'yes' }) }, at: AFTER },
    want: { kind: 'settled', decision: 'revert', carried: [], undone: both },
  },
  {
    name: 'a ticket that created the object: Git declaring it carries it; the object gone undoes it',
    ticket: openTicket({
      ...draft(),
      change: {
        ...draft().change,
        operation: 'CREATE',
        patch: [{ op: 'add', path: '', value: deployment(5, undefined) }],
        revert: [{ op: 'remove', path: '' }],
      },
    }),
    observation: { live: deployment(5, undefined), declaration: manifest(deployment(5, undefined)), at: AFTER },
    want: { kind: 'settled', decision: 'backport', carried: [''], undone: [] },
  },
  {
    name: 'a ticket that created the object: still there but nothing says Git declares it, it remains',
    ticket: openTicket({
      ...draft(),
      change: {
        ...draft().change,
        operation: 'CREATE',
        patch: [{ op: 'add', path: '', value: deployment(5, undefined) }],
        revert: [{ op: 'remove', path: '' }],
      },
    }),
    observation: { live: deployment(5, undefined), declaration: manifest(undefined), at: AFTER },
    want: { kind: 'unsettled', remaining: [''], why: 'GitOps has neither carried nor undone any of its changes yet' },
  },
];

describe('assess', () => {
  for (const c of cases) {
    it(c.name, () => {
      expect(assess(c.ticket ?? ticket, c.observation)).toEqual(c.want);
    });
  }
});

describe('server-side apply ownership', () => {
  const live = (manager: string): KubeObject =>
    deployment(
      5,
      { hotfix: 'yes' },
      {
        managedFields: [
          {
            manager,
            operation: 'Apply',
            apiVersion: 'apps/v1',
            fieldsType: 'FieldsV1',
            fieldsV1: {
              'f:metadata': { 'f:labels': { 'f:hotfix': {} } },
              'f:spec': { 'f:replicas': {}, 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:name': {} } } } } },
            },
          },
        ],
      },
    );
  const imageTicket = openTicket({
    ...draft(),
    change: {
      ...draft().change,
      patch: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'web:1' }],
      revert: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'web:0' }],
    },
  });

  it("Flux's kustomize-controller applying the responder's values carries them (keyed list items found by their merge key)", () => {
    const object = live('kustomize-controller');
    const declaration = declarationOfWrite(object, object);
    expect(declaration.kind).toBe('owned');
    expect(assess(ticket, { live: object, declaration, at: AFTER })).toEqual({ kind: 'settled', decision: 'backport', carried: both, undone: [] });
    expect(assess(imageTicket, { live: object, declaration, at: AFTER })).toMatchObject({ kind: 'settled', decision: 'backport' });
  });

  it("a responder's own server-side apply (manager kubectl) is not Git's: nothing settles", () => {
    const object = live('kubectl');
    const declaration = declarationOfWrite(object, object);
    expect(declaration.kind).toBe('changed');
    expect(assess(ticket, { live: object, declaration, at: AFTER }).kind).toBe('unsettled');
  });

  it('a field the GitOps manager does not own remains', () => {
    const object = live('kustomize-controller');
    const fields = (object.metadata as { managedFields: Array<{ fieldsV1: Record<string, unknown> }> }).managedFields[0];
    if (fields !== undefined) fields.fieldsV1 = { 'f:spec': { 'f:replicas': {} } };
    expect(assess(ticket, { live: object, declaration: declarationOfWrite(object, object), at: AFTER })).toEqual({
      kind: 'partial',
      carried: ['/spec/replicas'],
      undone: [],
      remaining: ['/metadata/labels/hotfix'],
    });
  });
});

describe('declarationOfWrite', () => {
  it("reads client-side apply's last-applied manifest", () => {
    const object = deployment(5, { hotfix: 'yes' }, { annotations: { [LAST_APPLIED]: JSON.stringify({ spec: { replicas: 5 } }) } });
    expect(declarationOfWrite(object, undefined)).toEqual({ kind: 'manifest', manifest: { spec: { replicas: 5 } } });
  });

  it('a malformed last-applied annotation declares nothing: only what the write changed counts', () => {
    const object = deployment(5, undefined, { annotations: { [LAST_APPLIED]: '{not json' } });
    expect(declarationOfWrite(object, deployment(3, undefined))).toEqual({ kind: 'changed', before: deployment(3, undefined) });
  });
});

describe('ticketPaths', () => {
  it('a later change under the window moves the value after; the value before stays the first', () => {
    const later: TicketDraft = {
      ...draft({ uid: 'uid-2', at: '2025-06-01T10:01:00Z' }),
    };
    later.change.patch = [{ op: 'replace', path: '/spec/replicas', value: 7 }];
    later.change.revert = [{ op: 'replace', path: '/spec/replicas', value: 5 }];
    const twice = withChange(ticket, later.change);
    expect(ticketPaths(twice)).toEqual([
      { path: '/spec/replicas', before: { present: true, value: 3 }, after: { present: true, value: 7 } },
      { path: '/metadata/labels/hotfix', before: { present: false }, after: { present: true, value: 'yes' } },
    ]);
  });

  it("a /scale change is the main object's replicas; an action subresource (exec) carries nothing", () => {
    const scale = openTicket({ ...draft(), change: { ...draft().change, subResource: 'scale' } });
    expect(ticketPaths(scale).map((p) => p.path)).toEqual(['/spec/replicas']);
    const exec = openTicket({
      ...draft(),
      change: { ...draft().change, operation: 'CONNECT', subResource: 'exec', patch: [], revert: [], action: { command: ['sh'] } },
    });
    expect(assess(exec, { live: deployment(5, undefined), declaration: { kind: 'in-sync' }, at: AFTER })).toMatchObject({ kind: 'unsettled', remaining: [] });
  });

  it("driftgate's own annotations and status are never Git's to carry", () => {
    const own = openTicket({
      ...draft(),
      change: {
        ...draft().change,
        patch: [
          { op: 'add', path: '/metadata/annotations/driftgate.dev~1break-glass-until', value: 'x' },
          { op: 'replace', path: '/status/replicas', value: 5 },
        ],
        revert: [],
      },
    });
    expect(ticketPaths(own)).toEqual([]);
  });
});

describe('Secrets', () => {
  const secretTicket = openTicket({
    ...draft(),
    object: { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespace: 'shop', name: 'db' },
    change: {
      ...draft().change,
      patch: [{ op: 'replace', path: '/data/password', value: fingerprint('bmV3') }],
      revert: [{ op: 'replace', path: '/data/password', value: fingerprint('b2xk') }],
    },
  });
  const secret = (password: string): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'shop' }, data: { password } });

  it("compares fingerprints: the responder's value, in sync, is carried; the old one is undone; no value reaches the result", () => {
    const carried = assess(secretTicket, { live: secret('bmV3'), declaration: { kind: 'in-sync' }, at: AFTER });
    expect(carried).toEqual({ kind: 'settled', decision: 'backport', carried: ['/data/password'], undone: [] });
    const undone = assess(secretTicket, { live: secret('b2xk'), declaration: { kind: 'manifest', manifest: secret('b2xk') }, at: AFTER });
    expect(undone).toEqual({ kind: 'settled', decision: 'revert', carried: [], undone: ['/data/password'] });
    expect(JSON.stringify([carried, undone])).not.toMatch(/bmV3|b2xk/);
  });

  it("a third value (neither the responder's nor the old one) remains", () => {
    expect(assess(secretTicket, { live: secret('dGhpcmQ='), declaration: { kind: 'in-sync' }, at: AFTER }).kind).toBe('unsettled');
  });
});

describe('nextStep', () => {
  const evidence: Evidence = { kind: 'gitops-write', username: 'system:serviceaccount:argocd:argocd-application-controller', at: AFTER, requestUid: 'w-1' };
  const now = new Date('2025-06-01T10:06:00Z');

  it('a settled ticket is resolved by settlement, the evidence saying which paths were carried and undone', () => {
    const step = nextStep(
      ticket,
      { kind: 'settled', decision: 'backport', carried: ['/spec/replicas'], undone: ['/metadata/labels/hotfix'] },
      evidence,
      'argocd',
      'gitops write w-1',
      now,
    );
    expect(step).toEqual({
      kind: 'resolve',
      resolution: {
        decision: 'backport',
        by: 'argocd',
        ref: 'gitops write w-1',
        at: now.toISOString(),
        closedBy: 'settlement',
        evidence: [{ ...evidence, carried: ['/spec/replicas'], undone: ['/metadata/labels/hotfix'] }],
      },
    });
  });

  it('a partial finding is recorded once: the same finding again records nothing', () => {
    const partial = { kind: 'partial' as const, carried: ['/spec/replicas'], undone: [], remaining: ['/metadata/labels/hotfix'] };
    const step = nextStep(ticket, partial, evidence, 'argocd', 'ref', now);
    expect(step.kind).toBe('progress');
    if (step.kind !== 'progress') return;
    expect(step.settlement.remaining).toEqual(['/metadata/labels/hotfix']);
    expect(nextStep({ ...ticket, settlement: step.settlement }, partial, evidence, 'argocd', 'ref', now).kind).toBe('nothing');
  });

  it('settlement never touches a closed ticket (a person decided, or settlement already did)', () => {
    const closed: Ticket = { ...ticket, state: 'reverted', resolution: { decision: 'revert', by: 'carol', ref: 'PR-1', at: AFTER, closedBy: 'person' } };
    expect(nextStep(closed, { kind: 'settled', decision: 'backport', carried: both, undone: [] }, evidence, 'argocd', 'ref', now)).toEqual({
      kind: 'nothing',
      why: 'the ticket is already reverted',
    });
  });
});
