/**
 * The one catalogue of driftgate's errors. Each carries a stable `code` that callers branch on
 * (the HTTP layer maps codes to admission statuses in one place) and a message a person can act
 * on: which field, what was wrong, what to do. The underlying error, when there is one, stays in
 * `cause` and never becomes the message.
 */
/**
 * STATUS is the catalogue: every code driftgate raises, and the HTTP status of an admission reply
 * refused with it. A Record, so that a new code cannot be added without its status, and so that a
 * code nothing raises shows up in the test that checks each one is raised (test/unit/errors).
 */
const STATUS = {
  // The AdmissionReview itself is wrong: the apiserver (or whoever sent it) must change it.
  DG_REVIEW_INVALID: 400,
  DG_CONTENT_TYPE: 400,
  DG_REVIEW_TOO_LARGE: 413,
  DG_REVIEW_TOO_COMPLEX: 413,
  // The caller is not the apiserver: no client certificate, or not the name --client-name accepts.
  DG_CALLER_UNAUTHENTICATED: 401,
  DG_CALLER_FORBIDDEN: 403,
  // Judging ran out of time or room (the worker, its queue): refused, the apiserver's failurePolicy applies.
  DG_REVIEW_TIMEOUT: 503,
  DG_REVIEW_BUSY: 503,
  // The ticket store and the API behind it: the bypass is refused until they are back (fail closed).
  DG_TICKET_STORE: 503,
  DG_TICKET_TIMEOUT: 503,
  DG_TICKET_CONFLICT: 503,
  DG_JOURNAL_IO: 503,
  DG_NOT_A_JOURNAL: 503,
  DG_KUBE_UNREACHABLE: 503,
  DG_KUBE_FORBIDDEN: 503,
  DG_KUBE_CONFLICT: 503,
  DG_KUBE_NOT_FOUND: 503,
  DG_KUBE_TOO_LARGE: 503,
  DG_KUBE_REJECTED: 503,
  // A bug: driftgate broke its own rule.
  DG_INTERNAL: 500,
  // Never met on the admission path (the CLI and startup raise them); 500 should one ever be.
  DG_POLICY_INVALID: 500,
  DG_POLICY_UNREADABLE: 500,
  DG_FILE_UNREADABLE: 500,
  DG_FILE_UNWRITABLE: 500,
  DG_TICKET_NOT_FOUND: 500,
  DG_TICKET_INVALID: 500,
  DG_TICKET_NOT_REVERTIBLE: 500,
  DG_TICKETS_SPEC: 500,
  DG_KUBECONFIG: 500,
  DG_CERT_INVALID: 500,
  DG_CERT_REQUEST: 500,
  DG_WEBHOOK_TARGET: 500,
  DG_LISTEN: 500,
  DG_TARGET_INVALID: 500,
  DG_BREAK_GLASS_REFUSED: 500,
  /** A command line that cannot be run as written: a flag's value, a missing flag. */
  DG_USAGE: 500,
} as const satisfies Record<string, number>;

/** ErrorCode is every stable code of a DriftgateError. */
export type ErrorCode = keyof typeof STATUS;

/** ERROR_CODES lists every code, for the test that checks each is raised somewhere. */
export const ERROR_CODES = Object.keys(STATUS) as ErrorCode[];

/**
 * httpStatusOf returns the HTTP status of an admission reply refused because of `err`: the
 * catalogue's for a DriftgateError, 500 for anything else (a bug). The one map every path uses.
 */
export function httpStatusOf(err: unknown): number {
  return err instanceof DriftgateError ? STATUS[err.code] : 500;
}

/** DriftgateError is the base of every error driftgate raises on purpose. */
export class DriftgateError extends Error {
  readonly code: ErrorCode;
  /** Extra lines (one per problem) when a single error gathers several, e.g. schema errors. */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: readonly string[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DriftgateError';
    this.code = code;
    this.details = options.details ?? [];
  }
}

/** isDriftgateError narrows an unknown thrown value. */
export function isDriftgateError(err: unknown): err is DriftgateError {
  return err instanceof DriftgateError;
}

/** messageOf returns a one-line, human message for any thrown value, never a stack trace. */
export function messageOf(err: unknown): string {
  if (err instanceof DriftgateError) {
    return err.details.length > 0 ? `${err.message}\n${err.details.map((d) => `  - ${d}`).join('\n')}` : err.message;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}
