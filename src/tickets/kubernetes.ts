/**
 * The Kubernetes store: each ticket is one `BackportTicket` custom resource (driftgate.dev/v1alpha1)
 * in driftgate's own namespace, so every replica reads and writes the same tickets through the
 * API server (etcd), with no clustering of our own.
 *
 * Why one object per ticket, state in `spec`: a single PUT then writes a change and the state it
 * implies atomically, guarded by `metadata.resourceVersion`. Names are the deterministic ticket
 * ids, so two replicas recording the same window meet on one object: the loser of a race gets
 * 409 Conflict, reads the winner's object and appends to it. The change rule is fold.ts's
 * `withChange`, so a journal and a cluster keep the same tickets for the same events.
 */
import type { TicketChange, TicketDraft } from '../decision/types.js';
import { DriftgateError } from '../errors.js';
import { KubeApiError, resourcePath, type KubeClient, type KubeRequest } from '../kube/client.js';
import {
  backportProblem,
  checkEvent,
  copyOf,
  filterTickets,
  mayResolve,
  oldestFirst,
  openTicket,
  settlementProblem,
  stateAfter,
  withBackport,
  withChange,
  withResolution,
  withSettlement,
} from './fold.js';
import {
  TICKET_STATES,
  type BackportCommit,
  type Resolution,
  type SettlementProgress,
  type Ticket,
  type TicketFilter,
  type TicketState,
  type TicketStore,
} from './types.js';
import { isRecord } from '../util/json.js';

/** BACKPORT_TICKETS names the custom resource tickets are stored as. */
export const BACKPORT_TICKETS = { group: 'driftgate.dev', version: 'v1alpha1', resource: 'backporttickets', kind: 'BackportTicket' } as const;

/** DEFAULT_TICKETS_NAMESPACE is where tickets live unless configured otherwise: driftgate's own namespace. */
export const DEFAULT_TICKETS_NAMESPACE = 'driftgate-system';

/** Labels the store sets so that `list()` (and kubectl) can select by namespace and incident. */
export const NAMESPACE_LABEL = 'driftgate.dev/namespace';
/** INCIDENT_LABEL carries the window's incident, sanitized by `labelValue`. */
export const INCIDENT_LABEL = 'driftgate.dev/incident';

/** BackportTicketSpec is a ticket without its id (the object's name). */
export interface BackportTicketSpec {
  object: Ticket['object'];
  window: Ticket['window'];
  state: TicketState;
  openedAt: string;
  changes: TicketChange[];
  resolution?: Resolution;
  /** Resolutions undone by a later change (see `Ticket.earlierResolutions`); absent when none. */
  earlierResolutions?: Resolution[];
  /** Commits `tickets backport` made for it (see `Ticket.backports`); absent when none. */
  backports?: BackportCommit[];
  /** What settlement last found on an open, partly settled ticket (see `Ticket.settlement`). */
  settlement?: SettlementProgress;
}

/** BackportTicketObject is a BackportTicket as sent to and served by the API. */
export interface BackportTicketObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; [field: string]: unknown };
  spec: BackportTicketSpec;
  [field: string]: unknown;
}

/** KubernetesStoreOptions configures a KubernetesStore. */
export interface KubernetesStoreOptions {
  client: KubeClient;
  /** Where the BackportTickets live; default `driftgate-system`. */
  namespace?: string;
  /** Writes tried before giving up with DG_TICKET_CONFLICT while other writers keep winning; default 5. */
  maxAttempts?: number;
  /**
   * Bound on every operation, in milliseconds; default 10 000. `list`, `get` and `resolve` take no
   * signal, and a CLI must not hang on an API server that accepts and never answers.
   */
  timeoutMs?: number;
  /** Told about each BackportTicket `list()` skips as malformed. Defaults to a process warning. */
  onWarning?: (message: string) => void;
}

type Read = { object: BackportTicketObject; ticket: Ticket };

/** KubernetesStore keeps tickets as BackportTicket custom resources. */
export class KubernetesStore implements TicketStore {
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #maxAttempts: number;
  readonly #timeoutMs: number;
  readonly #onWarning: (message: string) => void;

