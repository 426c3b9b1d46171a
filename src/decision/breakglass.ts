/**
 * Break-glass windows: reading them off an object's annotations and checking them against the
 * policy. Pure: `now` comes in. Every problem is reported at once, each naming the annotation,
 * what is wrong and what to write instead, because the reader is a responder at 3 a.m.
 */
import type { KubeObject } from '../admission/types.js';
import { formatDuration, parseDuration } from '../policy/duration.js';
import type { BreakGlass } from '../policy/types.js';
import { parseRfc3339 } from '../util/rfc3339.js';
import { escapeControls } from '../util/terminal.js';
import { BREAK_GLASS_FOR, BREAK_GLASS_INCIDENT, BREAK_GLASS_REASON, BREAK_GLASS_UNTIL, isWindowAnnotation } from './annotations.js';
import type { Window } from './types.js';

/** WindowRead is what an object says about break-glass: nothing, a valid window, or problems. */
export type WindowRead = { kind: 'none' } | { kind: 'valid'; window: Window } | { kind: 'invalid'; problems: string[]; expired: boolean };

/**
 * ReadOptions say what the caller knows about the request the window comes with.
 * `freshFor`: the `break-glass-for` is being written by this very request to the object itself,
 * so the mutating webhook turns it into an absolute `until` counted from now. A `-for` anywhere
 * else (stored on the object, on a parent, written through a subresource the mutating webhook
 * does not patch) has no known start: it counts as expired, exactly as an `until` in the past.
 */
export interface ReadOptions {
  freshFor: boolean;
}

