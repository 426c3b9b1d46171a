/**
 * Shared pieces of the webhook tests (test/http): the decide fixtures as request bodies, a log
 * sink that keeps every JSON line, and a ticket store whose behaviour a test chooses.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AdmissionRequest, AdmissionResponse, AdmissionReview } from '../../src/admission/types.js';
import { BREAK_GLASS_FOR, BREAK_GLASS_UNTIL } from '../../src/decision/annotations.js';
import type { TicketDraft } from '../../src/decision/types.js';
import { DriftgateError } from '../../src/errors.js';
import { loadPolicy } from '../../src/policy/load.js';
import { readFixtureReview } from './fixture-review.js';
import type { GuardPolicy } from '../../src/policy/types.js';
import type { JournalStore } from '../../src/tickets/journal.js';
import type { BackportCommit, Resolution, SettlementProgress, Ticket, TicketFilter, TicketStore } from '../../src/tickets/types.js';

/** TESTDATA is the folder of realistic AdmissionReviews the decide tests use. */
export const TESTDATA = join(import.meta.dirname, '..', 'unit', 'decision', 'testdata');
/** POLICY_FILE is the GuardPolicy those fixtures are decided against. */
export const POLICY_FILE = join(TESTDATA, 'policy.yaml');
/** FIXED_NOW is the instant at which the fixtures' fixed `break-glass-until` values are valid. */
export const FIXED_NOW = new Date('2026-11-24T03:00:00Z');

/** SECRET_VALUES are the Secret values of the secret-edit-* fixtures, raw and base64. */
export const SECRET_VALUES = ['aHVudGVyMg==', 'hunter2', 'czNjcjN0LXJvdGF0ZWQ=', 's3cr3t-rotated', 'plain-text-token-value'];

/** Review is an AdmissionReview as the kube-apiserver sends it: `request` present. */
export type Review = AdmissionReview & { request: AdmissionRequest };

/** fixturePolicy returns the fixtures' GuardPolicy, loaded the way the server loads it. */
export function fixturePolicy(): GuardPolicy {
  return loadPolicy(readFileSync(POLICY_FILE, 'utf8'), POLICY_FILE);
}

/** fixture returns a fresh copy of the AdmissionReview of `testdata/<name>/`. */
export function fixture(name: string): Review {
  return readFixtureReview(TESTDATA, name) as Review;
}

/** withUid returns the review with another request uid, as the apiserver gives every call its own. */
export function withUid(review: Review, uid: string): Review {
  const copy = structuredClone(review);
  copy.request.uid = uid;
  return copy;
}

/**
 * breakGlassFor returns the review with the new object's `break-glass-until` replaced by
 * `break-glass-for: <duration>`, written by this very request: a window that is valid whatever
 * the clock says. Only the new object: a `-for` already stored on the old one has no known start
 * and counts as expired (issue 11).
 */
export function breakGlassFor(review: Review, duration = '30m'): Review {
  const copy = structuredClone(review);
  for (const obj of [copy.request.object]) {
    const annotations = obj?.metadata?.annotations;
    if (annotations === undefined || annotations[BREAK_GLASS_UNTIL] === undefined) continue;
    delete annotations[BREAK_GLASS_UNTIL];
    annotations[BREAK_GLASS_FOR] = duration;
  }
  return copy;
}

/** reviewOf returns the whole AdmissionReview driftgate answers with `response`. */
export function reviewOf(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

/** LogRecord is one parsed pino line. */
export type LogRecord = Record<string, unknown>;

/** LogSink is a stream for pino that keeps every line it is given. */
export class LogSink extends Writable {
  readonly lines: string[] = [];
  #partial = '';

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    const text = this.#partial + chunk.toString();
    const parts = text.split('\n');
    this.#partial = parts.pop() ?? '';
    this.lines.push(...parts.filter((l) => l !== ''));
    done();
  }

  /** records returns every line parsed. */
  records(): LogRecord[] {
    return this.lines.map((l) => JSON.parse(l) as LogRecord);
  }

  /** text returns every line, joined, for "appears nowhere" checks. */
  text(): string {
    return this.lines.join('\n');
  }
}

/** StoreMode says what ControlledStore.record does. */
export type StoreMode =
  | 'pass'
  /** Rejects, as a store whose disk or API server is gone. */
  | 'reject'
  /** Never settles on its own, but gives up when the signal aborts (as the journal does). */
  | 'hang'
  /** Never settles at all, signal or not: a store with a bug the admission path must survive. */
  | 'hang-ignoring-deadline';

/** Held is a record() call kept waiting by ControlledStore.hold. */
export interface Held {
  /** Resolves once record() has been entered. */
  called: Promise<void>;
  release(): void;
}

/**
 * ControlledStore wraps a real JournalStore: it records, in `events`, when record() is entered and
 * when it resolves, and does what `mode` says. The events array is shared, so that a test can put
 * the moment a response is sent in the same timeline.
 */
export class ControlledStore implements TicketStore {
  mode: StoreMode = 'pass';
  readonly calls: TicketDraft[] = [];
  readonly #inner: JournalStore;
  readonly #events: string[];
  #held: { entered: () => void; gate: Promise<void> } | undefined;

  constructor(inner: JournalStore, events: string[]) {
    this.#inner = inner;
    this.#events = events;
  }

  /** hold makes the next record() wait, after it is entered, until release() is called. */
  hold(): Held {
    let entered!: () => void;
    let release!: () => void;
    const called = new Promise<void>((resolve) => (entered = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    this.#held = { entered, gate };
    return { called, release };
  }

  recordBackport(id: string, backport: BackportCommit): Promise<Ticket> {
    return this.#inner.recordBackport(id, backport);
  }

  recordSettlement(id: string, settlement: SettlementProgress): Promise<Ticket> {
    return this.#inner.recordSettlement(id, settlement);
  }

  async record(draft: TicketDraft, opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.calls.push(draft);
    this.#events.push(`record called ${draft.change.requestUid}`);
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined) {
      held.entered();
      await held.gate;
    }
    switch (this.mode) {
      case 'reject':
        throw new DriftgateError('DG_JOURNAL_IO', '/var/lib/driftgate/tickets.jsonl: could not append the ticket: ENOSPC: no space left on device');
      case 'hang':
        return new Promise<void>((_resolve, reject) => {
          opts.signal?.addEventListener('abort', () => reject(new DriftgateError('DG_TICKET_TIMEOUT', `ticket ${draft.id}: gave up, the deadline passed`)), {
            once: true,
          });
        });
      case 'hang-ignoring-deadline':
        return new Promise<void>(() => undefined);
      case 'pass':
        await this.#inner.record(draft, opts);
        this.#events.push(`record resolved ${draft.change.requestUid}`);
    }
  }

  list(filter?: TicketFilter): Promise<Ticket[]> {
    return this.#inner.list(filter);
  }

  get(id: string): Promise<Ticket> {
    return this.#inner.get(id);
  }

  resolve(id: string, resolution: Resolution): Promise<Ticket> {
    return this.#inner.resolve(id, resolution);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  describeStore(): string {
    return this.#inner.describeStore();
  }
}

/** ticketOf returns the ticket a store lists after recording exactly `draft`. */
export function ticketOf(draft: TicketDraft): Ticket {
  return { id: draft.id, object: draft.object, window: draft.window, state: 'open', openedAt: draft.change.at, changes: [draft.change] };
}
