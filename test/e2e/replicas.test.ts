/**
 * Several replicas, one of them SIGKILLed mid-run (issue 16): the scenario of
 * replica-scenario.ts (three `driftgate serve` behind HAProxy, the kubernetes ticket store,
 * four responders writing concurrently through kubectl and client-node) on a control plane of
 * its own, then what must hold afterwards. Tickets are read through `driftgate tickets list -o
 * json` (the fold), never as raw objects. No timing is asserted: the figures go to
 * docs/RELIABILITY.md (`npm run reliability`).
 */
import { dirname } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cluster } from './cluster.js';
import { type ScenarioResult, figuresOf, runReplicaScenario } from './replica-scenario.js';

let result: ScenarioResult;

beforeAll(async () => {
  result = await runReplicaScenario({ binDir: dirname(cluster().controlplane), log: (m) => process.stderr.write(`replicas: ${m}\n`) });
}, 600_000);

describe('three replicas behind one address, one SIGKILLed in the middle', () => {
  it('made writes in every phase, and let most through', () => {
    const phases = new Set(result.writes.map((w) => w.phase));
    expect([...phases].sort()).toEqual(expect.arrayContaining(['all-up', 'one-killed', 'restarted']));
    const figures = figuresOf(result);
    expect(figures.attempted).toBeGreaterThanOrEqual(120);
    expect(figures.allowed).toBeGreaterThan(figures.attempted / 2);
  });

  it('recorded every write the apiserver reported successful on a BackportTicket, once', () => {
    const counts = new Map<string, number>();
    const onTicketOf = new Map<string, string>();
    for (const ticket of result.tickets) {
      for (const change of ticket.changes) {
        for (const op of change.patch) {
          const key = /^\/data\/(.+)$/.exec(op.path)?.[1];
          if (key === undefined) continue;
          counts.set(key, (counts.get(key) ?? 0) + 1);
          onTicketOf.set(key, ticket.object.name);
        }
      }
    }
    const missing = result.writes.filter((w) => w.allowed && !counts.has(w.key)).map((w) => `${w.client} ${w.key} (${w.phase})`);
    expect(missing).toEqual([]);
    const twice = [...counts].filter(([, n]) => n > 1).map(([key]) => key);
    expect(twice).toEqual([]);
    // Each change is on the ticket of the object it was written to.
    for (const w of result.writes.filter((x) => x.allowed)) expect(onTicketOf.get(w.key)).toBe(w.object);
    // Recorded with the writer's own name, whichever client and replica carried it.
    const byKey = new Map(result.tickets.flatMap((t) => t.changes.flatMap((c) => c.patch.map((op) => [op.path, c.username] as const))));
    for (const w of result.writes.filter((x) => x.allowed)) expect(byKey.get(`/data/${w.key}`)).toBe(w.user);
  });

  it('neither split nor lost a ticket: one per window, the one stamped on the object', () => {
    for (const object of result.objects) {
      const tickets = result.tickets.filter((t) => t.object.name === object);
      expect(tickets.map((t) => t.id)).toEqual([result.stampedTickets[object]]);
    }
  });

  it('said why for every refused write', () => {
    const refused = result.writes.filter((w) => !w.allowed);
    for (const w of refused) {
      // driftgate's own refusal (e.g. a ticket it could not record) or the apiserver's account of
      // a call that failed (the killed replica's connection); never a bare failure.
      expect(w.message, `${w.client} ${w.key}`).toMatch(/\[driftgate\/[a-z-]+\]|failed calling webhook "(validate|mutate)\.driftgate\.dev"/);
    }
  });

  it('kept the survivors serving without a restart, and the killed one, restarted, rejoined and served', () => {
    for (const s of result.survivors) {
      expect(s.alive, s.name).toBe(true);
      expect(s.servedAtEnd, `${s.name} answered reviews after the kill`).toBeGreaterThan(s.servedAtKill);
    }
    expect(result.restarted.pidAfter).not.toBe(result.restarted.pidBefore);
    expect(result.restarted.servedAfterRestart).toBeGreaterThan(0);
    expect(result.timeline.markedDownMs).toBeDefined();
    expect(result.timeline.markedUpMs).toBeDefined();
  });
});
