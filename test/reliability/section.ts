/**
 * The Markdown `npm run reliability` writes between the markers of docs/RELIABILITY.md: pure, so
 * test/unit/reliability checks it on a made-up run.
 */
import { cpus, loadavg } from 'node:os';
import type { Figures, ScenarioResult } from '../e2e/replica-scenario.js';

function seconds(ms: number | undefined): string {
  return ms === undefined ? 'not observed' : `${(ms / 1000).toFixed(1)} s`;
}

/** exampleOf returns the message from where its reason starts (a kubectl warning may come first), on one line. */
function exampleOf(message: string, reason: string): string {
  const flat = message.replace(/\s+/g, ' ');
  const at = flat.indexOf(reason.slice(0, 20));
  return flat.slice(Math.max(0, at), Math.max(0, at) + 400);
}

/** section returns the Markdown between the markers. */
export function section(result: ScenarioResult, f: Figures, when: Date): string {
  const s = result.settings;
  const phases = ['all-up', 'one-killed', 'restarted', 'rejoin'] as const;
  const perPhase = phases.map((p) => {
    const w = result.writes.filter((x) => x.phase === p);
    return `| ${p} | ${w.length} | ${w.filter((x) => x.allowed).length} | ${w.filter((x) => !x.allowed).length} |`;
  });
  const reasons = new Map<string, { count: number; phases: Set<string>; example: string }>();
  for (const w of result.writes.filter((x) => !x.allowed)) {
    const reason = /\[driftgate\/[a-z-]+\]/.exec(w.message)?.[0] ?? /failed calling webhook "[^"]+": [^:]+/.exec(w.message)?.[0] ?? w.message.slice(0, 80);
    const entry = reasons.get(reason) ?? { count: 0, phases: new Set<string>(), example: exampleOf(w.message, reason) };
    entry.count++;
    entry.phases.add(w.phase);
    reasons.set(reason, entry);
  }
  return [
    `Measured ${when.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} cores (load ${loadavg()[0]?.toFixed(1)} at the end), ${s.replicas} replicas behind ${s.balancer},`,
    `${s.clients} clients (2 kubectl, 2 client-node, each its own break-glass user) writing ${s.writesPerClient} bypasses each to 2 ConfigMaps under one window each.`,
    '',
    '| figure | value |',
    '|---|---|',
    `| writes attempted | ${f.attempted} |`,
    `| allowed (the apiserver reported success) | ${f.allowed} |`,
    `| refused | ${f.refused} (by driftgate: ${f.refusedByDriftgate}; the apiserver could not call a replica: ${f.refusedCallingWebhook}) |`,
    `| changes recorded on BackportTickets | ${f.changesRecorded} |`,
    `| allowed writes missing from a ticket | ${f.allowedMissing} |`,
    `| reviews recorded twice (one request uid on two changes) | ${f.reviewsRecordedTwice} |`,
    `| writes on a ticket twice, because the apiserver reviewed them twice (its conflict retry) | ${f.recordedTwice} |`,
    `| refused writes whose change was nevertheless recorded | ${f.recordedButRefused} |`,
    `| SIGKILL to HAProxy marking the replica down | ${seconds(f.killToMarkedDownMs)} |`,
    `| SIGKILL to the next write allowed | ${seconds(f.killToFirstAllowedMs)} |`,
    `| restart to HAProxy marking it up | ${seconds(f.restartToMarkedUpMs)} |`,
    `| restart to its first review answered | ${seconds(f.restartToServingMs)} |`,
    '',
    '| phase | attempted | allowed | refused |',
    '|---|---|---|---|',
    ...perPhase,
    '',
    ...(reasons.size === 0
      ? ['No write was refused.']
      : [
          'Refusals, one message of each kind:',
          '',
          ...[...reasons].map(([r, e]) => `- ${e.count} × \`${r}\` (phases: ${[...e.phases].join(', ')}): ${JSON.stringify(e.example)}`),
        ]),
  ].join('\n');
}
