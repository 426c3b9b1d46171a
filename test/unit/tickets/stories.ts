/**
 * Tickets as they happen: each story is a sequence of writes to one object under one window,
 * turned into drafts by the real normalized diff, so that exports are tested on the patches the
 * webhook actually records.
 */
import type { KubeObject, Operation } from '../../../src/admission/types.js';
import { normalizedDiff } from '../../../src/decision/diff.js';
import { normalize } from '../../../src/decision/normalize.js';
import { redactSecret } from '../../../src/decision/redact.js';
import type { ObjectRef, TicketDraft, Window } from '../../../src/decision/types.js';
import { foldEvents } from '../../../src/tickets/fold.js';
import type { Ticket } from '../../../src/tickets/types.js';

/** Write is one write under the window: the object before and after (null for none). */
export interface Write {
  at: string;
  username: string;
  operation: Operation;
  subResource?: string;
  before: KubeObject | null;
  after: KubeObject | null;
  /** For an action subresource such as exec: no field diff, only the action. */
  action?: unknown;
}

/** Story is one ticket's worth of writes, with the objects the test checks patches against. */
export interface Story {
  id: string;
  object: ObjectRef;
  window: Window;
  writes: Write[];
}

const WINDOW: Window = { until: '2025-06-01T14:00:00Z', reason: "checkout latency: raise memory, it's OOMing", incident: 'INC-123' };

const DEPLOYMENT_REF: ObjectRef = { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespace: 'shop', name: 'web' };

function deployment(opts: { replicas: number; memory: string; image: string; hotfix: boolean; owner: boolean; env: number }): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'shop',
      resourceVersion: '42',
      labels: { app: 'web', ...(opts.hotfix ? { hotfix: 'yes' } : {}) },
      annotations: { team: 'checkout', ...(opts.owner ? { 'example.com/owner': "it's ops" } : {}) },
    },
    spec: {
      replicas: opts.replicas,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              name: 'app',
              image: opts.image,
              resources: { limits: { memory: opts.memory } },
              env: [
                { name: 'MODE', value: 'fast' },
                { name: 'DEBUG', value: 'false' },
              ].slice(0, opts.env),
            },
          ],
        },
      },
    },
    status: { readyReplicas: opts.replicas },
  };
}

const v0 = deployment({ replicas: 3, memory: '512Mi', image: 'registry.example.com/checkout:v1.2.3', hotfix: false, owner: true, env: 2 });
const v1 = deployment({ replicas: 3, memory: '2Gi', image: 'registry.example.com/checkout:v1.2.4-hotfix', hotfix: true, owner: false, env: 2 });
const v2 = deployment({ replicas: 8, memory: '2Gi', image: 'registry.example.com/checkout:v1.2.4-hotfix', hotfix: true, owner: false, env: 2 });
const v3 = deployment({ replicas: 8, memory: '2Gi', image: 'registry.example.com/checkout:v1.2.4-hotfix', hotfix: true, owner: false, env: 1 });

function configMap(data: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'flags', namespace: 'shop', uid: 'u-1' }, data };
}

function secret(password: string, labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db-creds', namespace: 'shop', ...(Object.keys(labels).length > 0 ? { labels } : {}) },
    type: 'Opaque',
    data: { username: Buffer.from('checkout').toString('base64'), password: Buffer.from(password).toString('base64') },
  };
}

const CONFIGMAP_REF: ObjectRef = { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespace: 'shop', name: 'flags' };
const SECRET_REF: ObjectRef = { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespace: 'shop', name: 'db-creds' };

/** SECRET_PASSWORDS are the clear values the Secret stories write; no export may contain them. */
export const SECRET_PASSWORDS = ['hunter2', 's3cr3t-rotated'];

