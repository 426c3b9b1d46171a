/**
 * What `driftgate break-glass open|extend|close` will write, decided before anything is written,
 * with the webhook's own functions: readWindow() checks the window exactly as the webhook will,
 * inSubjects() asks the policy whether this user may break glass, ticketId() names the ticket the
 * webhook will record changes on. So a refusal comes before the write, in the webhook's words, and
 * the CLI holds no rule the server lacks. Pure: the object, the policy, the user and `now` come in.
 */
import type { KubeObject } from '../admission/types.js';
import { BREAK_GLASS_FOR, BREAK_GLASS_INCIDENT, BREAK_GLASS_REASON, BREAK_GLASS_UNTIL } from '../decision/annotations.js';
import { effectiveUntil, formatTime, hasWindow, readWindow } from '../decision/breakglass.js';
import { ticketId } from '../decision/ticket-id.js';
import type { ObjectRef, Window } from '../decision/types.js';
import { formatDuration } from '../policy/duration.js';
import { inSubjects, matchesNamespace, matchesResource, type Requester } from '../policy/match.js';
import type { GuardPolicy } from '../policy/types.js';
import { resourceLabel } from './resolve-kind.js';
import {
  PAUSED_GITOPS,
  PAUSE_ANNOTATIONS,
  type GitOpsOwner,
  type PauseKind,
  detectGitOps,
  isPauseKind,
  pauseKindOf,
  revertWarning,
  selfHealCommand,
} from './gitops.js';

const WINDOW_KEYS = [BREAK_GLASS_UNTIL, BREAK_GLASS_FOR, BREAK_GLASS_REASON, BREAK_GLASS_INCIDENT] as const;

/** The flag each window annotation comes from, so that a problem names what the responder typed. */
const FLAG_OF: Readonly<Record<string, string>> = {
  [BREAK_GLASS_FOR]: '--for',
  [BREAK_GLASS_UNTIL]: '--until',
  [BREAK_GLASS_REASON]: '--reason',
  [BREAK_GLASS_INCIDENT]: '--incident',
};

/** WindowFlags are the command line's window: a length (--for) or an end (--until), why, and the incident. */
export interface WindowFlags {
  for?: string;
  until?: string;
  reason?: string;
  incident?: string;
  pauseGitops?: boolean;
}

/**
 * Checks is what the CLI could learn for local checks: the policy the webhook runs and who the
 * apiserver says the user is. Either may be missing (unreadable ConfigMap, old apiserver); the
 * check that needs it is then left to the webhook.
 */
export interface Checks {
  policy?: GuardPolicy;
  user?: Requester;
}

/** Subject is the object a command acts on: the live object and its reference as the webhook sees it. */
export interface Subject {
  object: KubeObject;
  /** group, resource, namespace and name exactly as in the AdmissionRequest the write will cause. */
  ref: ObjectRef;
}

/** MergePatch is an `application/merge-patch+json` body on annotations; null removes a key. */
export interface MergePatch {
  metadata: { annotations: Record<string, string | null> };
}

/** Refusal is a local refusal: one line naming the flag or problem and the fix. */
export interface Refusal {
  kind: 'refused';
  message: string;
}

/** WindowPlan is an `open` or `extend` ready to write. */
export interface WindowPlan {
  kind: 'window';
  patch: MergePatch;
  window: Window;
  /** The backport ticket every change under the new window lands on. */
  ticket: string;
  /** The window this one replaces, when it names another ticket. */
  previous?: { until: string; incident: string; ticket: string };
  owner?: GitOpsOwner;
  /** How the patch pauses GitOps for this object, when --pause-gitops could and had to. */
  paused?: PauseKind;
  /** Warnings the responder must read, in order. */
  notes: string[];
}

/** CloseStep is one PATCH of a close, with what it does in words. */
export interface CloseStep {
  what: string;
  patch: MergePatch;
}

/** ClosePlan is a `close` ready to write: resuming GitOps first (under the window), then the window itself. */
export interface ClosePlan {
  kind: 'close';
  steps: CloseStep[];
  /** The window being closed, as its annotations say (absent when only a pause was left behind). */
  window?: { until: string; incident: string };
  notes: string[];
}

/** Nothing is a close with nothing to remove. */
export interface Nothing {
  kind: 'nothing';
  message: string;
}

/** label returns the object as kubectl accepts it: "deployments.apps/checkout-api". */
export function label(ref: Pick<ObjectRef, 'group' | 'resource' | 'name'>): string {
  return `${resourceLabel(ref)}/${ref.name}`;
}

