/**
 * The webhook keeper's apply and restore logic (issue 14), against an in-memory API that does
 * what server-side apply does to the generation: a change of spec moves it, the same spec does
 * not. The real cluster behaviour (watch, field manager, RBAC) is in test/e2e/keeper.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type DisableSwitch } from '../../../src/controller/lease-api.js';
import { outcomeOf, RENDERED_HASH_ANNOTATION, WebhookKeeper } from '../../../src/controller/webhook-keeper.js';
import { DriftgateError } from '../../../src/errors.js';
import type { KubeClient, KubeRequest } from '../../../src/kube/client.js';
import { renderWebhooks } from '../../../src/manifests/render.js';
import { loadPolicy } from '../../../src/policy/load.js';
import type { GuardPolicy } from '../../../src/policy/types.js';
import { createLogger } from '../../../src/server/logger.js';
import { createMetrics } from '../../../src/server/metrics.js';
import { LogSink } from '../../helpers/webhook.js';

describe('outcomeOf', () => {
  const live = (generation: number, hash?: string, uid = 'u1') => ({ uid, generation, resourceVersion: String(generation), hash });
  it('tells a first creation from a deletion undone', () => {
    expect(outcomeOf(undefined, live(1, 'h'), 'h', false)).toBe('created');
    expect(outcomeOf(undefined, live(1, 'h'), 'h', true)).toBe('restored-deleted');
  });
  it('counts a deletion that landed between the read and the apply (a new uid) as a deletion, not an edit', () => {
    expect(outcomeOf(live(4, 'h', 'u1'), live(1, 'h', 'u2'), 'h', true)).toBe('restored-deleted');
  });
  it('tells an edit undone (same rendering, spec changed back) from a policy change applied', () => {
    expect(outcomeOf(live(3, 'h'), live(4, 'h'), 'h', true)).toBe('restored-edited');
    expect(outcomeOf(live(3, 'old'), live(4, 'new'), 'new', true)).toBe('updated');
    expect(outcomeOf(live(3, 'h'), live(3, 'h'), 'h', true)).toBe('unchanged');
  });
});

interface Stored {
  metadata: { name: string; uid: string; generation: number; resourceVersion: string; annotations?: Record<string, string> };
  webhooks: unknown[];
}

/** FakeApi keeps objects by path; apply bumps the generation only when the webhooks change. */
class FakeApi implements KubeClient {
  server = 'https://fake';
  objects = new Map<string, Stored>();
  requests: KubeRequest[] = [];
  #rv = 0;

