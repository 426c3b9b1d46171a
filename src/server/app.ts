/**
 * The express app: a thin adapter. It reads the body, checks the content type and the envelope,
 * hands the request to the admission path, writes the review, and counts and logs each request
 * once. It holds no policy logic. Every reply, even to garbage, is an AdmissionReview, so the
 * apiserver (and a person reading its log) sees a message rather than an opaque failure.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { DEFAULT_REVIEW_LIMITS, type ReviewLimits, type ReviewShape, measureReview } from '../admission/limits.js';
import { parseReviewText, uidOf } from '../admission/schema.js';
import { type Answer, allowed, errored, review } from '../admission/respond.js';
import type { WriteObserver } from '../controller/observe-writes.js';
import type { AdmissionRequest } from '../admission/types.js';
import { DriftgateError, messageOf, httpStatusOf, isDriftgateError } from '../errors.js';
import type { Admitted, Admitter, Outcome, Prejudged } from '../admission/admit.js';
import { type CallerAuth, requireCaller } from './callers.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { LOGGED_PATHS } from './judge.js';
import type { Offload } from './offload.js';
import type { PolicyAdmission } from '../controller/policy-admission.js';
import { requestName } from '../decision/target-name.js';
import { parseDuration } from '../policy/duration.js';

/**
 * The largest body accepted. The apiserver sends object and oldObject, and an object may be up to
 * etcd's ~1.5 MiB limit (3 MiB for some stores): 12 MiB holds the worst real case with JSON
 * overhead, and still refuses a 20 MiB body before parsing it.
 */
export const DEFAULT_BODY_LIMIT = 12 * 1024 * 1024;
/** When the apiserver gives no ?timeout, it waits 10 s by default. */
const DEFAULT_TIMEOUT_MS = 10_000;

/** AppDeps are everything the app needs; nothing is read from the environment here. */
export interface AppDeps {
  admitter: Admitter;
  logger: Logger;
  metrics: Metrics;
  /** Describes the ticket store for metrics (bounded: 'journal' or 'kubernetes'). */
  storeKind: string;
  ready: () => boolean;
  bodyLimit?: number;
  /** Upper bound on recording a ticket, whatever the apiserver's timeout. */
  maxRecordMs?: number;
  /** Shape limits checked before a review is parsed (DEFAULT_REVIEW_LIMITS when absent). */
  limits?: ReviewLimits;
  /** Judges large reviews off the event loop; without it every review is judged in place. */
  offload?: Offload;
  /** Who may call /validate, /mutate and /observe (a client certificate); without it, anyone who reaches the port. */
  callers?: CallerAuth;
  /**
   * Checks GuardPolicy writes (POST /validate-policy). Without it the route is not served: the
   * apiserver then gets a 404 and its failurePolicy (Fail, for that entry) refuses the write.
   */
  policyAdmission?: PolicyAdmission;
  /**
   * Takes the GitOps writes `/observe` receives, to settle their tickets after answering. Without
   * it (serve without --settle) /observe still answers "allowed" and observes nothing: the route
   * never refuses, whatever is configured.
   */
  observer?: WriteObserver;
}

type Webhook = 'validate' | 'mutate' | 'validate-policy';

function webhookOf(path: string): Webhook {
  return path === '/mutate' ? 'mutate' : path === '/validate-policy' ? 'validate-policy' : 'validate';
}

