/**
 * The Kubernetes store: tickets as BackportTicket custom resources (driftgate.dev/v1alpha1) in
 * driftgate's own namespace, so every replica reads and writes the same tickets through the API
 * server (etcd), with no clustering of our own.
 *
 * One small object per fact, created and never updated (kubernetes-objects.ts): a change, a
 * resolution or a person's override of one, settlement's finding, a backport commit. Recording a
 * change is ONE create, named from the ticket id and the request uid. Nothing is read first and nothing
 * is rewritten, so two replicas recording changes of one window at once never conflict, a retried
 * request meets its own object (409 AlreadyExists: already recorded), and a window with thousands
 * of changes is thousands of small objects, never one object growing past etcd's size limit.
 * Reading a ticket lists the objects labelled with its id, page by page, and folds them.
 *
 * Durability: `record` resolves only once the API server has answered 201 Created (or 409 for the
 * same name), which it does after etcd committed the object; the bypass is answered after that.
 */
import type { TicketDraft } from '../decision/types.js';
import { DriftgateError } from '../errors.js';
import { KubeApiError, resourcePath, type KubeClient, type KubeRequest } from '../kube/client.js';
import { checkEvent, copyOf, filterTickets, mayResolve, oldestFirst, withBackport, withResolution, withSettlement } from './fold.js';
import {
  BACKPORT_TICKETS,
  EVENT_LABEL,
  INCIDENT_LABEL,
  NAMESPACE_LABEL,
  TICKET_LABEL,
  addFact,
  backportName,
  changeName,
  emptyFacts,
  eventObject,
  foldTicket,
  isTicketId,
  labelValue,
  readObject,
  resolutionName,
  settlementName,
  type BackportTicketObject,
  type Facts,
} from './kubernetes-objects.js';
import { type BackportCommit, type Resolution, type SettlementProgress, type Ticket, type TicketFilter, type TicketStore } from './types.js';

export { BACKPORT_TICKETS, EVENT_LABEL, INCIDENT_LABEL, NAMESPACE_LABEL, TICKET_LABEL, labelValue };
export type { BackportTicketObject } from './kubernetes-objects.js';

/** DEFAULT_TICKETS_NAMESPACE is where tickets live unless configured otherwise: driftgate's own namespace. */
export const DEFAULT_TICKETS_NAMESPACE = 'driftgate-system';

/** LIST_PAGE is how many objects one list call asks for: bounded answers, however many changes a window has. */
export const LIST_PAGE = 500;

/** KubernetesStoreOptions configures a KubernetesStore. */
export interface KubernetesStoreOptions {
  client: KubeClient;
  /** Where the BackportTickets live; default `driftgate-system`. */
  namespace?: string;
  /**
   * Bound on every operation, in milliseconds; default 10 000. `list`, `get` and `resolve` take no
   * signal, and a CLI must not hang on an API server that accepts and never answers.
   */
  timeoutMs?: number;
  /** Told about each BackportTicket a read skips as malformed. Defaults to a process warning. */
  onWarning?: (message: string) => void;
}

/** KubernetesStore keeps tickets as BackportTicket custom resources, one per recorded fact. */
export class KubernetesStore implements TicketStore {
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #timeoutMs: number;
  readonly #onWarning: (message: string) => void;

  constructor(opts: KubernetesStoreOptions) {
    this.#client = opts.client;
    this.#namespace = opts.namespace ?? DEFAULT_TICKETS_NAMESPACE;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#onWarning = opts.onWarning ?? ((message) => process.emitWarning(message, 'DriftgateTicketWarning'));
  }

  /** describeStore returns `kubernetes:<namespace>@<server>`. */
  describeStore(): string {
    return `kubernetes:${this.#namespace}@${this.#client.server}`;
  }

