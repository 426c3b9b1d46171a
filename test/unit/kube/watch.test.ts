/**
 * KubeClient.watch, which the webhook keeper uses to see its configurations deleted or edited
 * (issue 14): events split across chunks arrive whole and in order, the stream ending resolves,
 * an API refusal rejects translated (never the raw body), and aborting stops it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeClient, type WatchEvent } from '../../../src/kube/client.js';

let server: http.Server;
let port = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url?.startsWith('/forbidden')) {
      res
        .writeHead(403, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ kind: 'Status', message: 'cannot watch validatingwebhookconfigurations' }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const lines = `${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'driftgate', resourceVersion: '1' } } })}\n${JSON.stringify({ type: 'DELETED', object: { metadata: { name: 'driftgate', resourceVersion: '2' } } })}\n`;
    if (req.url?.startsWith('/hang')) {
      res.write(lines);
      return; // never ends: the client aborts
    }
    // Split mid-line, as TCP may.
    res.write(lines.slice(0, 17));
    setTimeout(() => res.end(lines.slice(17)), 20);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function client() {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'not-a-secret' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return createKubeClient(kc);
}

describe('KubeClient.watch', () => {
  it('delivers every event whole and in order, and resolves when the server ends the stream', async () => {
    const events: Array<WatchEvent<{ metadata: { resourceVersion: string } }>> = [];
    await client().watch('/apis/x?watch=true', (e) => events.push(e as (typeof events)[number]), new AbortController().signal);
    expect(events.map((e) => `${e.type}:${e.object.metadata.resourceVersion}`)).toEqual(['ADDED:1', 'DELETED:2']);
  });

  it('rejects an API refusal as a DriftgateError with the Status message only', async () => {
    await expect(client().watch('/forbidden?watch=true', () => undefined, new AbortController().signal)).rejects.toMatchObject({
      code: 'DG_KUBE_FORBIDDEN',
      apiMessage: 'cannot watch validatingwebhookconfigurations',
    });
  });

  it('stops, resolving, when aborted', async () => {
    const abort = new AbortController();
    const seen: string[] = [];
    const done = client().watch(
      '/hang?watch=true',
      (e) => {
        seen.push(e.type);
        if (seen.length === 2) abort.abort();
      },
      abort.signal,
    );
    await expect(done).resolves.toBeUndefined();
    expect(seen).toEqual(['ADDED', 'DELETED']);
  });
});