/** createApp returns the express application serving the webhook routes and health checks. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    if (deps.ready()) res.type('text/plain').send('ok\n');
    else res.status(503).type('text/plain').send('not ready\n');
  });

  // Read text and decode it ourselves: parseReviewText names where JSON breaks without quoting
  // the body back (a Secret's values may be in it), and says so when the body is empty.
  const text = express.text({ limit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT, type: () => true });
  // A large body is read as bytes: measured as such, and when the worker is to judge it, decoded
  // there (decoding megabytes is work the event loop would pay for every other review).
  const raw = express.raw({ limit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT, type: () => true });
  const readBody = (req: Request, res: Response, next: NextFunction): void => {
    const declared = Number(req.headers['content-length'] ?? 0);
    (deps.offload?.takes(declared) === true ? raw : text)(req, res, next);
  };
  const callers = deps.callers === undefined ? [] : [requireCaller(deps.callers, (req, res, err) => badRequest(webhookOf(req.path), res, err))];
  for (const webhook of ['validate', 'mutate'] as const) {
    app.post(`/${webhook}`, arrival, ...callers, requireJson, readBody, (req, res) => {
      void handle(webhook, req, res);
    });
  }
  const policyAdmission = deps.policyAdmission;
  if (policyAdmission !== undefined) {
    app.post('/validate-policy', arrival, ...callers, requireJson, text, (req, res) => {
      handlePolicy(policyAdmission, req, res);
    });
  }
  // /observe answers "allowed" to everything, at once, before anything is compared: it only
  // watches GitOps writes to settle tickets, and must never refuse or hold one. A caller it does
  // not accept, or a body it cannot read, is still allowed (the write is not ours to refuse here),
  // just not observed.
  const observeCallers = deps.callers === undefined ? [] : [requireCaller(deps.callers, (req, res) => observed(req, res, undefined))];
  app.post('/observe', ...observeCallers, text, (req, res) => {
    let request: AdmissionRequest | undefined;
    try {
      request = parseReviewText(typeof req.body === 'string' ? req.body : '', deps.limits ?? DEFAULT_REVIEW_LIMITS);
    } catch {
      request = undefined;
    }
    observed(req, res, request);
  });
  function observed(req: Request, res: Response, request: AdmissionRequest | undefined): void {
    const uid = request?.uid ?? (typeof req.body === 'string' ? uidOf(lenientJson(req.body)) : '');
    res.status(200).json(review(uid, allowed()));
    deps.metrics.requests.inc({ webhook: 'observe', operation: request?.operation ?? 'unknown', decision: 'allow' });
    if (request !== undefined) deps.observer?.observe(request);
  }

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (req.path === '/observe') {
      // Too large or unreadable: still allowed, never refused (see above).
      observed(req, res, undefined);
      return;
    }
    badRequest(webhookOf(req.path), res, bodyError(err));
  });
  app.use((req, res) => {
    res
      .status(404)
      .type('text/plain')
      .send(
        `no route ${req.method} ${req.path}; driftgate serves POST /validate, POST /mutate, POST /validate-policy, POST /observe, GET /healthz, GET /readyz\n`,
      );
  });

  async function handle(webhook: Webhook, req: Request, res: Response): Promise<void> {
    const started = arrivals.get(req) ?? performance.now();
    // One deadline per request, counted from its arrival (body reading, judging on the worker and
    // the parent lookup included), so the ticket store's share is what is really left of the
    // apiserver's timeout.
    const budgetMs = recordDeadline(req.query['timeout'], deps.maxRecordMs);
    const deadline = AbortSignal.timeout(Math.max(1, Math.ceil(budgetMs - (performance.now() - started))));
    const body: unknown = req.body;
    const limits = deps.limits ?? DEFAULT_REVIEW_LIMITS;
    let bytes = Buffer.isBuffer(body) ? body : undefined;
    let text = typeof body === 'string' ? body : '';
    if (bytes !== undefined) {
      // Measured here, where it is one cheap pass (it stops at the limits), to judge on the event
      // loop what is cheap to judge (a 1 MiB ConfigMap of a few files) and send the rest to the worker.
      let shape: ReviewShape;
      try {
        shape = measureReview(bytes, limits);
      } catch (err) {
        badRequest(webhook, res, err);
        return;
      }
      if (deps.offload === undefined || deps.offload.inPlace(shape, bytes.length)) {
        text = bytes.toString('utf8');
        bytes = undefined;
      }
    }
    let request: AdmissionRequest;
    let prejudged: Prejudged | undefined;
    if (deps.offload !== undefined && (bytes !== undefined || deps.offload.takes(text.length))) {
      const { policy, now } = deps.admitter.judgement();
      try {
        const judged = await deps.offload.judge(bytes ?? text, policy, now, deadline);
        if (!judged.ok) {
          badRequest(webhook, res, judged.error, judged.uid);
          return;
        }
        request = judged.request;
        prejudged = judged.prejudged;
      } catch (err) {
        // Out of time or out of memory on the worker: refused, and the server goes on.
        badRequest(webhook, res, err);
        return;
      }
    } else {
      try {
        request = parseReviewText(text, limits);
      } catch (err) {
        // A review beyond the limits is not parsed again just to echo its uid.
        const tooComplex = isDriftgateError(err) && err.code === 'DG_REVIEW_TOO_COMPLEX';
        badRequest(webhook, res, err, tooComplex ? '' : uidOf(lenientJson(body)));
        return;
      }
    }
    let outcome: Outcome = 'error';
    let admitted: Admitted | undefined;
    try {
      const judged = prejudged === undefined ? {} : { prejudged };
      admitted = webhook === 'mutate' ? await deps.admitter.mutate(request, judged) : await deps.admitter.validate(request, { deadline, ...judged });
      outcome = admitted.outcome;
      res.status(200).json(review(request.uid, admitted.answer));
    } catch (err) {
      // Out of time deciding again with the parent, on the worker: refused, as at the first try.
      // Anything else is a bug, not a decision: refuse (the apiserver applies failurePolicy on top) and say so.
      const timedOut = isDriftgateError(err) && err.code === 'DG_REVIEW_TIMEOUT';
      const answer: Answer = errored(
        httpStatusOf(err),
        timedOut
          ? messageOf(err)
          : `driftgate could not judge this request (internal error: ${messageOf(err)}); it is refused. Retry; if it persists, see driftgate's log for uid ${request.uid}`,
      );
      res.status(answer.status?.code ?? 500).json(review(request.uid, answer));
      deps.logger.error({ err, uid: request.uid }, 'internal error while deciding');
    } finally {
      const seconds = (performance.now() - started) / 1000;
      deps.metrics.requests.inc({ webhook, operation: request.operation, decision: outcome });
      deps.metrics.duration.observe({ webhook }, seconds);
      if (admitted !== undefined) account(webhook, request, admitted, seconds);
    }
  }

  /** handlePolicy answers a GuardPolicy write (small objects: judged in place, no worker, no deadline to share). */
  function handlePolicy(check: PolicyAdmission, req: Request, res: Response): void {
    const started = arrivals.get(req) ?? performance.now();
    const body: unknown = req.body;
    let request: AdmissionRequest;
    try {
      request = parseReviewText(typeof body === 'string' ? body : '', deps.limits ?? DEFAULT_REVIEW_LIMITS);
    } catch (err) {
      const tooComplex = isDriftgateError(err) && err.code === 'DG_REVIEW_TOO_COMPLEX';
      badRequest('validate-policy', res, err, tooComplex ? '' : uidOf(lenientJson(body)));
      return;
    }
    let outcome: Outcome = 'error';
    try {
      const answer = check(request);
      outcome = answer.allowed ? 'allow' : 'deny';
      res.status(200).json(review(request.uid, answer));
      const line = {
        webhook: 'validate-policy',
        uid: request.uid,
        user: request.userInfo.username,
        operation: request.operation,
        name: requestName(request),
        decision: outcome,
      };
      if (answer.allowed) deps.logger.info(line, 'GuardPolicy write checked');
      else deps.logger.info({ ...line, problem: answer.status?.message ?? '' }, 'GuardPolicy write refused');
    } catch (err) {
      const answer = errored(500, `driftgate could not check this GuardPolicy (internal error: ${messageOf(err)}); it is refused`);
      res.status(500).json(review(request.uid, answer));
      deps.logger.error({ err, uid: request.uid }, 'internal error while checking a GuardPolicy');
    } finally {
      deps.metrics.requests.inc({ webhook: 'validate-policy', operation: request.operation, decision: outcome });
      deps.metrics.duration.observe({ webhook: 'validate-policy' }, (performance.now() - started) / 1000);
    }
  }

  function account(webhook: Webhook, request: AdmissionRequest, admitted: Admitted, seconds: number): void {
    const m = deps.metrics;
    if (webhook === 'validate') {
      if (admitted.outcome === 'deny') m.denials.inc({ reason: admitted.reasonCode });
      if (admitted.outcome === 'bypass' && request.dryRun !== true) m.bypasses.inc({ operation: request.operation });
      if (admitted.recordMs !== undefined) m.storeDuration.observe({ store: deps.storeKind }, admitted.recordMs / 1000);
      if (admitted.storeError !== undefined) m.storeFailures.inc({ store: deps.storeKind });
    }
    const line = {
      webhook,
      uid: request.uid,
      user: request.userInfo.username,
      groups: request.userInfo.groups ?? [],
      operation: request.operation,
      resource: `${request.resource.group === '' ? '' : `${request.resource.group}/`}${request.resource.resource}${request.subResource ? `/${request.subResource}` : ''}`,
      namespace: request.namespace ?? '',
      name: requestName(request),
      dryRun: request.dryRun === true,
      decision: admitted.outcome,
      reason: admitted.reasonCode,
      changedPaths: admitted.decision.changedPaths.slice(0, LOGGED_PATHS),
      durationMs: Math.round(seconds * 1e6) / 1e3,
      ...(admitted.ticketId === undefined ? {} : { ticket: admitted.ticketId }),
      ...(admitted.storeError === undefined ? {} : { storeError: messageOf(admitted.storeError) }),
    };
    if (admitted.storeError !== undefined) deps.logger.error(line, 'bypass refused: ticket not recorded');
    else deps.logger.info(line, 'decision');
  }

  function badRequest(webhook: Webhook, res: Response, err: unknown, uid = ''): void {
    const code = isDriftgateError(err) ? err.code : undefined;
    const status = httpStatusOf(err);
    deps.metrics.badRequests.inc({ reason: code ?? 'DG_INTERNAL' });
    deps.metrics.requests.inc({ webhook, operation: 'unknown', decision: 'error' });
    deps.logger.warn({ webhook, uid, status, problem: messageOf(err) }, 'bad request');
    res.status(status).json(review(uid, errored(status, messageOf(err))));
  }

  function requireJson(req: Request, res: Response, next: NextFunction): void {
    const type = req.headers['content-type'] ?? '';
    if (/^application\/json\s*(;|$)/i.test(type)) {
      next();
      return;
    }
    const webhook = webhookOf(req.path);
    // Drain the body so the keep-alive connection stays usable for the next review.
    req.resume();
    badRequest(
      webhook,
      res,
      new DriftgateError(
        'DG_CONTENT_TYPE',
        `Content-Type "${type || '(none)'}" is not supported; send an AdmissionReview as application/json, as the kube-apiserver does`,
      ),
    );
  }

  return app;
}