/** forbidden returns the refusal for a user the policy does not let break glass, naming who may. */
export function forbidden(user: Requester, policy: GuardPolicy): Refusal {
  const groups = (user.groups ?? []).length > 0 ? ` (groups ${(user.groups ?? []).join(', ')})` : '';
  const { users, groups: allowed } = policy.breakGlass;
  const who = [users.length > 0 ? `users ${users.join(', ')}` : '', allowed.length > 0 ? `groups ${allowed.join(', ')}` : '']
    .filter((p) => p !== '')
    .join(' and ');
  const rest =
    who === ''
      ? `GuardPolicy ${policy.name} lets nobody break glass; make the change in Git`
      : `GuardPolicy ${policy.name} opens it only to ${who}; ask one of them to open the window, or make the change in Git`;
  return { kind: 'refused', message: `${user.username}${groups} may not use break-glass: ${rest}` };
}

/** relative returns how far `until` is from `now` for people: "in 30m", "5m ago". */
export function relative(until: string, now: Date): string {
  const ms = Date.parse(until) - now.getTime();
  const abs = Math.abs(ms);
  // Whole minutes once past one: "in 30m", not "in 29m59s" for a window opened a moment ago.
  const rounded = abs >= 60_000 ? Math.round(abs / 60_000) * 60_000 : Math.round(abs / 1_000) * 1_000;
  return ms >= 0 ? `in ${formatDuration(rounded)}` : `${formatDuration(rounded)} ago`;
}

function refused(message: string): Refusal {
  return { kind: 'refused', message };
}

function annotationsOf(obj: KubeObject): Record<string, string> {
  return obj.metadata?.annotations ?? {};
}

/**
 * currentWindow returns the window an object carries by its own annotations (expired or not) and
 * its ticket as the webhook names it, or undefined when the annotations name no end or incident.
 */
export function currentWindow(subject: Subject, now: Date): { until: string; incident: string; ticket: string } | undefined {
  const a = annotationsOf(subject.object);
  const until = effectiveUntil(a, now);
  const incident = (a[BREAK_GLASS_INCIDENT] ?? '').trim();
  if (until === undefined || incident === '') return undefined;
  const window = { until: formatTime(until), incident };
  return { ...window, ticket: ticketId(subject.ref, window) };
}

/** In readWindow's problems the annotation comes first; say the flag instead, or where the value came from. */
function inFlagTerms(problem: string, given: ReadonlySet<string>): string {
  for (const [key, flag] of Object.entries(FLAG_OF)) {
    if (problem.startsWith(key)) {
      return given.has(flag) ? `${flag}${problem.slice(key.length)}` : `${key} (kept from the object; pass ${flag} to replace it)${problem.slice(key.length)}`;
    }
  }
  return problem;
}

// Any instant will do to check a flag's form: checkFlags reads no clock.
const FORM_CHECK = new Date(0);

/**
 * checkFlags returns the refusal for flags that cannot make a window (none or both of --for and
 * --until, one not a duration or not an RFC 3339 time; `open` without --reason or --incident),
 * before anything asks the cluster.
 */
export function checkFlags(action: 'open' | 'extend', flags: WindowFlags): Refusal | undefined {
  if (flags.for !== undefined && flags.until !== undefined) return refused('--for and --until both set the end of the window; pass one of them');
  if (flags.for === undefined && flags.until === undefined) {
    return refused(`--for or --until is required: how long the window stays open, e.g. --for 30m, or --until 2026-11-24T04:00:00Z`);
  }
  // The forms are checked here, before the cluster is asked anything (the policy's limits later).
  if (flags.for !== undefined && effectiveUntil({ [BREAK_GLASS_FOR]: flags.for }, FORM_CHECK) === undefined) {
    return refused(`--for "${flags.for}" is not a duration; write e.g. 30m or 2h`);
  }
  if (flags.until !== undefined && effectiveUntil({ [BREAK_GLASS_UNTIL]: flags.until }, FORM_CHECK) === undefined) {
    return refused(`--until "${flags.until}" is not an RFC 3339 time; write e.g. 2026-11-24T04:00:00Z`);
  }
  if (action === 'open' && (flags.reason ?? '').trim() === '')
    return refused('--reason is required: say why the change cannot wait for Git, e.g. --reason "checkout OOMKilled under load"');
  if (action === 'open' && (flags.incident ?? '').trim() === '')
    return refused('--incident is required: name the incident the change is for, e.g. --incident INC-123');
  return undefined;
}

