/**
 * decide() is driftgate's whole product behaviour in one pure function: given the request, the
 * policy, the time and (for a subresource) the parent object, it says allow, deny or bypass, and
 * what the mutating webhook should patch. No I/O, no clock, no logger: the server and the
 * `review` CLI call this very function, and every behaviour is provable by a table-driven test.
 */
import type { AdmissionRequest, KubeObject } from '../admission/types.js';
import { delegatedPaths, inSubjects, matchesNamespace, matchesResource } from '../policy/match.js';
import type { GuardPolicy } from '../policy/types.js';
import { BREAK_GLASS_FOR, PAUSED_GITOPS } from './annotations.js';
import { bookkeepingPaths } from './bookkeeping.js';
import { hasWindow, readWindow } from './breakglass.js';
import { changeOf } from './change.js';
import { incompleteness } from './complete.js';
import {
  bypassWarning,
  driftgateAnnotationMessage,
  driftMessage,
  forbiddenMessage,
  incompleteMessage,
  invalidWindowMessage,
  windowEditForbiddenMessage,
  windowRemovedMessage,
} from './messages.js';
import { mutationOf } from './mutation.js';
import { ownAnnotationEdit, type OwnAnnotationEdit } from './own-annotations.js';
import { isObjectRequest, parentOf } from './parent.js';
import { isWithin } from './pointer.js';
import { escapeControls } from '../util/terminal.js';
import { BACKPORT_TICKET } from './annotations.js';
import { requestName } from './target-name.js';
import { ticketId } from './ticket-id.js';
import { controllerVerdict } from './controllers.js';
import type { Allow, Bypass, Decision, Deny, DenyCode, NeedsObject, ObjectRef, TicketDraft, Window } from './types.js';

/**
 * decide returns what driftgate does with one admission request, given the objects the caller
 * already has: `parent`, the object a subresource acts on, and `namespace`, the request's
 * Namespace (fixtures, `review --parent`). Without them, a refusal that they could lift stands.
 */
export function decide(request: AdmissionRequest, policy: GuardPolicy, now: Date, parent?: KubeObject, namespace?: KubeObject): Decision {
  const decision = judge(request, policy, now, parent, namespace);
  return decision.kind === 'needs-object' ? decision.refusal : decision;
}

/**
 * decideOrAsk returns the decision or, when only an object the request does not carry can settle
 * it (a subresource's parent, the Namespace being deleted), a NeedsObject naming it, whose
 * `finish(found)` completes the same decision without redoing the diff. The admission path calls
 * this once per request and looks an object up only when asked.
 */
export function decideOrAsk(request: AdmissionRequest, policy: GuardPolicy, now: Date): Decision | NeedsObject {
  return judge(request, policy, now, undefined, undefined);
}

function judge(
  request: AdmissionRequest,
  policy: GuardPolicy,
  now: Date,
  parent: KubeObject | undefined,
  namespace: KubeObject | undefined,
): Decision | NeedsObject {
  if (!matchesNamespace(policy, guardedNamespace(request))) return allow('unprotected-namespace');
  const { group, resource } = request.resource;
  if (!matchesResource(policy, group, resource, request.subResource || undefined)) return allow('unguarded-resource');
  // GitOps writers are Git: never refused, never patched, never ticketed.
  if (inSubjects(policy.gitopsWriters, request.userInfo)) return allow('gitops-writer');

  // Fail closed: what cannot be judged in full is never "no drift".
  const incomplete = incompleteness(request);
  if (incomplete !== undefined) return refuse(policy, 'incomplete-request', incompleteMessage(request, incomplete), [], request, now, false);

  const change = changeOf(request);
  const own = ownAnnotationEdit(request);
  // Bookkeeping that decides what the next GitOps sync removes counts as a change of its own.
  const bookkeeping = bookkeepingPaths(request);
  // Kubernetes' own controllers pass for what they must do (garbage collection, namespace
  // deletion, …): refusing them breaks the cluster, not just drift. Their driftgate annotations
  // are not looked at: the deployment controller copies a Deployment's annotations, window and
  // ticket stamp included, onto its ReplicaSets. None of it rewrites GitOps bookkeeping, so an
  // edit that does is judged like anyone's.
  const granted = (verdict: ReturnType<typeof controllerVerdict>): boolean =>
    verdict.kind === 'granted' && bookkeepingPaths(request, { controller: true }).length === 0;
  const controller = controllerVerdict(request, policy, change, namespace);
  if (granted(controller)) return allow('kubernetes-controller', [], mutationOf(request, now, { convertFor: false }), change.paths);
  const judged = judgeRequester(request, policy, now, parent, change, own, bookkeeping);
  // Only a refusal can change with an object looked up, so every other answer costs no API
  // round trip: the Namespace tells whether the namespace controller is finishing a deletion,
  // a subresource's parent may hold the window that lets the write through.
  if (judged.kind !== 'deny') return judged;
  if (controller.kind === 'needs-namespace' && namespace === undefined) {
    const ref: ObjectRef = { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespace: '', name: controller.namespace };
    const finish = (found: KubeObject | undefined): Decision =>
      found !== undefined && granted(controllerVerdict(request, policy, change, found))
        ? allow('kubernetes-controller', [], mutationOf(request, now, { convertFor: false }), change.paths)
        : judged;
    return { kind: 'needs-object', what: 'namespace', ref, refusal: judged, finish };
  }
  const ref = parentOf(request);
  if (ref === undefined || parent !== undefined) return judged;
  const finish = (found: KubeObject | undefined): Decision =>
    found === undefined ? judged : judgeRequester(request, policy, now, found, change, own, bookkeeping);
  return { kind: 'needs-object', what: 'parent', ref, refusal: judged, finish };
}

