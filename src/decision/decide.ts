/**
 * decide() is driftgate's whole product behaviour in one pure function: given the request, the
 * policy, the time and (for a subresource) the parent object, it says allow, deny or bypass, and
 * what the mutating webhook should patch. No I/O, no clock, no logger: the server and the
 * `review` CLI call this very function, and every behaviour is provable by a table-driven test.
 */
import type { AdmissionRequest, KubeObject } from '../admission/types.js';
import { delegatedPaths, inSubjects, matchesNamespace, matchesResource } from '../policy/match.js';
import type { GuardPolicy } from '../policy/types.js';
import { BREAK_GLASS_FOR, BREAK_GLASS_INCIDENT, BREAK_GLASS_REASON, BREAK_GLASS_UNTIL } from './annotations.js';
import { hasWindow, readWindow } from './breakglass.js';
import { changeOf } from './change.js';
import { bypassWarning, driftMessage, forbiddenMessage, invalidWindowMessage } from './messages.js';
import { mutationOf } from './mutation.js';
import { isWithin } from './pointer.js';
import { requestName } from './target-name.js';
import { ticketId } from './ticket-id.js';
import { controllerVerdict } from './controllers.js';
import type { Allow, Bypass, Decision, Deny, DenyCode, ObjectRef, TicketDraft, Window } from './types.js';

const WINDOW_KEYS = [BREAK_GLASS_UNTIL, BREAK_GLASS_FOR, BREAK_GLASS_REASON, BREAK_GLASS_INCIDENT];

/**
 * decide returns what driftgate does with one admission request. `parent` is the object a
 * subresource acts on and `namespace` the request's Namespace, each when the caller looked it up
 * because a first decision asked for it (`parentOf`, `Deny.needsNamespace`).
 */
export function decide(request: AdmissionRequest, policy: GuardPolicy, now: Date, parent?: KubeObject, namespace?: KubeObject): Decision {
  if (!matchesNamespace(policy, guardedNamespace(request))) return allow('unprotected-namespace');
  const { group, resource } = request.resource;
  if (!matchesResource(policy, group, resource, request.subResource || undefined)) return allow('unguarded-resource');
  // GitOps writers are Git: never refused, never patched, never ticketed.
  if (inSubjects(policy.gitopsWriters, request.userInfo)) return allow('gitops-writer');

  const change = changeOf(request);
  const paths = change.paths;
  // Kubernetes' own controllers pass for what they must do (garbage collection, namespace
  // deletion, …): refusing them breaks the cluster, not just drift.
  const controller = controllerVerdict(request, policy, change, namespace);
  if (controller.kind === 'granted') return allow('kubernetes-controller', [], mutationOf(request, now), paths);
  const judged = judgeRequester(request, policy, now, parent, change);
  // Only the Namespace can tell whether the namespace controller is finishing a deletion.
  return controller.kind === 'needs-namespace' && judged.kind === 'deny' ? { ...judged, needsNamespace: controller.namespace } : judged;
}

/** judgeRequester decides for a requester who is neither GitOps nor one of Kubernetes' controllers. */
function judgeRequester(request: AdmissionRequest, policy: GuardPolicy, now: Date, parent: KubeObject | undefined, change: ReturnType<typeof changeOf>): Decision {
  const paths = change.paths;
  const mayBreakGlass = inSubjects(policy.breakGlass, request.userInfo);

  if (paths.length === 0) {
    // Only runtime or driftgate fields moved. When that is a window being opened, check it now, so
    // the responder learns at `kubectl annotate` time rather than at the fix.
    if (!windowChanged(request)) return allow('no-drift', [], mutationOf(request, now));
    if (!mayBreakGlass) return refuse(policy, 'break-glass-forbidden', forbiddenMessage(request, policy, paths), paths, request, now);
    const read = readWindow(request.object, policy.breakGlass, now);
    if (read.kind !== 'valid') {
      const problems = read.kind === 'invalid' ? read.problems : [];
      return refuse(policy, 'break-glass-invalid', invalidWindowMessage(request, policy, paths, problems, now), paths, request, now);
    }
    const draft = draftOf(request, read.window, change, parent, now);
    return allow('window-opened', [windowOpenedWarning(draft)], mutationOf(request, now), paths);
  }

  const owned = delegatedPaths(policy, request.userInfo);
  if (paths.every((p) => owned.some((o) => isWithin(p, o)))) return allow('delegated', [], mutationOf(request, now), paths);

  const holder = windowHolder(request, parent);
  if (!hasWindow(holder)) {
    return refuse(policy, 'drift', driftMessage(request, policy, paths, now, mayBreakGlass), paths, request, now);
  }
  if (!mayBreakGlass) return refuse(policy, 'break-glass-forbidden', forbiddenMessage(request, policy, paths), paths, request, now);
  const read = readWindow(holder, policy.breakGlass, now);
  if (read.kind !== 'valid') {
    const problems = read.kind === 'invalid' ? read.problems : [];
    return refuse(policy, 'break-glass-invalid', invalidWindowMessage(request, policy, paths, problems, now), paths, request, now);
  }
  const ticket = draftOf(request, read.window, change, parent, now);
  const bypass: Bypass = {
    kind: 'bypass',
    ticket,
    mutation: mutationOf(request, now, ticket.id),
    warnings: [bypassWarning(ticket.id, read.window.incident, read.window.until, now)],
    changedPaths: paths,
  };
  return bypass;
}

/** The namespace a request is guarded by: a Namespace object guards itself (relabelling it is a write to it). */
function guardedNamespace(request: AdmissionRequest): string | undefined {
  if (request.namespace) return request.namespace;
  if (request.resource.group === '' && request.resource.resource === 'namespaces') return request.name || undefined;
  return undefined;
}

/** The object whose annotations hold the window: the new object, the old one on DELETE, the parent for a subresource. */
function windowHolder(request: AdmissionRequest, parent: KubeObject | undefined): KubeObject | undefined {
  if (parent !== undefined) return parent;
  if (request.subResource === 'scale' || request.operation === 'CONNECT') return undefined;
  if (request.operation === 'DELETE') return request.oldObject ?? undefined;
  return request.object ?? undefined;
}

function windowChanged(request: AdmissionRequest): boolean {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return false;
  const before = request.oldObject?.metadata?.annotations ?? {};
  const after = request.object?.metadata?.annotations ?? {};
  return WINDOW_KEYS.some((k) => after[k] !== undefined && after[k] !== before[k]);
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
  const id = ticketId(object, window);
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
  return `driftgate: break-glass window open on ${draft.object.resource}/${draft.object.name} until ${draft.window.until} (${draft.window.incident}); changes made under it land on backport ticket ${draft.id}`;
}

function allow(code: Allow['code'], warnings: string[] = [], mutation: Allow['mutation'] = [], changedPaths: string[] = []): Allow {
  return { kind: 'allow', code, warnings, mutation, changedPaths };
}

/** refuse denies in enforce mode; in warn mode it allows and says what enforce would have refused. */
function refuse(policy: GuardPolicy, code: DenyCode, message: string, paths: string[], request: AdmissionRequest, now: Date): Decision {
  if (policy.mode === 'warn') {
    const lines = message.split('\n');
    return allow('warn-mode', [`driftgate (warn mode, would refuse): ${lines[0] ?? ''}`, ...lines.slice(1)], mutationOf(request, now), paths);
  }
  const deny: Deny = { kind: 'deny', code, message, warnings: [], changedPaths: paths };
  return deny;
}