/** When each review arrived: the start of its one deadline and of its measured duration. */
const arrivals = new WeakMap<Request, number>();

function arrival(req: Request, _res: Response, next: NextFunction): void {
  arrivals.set(req, performance.now());
  next();
}

/** lenientJson returns the parsed body, or undefined: only used to echo a uid in an error reply. */
function lenientJson(body: unknown): unknown {
  if (typeof body !== 'string') return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** Turns body-parser's failures into errors a person can act on. */
function bodyError(err: unknown): DriftgateError {
  const e = err as { type?: string; limit?: number; message?: string };
  if (e.type === 'entity.too.large') {
    return new DriftgateError(
      'DG_REVIEW_TOO_LARGE',
      `body is larger than the ${Math.round((e.limit ?? 0) / 1048576)} MiB limit; no Kubernetes object is that large, so this is not a review from the kube-apiserver`,
    );
  }
  if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
    return new DriftgateError('DG_CONTENT_TYPE', `${e.message ?? 'unsupported encoding'}; send UTF-8 JSON`);
  }
  return new DriftgateError('DG_REVIEW_INVALID', `could not read the body: ${e.message ?? String(err)}`);
}

/**
 * recordDeadline returns how long the ticket store may take: the apiserver's `?timeout=` less a
 * margin for the answer to travel back (a fifth, at least 250 ms), capped by `maxRecordMs`.
 */
export function recordDeadline(timeout: unknown, maxRecordMs = 8_000): number {
  let ms = DEFAULT_TIMEOUT_MS;
  // The apiserver writes its timeout as a Go duration ("10s").
  const given = typeof timeout === 'string' ? parseDuration(timeout.trim()) : undefined;
  if (given !== undefined) ms = given;
  const margin = Math.max(250, ms / 5);
  return Math.max(1, Math.min(maxRecordMs, ms - margin));
}