// Characters that show nothing: whitespace, controls, format characters (zero-width, bidi),
// default-ignorable code points (fillers, variation selectors) and the braille blank.
const INVISIBLE = /[\p{White_Space}\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/gu;
const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

/**
 * visibleLength returns how many visible characters `text` shows: grapheme clusters (an emoji
 * with modifiers is one), not counting whitespace, zero-width or other invisible characters, so
 * that padding cannot make a short reason long enough.
 */
export function visibleLength(text: string): number {
  const visible = text.replace(INVISIBLE, '');
  let n = 0;
  for (const segment of segmenter.segment(visible)) if (!/^\p{M}+$/u.test(segment.segment)) n++;
  return n;
}

function quote(text: string): string {
  return `"${escapeControls(text)}"`;
}

/** hasWindow tells whether an object carries any break-glass annotation at all. */
export function hasWindow(obj: KubeObject | null | undefined): boolean {
  const a = obj?.metadata?.annotations;
  if (a === undefined) return false;
  return Object.keys(a).some((k) => isWindowAnnotation(k) && a[k] !== undefined);
}

/** formatTime returns an RFC 3339 UTC time to the second, the form driftgate writes and suggests. */
export function formatTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * effectiveUntil returns the window's end in milliseconds: `break-glass-for` counts from `now`
 * (the mutating webhook turns it into an absolute `until`, and a fresh `for` means a fresh window,
 * so it wins over an older `until`).
 */
export function effectiveUntil(annotations: Record<string, string>, now: Date): number | undefined {
  const forText = annotations[BREAK_GLASS_FOR];
  if (forText !== undefined) {
    const ms = parseDuration(forText.trim());
    return ms === undefined ? undefined : Math.floor((now.getTime() + ms) / 1000) * 1000;
  }
  const untilText = annotations[BREAK_GLASS_UNTIL];
  return untilText === undefined ? undefined : parseRfc3339(untilText.trim());
}

/** readWindow returns the window an object carries, checked against the policy at `now`. */
export function readWindow(obj: KubeObject | null | undefined, policy: BreakGlass, now: Date, opts: ReadOptions): WindowRead {
  if (!hasWindow(obj)) return { kind: 'none' };
  const a = obj?.metadata?.annotations ?? {};
  const problems: string[] = [];
  let expired = false;
  const maxEnd = now.getTime() + policy.maxDurationMs;

  const forText = a[BREAK_GLASS_FOR];
  const untilText = a[BREAK_GLASS_UNTIL];
  if (forText !== undefined) {
    const ms = parseDuration(forText.trim());
    if (ms === undefined || ms <= 0) {
      problems.push(`${BREAK_GLASS_FOR} ${quote(forText)} is not a positive duration; write e.g. 30m or 2h`);
    } else if (ms > policy.maxDurationMs) {
      problems.push(`${BREAK_GLASS_FOR} ${quote(forText)} is longer than the policy's maximum of ${policy.maxDuration}; write at most ${policy.maxDuration}`);
    } else if (!opts.freshFor) {
      expired = true;
      problems.push(
        `${BREAK_GLASS_FOR} ${quote(forText)} was stored as it was written (the mutating webhook never turned it into a ${BREAK_GLASS_UNTIL}), so when it started is unknown and it counts as expired; ` +
          `write ${BREAK_GLASS_UNTIL}: ${formatTime(now.getTime() + Math.min(policy.maxDurationMs, 3_600_000))} instead, on the object itself`,
      );
    }
  } else if (untilText === undefined) {
    problems.push(
      `${BREAK_GLASS_UNTIL}: missing; write an RFC 3339 time such as ${formatTime(now.getTime() + Math.min(policy.maxDurationMs, 3_600_000))}, or ${BREAK_GLASS_FOR}: 30m`,
    );
  } else {
    const until = effectiveUntil(a, now);
    if (until === undefined) {
      problems.push(
        `${BREAK_GLASS_UNTIL} ${quote(untilText)} is not an RFC 3339 time (a real calendar date and time with an offset); write e.g. ${formatTime(now.getTime() + Math.min(policy.maxDurationMs, 3_600_000))}, or ${BREAK_GLASS_FOR}: 30m`,
      );
    } else if (until <= now.getTime()) {
      expired = true;
      problems.push(
        `${BREAK_GLASS_UNTIL} expired at ${formatTime(until)} (${formatDuration(now.getTime() - until)} ago); open a new window with a time after now, at most ${policy.maxDuration} ahead`,
      );
    } else if (until > maxEnd) {
      problems.push(
        `${BREAK_GLASS_UNTIL} ${formatTime(until)} is ${formatDuration(until - now.getTime())} from now, beyond the policy's maximum of ${policy.maxDuration}; write a time no later than ${formatTime(maxEnd)}`,
      );
    }
  }

  const reason = (a[BREAK_GLASS_REASON] ?? '').trim();
  const reasonLength = visibleLength(reason);
  if (reasonLength === 0) {
    problems.push(`${BREAK_GLASS_REASON}: missing; say why the change cannot wait for Git, in at least ${policy.minReasonLength} characters`);
  } else if (reasonLength < policy.minReasonLength) {
    problems.push(
      `${BREAK_GLASS_REASON} ${quote(reason)} is ${reasonLength} characters; the policy asks for at least ${policy.minReasonLength} visible ones (spaces and invisible characters do not count)`,
    );
  }

  const incident = (a[BREAK_GLASS_INCIDENT] ?? '').trim();
  if (visibleLength(incident) === 0) {
    problems.push(`${BREAK_GLASS_INCIDENT}: missing; name the incident, matching ${escapeControls(policy.incidentPattern)}`);
  } else if (!policy.incident.test(incident)) {
    problems.push(`${BREAK_GLASS_INCIDENT} ${quote(incident)} does not match ${escapeControls(policy.incidentPattern)}`);
  }

  if (problems.length > 0) return { kind: 'invalid', problems, expired };
  const until = effectiveUntil(a, now);
  if (until === undefined) return { kind: 'invalid', problems: [`${BREAK_GLASS_UNTIL}: unreadable`], expired };
  return { kind: 'valid', window: { until: formatTime(until), reason, incident } };
}
