/**
 * The bare limit driftgate is measured against: node:https with the same certificate and
 * keep-alive settings, which reads the whole body, JSON.parses it and answers a fixed allow
 * (echoing the uid, as any AdmissionResponse must). No express, no schema, no decision, no log.
 *
 * Usage: node bare-server.js CERT KEY. Prints `{"msg":"bare serving","port":N}` once listening.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

const [certFile, keyFile] = process.argv.slice(2);
if (certFile === undefined || keyFile === undefined) {
  process.stderr.write('usage: bare-server CERT KEY\n');
  process.exit(2);
}

const server = https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let uid = '';
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: { uid?: unknown } };
      if (typeof body.request?.uid === 'string') uid = body.request.uid;
    } catch {
      res.writeHead(400).end();
      return;
    }
    const out = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) }).end(out);
  });
});
// driftgate's own settings (src/server/https.ts), so connection handling is not what differs.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 20_000;
server.requestTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ msg: 'bare serving', port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