  /**
   * record resolves once the API server has stored the change as its own object; an object of the
   * same name already there is this very change, recorded by an earlier try (the apiserver retries
   * calls), and counts as recorded.
   */
  async record(draft: TicketDraft, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const checked = checkEvent({ type: 'change', draft });
    if (!checked.ok) {
      // A change the readers would reject is a change lost: refuse it while the bypass can still be denied.
      throw new DriftgateError('DG_TICKET_STORE', `ticket ${draft.id}: not recorded, the draft is malformed: ${checked.problem}`);
    }
    if (!isTicketId(draft.id)) {
      throw new DriftgateError('DG_TICKET_STORE', `ticket ${JSON.stringify(draft.id)}: not recorded, the id cannot name a Kubernetes object`);
    }
    const name = changeName(draft.id, draft.change.requestUid);
    const body = eventObject(name, this.#namespace, { ticket: draft.id, event: 'change', object: draft.object, window: draft.window, change: draft.change });
    try {
      await this.#create(body, this.#deadline(opts.signal));
    } catch (err) {
      // An abort after the create was sent may still let it land: a change recorded for a write that
      // was then refused is a harmless extra entry; the reverse (allowed, not recorded) is not.
      throw this.#failure(err, { id: draft.id, doing: 'recording the change', writer: 'driftgate' });
    }
  }

  /** list returns the tickets matching `filter`, oldest first, selected by label where it can. */
  async list(filter: TicketFilter = {}): Promise<Ticket[]> {
    const selector = [
      filter.namespace === undefined ? undefined : `${NAMESPACE_LABEL}=${labelValue(filter.namespace)}`,
      filter.incident === undefined ? undefined : `${INCIDENT_LABEL}=${labelValue(filter.incident)}`,
    ].filter((s): s is string => s !== undefined);
    let facts: Map<string, Facts>;
    try {
      facts = await this.#facts(selector, this.#deadline(undefined));
    } catch (err) {
      throw this.#failure(err, { doing: 'listing the tickets', writer: 'you' });
    }
    const tickets = [...facts.values()].map(foldTicket).filter((t): t is Ticket => t !== undefined);
    // Labels are sanitized, so they only narrow; the exact match is filterTickets'.
    return filterTickets(tickets.sort(oldestFirst), filter);
  }

  /** get returns the ticket `id`, or throws DG_TICKET_NOT_FOUND. */
  async get(id: string): Promise<Ticket> {
    let ticket: Ticket | undefined;
    try {
      ticket = await this.#ticket(id, this.#deadline(undefined));
    } catch (err) {
      throw this.#failure(err, { id, doing: 'reading the ticket', writer: 'you' });
    }
    if (ticket === undefined) throw this.#notFound(id);
    return ticket;
  }

  /**
   * resolve creates the resolution as its own object, named by the number of changes it decided
   * on: two decisions on the same changes at once (two people, or a person and settlement) meet on
   * one name and the second is told who was first; a change recorded after it reopens the ticket
   * (it did not cover that change). A person's override of a closed ticket is its own object
   * named after its content, folded after the decision it overrides, which stays in
   * `earlierResolutions`; settlement never overrides.
   */
  async resolve(id: string, resolution: Resolution): Promise<Ticket> {
    const checked = checkEvent({ type: 'resolve', id, resolution });
    if (!checked.ok) throw new DriftgateError('DG_TICKET_INVALID', `ticket ${id}: ${checked.problem}`);
    const signal = this.#deadline(undefined);
    try {
      const ticket = await this.#ticket(id, signal);
      if (ticket === undefined) throw this.#notFound(id);
      if (ticket.resolution !== undefined && !mayResolve(ticket, resolution)) throw alreadyResolved(id, ticket.resolution);
      const covers = ticket.changes.length;
      // An override's name comes from its content, so its create meets only its own retry.
      const name = resolutionName(id, covers, resolution);
      const spec = { ticket: id, event: 'resolve' as const, object: ticket.object, window: ticket.window, resolution: { ...resolution }, covers };
      const created = await this.#create(eventObject(name, this.#namespace, spec), signal);
      if (!created && resolution.override === true) {
        // This very override, recorded by an earlier try: the ticket as its objects now say.
        return (await this.#ticket(id, signal)) ?? withResolution(ticket, resolution);
      }
      if (!created) {
        // Someone else decided on exactly these changes first: name their decision.
        const first = readObject(await this.#call({ method: 'GET', path: this.#path(name) }, signal));
        const theirs = first.ok && first.kind === 'event' ? first.spec.resolution : undefined;
        throw theirs === undefined
          ? new DriftgateError('DG_TICKET_CONFLICT', `ticket ${id} was resolved meanwhile; see: driftgate tickets show ${id}`)
          : alreadyResolved(id, theirs);
      }
      return withResolution(ticket, resolution);
    } catch (err) {
      throw this.#failure(err, { id, doing: 'resolving the ticket', writer: 'you' });
    }
  }

  /**
   * recordSettlement creates settlement's finding as its own object (named after its content, so
   * a retry meets its own object) and returns the ticket with it. Nothing is written for a finding
   * the ticket would not keep: the ticket is closed, a change came after it, or a later finding
   * is already recorded.
   */
  async recordSettlement(id: string, settlement: SettlementProgress): Promise<Ticket> {
    const checked = checkEvent({ type: 'settle', id, settlement });
    if (!checked.ok) throw new DriftgateError('DG_TICKET_INVALID', `ticket ${id}: ${checked.problem}`);
    const signal = this.#deadline(undefined);
    try {
      const ticket = await this.#ticket(id, signal);
      if (ticket === undefined) throw this.#notFound(id);
      const known = ticket.settlement;
      if (known !== undefined && Date.parse(known.at) > Date.parse(settlement.at)) return ticket;
      const next = withSettlement(ticket, settlement);
      if (next === ticket) return ticket;
      const spec = { ticket: id, event: 'settle' as const, object: ticket.object, window: ticket.window, settlement: copyOf(settlement) };
      await this.#create(eventObject(settlementName(id, settlement), this.#namespace, spec), signal);
      return next;
    } catch (err) {
      throw this.#failure(err, { id, doing: 'recording what settlement found', writer: 'driftgate' });
    }
  }

  /** recordBackport creates the commit as its own object (once per commit) and returns the ticket with it. */
  async recordBackport(id: string, backport: BackportCommit): Promise<Ticket> {
    const checked = checkEvent({ type: 'backport', id, backport });
    if (!checked.ok) throw new DriftgateError('DG_USAGE', `ticket ${id}: ${checked.problem}`);
    const signal = this.#deadline(undefined);
    try {
      const ticket = await this.#ticket(id, signal);
      if (ticket === undefined) throw this.#notFound(id);
      const next = withBackport(ticket, backport);
      if (next === ticket) return ticket;
      const spec = { ticket: id, event: 'backport' as const, object: ticket.object, window: ticket.window, backport: { ...backport } };
      await this.#create(eventObject(backportName(id, backport.commit), this.#namespace, spec), signal);
      return next;
    } catch (err) {
      throw this.#failure(err, { id, doing: 'recording the backport commit', writer: 'you' });
    }
  }

  /** close resolves at once: the client exposes nothing to release, and idle keep-alive sockets hold no process open. */
  async close(): Promise<void> {}

  // Creates the object; false when an object of that name exists already (a retry, or a race lost).
  async #create(body: BackportTicketObject, signal: AbortSignal): Promise<boolean> {
    try {
      await this.#call({ method: 'POST', path: this.#path(''), body }, signal);
      return true;
    } catch (err) {
      if (err instanceof DriftgateError && err.code === 'DG_KUBE_CONFLICT') return false;
      throw err;
    }
  }

  // The ticket `id` folded from its objects: those labelled with it, and the one object of the
  // earlier layout named after it. Undefined when it has no change.
  async #ticket(id: string, signal: AbortSignal): Promise<Ticket | undefined> {
    if (!isTicketId(id)) return undefined; // no object can carry it
    const [events, legacy] = await Promise.all([this.#facts([`${TICKET_LABEL}=${id}`], signal), this.#legacy(id, signal)]);
    const facts = events.get(id) ?? emptyFacts(id);
    if (legacy !== undefined) facts.legacy = legacy;
    return foldTicket(facts);
  }

  // The ticket an object of the earlier layout holds under the name `id`, if any.
  async #legacy(id: string, signal: AbortSignal): Promise<Ticket | undefined> {
    let object: unknown;
    try {
      object = await this.#call({ method: 'GET', path: this.#path(id) }, signal);
    } catch (err) {
      // A missing CRD fails the list beside this read, which says so.
      if (err instanceof DriftgateError && err.code === 'DG_KUBE_NOT_FOUND') return undefined;
      throw err;
    }
    const read = readObject(object);
    if (read.ok && read.kind === 'legacy') return read.ticket;
    if (!read.ok) this.#warn(`${this.describeStore()}: skipped backportticket ${read.name}: ${read.problem}`);
    return undefined;
  }

  // Every object matching the selector, page by page (limit/continue), grouped by ticket id.
  async #facts(selector: string[], signal: AbortSignal): Promise<Map<string, Facts>> {
    const byTicket = new Map<string, Facts>();
    let next: string | undefined;
    do {
      const query = new URLSearchParams({ limit: String(LIST_PAGE) });
      if (selector.length > 0) query.set('labelSelector', selector.join(','));
      if (next !== undefined) query.set('continue', next);
      const page = await this.#call<{ items?: unknown[]; metadata?: { continue?: string } }>({ method: 'GET', path: `${this.#path('')}?${query}` }, signal);
      for (const item of page.items ?? []) {
        const read = readObject(item);
        if (!read.ok) {
          this.#warn(`${this.describeStore()}: skipped backportticket ${read.name}: ${read.problem}`);
          continue;
        }
        const id = read.kind === 'event' ? read.id : read.ticket.id;
        const facts = byTicket.get(id) ?? emptyFacts(id);
        addFact(facts, read);
        byTicket.set(id, facts);
      }
      next = page.metadata?.continue === '' ? undefined : page.metadata?.continue;
    } while (next !== undefined);
    return byTicket;
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

  // Turns a client failure into what went wrong with the ticket and what to do: too large, refused
  // as invalid, forbidden, not served, unreachable and out of time each say so, and only the last
  // two blame the API server's reachability. Errors this store raised itself pass through.
  #failure(err: unknown, what: { id?: string; doing: string; writer: 'driftgate' | 'you' }): DriftgateError {
    const subject = `${what.id === undefined ? '' : `ticket ${what.id}: `}${what.doing} in ${this.describeStore()}`;
    if (!(err instanceof DriftgateError)) {
      return new DriftgateError('DG_TICKET_STORE', `${subject} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const ns = this.#namespace;
    const said = err instanceof KubeApiError ? err.apiMessage : err.message;
    switch (err.code) {
      case 'DG_TICKET_TIMEOUT':
        return new DriftgateError('DG_TICKET_TIMEOUT', `${subject}: gave up, the deadline passed before the Kubernetes API answered`, { cause: err });
      case 'DG_KUBE_FORBIDDEN': {
        const who = what.writer === 'driftgate' ? "driftgate's ServiceAccount" : 'the identity in your kubeconfig';
        const may = what.writer === 'driftgate' ? 'create' : 'list and create';
        return new DriftgateError(
          'DG_KUBE_FORBIDDEN',
          `${subject}: refused, ${who} may not ${may} backporttickets in ${ns}; apply the RBAC in manifests/install.yaml, or helm upgrade of charts/driftgate (${said})`,
          { cause: err },
        );
      }
      case 'DG_KUBE_UNREACHABLE':
        return new DriftgateError('DG_KUBE_UNREACHABLE', `${subject} failed: ${err.message}; check that the API server is up and reachable`, { cause: err });
      case 'DG_KUBE_TOO_LARGE':
        // Each change is its own object, so only one change bigger than etcd stores (a patch and
        // its revert, each carrying a whole large value) gets here; retrying cannot help.
        return new DriftgateError(
          'DG_TICKET_STORE',
          `${subject} failed: this one change (its patch and its revert) is larger than the API server stores (${said}); make this change through Git`,
          { cause: err },
        );
      case 'DG_KUBE_REJECTED':
        return new DriftgateError(
          'DG_TICKET_STORE',
          `${subject} failed: the API server refused the BackportTicket (${said}); if it says a field is not allowed or required, the BackportTicket CRD is older than this driftgate: update it from manifests/install.yaml, or helm upgrade of charts/driftgate`,
          { cause: err },
        );
      case 'DG_KUBE_NOT_FOUND':
        // Only the collection can be missing here (a missing object is handled where it is read).
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

function alreadyResolved(id: string, earlier: Resolution): DriftgateError {
  return new DriftgateError(
    'DG_TICKET_CONFLICT',
    `ticket ${id} was already resolved: ${earlier.decision} by ${earlier.by} at ${earlier.at} (${earlier.ref}); a ticket is resolved once: to record another decision over it, add --override to tickets resolve`,
  );
}
