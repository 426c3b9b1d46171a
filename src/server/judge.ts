/**
 * What the judging worker does with one review (offload.ts): parse the text within the shape
 * limits, then decide. Plain data in, plain data out, so that it crosses a thread boundary; the
 * same functions the main thread runs for a small review, so the two paths cannot disagree.
 */
import { type ReviewLimits } from '../admission/limits.js';
import { parseReviewText, uidOf } from '../admission/schema.js';
import type { AdmissionRequest, KubeObject } from '../admission/types.js';
import { decideOrAskUnder, decideUnder } from '../decision/in-force.js';
import type { Decision, NeedsObject } from '../decision/types.js';
import { type ErrorCode, isDriftgateError } from '../errors.js';
import type { PolicyInForce } from '../policy/set.js';

/** LOGGED_PATHS is how many changed paths the main thread reads (the decision log line). */
export const LOGGED_PATHS = 20;

/** JudgeJob is one review to judge. */
export interface JudgeJob {
  id: number;
  /** The review as received: text, or (a large body read raw) its UTF-8 bytes, decoded here rather than on the event loop. */
  body: string | Uint8Array;
  limits: ReviewLimits;
  /** The policy in force when the review arrived (one, or the set: the worker picks by namespace). */
  policy: PolicyInForce;
  /** Epoch milliseconds: a Date crosses the boundary as one too, but a number says what it is. */
  now: number;
  parent?: KubeObject;
  namespace?: KubeObject;
}

/**
 * AskedOnWire is a NeedsObject as it crosses back: without its `finish`, a function that cannot
 * travel as JSON. The main thread finishes by judging again with the object found (offload.ts).
 */
export type AskedOnWire = Omit<NeedsObject, 'finish'>;

/** JudgeResult is the request's envelope and the decision (or what it asks for), or why the text is not a review. */
export type JudgeResult =
  | { id: number; ok: true; request: AdmissionRequest; decision: Decision | AskedOnWire }
  | { id: number; ok: false; code: ErrorCode; message: string; details: string[]; uid: string };

/**
 * judgeReview returns the answer to `job`. The request comes back without its objects and the
 * decision with its first LOGGED_PATHS changed paths: nothing on the main thread reads more,
 * and copying a hostile review's objects back would put the cost on the thread it was moved off.
 */
export function judgeReview(job: JudgeJob): JudgeResult {
  const text = typeof job.body === 'string' ? job.body : Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength).toString('utf8');
  let request: AdmissionRequest;
  try {
    request = parseReviewText(text, job.limits);
  } catch (err) {
    const code: ErrorCode = isDriftgateError(err) ? err.code : 'DG_INTERNAL';
    const message = err instanceof Error ? err.message : String(err);
    const details = isDriftgateError(err) ? [...err.details] : [];
    // Only a review within the limits is parsed again to echo its uid.
    return { id: job.id, ok: false, code, message, details, uid: code === 'DG_REVIEW_TOO_COMPLEX' ? '' : lenientUid(text) };
  }
  const now = new Date(job.now);
  // The first judgement asks for the object it needs; the second is given it and decides.
  const decision =
    job.parent === undefined && job.namespace === undefined
      ? decideOrAskUnder(request, job.policy, now)
      : decideUnder(request, job.policy, now, job.parent, job.namespace);
  const { object: _object, oldObject: _oldObject, ...envelope } = request;
  if (decision.kind === 'needs-object') {
    const { finish: _finish, ...asked } = decision;
    return { id: job.id, ok: true, request: envelope, decision: { ...asked, refusal: trimmed(asked.refusal) } };
  }
  return { id: job.id, ok: true, request: envelope, decision: trimmed(decision) };
}

function trimmed<D extends Decision>(decision: D): D {
  return decision.changedPaths.length > LOGGED_PATHS ? { ...decision, changedPaths: decision.changedPaths.slice(0, LOGGED_PATHS) } : decision;
}

function lenientUid(text: string): string {
  try {
    return uidOf(JSON.parse(text));
  } catch {
    return '';
  }
}
