/**
 * Issue 11, "Only the apiserver may call the webhook", over real TLS: with a client CA and an
 * accepted caller name (serve --client-ca/--client-name), a review reaches the decision only from
 * a connection presenting that caller's certificate. Without one, with one from another CA, or
 * with another name from the same CA, it is refused before its body is read, and nothing is
 * recorded, not even for a review that would be a bypass. Probes stay open.
 */
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { generateCA, generateClient, generateServing, type PemPair } from '../../src/certs/generate.js';
import { listenHttps, type Listener } from '../../src/server/https.js';
import type { KeyPair } from '../../src/server/tls.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { fixture, withUid } from '../helpers/webhook.js';

const CALLER = 'kube-apiserver-admission';

let h: Harness;
let tls: Listener;
let serverCa: PemPair;
const clients: Record<'apiserver' | 'otherName' | 'otherCa', PemPair> = {} as never;

// What /observe handed on to settlement (serve --settle).
const observed: string[] = [];

beforeAll(async () => {
  const now = new Date();
  serverCa = generateCA({ commonName: 'driftgate-serving-ca' }, now);
  const serving = generateServing(serverCa, ['127.0.0.1', 'localhost'], 2, now);
  const clientCa = generateCA({ commonName: 'driftgate-callers-ca' }, now);
  const otherCa = generateCA({ commonName: 'someone-else-ca' }, now);
  clients.apiserver = generateClient(clientCa, CALLER, 2, now);
  clients.otherName = generateClient(clientCa, 'system:serviceaccount:prod:mallory', 2, now);
  clients.otherCa = generateClient(otherCa, CALLER, 2, now);
  h = await startHarness({ callers: { names: [CALLER] }, observer: { observe: (r) => void observed.push(r.uid), idle: () => Promise.resolve() } });
  const pair: KeyPair = { cert: serving.certPem, key: serving.keyPem, notAfter: new Date(now.getTime() + 86_400_000), fingerprint: 'test' };
  tls = await listenHttps(h.app, pair, 0, '127.0.0.1', clientCa.certPem);
}, 60_000);

afterAll(async () => {
  await tls.close();
  await h.close();
});

interface Reply {
  status: number;
  body: { response?: { uid: string; allowed: boolean; status?: { code: number; message: string } } };
}

function call(path: string, body: string | undefined, client?: PemPair): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: tls.port,
        path,
        method: body === undefined ? 'GET' : 'POST',
        ca: serverCa.certPem,
        agent: false,
        headers: { 'Content-Type': 'application/json' },
        ...(client === undefined ? {} : { cert: client.certPem, key: client.keyPem }),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: (text.startsWith('{') ? JSON.parse(text) : {}) as Reply['body'] }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function journal(): Promise<string> {
  return readFile(h.journalPath, 'utf8').catch(() => '');
}

// A responder under a valid window (at the harness's fixed clock): a bypass, so a ticket would be
// written if the review reached the decision.
const bypass = (uid: string): string => JSON.stringify(withUid(fixture('break-glass-valid'), uid));

describe('a review from a caller other than the apiserver', () => {
  it.each([
    {
      name: 'no client certificate',
      client: undefined,
      status: 401,
      message: /^driftgate answers only the kube-apiserver.*this connection did not \(.*\).*kubeConfigFile/,
    },
    {
      name: 'a certificate from another CA, with the right name',
      client: 'otherCa' as const,
      status: 401,
      message: /^driftgate answers only the kube-apiserver.*this connection did not \(.*(certificate|issuer).*\)/i,
    },
    {
      name: 'a certificate from the right CA naming someone else',
      client: 'otherName' as const,
      status: 403,
      message:
        /^the client certificate CN="system:serviceaccount:prod:mallory" is signed by --client-ca but names none of the callers driftgate accepts \(--client-name kube-apiserver-admission\)\.$/,
    },
  ])('is refused with $status when it presents $name, and nothing is recorded', async ({ client, status, message }) => {
    for (const path of ['/validate', '/mutate']) {
      const reply = await call(path, bypass(`forged-${status}`), client === undefined ? undefined : clients[client]);
      expect({ status: reply.status, allowed: reply.body.response?.allowed, code: reply.body.response?.status?.code }).toEqual({
        status,
        allowed: false,
        code: status,
      });
      expect(reply.body.response?.status?.message).toMatch(message);
    }
    expect(h.store.calls).toEqual([]);
    expect(await journal()).toBe('');
  });

  it('is refused over plain HTTP too: no TLS, no certificate', async () => {
    const res = await request(h.server).post('/validate').set('Content-Type', 'application/json').send(bypass('plain-http'));
    expect(res.status).toBe(401);
    expect((res.body as Reply['body']).response?.status?.message).toMatch(/this connection did not \(not a TLS connection\)/);
    expect(h.store.calls).toEqual([]);
  });
});

describe('the apiserver, presenting its certificate', () => {
  it('is answered, and its bypass is recorded', async () => {
    const reply = await call('/validate', bypass('from-apiserver'), clients.apiserver);
    expect({ status: reply.status, uid: reply.body.response?.uid, allowed: reply.body.response?.allowed }).toEqual({
      status: 200,
      uid: 'from-apiserver',
      allowed: true,
    });
    expect(h.store.calls.map((d) => d.change.requestUid)).toEqual(['from-apiserver']);
    expect(await journal()).toContain('from-apiserver');
  });

  it('probes answer without a certificate (the kubelet has none)', async () => {
    expect((await call('/healthz', undefined)).status).toBe(200);
    expect((await call('/readyz', undefined)).status).toBe(200);
  });
});

describe('/observe (settlement) under caller authentication', () => {
  const gitopsWrite = (uid: string): string =>
    JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        ...(JSON.parse(bypass(uid)) as { request: Record<string, unknown> }).request,
        userInfo: { username: 'system:serviceaccount:argocd:argocd-application-controller' },
      },
    });

  it('answers anyone "allowed" (it must never refuse a GitOps write) but hands on only what the apiserver sent', async () => {
    for (const client of [undefined, clients.otherName, clients.otherCa]) {
      const reply = await call('/observe', gitopsWrite('forged'), client);
      expect(reply.status).toBe(200);
      expect(reply.body.response?.allowed).toBe(true);
    }
    expect(observed).toEqual([]);
    const real = await call('/observe', gitopsWrite('from-apiserver'), clients.apiserver);
    expect(real.body.response).toEqual({ uid: 'from-apiserver', allowed: true });
    expect(observed).toEqual(['from-apiserver']);
  });
});
