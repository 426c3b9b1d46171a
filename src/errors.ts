/**
 * The one catalogue of driftgate's errors. Each carries a stable `code` that callers branch on
 * (the HTTP layer maps codes to admission statuses in one place) and a message a person can act
 * on: which field, what was wrong, what to do. The underlying error, when there is one, stays in
 * `cause` and never becomes the message.
 */
export type ErrorCode =
  | 'DG_POLICY_INVALID'
  | 'DG_POLICY_UNREADABLE'
  | 'DG_REVIEW_INVALID'
  | 'DG_REVIEW_TOO_LARGE'
  | 'DG_CONTENT_TYPE'
  | 'DG_TICKET_STORE'
  | 'DG_TICKET_TIMEOUT'
  | 'DG_TICKET_CONFLICT'
  | 'DG_TICKET_NOT_FOUND'
  | 'DG_JOURNAL_IO'
  | 'DG_JOURNAL_CORRUPT'
  | 'DG_KUBE_NOT_FOUND'
  | 'DG_KUBE_FORBIDDEN'
  | 'DG_KUBE_CONFLICT'
  | 'DG_KUBE_UNREACHABLE'
  | 'DG_KUBECONFIG'
  | 'DG_CERT_INVALID'
  | 'DG_USAGE'
  | 'DG_INTERNAL';

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

/** describe returns a one-line, human message for any thrown value, never a stack trace. */
export function describe(err: unknown): string {
  if (err instanceof DriftgateError) {
    return err.details.length > 0 ? `${err.message}\n${err.details.map((d) => `  - ${d}`).join('\n')}` : err.message;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}
