/**
 * Issue 11, "Only the apiserver may call the webhook", in the real control plane: the apiserver
 * presents its webhook client certificate (AdmissionConfiguration kubeConfigFile, set up by the
 * harness launcher's --webhook-client-cert) and driftgate requires it (serve --client-ca
 * --client-name). A review POSTed straight to driftgate, as any pod that reaches the port could,
 * is refused before its body is read when it carries no certificate, one from another CA (the
 * cluster's own client CA, right name), or one from the right CA naming someone else; and it
 * writes no BackportTicket. The apiserver's own calls, and a POST with its certificate, are judged.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateClient } from '../../src/certs/generate.js';
import { breakGlassFor, fixture, withUid } from '../helpers/webhook.js';
import { DEVELOPER, WEBHOOK_CALLER, cluster, getJson, kubectl, refusal, run, unique } from './cluster.js';

interface Reply {
  status: number;
  message: string;
  allowed: boolean | undefined;
}

function post(body: string, client?: { cert: string; key: string }): Promise<Reply> {
  const c = cluster();
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: c.driftgatePort,
        path: '/validate?timeout=10s',
        method: 'POST',
        ca: readFileSync(c.caCert, 'utf8'),
        agent: false,
        headers: { 'Content-Type': 'application/json' },
        ...(client === undefined ? {} : client),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const review = JSON.parse(text) as { response?: { allowed?: boolean; status?: { message?: string } } };
          resolve({ status: res.statusCode ?? 0, message: review.response?.status?.message ?? '', allowed: review.response?.allowed });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A responder's change under a valid window: a bypass, so driftgate would write a ticket for it. */
function forgedBypass(uid: string): string {
  return JSON.stringify(withUid(breakGlassFor(fixture('break-glass-valid')), uid));
}

async function ticketsMentioning(uid: string): Promise<number> {
  const list = await getJson<{ items: unknown[] }>(['-n', 'driftgate-system', 'backporttickets']);
  return list.items.filter((t) => JSON.stringify(t).includes(uid)).length;
}

describe('a review POSTed straight to driftgate', () => {
  it('is refused without a client certificate, and writes no ticket', async () => {
    const uid = unique('forged-no-cert');
    const reply = await post(forgedBypass(uid));
    expect({ status: reply.status, allowed: reply.allowed }).toEqual({ status: 401, allowed: false });
    expect(reply.message).toMatch(/^driftgate answers only the kube-apiserver/);
    expect(await ticketsMentioning(uid)).toBe(0);
  });

  it("is refused with a certificate of the cluster's own client CA, even naming the apiserver's caller", async () => {
    const c = cluster();
    const uid = unique('forged-cluster-ca');
    // `controlplane mint` signs with the cluster's client CA: a valid Kubernetes user, not the caller.
    const minted = await run(c.controlplane, ['mint', '--config', c.infoPath, '--name', WEBHOOK_CALLER, '--out-dir', join(c.work, 'forged')]);
    expect(minted.code).toBe(0);
    const base = join(c.work, 'forged', WEBHOOK_CALLER);
    const reply = await post(forgedBypass(uid), { cert: readFileSync(`${base}.crt`, 'utf8'), key: readFileSync(`${base}.key`, 'utf8') });
    expect({ status: reply.status, allowed: reply.allowed }).toEqual({ status: 401, allowed: false });
    expect(await ticketsMentioning(uid)).toBe(0);
  });

  it('is refused with a certificate of the webhook client CA naming someone else', async () => {
    const c = cluster();
    const uid = unique('forged-other-name');
    const ca = { certPem: readFileSync(c.webhookClient.caCert, 'utf8'), keyPem: readFileSync(c.webhookClient.caKey, 'utf8') };
    const other = generateClient(ca, 'system:serviceaccount:prod:mallory', 1, new Date());
    const reply = await post(forgedBypass(uid), { cert: other.certPem, key: other.keyPem });
    expect({ status: reply.status, allowed: reply.allowed }).toEqual({ status: 403, allowed: false });
    expect(reply.message).toContain('CN="system:serviceaccount:prod:mallory"');
    expect(await ticketsMentioning(uid)).toBe(0);
  });

  it("is judged with the apiserver's own certificate (the legitimate neighbour): the bypass is recorded", async () => {
    const c = cluster();
    const uid = unique('with-apiserver-cert');
    const reply = await post(forgedBypass(uid), { cert: readFileSync(c.webhookClient.cert, 'utf8'), key: readFileSync(c.webhookClient.key, 'utf8') });
    expect({ status: reply.status, allowed: reply.allowed }).toEqual({ status: 200, allowed: true });
    expect(await ticketsMentioning(uid)).toBe(1);
  });
});

describe('the apiserver calling driftgate', () => {
  it("presents its certificate: a developer's write is judged and refused with driftgate's message", async () => {
    const name = unique('callers');
    const created = await kubectl(DEVELOPER, ['-n', 'dev', 'create', 'configmap', name, '--from-literal=k=v']);
    expect(created.code).toBe(0);
    const refused = await kubectl(DEVELOPER, ['-n', 'prod', 'create', 'configmap', name, '--from-literal=k=v']);
    expect(refusal(refused)).toMatch(/\[driftgate\/drift\] dev@example\.com is creating an object that is not in Git/);
  });
});
