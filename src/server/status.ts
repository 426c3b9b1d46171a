/** The one map from driftgate error codes to the HTTP status of the reply (STYLE: one place). */
import type { ErrorCode } from '../errors.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  DG_REVIEW_INVALID: 400,
  DG_CONTENT_TYPE: 400,
  DG_CALLER_UNAUTHENTICATED: 401,
  DG_CALLER_FORBIDDEN: 403,
  DG_REVIEW_TOO_LARGE: 413,
  DG_REVIEW_TOO_COMPLEX: 413,
  DG_REVIEW_TIMEOUT: 503,
  DG_REVIEW_BUSY: 503,
  DG_TICKET_STORE: 503,
  DG_TICKET_TIMEOUT: 503,
  DG_JOURNAL_IO: 503,
  DG_KUBE_UNREACHABLE: 503,
  DG_KUBE_FORBIDDEN: 503,
};

/** httpStatusOf returns the HTTP status for an error code (500 for anything unexpected). */
export function httpStatusOf(code: ErrorCode | undefined): number {
  return (code === undefined ? undefined : STATUS[code]) ?? 500;
}
