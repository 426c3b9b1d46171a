/**
 * The words of a denial. Each one tells a responder what changed, that the change belongs in
 * Git, and, for an incident, the exact annotations that open a break-glass window, or who may.
 * Every message starts with its source tag so that several reasons read apart.
 */
import type { AdmissionRequest } from '../admission/types.js';
import type { GuardPolicy } from '../policy/types.js';
import { formatDuration } from '../policy/duration.js';
import { BREAK_GLASS_INCIDENT, BREAK_GLASS_REASON, BREAK_GLASS_UNTIL } from './annotations.js';
import { escapeControls } from '../util/terminal.js';
import { formatTime } from './breakglass.js';
import { requestName } from './target-name.js';

const MAX_LISTED_PATHS = 8;
const SUGGESTED_WINDOW_MS = 3_600_000;

/** Target describes the object in a request for people: namespace, kubectl-style resource and name. */
export interface Target {
  namespace: string;
  /** e.g. "deployments.apps/checkout-api", accepted by kubectl as it is. */
  kubectlRef: string;
  /** e.g. "deployments.apps/checkout-api/scale" or "configmaps/settings". */
  label: string;
}

/** targetOf returns how to name the request's object in messages. */
export function targetOf(request: AdmissionRequest): Target {
  const { group, resource } = request.resource;
  const name = requestName(request) || request.object?.metadata?.generateName || '(unnamed)';
  // Every part comes from the request: escaped, so no control character reaches a terminal.
  const kubectlRef = escapeControls(`${resource}${group === '' ? '' : `.${group}`}/${name}`);
  const sub = request.subResource ? escapeControls(`/${request.subResource}`) : '';
  return { namespace: escapeControls(request.namespace ?? ''), kubectlRef, label: `${kubectlRef}${sub}` };
}

/** who returns the requester's username as it may be shown. */
export function who(request: AdmissionRequest): string {
  return escapeControls(request.userInfo.username);
}

/** describeChange returns "changed /a, /b and 3 more" style text for the changed paths. */
export function describeChange(request: AdmissionRequest, paths: string[]): string {
  if (request.operation === 'CONNECT') return `${escapeControls(request.subResource ?? 'connect')} into the object`;
  if (request.subResource === 'eviction') return 'evicting the pod';
  if (request.operation === 'DELETE') return 'deleting the object';
  if (request.operation === 'CREATE') return 'creating an object that is not in Git';
  if (paths.length === 0) return 'opening a break-glass window';
  const shown = paths.slice(0, MAX_LISTED_PATHS).map(escapeControls).join(', ');
  const more = paths.length > MAX_LISTED_PATHS ? ` and ${paths.length - MAX_LISTED_PATHS} more` : '';
  return `changing ${shown}${more}`;
}

function whoMayBreakGlass(policy: GuardPolicy): string {
  const { users, groups } = policy.breakGlass;
  if (users.length === 0 && groups.length === 0) return 'nobody: this policy allows no break-glass';
  const parts: string[] = [];
  if (users.length > 0) parts.push(`users ${users.map(escapeControls).join(', ')}`);
  if (groups.length > 0) parts.push(`groups ${groups.map(escapeControls).join(', ')}`);
  return parts.join(' and ');
}

/** howToOpenWindow returns the exact annotations to add, with a concrete `until` within the maximum. */
export function howToOpenWindow(request: AdmissionRequest, policy: GuardPolicy, now: Date): string {
  const bg = policy.breakGlass;
  const until = formatTime(now.getTime() + Math.min(bg.maxDurationMs, SUGGESTED_WINDOW_MS));
  const t = targetOf(request);
  const annotations =
    `${BREAK_GLASS_UNTIL}=${until} ${BREAK_GLASS_INCIDENT}=<incident matching ${escapeControls(bg.incidentPattern)}> ` +
    `${BREAK_GLASS_REASON}="<why, at least ${bg.minReasonLength} characters>"`;
  const where =
    request.operation === 'CREATE'
      ? `add these annotations to the object's metadata: ${annotations}`
      : `kubectl annotate --overwrite -n ${t.namespace} ${t.kubectlRef} ${annotations}`;
  return `In an incident, open a break-glass window (at most ${bg.maxDuration}, until ${formatTime(now.getTime() + bg.maxDurationMs)} at the latest), then retry: ${where}`;
}

/** driftMessage returns the denial for a change nobody is allowed to make live. */
export function driftMessage(request: AdmissionRequest, policy: GuardPolicy, paths: string[], now: Date, mayBreakGlass: boolean): string {
  const t = targetOf(request);
  const user = who(request);
  const lines = [
    `[driftgate/drift] ${user} is ${describeChange(request, paths)} of ${t.label} in namespace ${t.namespace}, which GuardPolicy ${policy.name} keeps in Git.`,
    'To proceed: make the change in Git and let the GitOps controller sync it.',
  ];
  if (mayBreakGlass) {
    lines.push(howToOpenWindow(request, policy, now));
    lines.push('The change is then recorded on a backport ticket to carry into Git or revert.');
  } else {
    lines.push(`${user} may not use break-glass; it is open to ${whoMayBreakGlass(policy)}.`);
  }
  return lines.join('\n');
}