/**
 * planWindow returns what `open` or `extend` writes (the window's annotations with an absolute
 * `until`, computed here at `now` so the write does not depend on the mutating webhook), the
 * ticket the webhook will record changes on, and the warnings to print; or the refusal the
 * webhook would give, in the terms of the flags.
 */
export function planWindow(action: 'open' | 'extend', subject: Subject, flags: WindowFlags, checks: Checks, clock: Date): WindowPlan | Refusal {
  // At the whole second: ends are written to the second, and so the messages read "6h from now",
  // not "5h59m59s600ms".
  const now = new Date(Math.floor(clock.getTime() / 1000) * 1000);
  const bad = checkFlags(action, flags);
  if (bad !== undefined) return bad;
  const current = annotationsOf(subject.object);
  const where = `${label(subject.ref)} in namespace ${subject.ref.namespace}`;
  if (action === 'extend' && !hasWindow(subject.object)) {
    return refused(
      `${where} carries no break-glass window to extend; open one: driftgate break-glass open ${label(subject.ref)} -n ${subject.ref.namespace} --for 30m --reason "…" --incident …`,
    );
  }

  const { policy, user } = checks;
  // Who may comes first: a responder who may not break glass gains nothing from fixing a reason.
  if (policy !== undefined && user !== undefined && !inSubjects(policy.breakGlass, user)) return forbidden(user, policy);

  const given = new Set(
    Object.entries({ '--for': flags.for, '--until': flags.until, '--reason': flags.reason, '--incident': flags.incident })
      .filter(([, v]) => v !== undefined)
      .map(([k]) => k),
  );
  const requested: Record<string, string> = {
    ...(flags.for !== undefined ? { [BREAK_GLASS_FOR]: flags.for } : { [BREAK_GLASS_UNTIL]: flags.until ?? '' }),
    [BREAK_GLASS_REASON]: flags.reason ?? current[BREAK_GLASS_REASON] ?? '',
    [BREAK_GLASS_INCIDENT]: flags.incident ?? current[BREAK_GLASS_INCIDENT] ?? '',
  };

  let window: Window;
  if (policy !== undefined) {
    const read = readWindow({ metadata: { annotations: requested } }, policy.breakGlass, now, { freshFor: true });
    if (read.kind !== 'valid') {
      const problems = read.kind === 'invalid' ? read.problems : ['no window'];
      return refused(`cannot ${action} the window on ${where}: ${problems.map((p) => inFlagTerms(p, given)).join('; also ')} (GuardPolicy ${policy.name})`);
    }
    window = read.window;
  } else {
    // No policy to check against: only what is needed to write an absolute end is checked here.
    const until = effectiveUntil(requested, now);
    if (until === undefined) {
      return refused(
        flags.for !== undefined
          ? `--for "${flags.for}" is not a duration; write e.g. 30m or 2h`
          : `--until "${flags.until ?? ''}" is not an RFC 3339 time; write e.g. ${formatTime(now.getTime() + 3_600_000)}`,
      );
    }
    window = { until: formatTime(until), reason: (requested[BREAK_GLASS_REASON] ?? '').trim(), incident: (requested[BREAK_GLASS_INCIDENT] ?? '').trim() };
  }

  const ticket = ticketId(subject.ref, window);
  const annotations: Record<string, string | null> = {
    [BREAK_GLASS_UNTIL]: window.until,
    [BREAK_GLASS_REASON]: window.reason,
    [BREAK_GLASS_INCIDENT]: window.incident,
    // A leftover relative `for` would win over the `until` written here (see effectiveUntil).
    [BREAK_GLASS_FOR]: null,
  };
  const notes: string[] = [];
  if (policy !== undefined && !(matchesNamespace(policy, subject.ref.namespace) && matchesResource(policy, subject.ref.group, subject.ref.resource))) {
    notes.push(
      `GuardPolicy ${policy.name} does not protect ${resourceLabel(subject.ref)} in namespace ${subject.ref.namespace}: changes there need no window (opening it anyway)`,
    );
  }
  const owner = detectGitOps(subject.object);
  const pause = gitopsPause(owner, current, flags.pauseGitops === true, notes);
  if (pause !== undefined) {
    const { key, value } = PAUSE_ANNOTATIONS[pause];
    annotations[key] = value;
    annotations[PAUSED_GITOPS] = pause;
  }

  const was = hasWindow(subject.object) ? currentWindow(subject, now) : undefined;
  return {
    kind: 'window',
    patch: { metadata: { annotations } },
    window,
    ticket,
    ...(was !== undefined && was.ticket !== ticket ? { previous: was } : {}),
    ...(owner === undefined ? {} : { owner }),
    ...(pause === undefined ? {} : { paused: pause }),
    notes,
  };
}