  async request<T>(req: KubeRequest): Promise<T> {
    this.requests.push(req);
    const path = req.path.split('?')[0] ?? '';
    const have = this.objects.get(path);
    if (req.method === 'GET') {
      if (have === undefined) throw new DriftgateError('DG_KUBE_NOT_FOUND', 'not found');
      return structuredClone(have) as T;
    }
    if (req.method === 'DELETE') {
      if (have === undefined) throw new DriftgateError('DG_KUBE_NOT_FOUND', 'not found');
      this.objects.delete(path);
      return {} as T;
    }
    if (req.method === 'PATCH') {
      expect(req.contentType).toBe('application/apply-patch+yaml');
      expect(req.path).toContain('fieldManager=driftgate&force=true');
      const body = req.body as Stored;
      const changed = have === undefined || JSON.stringify(have.webhooks) !== JSON.stringify(body.webhooks);
      const generation = have === undefined ? 1 : changed ? have.metadata.generation + 1 : have.metadata.generation;
      const uid = have?.metadata.uid ?? `uid-${++this.#rv}`;
      const stored: Stored = { metadata: { ...body.metadata, uid, generation, resourceVersion: String(++this.#rv) }, webhooks: body.webhooks };
      this.objects.set(path, stored);
      return structuredClone(stored) as T;
    }
    throw new Error(`unexpected ${req.method}`);
  }

  /** edit changes a stored configuration as `kubectl edit` would (failurePolicy Ignore on every entry). */
  edit(path: string): void {
    const o = this.objects.get(path);
    if (o === undefined) throw new Error('nothing to edit');
    o.webhooks = o.webhooks.map((w) => ({ ...(w as object), failurePolicy: 'Ignore' }));
    o.metadata.generation++;
    o.metadata.resourceVersion = String(++this.#rv);
  }

  watch(): Promise<void> {
    return Promise.resolve();
  }
}

const VALIDATING = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/driftgate';
const MUTATING = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/driftgate';

function world(policyText = readFileSync('examples/policy.yaml', 'utf8')) {
  const api = new FakeApi();
  const sink = new LogSink();
  const metrics = createMetrics({ processMetrics: false });
  let policy: GuardPolicy = loadPolicy(policyText, 'policy.yaml');
  let sw: DisableSwitch = { disabled: false };
  const keeper = new WebhookKeeper({
    client: api,
    render: () => renderWebhooks(policy, { service: { namespace: 'driftgate-system', name: 'driftgate' } }, 'Q0E=', {}),
    readSwitch: async () => sw,
    metrics,
    logger: createLogger({ destination: sink }),
    resyncMs: 60_000,
  });
  const restores = async (): Promise<Record<string, number>> =>
    Object.fromEntries((await metrics.webhookRestores.get()).values.map((v) => [`${v.labels.kind}/${v.labels.reason}`, v.value]));
  return {
    api,
    sink,
    metrics,
    keeper,
    restores,
    setPolicy: (p: GuardPolicy) => {
      policy = p;
    },
    setSwitch: (s: DisableSwitch) => {
      sw = s;
    },
  };
}

describe('WebhookKeeper.reconcile', () => {
  it('creates both configurations as rendered, with its field manager and the rendering digest, and counts no restore', async () => {
    const w = world();
    expect(await w.keeper.reconcile('validating')).toBe('created');
    expect(await w.keeper.reconcile('mutating')).toBe('created');
    const v = w.api.objects.get(VALIDATING);
    expect(v?.metadata.annotations?.[RENDERED_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{16}$/);
    expect(v?.webhooks.map((h) => (h as { name: string }).name)).toContain('validate.driftgate.dev');
    expect(w.api.objects.has(MUTATING)).toBe(true);
    expect(await w.restores()).toEqual({});
    expect(await w.keeper.reconcile('validating')).toBe('unchanged');
  });

  it('restores a deleted configuration and counts it (reason deleted), logged as an error naming the way to turn it off', async () => {
    const w = world();
    await w.keeper.reconcile('validating');
    w.api.objects.delete(VALIDATING);
    expect(await w.keeper.reconcile('validating')).toBe('restored-deleted');
    expect(w.api.objects.has(VALIDATING)).toBe(true);
    expect(await w.restores()).toEqual({ 'validating/deleted': 1 });
    const line = w.sink.records().find((r) => String(r.msg ?? '').includes('deleted and has been restored'));
    expect(line).toMatchObject({ level: 'error', kind: 'validating', reason: 'deleted' });
    expect(line?.msg).toContain('driftgate webhooks disable');
  });

  it('puts back an edited configuration (failurePolicy Ignore) and counts it (reason edited)', async () => {
    const w = world();
    await w.keeper.reconcile('validating');
    w.api.edit(VALIDATING);
    expect(await w.keeper.reconcile('validating')).toBe('restored-edited');
    expect(w.api.objects.get(VALIDATING)?.webhooks.every((h) => (h as { failurePolicy: string }).failurePolicy === 'Fail')).toBe(true);
    expect(await w.restores()).toEqual({ 'validating/edited': 1 });
  });

  it('applies a policy change (resync) as an update, not a restore', async () => {
    const w = world();
    await w.keeper.reconcile('validating');
    const text = readFileSync('examples/policy.yaml', 'utf8').replace(/mode: enforce/, 'mode: warn');
    w.setPolicy(loadPolicy(text, 'policy.yaml'));
    expect(await w.keeper.reconcile('validating')).toBe('updated');
    expect(await w.restores()).toEqual({});
  });

  it('switched off on purpose: deletes what is there, restores nothing, and says so in the gauge', async () => {
    const w = world();
    await w.keeper.reconcile('validating');
    w.setSwitch({ disabled: true, reason: 'INC-9: uninstalling', at: '2026-12-02T09:00:00Z' });
    expect(await w.keeper.reconcile('validating')).toBe('disabled');
    expect(w.api.objects.has(VALIDATING)).toBe(false);
    expect(await w.keeper.reconcile('validating')).toBe('disabled');
    expect(w.api.objects.has(VALIDATING)).toBe(false);
    expect((await w.metrics.webhooksDisabled.get()).values[0]?.value).toBe(1);
    expect(await w.restores()).toEqual({});
    // Switched back on: applied again, as a creation (not counted as an attack).
    w.setSwitch({ disabled: false });
    expect(await w.keeper.reconcile('validating')).toBe('created');
    expect((await w.metrics.webhooksDisabled.get()).values[0]?.value).toBe(0);
  });

  it('keeps what is live when the policy cannot be rendered, and counts the failure', async () => {
    const w = world();
    await w.keeper.reconcile('validating');
    const before = structuredClone(w.api.objects.get(VALIDATING));
    w.setPolicy({ ...loadPolicy(readFileSync('examples/policy.yaml', 'utf8'), 'p'), namespaces: ['kube-system'] });
    expect(await w.keeper.reconcile('validating')).toBe('failed');
    expect(w.api.objects.get(VALIDATING)).toEqual(before);
    expect((await w.metrics.webhookKeeperFailures.get()).values[0]?.value).toBe(1);
  });
});

describe('WebhookKeeper: a turn-off racing an apply', () => {
  it('takes back an apply that landed after `webhooks disable` set the switch (no restore counted)', async () => {
    const w = world();
    await w.keeper.reconcile('validating');
    // The switch reads "on" before the apply and "off" right after, as when the CLI's PATCH and
    // DELETE land in between.
    let reads = 0;
    const api = w.api;
    const keeper = new WebhookKeeper({
      client: api,
      render: () =>
        renderWebhooks(
          loadPolicy(readFileSync('examples/policy.yaml', 'utf8'), 'p'),
          { service: { namespace: 'driftgate-system', name: 'driftgate' } },
          'Q0E=',
          {},
        ),
      readSwitch: async () => (++reads === 1 ? { disabled: false } : { disabled: true, reason: 'INC-1', at: '' }),
      metrics: w.metrics,
      logger: createLogger({ destination: new LogSink() }),
      resyncMs: 60_000,
    });
    api.objects.delete(VALIDATING);
    expect(await keeper.reconcile('validating')).toBe('disabled');
    expect(api.objects.has(VALIDATING)).toBe(false);
    expect(await w.restores()).toEqual({});
  });
});
