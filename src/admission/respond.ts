/**
 * The response builders. Every AdmissionResponse driftgate sends is built by one of them, and
 * warnings are fitted to what the kube-apiserver passes on. The builders return an Answer (a
 * response without its uid): the request UID is copied in one place, by `review()`, when the
 * answer is put in its envelope.
 */
import type { AdmissionResponse, AdmissionReview, JsonPatchOp } from './types.js';

/** Answer is an AdmissionResponse before `review()` stamps it with the request's uid. */
export type Answer = Omit<AdmissionResponse, 'uid'>;

/** ResponseOptions are the extras any reply may carry. */
export interface ResponseOptions {
  warnings?: readonly string[];
  /** Keys are recorded by the apiserver as `<webhook name>/<key>` in the audit event. */
  auditAnnotations?: Readonly<Record<string, string>>;
}

/** allowed returns a response that admits the request unchanged. */
export function allowed(opts: ResponseOptions = {}): Answer {
  return { allowed: true, ...extras(opts) };
}

/** denied returns a response that refuses the request with `message` (kept whole) and an HTTP `code`. */
export function denied(message: string, code = 403, opts: ResponseOptions = {}): Answer {
  return { allowed: false, status: status(code, message), ...extras(opts) };
}

/** patched returns a response that admits the request with a JSONPatch, or a plain `allowed` when `ops` is empty. */
export function patched(ops: readonly JsonPatchOp[], opts: ResponseOptions = {}): Answer {
  if (ops.length === 0) return allowed(opts);
  const patch = Buffer.from(JSON.stringify(ops), 'utf8').toString('base64');
  return { allowed: true, patchType: 'JSONPatch', patch, ...extras(opts) };
}

/** errored returns a refusal for a request driftgate could not judge (bad input, internal failure). */
export function errored(code: number, message: string): Answer {
  return { allowed: false, status: status(code, message) };
}

/** withWarnings returns a copy of `resp` with `warnings` added after the ones it already has. */
export function withWarnings(resp: Answer, warnings: readonly string[]): Answer {
  const all = fitWarnings([...(resp.warnings ?? []), ...warnings]);
  const { warnings: _old, ...rest } = resp;
  return all.length === 0 ? rest : { ...rest, warnings: all };
}

/** review returns the AdmissionReview v1 envelope around an answer to the request `uid` (the one place the uid is copied). */
export function review(uid: string, answer: Answer): AdmissionReview & { response: AdmissionResponse } {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, ...answer } };
}

function extras(opts: ResponseOptions): Pick<Answer, 'warnings' | 'auditAnnotations'> {
  const out: Pick<Answer, 'warnings' | 'auditAnnotations'> = {};
  const warnings = fitWarnings(opts.warnings ?? []);
  if (warnings.length > 0) out.warnings = warnings;
  if (opts.auditAnnotations !== undefined && Object.keys(opts.auditAnnotations).length > 0) {
    out.auditAnnotations = { ...opts.auditAnnotations };
  }
  return out;
}

// metav1.Status reasons: kubectl prints the reason as "Error from server (Forbidden): …".
const REASONS: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function status(code: number, message: string): NonNullable<Answer['status']> {
  const reason = REASONS[code];
  return reason === undefined ? { code, message } : { code, message, reason };
}

/**
 * Limits of the kube-apiserver's warning recorder (k8s.io/apiserver/pkg/endpoints/filters/warning.go):
 * once a request's warnings pass 4096 runes in total it cuts every warning to 256 runes, without
 * a mark, and drops the rest; a warning with a control character is dropped whole
 * (k8s.io/apimachinery/pkg/util/net NewWarningHeader). The limits are per request across all
 * webhooks, so this is the most one webhook can count on.
 */
export const WARNING_MAX_RUNES = 256;
export const WARNINGS_TOTAL_RUNES = 4096;

/** fitWarnings returns the warnings as the apiserver will show them: cleaned, deduplicated, cut visibly. */
export function fitWarnings(warnings: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of warnings) {
    const text = cut(raw.replace(/\p{Cc}+/gu, ' ').trim(), WARNING_MAX_RUNES);
    if (text !== '' && !out.includes(text)) out.push(text);
  }
  const total = out.reduce((n, w) => n + runes(w), 0);
  if (total <= WARNINGS_TOTAL_RUNES) return out;
  // Over the total the apiserver drops the tail silently; say how many went missing instead.
  const budget = WARNINGS_TOTAL_RUNES - 100;
  const kept: string[] = [];
  let used = 0;
  for (const w of out) {
    if (used + runes(w) > budget) break;
    kept.push(w);
    used += runes(w);
  }
  const dropped = out.length - kept.length;
  kept.push(
    `${dropped} more warning${dropped === 1 ? '' : 's'} not shown: the kube-apiserver passes on at most ${WARNINGS_TOTAL_RUNES} characters of warnings`,
  );
  return kept;
}

// Runes, not UTF-16 units, because the apiserver counts runes.
function runes(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function cut(text: string, max: number): string {
  if (runes(text) <= max) return text;
  return `${Array.from(text)
    .slice(0, max - 1)
    .join('')}…`;
}
