/**
 * The HTTPS listener the kube-apiserver calls, and the plain-HTTP one Prometheus scrapes.
 * Connection settings follow what the apiserver's client does: it keeps connections alive and
 * reuses them for up to 90 s idle, so closing them sooner makes it pay a TLS handshake per review.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { RequestListener } from 'node:http';
import { DriftgateError } from '../errors.js';
import { type KeyPair, secureOptions } from './tls.js';

/** Server timeouts, in milliseconds. */
export const TIMEOUTS = {
  // Above the apiserver client's 90 s idle timeout, so driftgate never closes a connection the
  // apiserver is about to reuse (which would fail that review with a reset).
  keepAlive: 120_000,
  // The apiserver's webhook timeout is at most 30 s; a request still arriving after a minute is
  // not from it.
  headers: 20_000,
  request: 60_000,
};

/** Listener is a started server. */
export interface Listener {
  port: number;
  /** Swaps the serving certificate for new connections. */
  setKeyPair(pair: KeyPair): void;
  /** Stops accepting, lets in-flight requests finish, closes idle keep-alive connections. */
  close(): Promise<void>;
}

/**
 * listenHttps returns a started HTTPS server for `handler`. With `clientCa` (PEM), every client is
 * asked for a certificate and it is verified against that CA; a connection without one is still
 * accepted (the kubelet probes /healthz without), and the app refuses it on the webhook routes
 * (callers.ts).
 */
export async function listenHttps(handler: RequestListener, pair: KeyPair, port: number, host: string, clientCa?: string): Promise<Listener> {
  const clientAuth = clientCa === undefined ? {} : { requestCert: true, rejectUnauthorized: false };
  const server = https.createServer({ ...secureOptions(pair, clientCa), ...clientAuth }, handler);
  applyTimeouts(server);
  await listen(server, port, host);
  return {
    port: (server.address() as AddressInfo).port,
    setKeyPair: (next) => server.setSecureContext(secureOptions(next, clientCa)),
    close: () => closeGracefully(server),
  };
}

/** listenHttp returns a started plain HTTP server (metrics only: nothing secret is served there). */
export async function listenHttp(handler: RequestListener, port: number, host: string): Promise<Listener> {
  const server = http.createServer(handler);
  applyTimeouts(server);
  await listen(server, port, host);
  return {
    port: (server.address() as AddressInfo).port,
    setKeyPair: () => undefined,
    close: () => closeGracefully(server),
  };
}

function applyTimeouts(server: http.Server): void {
  server.keepAliveTimeout = TIMEOUTS.keepAlive;
  server.headersTimeout = TIMEOUTS.headers;
  server.requestTimeout = TIMEOUTS.request;
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'is already in use' : err.code === 'EACCES' ? 'needs privileges' : `cannot be listened on (${err.message})`;
      reject(new DriftgateError('DG_LISTEN', `${host}:${port} ${why}; choose another with --port / --metrics-port`, { cause: err }));
    });
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
}

function closeGracefully(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    // close() stops accepting and resolves once every in-flight request has been answered;
    // idle keep-alive connections would otherwise hold it open for keepAliveTimeout.
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
