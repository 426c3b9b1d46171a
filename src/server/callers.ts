/**
 * Caller authentication (issue 11, "Only the apiserver may call the webhook"). Without it, any
 * client that reaches the port can POST a review claiming any user, and a bypass ticket is
 * written: the audit trail could be forged, and the stalling inputs sent from any pod. With
 * `serve --client-ca` the HTTPS server asks every client for a certificate; the webhook routes
 * then answer only a connection whose certificate was signed by that CA and names one of the
 * accepted callers (`--client-name`), which is what the kube-apiserver presents through the
 * `kubeConfigFile` of its AdmissionConfiguration (docs/install.md). The health checks stay open:
 * the kubelet probes them without a certificate.
 *
 * The check runs before the body is read, so a refused caller costs nothing and records nothing.
 */
import type { NextFunction, Request, Response } from 'express';
import { TLSSocket } from 'node:tls';
import { DriftgateError } from '../errors.js';

/** CallerAuth says who may call the webhook routes. */
export interface CallerAuth {
  /** Accepted identities: a client certificate's subject CN or one of its DNS SANs. */
  names: readonly string[];
}

/** CallerCheck is the verdict on one connection: its identity, or why it is refused. */
export type CallerCheck = { ok: true; name: string } | { ok: false; error: DriftgateError };

/** checkCaller returns whether the connection under `req` may call the webhook. */
export function checkCaller(req: Request, auth: CallerAuth): CallerCheck {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) {
    const why = socket instanceof TLSSocket ? (socket.authorizationError?.message ?? 'no certificate') : 'not a TLS connection';
    return {
      ok: false,
      error: new DriftgateError(
        'DG_CALLER_UNAUTHENTICATED',
        `driftgate answers only the kube-apiserver, which presents a client certificate signed by driftgate's --client-ca; this connection did not (${why}). ` +
          'Give the apiserver one through its AdmissionConfiguration\'s kubeConfigFile (docs/install.md, "Only the apiserver may call").',
      ),
    };
  }
  const cert = socket.getPeerCertificate();
  const cn = typeof cert.subject?.CN === 'string' ? cert.subject.CN : '';
  const dnsNames = (cert.subjectaltname ?? '')
    .split(', ')
    .filter((san) => san.startsWith('DNS:'))
    .map((san) => san.slice(4));
  const name = [cn, ...dnsNames].find((n) => n !== '' && auth.names.includes(n));
  if (name === undefined) {
    return {
      ok: false,
      error: new DriftgateError(
        'DG_CALLER_FORBIDDEN',
        `the client certificate CN=${JSON.stringify(cn)}${dnsNames.length > 0 ? ` (DNS ${dnsNames.map((n) => JSON.stringify(n)).join(', ')})` : ''} is signed by --client-ca but names none of the callers driftgate accepts (--client-name ${auth.names.join(',')}).`,
      ),
    };
  }
  return { ok: true, name };
}

/**
 * requireCaller returns express middleware that passes an accepted caller on and answers anyone
 * else with `refuse` (an AdmissionReview naming the problem), closing the connection unread.
 */
export function requireCaller(
  auth: CallerAuth,
  refuse: (req: Request, res: Response, error: DriftgateError) => void,
): (req: Request, res: Response, next: NextFunction) => void {
  return (req, res, next) => {
    const check = checkCaller(req, auth);
    if (check.ok) {
      next();
      return;
    }
    // The body is not read: close the connection rather than drain what an unknown client sends.
    res.set('Connection', 'close');
    refuse(req, res, check.error);
  };
}