/**
 * windowRemovedMessage returns the denial for an edit that changes the object and, in the same
 * write, removes the window it would need (a `kubectl apply` or `replace` of a file without the
 * annotations does that): asking to open a window that is already open would send the responder
 * in circles.
 */
export function windowRemovedMessage(request: AdmissionRequest, policy: GuardPolicy, paths: string[]): string {
  const t = targetOf(request);
  return [
    `[driftgate/break-glass] ${who(request)} is ${describeChange(request, paths)} of ${t.label} in namespace ${t.namespace}, and the same edit removes its break-glass window (the ${BREAK_GLASS_UNTIL}, -reason and -incident annotations), so nothing covers the change and it is refused.`,
    'To proceed: keep the driftgate.dev/break-glass-* annotations in what you send (add them to the file you apply or replace, or use kubectl edit, patch or set), then retry; close the window in a separate edit afterwards.',
    `The window is checked against GuardPolicy ${policy.name}; the change is then recorded on a backport ticket to carry into Git or revert.`,
  ].join('\n');
}

/** windowEditForbiddenMessage returns the denial for a requester who may not break glass yet wrote a window's annotations. */
export function windowEditForbiddenMessage(request: AdmissionRequest, policy: GuardPolicy, keys: string[]): string {
  const t = targetOf(request);
  return [
    `[driftgate/break-glass] ${who(request)} may not use break-glass, so may not add, change or remove ${keys.map(escapeControls).join(', ')} on ${t.label} in namespace ${t.namespace}; it is open to ${whoMayBreakGlass(policy)}.`,
    'Leave those annotations as they are (they are the time-bound window someone allowed to break glass opened), and make the change in Git; or ask someone allowed to break glass.',
  ].join('\n');
}

/** driftgateAnnotationMessage returns the denial for a hand-written change to an annotation only driftgate writes. */
export function driftgateAnnotationMessage(request: AdmissionRequest, keys: string[]): string {
  const t = targetOf(request);
  return [
    `[driftgate/annotation] ${who(request)} is changing ${keys.map(escapeControls).join(', ')} on ${t.label} in namespace ${t.namespace}; only driftgate writes ${keys.length === 1 ? 'that annotation' : 'those annotations'} (it is the audit trail of break-glass changes).`,
    'To proceed: send the object with the annotation exactly as it is stored (kubectl edit and patch keep it; when applying a file, leave the key out).',
  ].join('\n');
}

/** incompleteMessage returns the denial for a request driftgate cannot judge in full (fail closed). */
export function incompleteMessage(request: AdmissionRequest, problem: string): string {
  const t = targetOf(request);
  return [
    `[driftgate/incomplete] driftgate cannot judge this ${escapeControls(String(request.operation))} of ${t.label} in namespace ${t.namespace}: ${problem}. It is refused, because a write nobody could check is not let through.`,
    'The kube-apiserver always sends these fields: if this request came from it, report it with the apiserver version; otherwise send a complete AdmissionReview v1.',
  ].join('\n');
}

/** forbiddenMessage returns the denial for a requester who used a window without the right to. */
export function forbiddenMessage(request: AdmissionRequest, policy: GuardPolicy, paths: string[]): string {
  const t = targetOf(request);
  return [
    `[driftgate/break-glass] ${t.label} in namespace ${t.namespace} carries a break-glass window, but ${who(request)} may not use break-glass; it is open to ${whoMayBreakGlass(policy)}.`,
    `Refused: ${describeChange(request, paths)}. Make the change in Git, or ask someone allowed to break glass.`,
  ].join('\n');
}

/** invalidWindowMessage returns the denial listing every problem of a window. */
export function invalidWindowMessage(request: AdmissionRequest, policy: GuardPolicy, paths: string[], problems: string[], now: Date): string {
  const t = targetOf(request);
  return [
    `[driftgate/break-glass] the break-glass window on ${t.label} in namespace ${t.namespace} is not valid, so ${describeChange(request, paths)} is refused:`,
    ...problems.map((p) => `  - ${p}`),
    `Fix the annotations (at most ${policy.breakGlass.maxDuration} ahead, incident matching ${escapeControls(policy.breakGlass.incidentPattern)}), then retry; or make the change in Git.`,
    `For example: ${howToOpenWindow(request, policy, now).replace(/^In an incident, /, '')}`,
  ].join('\n');
}

/** bypassWarning returns the warning kubectl shows a responder whose change was let through. */
export function bypassWarning(ticket: string, incident: string, until: string, now: Date): string {
  // Whole minutes (at least one): a responder reads "29m left", not milliseconds.
  const left = formatDuration(Math.max(60_000, Math.floor((Date.parse(until) - now.getTime()) / 60_000) * 60_000));
  return `driftgate: break-glass (${escapeControls(incident)}, ${left} left) — this change is recorded on backport ticket ${ticket}; carry it into Git or revert it (driftgate tickets show ${ticket})`;
}