  constructor(opts: KubernetesStoreOptions) {
    this.#client = opts.client;
    this.#namespace = opts.namespace ?? DEFAULT_TICKETS_NAMESPACE;
    this.#maxAttempts = Math.max(1, opts.maxAttempts ?? 5);
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#onWarning = opts.onWarning ?? ((message) => process.emitWarning(message, 'DriftgateTicketWarning'));
  }

  /** describeStore returns `kubernetes:<namespace>@<server>`. */
  describeStore(): string {
    return `kubernetes:${this.#namespace}@${this.#client.server}`;
  }

  /**
   * record resolves once the API server has stored the change: created with the ticket, or
   * appended under the fetched resourceVersion. A change already there (same request uid) is done.
   */
  async record(draft: TicketDraft, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const checked = checkEvent({ type: 'change', draft });
    if (!checked.ok) {
      // A change the readers would reject is a change lost: refuse it while the bypass can still be denied.
      throw new DriftgateError('DG_TICKET_STORE', `ticket ${draft.id}: not recorded, the draft is malformed: ${checked.problem}`);
    }
    const signal = this.#deadline(opts.signal);
    try {
      await this.#retrying(draft.id, signal, async () => {
        const found = await this.#read(draft.id, signal);
        if (found === undefined) return this.#create(draft, signal);
        const next = withChange(found.ticket, copyOf(draft.change));
        if (next === found.ticket) return next; // the apiserver retried a call we already recorded
        return this.#replace(found.object, next, signal);
      });
    } catch (err) {
      // An abort after the write was sent may still let it land: a change recorded for a write that
      // was then refused is a harmless extra entry; the reverse (allowed, not recorded) is not.
      throw this.#failure(err, { id: draft.id, doing: 'recording the change', writer: 'driftgate' });
    }
  }

  /** list returns the tickets matching `filter`, oldest first, selected by label where it can. */
  async list(filter: TicketFilter = {}): Promise<Ticket[]> {
    const signal = this.#deadline(undefined);
    const selector = [
      filter.namespace === undefined ? undefined : `${NAMESPACE_LABEL}=${labelValue(filter.namespace)}`,
      filter.incident === undefined ? undefined : `${INCIDENT_LABEL}=${labelValue(filter.incident)}`,
    ].filter((s): s is string => s !== undefined);
    const items: unknown[] = [];
    try {
      let next: string | undefined;
      do {
        const query = new URLSearchParams({ limit: '500' });
        if (selector.length > 0) query.set('labelSelector', selector.join(','));
        if (next !== undefined) query.set('continue', next);
        const page = await this.#call<{ items?: unknown[]; metadata?: { continue?: string } }>({ method: 'GET', path: `${this.#path('')}?${query}` }, signal);
        items.push(...(page.items ?? []));
        next = page.metadata?.continue === '' ? undefined : page.metadata?.continue;
      } while (next !== undefined);
    } catch (err) {
      throw this.#failure(err, { doing: 'listing the tickets', writer: 'you' });
    }
    const tickets: Ticket[] = [];
    for (const item of items) {
      const read = ticketOf(item);
      if (read.ok) tickets.push(read.ticket);
      else this.#warn(`${this.describeStore()}: skipped backportticket ${read.name}: ${read.problem}`);
    }
    // Labels are sanitized, so they only narrow; the exact match is filterTickets'.
    return filterTickets(tickets.sort(oldestFirst), filter);
  }

  /** get returns the ticket `id`, or throws DG_TICKET_NOT_FOUND. */
  async get(id: string): Promise<Ticket> {
    let found: Read | undefined;
    try {
      found = await this.#read(id, this.#deadline(undefined));
    } catch (err) {
      throw this.#failure(err, { id, doing: 'reading the ticket', writer: 'you' });
    }
    if (found === undefined) throw this.#notFound(id);
    return found.ticket;
  }

  /** resolve writes the decision under the fetched resourceVersion and returns the ticket as stored. */
  async resolve(id: string, resolution: Resolution): Promise<Ticket> {
    const checked = checkEvent({ type: 'resolve', id, resolution });
    if (!checked.ok) throw new DriftgateError('DG_TICKET_INVALID', `ticket ${id}: ${checked.problem}`);
    const signal = this.#deadline(undefined);
    try {
      return await this.#retrying(id, signal, async () => {
        const found = await this.#read(id, signal);
        if (found === undefined) throw this.#notFound(id);
        // Read afresh on every attempt: a 409 may mean someone else resolved it meanwhile.
        if (found.ticket.resolution !== undefined && !mayResolve(found.ticket, resolution)) throw alreadyResolved(id, found.ticket.resolution);
        const next = withResolution(found.ticket, resolution);
        return this.#replace(found.object, next, signal);
      });
    } catch (err) {
      throw this.#failure(err, { id, doing: 'resolving the ticket', writer: 'you' });
    }
  }

  /** recordBackport adds the commit under the fetched resourceVersion and returns the ticket as stored. */
  async recordBackport(id: string, backport: BackportCommit): Promise<Ticket> {
    const checked = checkEvent({ type: 'backport', id, backport });
    if (!checked.ok) throw new DriftgateError('DG_USAGE', `ticket ${id}: ${checked.problem}`);
    const signal = this.#deadline(undefined);
    try {
      return await this.#retrying(id, signal, async () => {
        const found = await this.#read(id, signal);
        if (found === undefined) throw this.#notFound(id);
        const next = withBackport(found.ticket, backport);
        if (next === found.ticket) return next;
        return this.#replace(found.object, next, signal);
      });
    } catch (err) {
      throw this.#failure(err, { id, doing: 'recording the backport commit', writer: 'you' });
    }
  }

  /** recordSettlement keeps settlement's finding under the fetched resourceVersion and returns the ticket as stored. */
  async recordSettlement(id: string, settlement: SettlementProgress): Promise<Ticket> {
    const checked = checkEvent({ type: 'settle', id, settlement });
    if (!checked.ok) throw new DriftgateError('DG_TICKET_INVALID', `ticket ${id}: ${checked.problem}`);
    const signal = this.#deadline(undefined);
    try {
      return await this.#retrying(id, signal, async () => {
        const found = await this.#read(id, signal);
        if (found === undefined) throw this.#notFound(id);
        const next = withSettlement(found.ticket, settlement);
        if (next === found.ticket) return next;
        return this.#replace(found.object, next, signal);
      });
    } catch (err) {
      throw this.#failure(err, { id, doing: 'recording what settlement found', writer: 'driftgate' });
    }
  }

  /** close resolves at once: the client exposes nothing to release, and idle keep-alive sockets hold no process open. */
  async close(): Promise<void> {}

  // Runs `attempt` until it returns the stored ticket; undefined means another writer got in first
  // (409), so the ticket is read again after a short jittered pause that keeps racing replicas apart.
  async #retrying(id: string, signal: AbortSignal, attempt: () => Promise<Ticket | undefined>): Promise<Ticket> {
    for (let n = 1; ; n++) {
      const stored = await attempt();
      if (stored !== undefined) return stored;
      if (n >= this.#maxAttempts) {
        throw new DriftgateError(
          'DG_TICKET_CONFLICT',
          `ticket ${id}: other writers kept updating it in ${this.describeStore()} (409 Conflict ${n} times in a row); nothing was written, try again`,
        );
      }
      await pause(Math.random() * 5 * 2 ** n, signal);
    }
  }

  // The ticket as created; undefined when the name was taken meanwhile (another replica won).
  async #create(draft: TicketDraft, signal: AbortSignal): Promise<Ticket | undefined> {
    const ticket = openTicket(draft);
    try {
      await this.#call({ method: 'POST', path: this.#path(''), body: backportTicket(ticket, this.#namespace) }, signal);
    } catch (err) {
      if (hasCode(err, 'DG_KUBE_CONFLICT')) return undefined;
      throw err;
    }
    return ticket;
  }

  // Writes `ticket` over `object` under its resourceVersion; undefined when the object changed or
  // went away since it was read, so that the caller reads it again.
  async #replace(object: BackportTicketObject, ticket: Ticket, signal: AbortSignal): Promise<Ticket | undefined> {
    const body: BackportTicketObject = {
      ...object,
      metadata: { ...object.metadata, labels: { ...object.metadata.labels, ...ticketLabels(ticket) } },
      spec: specOf(ticket),
    };
    let stored: unknown;
    try {
      stored = await this.#call({ method: 'PUT', path: this.#path(ticket.id), body }, signal);
    } catch (err) {
      if (hasCode(err, 'DG_KUBE_CONFLICT') || hasCode(err, 'DG_KUBE_NOT_FOUND')) return undefined;
      throw err;
    }
    const read = ticketOf(stored);
    if (!read.ok) return ticket;
    // A CRD schema without the field prunes it silently; say so rather than lose an earlier decision.
    if ((read.ticket.earlierResolutions?.length ?? 0) < (ticket.earlierResolutions?.length ?? 0)) {
      this.#warn(
        `${this.describeStore()}: ticket ${ticket.id}: the API server dropped spec.earlierResolutions; update the BackportTicket CRD (manifests/install.yaml, or helm upgrade of charts/driftgate)`,
      );
    }
    if ((read.ticket.backports?.length ?? 0) < (ticket.backports?.length ?? 0)) {
      this.#warn(`${this.describeStore()}: ticket ${ticket.id}: the API server dropped spec.backports; update the BackportTicket CRD from manifests/`);
    }
    return read.ticket;
  }

  // The ticket and the object it came from; undefined when there is no such ticket.
  async #read(id: string, signal: AbortSignal): Promise<Read | undefined> {
    let object: unknown;
    try {
      object = await this.#call({ method: 'GET', path: this.#path(id) }, signal);
    } catch (err) {
      if (hasCode(err, 'DG_KUBE_NOT_FOUND')) return undefined;
      throw err;
    }
    const read = ticketOf(object);
    if (!read.ok) {
      // Fail closed: writing over an object we cannot read could erase the changes it holds.
      throw new DriftgateError(
        'DG_TICKET_STORE',
        `ticket ${id} in ${this.describeStore()} is malformed: ${read.problem}; fix it with: kubectl -n ${this.#namespace} edit backportticket ${id}`,
      );
    }
    return { object: object as BackportTicketObject, ticket: read.ticket };
  }

  // Every call is bounded by `signal` here, whatever the client does with it, so that no caller
  // (the admission path above all) waits past its deadline.
  #call<T>(req: Omit<KubeRequest, 'signal'>, signal: AbortSignal): Promise<T> {
    const timeout = (): DriftgateError => new DriftgateError('DG_TICKET_TIMEOUT', `${req.method} ${req.path}: no answer before the deadline`);
    if (signal.aborted) return Promise.reject(timeout());
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(timeout());
      signal.addEventListener('abort', onAbort, { once: true });
      this.#client
        .request<T>({ ...req, signal })
        .then(resolve, reject)
        .finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  #deadline(signal: AbortSignal | undefined): AbortSignal {
    const bound = AbortSignal.timeout(this.#timeoutMs);
    return signal === undefined ? bound : AbortSignal.any([signal, bound]);
  }

  #path(name: string): string {
    return resourcePath({ ...BACKPORT_TICKETS, namespace: this.#namespace, name });
  }

  #notFound(id: string): DriftgateError {
    const flag = this.#namespace === DEFAULT_TICKETS_NAMESPACE ? 'kubernetes' : `kubernetes:${this.#namespace}`;
    return new DriftgateError(
      'DG_TICKET_NOT_FOUND',
      `no ticket "${id}" in ${this.describeStore()}; list the ids with: driftgate tickets list --tickets ${flag}`,
    );
  }

  // Turns a client failure into what went wrong with the ticket and what to do; errors this store
  // raised itself already say so and pass through.
  #failure(err: unknown, what: { id?: string; doing: string; writer: 'driftgate' | 'you' }): DriftgateError {
    const subject = `${what.id === undefined ? '' : `ticket ${what.id}: `}${what.doing} in ${this.describeStore()}`;
    if (!(err instanceof DriftgateError)) {
      return new DriftgateError('DG_TICKET_STORE', `${subject} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const ns = this.#namespace;
    switch (err.code) {
      case 'DG_TICKET_TIMEOUT':
        return new DriftgateError('DG_TICKET_TIMEOUT', `${subject}: gave up, the deadline passed before the Kubernetes API answered`, { cause: err });
      case 'DG_KUBE_FORBIDDEN': {
        const who = what.writer === 'driftgate' ? "driftgate's ServiceAccount" : 'the identity in your kubeconfig';
        const may = what.writer === 'driftgate' ? 'write' : 'read and update';
        return new DriftgateError(
          'DG_KUBE_FORBIDDEN',
          `${subject}: refused, ${who} may not ${may} backporttickets in ${ns}; apply the RBAC in manifests/install.yaml, or helm upgrade of charts/driftgate (${err.message})`,
          { cause: err },
        );
      }
      case 'DG_KUBE_UNREACHABLE':
        return new DriftgateError('DG_KUBE_UNREACHABLE', `${subject} failed: ${err.message}; check that the API server is up and reachable`, { cause: err });
      case 'DG_KUBE_TOO_LARGE':
        // Retrying cannot help: the ticket holds every change made under its window, and this one
        // would take it past what etcd stores. Closing the window (and opening a new one, on a new
        // ticket) is the way on.
        return new DriftgateError(
          'DG_TICKET_STORE',
          `${subject} failed: the ticket would be larger than the API server stores (${err instanceof KubeApiError ? err.apiMessage : err.message}); resolve this ticket and open a new window for further changes, or record big changes through Git`,
          { cause: err },
        );
      case 'DG_KUBE_NOT_FOUND':
        // Only the collection can be missing here (a missing ticket is handled where it is read).
        return new DriftgateError(
          'DG_TICKET_STORE',
          `${subject} failed: the API server serves no backporttickets.driftgate.dev in namespace ${ns}; install the BackportTicket CRD and create the namespace (manifests/install.yaml, or charts/driftgate)`,
          { cause: err },
        );
      default:
        return err;
    }
  }

  #warn(message: string): void {
    try {
      this.#onWarning(message);
    } catch {
      // A failing warning sink must not make the tickets unreadable.
    }
  }
}

/** backportTicket returns the BackportTicket object that stores `ticket` in `namespace`. */
export function backportTicket(ticket: Ticket, namespace: string): BackportTicketObject {
  return {
    apiVersion: `${BACKPORT_TICKETS.group}/${BACKPORT_TICKETS.version}`,
    kind: BACKPORT_TICKETS.kind,
    metadata: { name: ticket.id, namespace, labels: ticketLabels(ticket) },
    spec: specOf(ticket),
  };
}

/**
 * labelValue returns `text` as a valid label value: characters other than letters, digits, '-',
 * '_' and '.' become '-', at most 63 characters, starting and ending with a letter or digit.
 * Different texts may meet on one value, which is why labels only ever narrow a search.
 */
export function labelValue(text: string): string {
  return text
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

function ticketLabels(ticket: Ticket): Record<string, string> {
  return { [NAMESPACE_LABEL]: labelValue(ticket.object.namespace), [INCIDENT_LABEL]: labelValue(ticket.window.incident) };
}

function specOf(ticket: Ticket): BackportTicketSpec {
  return {
    object: ticket.object,
    window: ticket.window,
    state: ticket.state,
    openedAt: ticket.openedAt,
    changes: ticket.changes,
    ...(ticket.resolution === undefined ? {} : { resolution: ticket.resolution }),
    ...(ticket.earlierResolutions === undefined ? {} : { earlierResolutions: ticket.earlierResolutions }),
    ...(ticket.backports === undefined ? {} : { backports: ticket.backports }),
    ...(ticket.settlement === undefined ? {} : { settlement: ticket.settlement }),
  };
}

type TicketOf = { ok: true; ticket: Ticket } | { ok: false; name: string; problem: string };

// The ticket an API object holds, or the first problem with it, naming the field: the API server
// checks only what the CRD schema says, and anyone with kubectl may have edited the object.
function ticketOf(value: unknown): TicketOf {
  const meta = isRecord(value) && isRecord(value['metadata']) ? value['metadata'] : {};
  const name = typeof meta['name'] === 'string' ? meta['name'] : '';
  const bad = (problem: string): TicketOf => ({ ok: false, name: name === '' ? '(unnamed)' : name, problem });
  if (name === '') return bad('metadata.name is missing');
  const spec = isRecord(value) ? value['spec'] : undefined;
  if (!isRecord(spec)) return bad('spec is not an object');
  const { object, window, state, openedAt, changes, resolution, earlierResolutions, backports, settlement } = spec;
  if (!TICKET_STATES.includes(state as TicketState)) return bad(`spec.state ${JSON.stringify(state)} is not one of ${TICKET_STATES.join(', ')}`);
  if (typeof openedAt !== 'string') return bad('spec.openedAt is not a string');
  if (!Array.isArray(changes) || changes.length === 0) return bad('spec.changes is not a non-empty list');
  for (const [i, change] of changes.entries()) {
    // The fold's own shape check, so both stores accept exactly the same changes.
    const checked = checkEvent({ type: 'change', draft: { id: name, object, window, change } });
    if (!checked.ok) return bad(checked.problem.replace(/^draft\.change\./, `spec.changes[${i}].`).replace(/^draft\./, 'spec.'));
  }
  const resolutions: unknown = earlierResolutions ?? [];
  if (!Array.isArray(resolutions)) return bad('spec.earlierResolutions is not a list');
  const given: [string, unknown][] = resolutions.map((r, i) => [`spec.earlierResolutions[${i}].`, r]);
  if (resolution !== undefined) given.unshift(['spec.', resolution]);
  for (const [field, r] of given) {
    const checked = checkEvent({ type: 'resolve', id: name, resolution: r });
    if (!checked.ok) return bad(`${field}${checked.problem}`);
  }
  const commits: unknown = backports ?? [];
  if (!Array.isArray(commits)) return bad('spec.backports is not a list');
  for (const [i, b] of commits.entries()) {
    const problem = backportProblem(b, `spec.backports[${i}].`);
    if (problem !== undefined) return bad(problem);
  }
  if (settlement !== undefined) {
    const problem = settlementProblem(settlement, 'spec.settlement.');
    if (problem !== undefined) return bad(problem);
  }
  const decided = resolution === undefined ? 'open' : stateAfter((resolution as Resolution).decision);
  if (decided !== state)
    return bad(`spec.state is ${JSON.stringify(state)} but ${resolution === undefined ? 'there is no spec.resolution' : `spec.resolution says ${decided}`}`);
  const ticket: Ticket = {
    id: name,
    object: object as Ticket['object'],
    window: window as Ticket['window'],
    state: state as TicketState,
    openedAt,
    changes: changes as TicketChange[],
    ...(resolution === undefined ? {} : { resolution: resolution as Resolution }),
    ...(resolutions.length === 0 ? {} : { earlierResolutions: resolutions as Resolution[] }),
    ...(commits.length === 0 ? {} : { backports: commits as BackportCommit[] }),
    ...(settlement === undefined ? {} : { settlement: settlement as SettlementProgress }),
  };
  return { ok: true, ticket };
}

function alreadyResolved(id: string, earlier: Resolution): DriftgateError {
  return new DriftgateError(
    'DG_TICKET_CONFLICT',
    `ticket ${id} was already resolved: ${earlier.decision} by ${earlier.by} at ${earlier.at} (${earlier.ref}); a ticket is resolved once: to record another decision over it, add --override to tickets resolve`,
  );
}

function hasCode(err: unknown, code: DriftgateError['code']): boolean {
  return err instanceof DriftgateError && err.code === code;
}

// A pause that ends early, rejecting, when the deadline passes: the backoff never outlives it.
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      if (signal.aborted) reject(new DriftgateError('DG_TICKET_TIMEOUT', 'the deadline passed while waiting to retry'));
      else resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    if (signal.aborted) done();
  });
}
