/**
 * The figures docs/RELIABILITY.md shows (`npm run reliability`) are computed, not typed: each count
 * is checked here on a made-up run, so a figure cannot quietly say something else than its label.
 */
import { describe, expect, it } from 'vitest';
import { type ScenarioResult, type WriteRecord, figuresOf } from '../../e2e/replica-scenario.js';
import { section } from '../../reliability/section.js';

function write(key: string, allowed: boolean, phase: WriteRecord['phase'], message = ''): WriteRecord {
  return { client: 'c', user: 'carol@example.com', object: 'ledger', key, phase, startedMs: 0, endedMs: 1, allowed, message };
}

function change(uid: string, ...keys: string[]) {
  return { requestUid: uid, username: 'carol@example.com', patch: keys.map((k) => ({ op: 'add', path: `/data/${k}` })) };
}

const RUN: ScenarioResult = {
  writes: [
    write('a', true, 'all-up'),
    write('b', true, 'all-up'),
    write('c', false, 'one-killed', 'admission webhook "validate.driftgate.dev" denied the request: [driftgate/ticket] could not be recorded'),
    write('d', false, 'one-killed', 'Internal error occurred: failed calling webhook "validate.driftgate.dev": EOF'),
    write('e', true, 'restarted'),
  ],
  tickets: [
    {
      id: 'ledger-inc-1600-0123456789',
      object: { namespace: 'prod', name: 'ledger' },
      // b twice (the apiserver's re-review, another uid); c recorded though refused; e missing.
      changes: [change('u1', 'seed', 'a'), change('u2', 'b'), change('u3', 'b'), change('u4', 'c')],
    },
  ],
  stampedTickets: { ledger: 'ledger-inc-1600-0123456789' },
  objects: ['ledger'],
  survivors: [],
  restarted: { name: 'r2', pidBefore: 1, pidAfter: 2, servedAfterRestart: 3 },
  timeline: { killedMs: 1000, markedDownMs: 1400, firstAllowedAfterKillMs: 1900, restartedMs: 5000, markedUpMs: 5600, rejoinedMs: 9000 },
  settings: { replicas: 3, clients: 1, writesPerClient: 5, balancer: 'HAProxy' },
};

describe('figuresOf', () => {
  it('counts writes, refusals by kind, changes, what is missing and what was recorded twice', () => {
    expect(figuresOf(RUN)).toEqual({
      attempted: 5,
      allowed: 3,
      refused: 2,
      refusedByDriftgate: 1,
      refusedCallingWebhook: 1,
      changesRecorded: 4,
      allowedMissing: 1,
      recordedTwice: 1,
      reviewsRecordedTwice: 0,
      recordedButRefused: 1,
      killToMarkedDownMs: 400,
      killToFirstAllowedMs: 900,
      restartToMarkedUpMs: 600,
      restartToServingMs: 4000,
    });
  });

  it('counts one request uid on two changes as a review recorded twice', () => {
    const twice = structuredClone(RUN);
    twice.tickets[0]?.changes.push(change('u1', 'a'));
    expect(figuresOf(twice).reviewsRecordedTwice).toBe(1);
  });
});

describe('the RELIABILITY.md section', () => {
  it('shows each figure with its label, the phases, and one message per kind of refusal', () => {
    const text = section(RUN, figuresOf(RUN), new Date('2026-12-02T09:30:00Z'));
    expect(text).toContain('| writes attempted | 5 |');
    expect(text).toContain('| allowed writes missing from a ticket | 1 |');
    expect(text).toContain('| SIGKILL to HAProxy marking the replica down | 0.4 s |');
    expect(text).toContain('| one-killed | 2 | 0 | 2 |');
    expect(text).toContain('1 × `[driftgate/ticket]` (phases: one-killed)');
    expect(text).toContain('1 × `failed calling webhook "validate.driftgate.dev": EOF` (phases: one-killed)');
  });
});
