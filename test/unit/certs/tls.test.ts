import { once } from 'node:events';
import { createServer, get, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCA, generateServing } from '../../../src/certs/generate.js';

// A real handshake on loopback: the point is that the apiserver, trusting only the caBundle,
// accepts the serving certificate under the names it dials.
const ca = generateCA({}, new Date());
const serving = generateServing(ca, ['driftgate.driftgate-system.svc', '127.0.0.1'], 1, new Date());
let server: Server;
let port: number;

beforeAll(async () => {
  server = createServer({ cert: serving.certPem, key: serving.keyPem }, (_req, res) => res.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

/** fetchText returns the body, or the error code of a refused handshake. */
function fetchText(opts: { ca?: string; servername?: string }): Promise<string> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false, ...opts }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error: ${err.code ?? err.message}`));
  });
}

describe('serving certificate over TLS', () => {
  it('is accepted by a client that trusts only the CA, dialling the IP', async () => {
    expect(await fetchText({ ca: ca.certPem })).toBe('ok');
  });

  it('is accepted under the Service DNS name', async () => {
    expect(await fetchText({ ca: ca.certPem, servername: 'driftgate.driftgate-system.svc' })).toBe('ok');
  });

  it('is refused under a name it does not carry', async () => {
    expect(await fetchText({ ca: ca.certPem, servername: 'other.driftgate-system.svc' })).toBe('error: ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('is refused by a client that does not trust the CA', async () => {
    expect(await fetchText({})).toBe('error: UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(await fetchText({ ca: generateCA({}, new Date()).certPem })).toBe('error: UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });
});