/** gitopsPause adds the GitOps warnings to `notes` and returns the pause to write, if one is wanted and possible. */
function gitopsPause(owner: GitOpsOwner | undefined, current: Record<string, string>, wanted: boolean, notes: string[]): PauseKind | undefined {
  if (owner === undefined) {
    if (wanted) notes.push('--pause-gitops: no Flux or Argo CD label or annotation marks this object, so there is no reconciliation to pause');
    return undefined;
  }
  if (owner.tool === 'argocd') {
    const how = `disable self-heal on the Application: ${selfHealCommand(owner, false)} (and turn it back on once Git has the fix)`;
    notes.push(
      wanted
        ? `${revertWarning(owner)}; Argo CD cannot pause one object, so --pause-gitops did nothing here: ${how}`
        : `${revertWarning(owner)}; to keep the fix until then, ${how}`,
    );
    return undefined;
  }
  const kind = pauseKindOf(owner);
  if (kind === undefined) return undefined;
  const { key, value } = PAUSE_ANNOTATIONS[kind];
  if (current[key] === value) {
    notes.push(`${revertWarning(owner)}; reconciliation of this object is already paused (${key}: ${value}, not set by driftgate: close leaves it)`);
    return undefined;
  }
  if (!wanted) {
    notes.push(`${revertWarning(owner)}; pass --pause-gitops to pause it for this object until close`);
    return undefined;
  }
  return kind;
}

/**
 * planClose returns the writes that close a window: first, while the window still holds, undo the
 * pause driftgate set (removing it is a change the webhook checks like any other, so it needs the
 * window), then remove the window's four annotations (anyone may: removing a window is no drift).
 */
export function planClose(subject: Subject, checks: Checks, now: Date): ClosePlan | Refusal | Nothing {
  const a = annotationsOf(subject.object);
  const where = `${label(subject.ref)} in namespace ${subject.ref.namespace}`;
  const marker = a[PAUSED_GITOPS];
  const open = hasWindow(subject.object);
  if (!open && marker === undefined) return { kind: 'nothing', message: `${where} carries no break-glass window; nothing to close` };

  const notes: string[] = [];
  const steps: CloseStep[] = [];
  const last: Record<string, string | null> = {};
  if (isPauseKind(marker)) {
    const { key } = PAUSE_ANNOTATIONS[marker];
    if (a[key] === undefined) {
      last[PAUSED_GITOPS] = null;
    } else {
      const { policy, user } = checks;
      if (policy !== undefined && user !== undefined && !inSubjects(policy.breakGlass, user)) {
        const who = forbidden(user, policy).message;
        return refused(`resuming GitOps on ${where} (removing ${key}) is a change driftgate checks: ${who}`);
      }
      const read = policy === undefined ? undefined : readWindow(subject.object, policy.breakGlass, now, { freshFor: false });
      if (read !== undefined && read.kind !== 'valid') {
        const why = read.kind === 'invalid' && read.expired ? 'has expired' : 'is not valid';
        return refused(
          `the window on ${where} ${why}, and resuming GitOps (removing ${key}) is a change driftgate checks under a window: run driftgate break-glass extend ${label(subject.ref)} -n ${subject.ref.namespace} --for 10m, then close again`,
        );
      }
      steps.push({
        what: `resumed GitOps reconciliation of this object (removed ${key}, which driftgate set)`,
        patch: { metadata: { annotations: { [key]: null, [PAUSED_GITOPS]: null } } },
      });
    }
  } else if (marker !== undefined) {
    notes.push(`${PAUSED_GITOPS}: "${marker}" is not a pause driftgate knows; left as it is`);
  }
  if (open) for (const key of WINDOW_KEYS) last[key] = null;
  if (Object.keys(last).length > 0)
    steps.push({ what: open ? 'removed the break-glass annotations' : `removed ${PAUSED_GITOPS}`, patch: { metadata: { annotations: last } } });

  const until = effectiveUntil(a, now);
  const incident = (a[BREAK_GLASS_INCIDENT] ?? '').trim();
  return {
    kind: 'close',
    steps,
    ...(open ? { window: { until: until === undefined ? (a[BREAK_GLASS_UNTIL] ?? '?') : formatTime(until), incident } } : {}),
    notes,
  };
}
