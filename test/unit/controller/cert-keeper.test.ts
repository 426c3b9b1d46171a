/**
 * The self-managed certificates' Secret (issue 14): created once when replicas race (one create
 * wins, the others read it), rotated by the leader only, reloaded by every replica, and never a
 * key in a log line. An in-memory API with the apiserver's create conflict and resourceVersion
 * checks; the clock is injected.
 */
import { describe, expect, it } from 'vitest';
import { CertKeeper } from '../../../src/controller/cert-keeper.js';
import { KEYS } from '../../../src/controller/cert-secret.js';
import { DriftgateError } from '../../../src/errors.js';
import type { KubeClient, KubeRequest } from '../../../src/kube/client.js';
import { createLogger } from '../../../src/server/logger.js';
import { createMetrics } from '../../../src/server/metrics.js';
import type { KeyPair } from '../../../src/server/tls.js';
import { LogSink } from '../../helpers/webhook.js';

interface SecretLike {
  metadata: { resourceVersion?: string; name: string; namespace: string };
  data?: Record<string, string>;
}

class FakeSecrets implements KubeClient {
  server = 'https://fake';
  secret: SecretLike | undefined;
  #rv = 0;
  /** Holds every POST until released, to make replicas race. */
  gate: Promise<void> = Promise.resolve();