/** judgeRequester decides for a requester who is neither GitOps nor one of Kubernetes' controllers. */
function judgeRequester(
  request: AdmissionRequest,
  policy: GuardPolicy,
  now: Date,
  parent: KubeObject | undefined,
  change: ReturnType<typeof changeOf>,
  own: OwnAnnotationEdit,
  bookkeeping: string[],
): Decision {
  const paths = [...change.paths, ...bookkeeping];
  const mayBreakGlass = inSubjects(policy.breakGlass, request.userInfo);

  // driftgate's own annotations, in any edit (also one bundled with a delegated change).
  const holder = windowHolder(request, parent);
  let written: Window | undefined;
  if (own.breakGlass.length > 0) {
    if (!mayBreakGlass) return refuse(policy, 'break-glass-forbidden', windowEditForbiddenMessage(request, policy, own.breakGlass), paths, request, now, false);
    if (hasWindow(holder)) {
      const read = readWindow(holder, policy.breakGlass, now, { freshFor: freshFor(request) });
      if (read.kind !== 'valid') {
        const problems = read.kind === 'invalid' ? read.problems : [];
        return refuse(policy, 'break-glass-invalid', invalidWindowMessage(request, policy, paths, problems, now), paths, request, now, false);
      }
      written = read.window;
    } else if (own.breakGlass.includes(PAUSED_GITOPS) && request.object?.metadata?.annotations?.[PAUSED_GITOPS] !== undefined) {
      // Setting the GitOps-pause marker steers what `break-glass close` undoes: only under a window
      // (removing a stray one re-enables GitOps, the safe direction, and stays allowed).
      return refuse(policy, 'break-glass-invalid', pausedWithoutWindowMessage(request, policy), paths, request, now, false);
    }
  }
  if (own.driftgateOnly.length > 0)
    return refuse(policy, 'driftgate-annotation', driftgateAnnotationMessage(request, own.driftgateOnly), paths, request, now, false);
  // Only a responder who just wrote a valid window has a `-for` turned into an `-until`.
  const convertFor = written !== undefined;

  if (paths.length === 0) {
    // Only runtime or driftgate fields moved: a window opened (checked above, so the responder
    // learns at `kubectl annotate` time rather than at the fix), closed, or nothing at all.
    if (own.ticketStamp !== undefined) return forgedStamp(policy, request, now);
    if (written === undefined) return allow('no-drift', [], mutationOf(request, now, { convertFor }));
    const draft = draftOf(request, written, change, parent, now);
    return allow('window-opened', [windowOpenedWarning(draft)], mutationOf(request, now, { convertFor }), paths);
  }

  const owned = delegatedPaths(policy, request.userInfo);
  if (paths.every((p) => owned.some((o) => isWithin(p, o)))) {
    if (own.ticketStamp !== undefined) return forgedStamp(policy, request, now);
    return allow('delegated', [], mutationOf(request, now, { convertFor }), paths);
  }

  if (!hasWindow(holder)) {
    if (windowRemoved(request)) return refuse(policy, 'drift', windowRemovedMessage(request, policy, paths), paths, request, now, false);
    return refuse(policy, 'drift', driftMessage(request, policy, paths, now, mayBreakGlass), paths, request, now, false);
  }
  if (!mayBreakGlass) return refuse(policy, 'break-glass-forbidden', forbiddenMessage(request, policy, paths), paths, request, now, false);
  const read = readWindow(holder, policy.breakGlass, now, { freshFor: freshFor(request) });
  if (read.kind !== 'valid') {
    const problems = read.kind === 'invalid' ? read.problems : [];
    return refuse(policy, 'break-glass-invalid', invalidWindowMessage(request, policy, paths, problems, now), paths, request, now, false);
  }
  const ticket = draftOf(request, read.window, change, parent, now);
  // The stamp may change only to this bypass's own ticket id: the one the mutating webhook wrote.
  if (own.ticketStamp !== undefined && own.ticketStamp.value !== ticket.id) return forgedStamp(policy, request, now);
  const bypass: Bypass = {
    kind: 'bypass',
    ticket,
    mutation: mutationOf(request, now, { convertFor: true, ticketId: ticket.id }),
    warnings: [bypassWarning(ticket.id, read.window.incident, read.window.until, now)],
    changedPaths: paths,
  };
  return bypass;
}