/** STORIES are the tickets the export tests run on, by case name. */
export const STORIES: Readonly<Record<string, Story>> = {
  // Memory and image raised with a hotfix label and an annotation dropped; then scaled through
  // /scale; then an env var removed. The revert re-adds an annotation value holding a quote.
  update: {
    id: 'bt-shop-web-1',
    object: DEPLOYMENT_REF,
    window: WINDOW,
    writes: [
      { at: '2025-06-01T10:00:00Z', username: 'alice', operation: 'UPDATE', before: v0, after: v1 },
      { at: '2025-06-01T10:20:00Z', username: 'bob', operation: 'UPDATE', subResource: 'scale', before: v1, after: v2 },
      { at: '2025-06-01T10:40:00Z', username: 'alice', operation: 'UPDATE', before: v2, after: v3 },
    ],
  },
  scale: {
    id: 'bt-shop-web-2',
    object: { ...DEPLOYMENT_REF, subResource: 'scale' },
    window: WINDOW,
    writes: [{ at: '2025-06-01T11:00:00Z', username: 'bob', operation: 'UPDATE', subResource: 'scale', before: v1, after: v2 }],
  },
  create: {
    id: 'bt-shop-flags-1',
    object: CONFIGMAP_REF,
    window: WINDOW,
    writes: [
      { at: '2025-06-01T10:00:00Z', username: 'carol', operation: 'CREATE', before: null, after: configMap({ checkout: 'v2' }) },
      {
        at: '2025-06-01T10:05:00Z',
        username: 'carol',
        operation: 'UPDATE',
        before: configMap({ checkout: 'v2' }),
        after: configMap({ checkout: 'v2', 'cache.ttl': '30s' }),
      },
    ],
  },
  delete: {
    id: 'bt-shop-flags-2',
    object: CONFIGMAP_REF,
    window: WINDOW,
    writes: [
      {
        at: '2025-06-01T10:00:00Z',
        username: 'carol',
        operation: 'UPDATE',
        before: configMap({ checkout: 'v1' }),
        after: configMap({ checkout: 'v1', broken: 'yes' }),
      },
      { at: '2025-06-01T10:05:00Z', username: 'carol', operation: 'DELETE', before: configMap({ checkout: 'v1', broken: 'yes' }), after: null },
    ],
  },
  secret: {
    id: 'bt-shop-db-creds-1',
    object: SECRET_REF,
    window: WINDOW,
    writes: [
      { at: '2025-06-01T10:00:00Z', username: 'dave', operation: 'UPDATE', before: secret('hunter2'), after: secret('s3cr3t-rotated', { rotated: 'true' }) },
    ],
  },
  'secret-label': {
    id: 'bt-shop-db-creds-2',
    object: SECRET_REF,
    window: WINDOW,
    writes: [{ at: '2025-06-01T10:00:00Z', username: 'dave', operation: 'UPDATE', before: secret('hunter2'), after: secret('hunter2', { rotated: 'true' }) }],
  },
  'secret-created': {
    id: 'bt-shop-db-creds-3',
    object: SECRET_REF,
    window: WINDOW,
    writes: [{ at: '2025-06-01T10:00:00Z', username: 'dave', operation: 'CREATE', before: null, after: secret('hunter2') }],
  },
  exec: {
    id: 'bt-shop-web-3',
    object: { ...DEPLOYMENT_REF, resource: 'pods', group: '', kind: 'Pod', name: 'web-7d9c', subResource: 'exec' },
    window: WINDOW,
    writes: [
      {
        at: '2025-06-01T10:00:00Z',
        username: 'erin',
        operation: 'CONNECT',
        subResource: 'exec',
        before: null,
        after: null,
        action: { kind: 'PodExecOptions', command: ['sh'] },
      },
    ],
  },
};

/** drafts returns the drafts the webhook would record for the story, one per write. */
export function drafts(story: Story): TicketDraft[] {
  return story.writes.map((w, i) => {
    const { patch, revert } = w.action === undefined ? normalizedDiff(w.before, w.after) : { patch: [], revert: [] };
    return {
      id: story.id,
      object: story.object,
      window: story.window,
      change: {
        requestUid: `${story.id}-uid-${i + 1}`,
        at: w.at,
        username: w.username,
        groups: ['oncall', 'system:authenticated'],
        operation: w.operation,
        ...(w.subResource === undefined ? {} : { subResource: w.subResource }),
        patch,
        revert,
        ...(w.action === undefined ? {} : { action: w.action }),
      },
    };
  });
}

/** ticketOf returns the story as the store folds it. */
export function ticketOf(story: Story): Ticket {
  const [ticket] = foldEvents(drafts(story).map((draft) => ({ type: 'change' as const, draft })));
  if (ticket === undefined) throw new Error(`story ${story.id} folds to no ticket`);
  return ticket;
}

/** prepared returns the object as the diff compared it (normalized, redacted), JSON null for none. */
export function prepared(obj: KubeObject | null): KubeObject | null {
  const normal = normalize(obj);
  return normal === undefined ? null : redactSecret(normal);
}

/** story returns the named story, failing loudly on a typo. */
export function story(name: string): Story {
  const found = STORIES[name];
  if (found === undefined) throw new Error(`no story ${name}`);
  return found;
}