  async request<T>(req: KubeRequest): Promise<T> {
    if (req.method === 'GET') {
      if (this.secret === undefined) throw new DriftgateError('DG_KUBE_NOT_FOUND', 'not found');
      return structuredClone(this.secret) as T;
    }
    if (req.method === 'POST') {
      await this.gate;
      if (this.secret !== undefined) throw new DriftgateError('DG_KUBE_CONFLICT', 'already exists');
      this.secret = { ...(structuredClone(req.body) as SecretLike) };
      this.secret.metadata.resourceVersion = String(++this.#rv);
      return structuredClone(this.secret) as T;
    }
    if (req.method === 'PUT') {
      const body = structuredClone(req.body) as SecretLike;
      if (body.metadata.resourceVersion !== this.secret?.metadata.resourceVersion) throw new DriftgateError('DG_KUBE_CONFLICT', 'stale');
      body.metadata.resourceVersion = String(++this.#rv);
      this.secret = body;
      return structuredClone(body) as T;
    }
    throw new Error(`unexpected ${req.method}`);
  }

  watch(): Promise<void> {
    return Promise.resolve();
  }
}

const SETTINGS = { servingValidityMs: 30_000, caValidityMs: 120_000, overlapMs: 5_000 };

function replica(api: FakeSecrets, clock: { now: number }, leader: boolean, sink = new LogSink()) {
  const pairs: KeyPair[] = [];
  const bundles: string[] = [];
  const keeper = new CertKeeper({
    client: api,
    ref: { namespace: 'driftgate-system', name: 'driftgate-certs' },
    hosts: ['driftgate.driftgate-system.svc', 'driftgate.driftgate-system.svc.cluster.local'],
    settings: SETTINGS,
    now: () => new Date(clock.now),
    isLeader: () => leader,
    onPair: (p) => pairs.push(p),
    onBundle: (b) => bundles.push(b),
    metrics: createMetrics({ processMetrics: false }),
    logger: createLogger({ destination: sink }),
    intervalMs: 1_000,
  });
  return { keeper, pairs, bundles, sink };
}

describe('CertKeeper', () => {
  it('lets one of three racing replicas create the Secret, and all three serve its certificate', async () => {
    const api = new FakeSecrets();
    let release: () => void = () => undefined;
    api.gate = new Promise((r) => {
      release = r;
    });
    const clock = { now: Date.parse('2026-12-02T09:00:00Z') };
    const replicas = [replica(api, clock, false), replica(api, clock, false), replica(api, clock, false)];
    const started = replicas.map((r) => r.keeper.bootstrap());
    release();
    const pairs = await Promise.all(started);
    expect(new Set(pairs.map((p) => p.fingerprint)).size).toBe(1);
    expect(Buffer.from(api.secret?.data?.[KEYS.cert] ?? '', 'base64').toString()).toBe(pairs[0]?.cert);
    expect(replicas.every((r) => r.bundles.length === 1 && r.bundles[0] === api.secret?.data?.[KEYS.bundle])).toBe(true);
  });

  it('rotates only on the leader; every replica then reloads the new pair', async () => {
    const api = new FakeSecrets();
    const clock = { now: Date.parse('2026-12-02T09:00:00Z') };
    const leader = replica(api, clock, true);
    const follower = replica(api, clock, false);
    const first = await leader.keeper.bootstrap();
    await follower.keeper.bootstrap();

    clock.now += 25_000; // past 2/3 of the 30 s serving validity
    expect(await follower.keeper.tick()).toBe('none');
    expect(follower.pairs).toHaveLength(0);
    expect(await leader.keeper.tick()).toBe('serving');
    expect(leader.pairs).toHaveLength(1);
    expect(leader.pairs[0]?.fingerprint).not.toBe(first.fingerprint);
    expect(await follower.keeper.tick()).toBe('none');
    expect(follower.pairs[0]?.fingerprint).toBe(leader.pairs[0]?.fingerprint);
  });

  it('puts a new CA into the caBundle before serving a certificate it signed (overlap), and takes the old one out after', async () => {
    const api = new FakeSecrets();
    const clock = { now: Date.parse('2026-12-02T09:00:00Z') };
    const r = replica(api, clock, true);
    await r.keeper.bootstrap();
    const pems = (b: string | undefined): number =>
      (
        Buffer.from(b ?? '', 'base64')
          .toString()
          .match(/BEGIN CERTIFICATE/g) ?? []
      ).length;
    const seen: string[] = [];
    for (let i = 0; i < 120; i++) {
      clock.now += 1_000;
      const step = await r.keeper.tick();
      if (step.startsWith('ca-')) seen.push(`${step}:${pems(api.secret?.data?.[KEYS.bundle])}`);
    }
    expect(seen.slice(0, 3)).toEqual(['ca-introduce:2', 'ca-promote:2', 'ca-retire:1']);
  });

  it('never writes a private key to the log', async () => {
    const api = new FakeSecrets();
    const clock = { now: Date.parse('2026-12-02T09:00:00Z') };
    const sink = new LogSink();
    const r = replica(api, clock, true, sink);
    await r.keeper.bootstrap();
    for (let i = 0; i < 100; i++) {
      clock.now += 1_000;
      await r.keeper.tick();
    }
    expect(sink.lines.length).toBeGreaterThan(3);
    expect(sink.text()).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    const key = Buffer.from(api.secret?.data?.[KEYS.key] ?? '', 'base64').toString();
    const body = key.split('\n')[1] ?? 'x';
    expect(sink.text()).not.toContain(body);
  });

  it('keeps serving the pair in use when the Secret is garbled, and the leader replaces it', async () => {
    const api = new FakeSecrets();
    const clock = { now: Date.parse('2026-12-02T09:00:00Z') };
    const leader = replica(api, clock, true);
    const follower = replica(api, clock, false);
    await leader.keeper.bootstrap();
    await follower.keeper.bootstrap();
    if (api.secret?.data !== undefined) api.secret.data[KEYS.key] = Buffer.from('not a key').toString('base64');
    expect(await follower.keeper.tick()).toBe('failed');
    expect(follower.pairs).toHaveLength(0);
    expect(await leader.keeper.tick()).toBe('serving');
    expect(await follower.keeper.tick()).toBe('none');
    expect(follower.pairs).toHaveLength(1);
  });
});

describe('CertKeeper: a Secret of that name that is not ours', () => {
  it('replaces a cert-manager Secret (no ca.key) at start, and two replicas racing to replace it end up on one CA', async () => {
    const api = new FakeSecrets();
    const clock = { now: Date.parse('2026-12-02T09:00:00Z') };
    api.secret = {
      metadata: { name: 'driftgate-certs', namespace: 'driftgate-system', resourceVersion: '7' },
      data: { 'tls.crt': Buffer.from('from cert-manager').toString('base64'), 'tls.key': Buffer.from('x').toString('base64') },
    };
    const [a, b] = [replica(api, clock, false), replica(api, clock, false)];
    const pairs = await Promise.all([a.keeper.bootstrap(), b.keeper.bootstrap()]);
    expect(pairs[0]?.fingerprint).toBe(pairs[1]?.fingerprint);
    expect(api.secret?.data?.[KEYS.caKey]).toBeDefined();
  });
});