/** guardedNamespace returns the namespace a request is guarded by: a Namespace object guards itself (relabelling it is a write to it). */
export function guardedNamespace(request: AdmissionRequest): string | undefined {
  if (request.namespace) return request.namespace;
  if (request.resource.group === '' && request.resource.resource === 'namespaces') return request.name || undefined;
  return undefined;
}

/**
 * The object whose annotations hold the window: for a subresource whose request object is not the
 * guarded object (a Scale, an Eviction, exec options), the parent and nothing else, never the
 * request body; otherwise the object as written, or the old one on DELETE.
 */
function windowHolder(request: AdmissionRequest, parent: KubeObject | undefined): KubeObject | undefined {
  if (!isObjectRequest(request) || request.operation === 'CONNECT') return parent;
  if (request.operation === 'DELETE') return request.oldObject ?? undefined;
  return request.object ?? undefined;
}

/**
 * freshFor tells whether a `break-glass-for` on the window holder is being written by this very
 * request to the object itself, which the mutating webhook patches into an `until` from now. A
 * `-for` that was stored, or written through a subresource (which is never patched), has no start.
 */
function freshFor(request: AdmissionRequest): boolean {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return false;
  if (request.subResource !== undefined && request.subResource !== '') return false;
  const after = request.object?.metadata?.annotations?.[BREAK_GLASS_FOR];
  const before = request.operation === 'UPDATE' ? request.oldObject?.metadata?.annotations?.[BREAK_GLASS_FOR] : undefined;
  return after !== undefined && after !== before;
}

/** windowRemoved tells whether an UPDATE drops a window the stored object carries. */
function windowRemoved(request: AdmissionRequest): boolean {
  return request.operation === 'UPDATE' && isObjectRequest(request) && hasWindow(request.oldObject) && !hasWindow(request.object);
}

function pausedWithoutWindowMessage(request: AdmissionRequest, policy: GuardPolicy): string {
  return (
    `[driftgate/break-glass] ${PAUSED_GITOPS} may be set only under a valid break-glass window, and ${request.userInfo.username} ` +
    `sets it on an object that has none. Open a window first (driftgate break-glass open), which sets the marker for you; GuardPolicy ${policy.name}.`
  );
}

function forgedStamp(policy: GuardPolicy, request: AdmissionRequest, now: Date): Decision {
  return refuse(policy, 'driftgate-annotation', driftgateAnnotationMessage(request, [BACKPORT_TICKET]), [], request, now, false);
}

/**
 * The name a ticket id is derived from. A generateName CREATE has no name when the mutating
 * webhook stamps its ticket and has one when the validating webhook records it (the apiserver
 * generates it in between), so both use the prefix, marked with "*", which no real name holds.
 */
function idNameOf(request: AdmissionRequest, name: string): string {
  const generateName = request.object?.metadata?.generateName;
  if (request.operation === 'CREATE' && typeof generateName === 'string' && generateName !== '') return `${generateName}*`;
  return name;
}

function draftOf(request: AdmissionRequest, window: Window, change: ReturnType<typeof changeOf>, parent: KubeObject | undefined, now: Date): TicketDraft {
  const object: ObjectRef = {
    group: request.resource.group,
    version: request.resource.version,
    resource: request.resource.resource,
    kind: parent?.kind ?? request.kind.kind,
    namespace: request.namespace ?? '',
    name: requestName(request),
    ...(request.subResource ? { subResource: request.subResource } : {}),
  };
  const id = ticketId({ ...object, name: idNameOf(request, object.name) }, window);
  return {
    id,
    object,
    window,
    change: {
      requestUid: request.uid,
      at: now.toISOString(),
      username: request.userInfo.username,
      groups: request.userInfo.groups ?? [],
      operation: request.operation,
      ...(request.subResource ? { subResource: request.subResource } : {}),
      patch: change.patch,
      revert: change.revert,
      ...(change.action === undefined ? {} : { action: change.action }),
    },
  };
}

function windowOpenedWarning(draft: TicketDraft): string {
  return `driftgate: break-glass window open on ${escapeControls(`${draft.object.resource}/${draft.object.name}`)} until ${draft.window.until} (${escapeControls(draft.window.incident)}); changes made under it land on backport ticket ${draft.id}`;
}

function allow(code: Allow['code'], warnings: string[] = [], mutation: Allow['mutation'] = [], changedPaths: string[] = []): Allow {
  return { kind: 'allow', code, warnings, mutation, changedPaths };
}

/** refuse denies in enforce mode; in warn mode it allows and says what enforce would have refused. */
function refuse(policy: GuardPolicy, code: DenyCode, message: string, paths: string[], request: AdmissionRequest, now: Date, convertFor: boolean): Decision {
  if (policy.mode === 'warn') {
    const lines = message.split('\n');
    return allow('warn-mode', [`driftgate (warn mode, would refuse): ${lines[0] ?? ''}`, ...lines.slice(1)], mutationOf(request, now, { convertFor }), paths);
  }
  const deny: Deny = { kind: 'deny', code, message, warnings: [], changedPaths: paths };
  return deny;
}
