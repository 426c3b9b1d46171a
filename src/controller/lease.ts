/**
 * One writer among the replicas: leader election over a coordination.k8s.io/v1 Lease, the way
 * client-go's leaderelection does it. The holder renews the Lease every `renewMs`; the others
 * read it as often and take it over once it has not changed for `durationMs` by their own clock
 * (never by comparing the holder's renewTime with theirs: clocks across nodes disagree). A holder
 * that cannot renew within `renewDeadlineMs` stops acting as leader before anyone may take over,
 * so two writers never overlap while both clocks run at the same rate. Every write carries the
 * resourceVersion it read, so two candidates racing for the same Lease cannot both win.
 */
import { DriftgateError, messageOf } from '../errors.js';

/** LeaseObject is the part of a coordination.k8s.io/v1 Lease the election reads and writes. */
export interface LeaseObject {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** LeaseApi reads and writes the one Lease; create and update throw DG_KUBE_CONFLICT when another writer got there first. */
export interface LeaseApi {
  get(): Promise<LeaseObject | undefined>;
  create(lease: LeaseObject): Promise<LeaseObject>;
  update(lease: LeaseObject): Promise<LeaseObject>;
}

/** Observation is when this candidate last saw the Lease change (its resourceVersion), by its own clock. */
export interface Observation {
  resourceVersion: string;
  at: number;
}

/** LeaseStep is what one round of the election does. */
export type LeaseStep = { kind: 'create' } | { kind: 'renew' } | { kind: 'takeover'; from: string } | { kind: 'standby'; holder: string; expiresAt: number };

/**
 * leaseStep returns what `me` does with the Lease as read at `now` (ms), given when the Lease was
 * last seen to change. Pure: the state machine the unit tests drive with an injected clock.
 */
export function leaseStep(lease: LeaseObject | undefined, me: string, now: number, observed: Observation | undefined, durationMs: number): LeaseStep {
  if (lease === undefined) return { kind: 'create' };
  const holder = lease.spec.holderIdentity ?? '';
  if (holder === me) return { kind: 'renew' };
  // Released on purpose (a holder shutting down empties it): free to take at once.
  if (holder === '') return { kind: 'takeover', from: '' };
  const rv = lease.metadata.resourceVersion ?? '';
  // A Lease seen for the first time, or changed since, starts a fresh wait: its holder renewed it.
  const since = observed !== undefined && observed.resourceVersion === rv ? observed.at : now;
  const heldFor = (lease.spec.leaseDurationSeconds ?? durationMs / 1000) * 1000;
  const expiresAt = since + heldFor;
  if (now >= expiresAt) return { kind: 'takeover', from: holder };
  return { kind: 'standby', holder, expiresAt };
}

/** MicroTime formats a time the way the API's metav1.MicroTime expects it. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** ElectorDeps are what the election needs; the clock and the API are injected (tests step them). */
export interface ElectorDeps {
  api: LeaseApi;
  identity: string;
  durationMs: number;
  /** How often the holder renews and the others look; well under durationMs. */
  renewMs: number;
  /** A holder that has not renewed for this long stops leading (below durationMs, so it stops before anyone takes over). */
  renewDeadlineMs: number;
  now: () => number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  onEvent: (level: 'info' | 'warn', message: string, fields: Record<string, unknown>) => void;
}

/** LeaderElector runs the election; `tick()` is one round (the timer calls it; tests call it directly). */
export class LeaderElector {
  readonly #deps: ElectorDeps;
  #observed: Observation | undefined;
  #leading = false;
  #lastRenew = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #ticking: Promise<void> | undefined;

  constructor(deps: ElectorDeps) {
    if (!(deps.renewMs < deps.renewDeadlineMs && deps.renewDeadlineMs < deps.durationMs)) {
      throw new DriftgateError(
        'DG_USAGE',
        `lease timings: renew every ${deps.renewMs} ms must be under the renew deadline ${deps.renewDeadlineMs} ms, itself under the lease duration ${deps.durationMs} ms`,
      );
    }
    this.#deps = deps;
  }

  /** isLeader tells whether this replica holds the Lease now (and so may write). */
  isLeader(): boolean {
    return this.#leading;
  }

  /** start runs a round now and then every renewMs. */
  start(): void {
    const loop = (): void => {
      if (this.#stopped) return;
      this.#ticking = this.tick().finally(() => {
        this.#ticking = undefined;
        if (!this.#stopped) {
          this.#timer = setTimeout(loop, this.#deps.renewMs);
          this.#timer.unref();
        }
      });
    };
    loop();
  }

  /** tick runs one round: read the Lease, then renew, take over, create, or stand by. */
  async tick(): Promise<void> {
    const { api, identity, now } = this.#deps;
    try {
      const lease = await api.get();
      const at = now();
      const step = leaseStep(lease, identity, at, this.#observed, this.#deps.durationMs);
      if (lease?.metadata.resourceVersion !== undefined && this.#observed?.resourceVersion !== lease.metadata.resourceVersion) {
        this.#observed = { resourceVersion: lease.metadata.resourceVersion, at };
      }
      if (step.kind === 'standby') {
        this.#lose(`the Lease is held by ${step.holder}`);
        return;
      }
      const written =
        step.kind === 'create' ? await api.create(this.#fresh(at)) : await api.update(this.#claim(lease as LeaseObject, at, step.kind !== 'renew'));
      this.#observed = { resourceVersion: written.metadata.resourceVersion ?? '', at };
      this.#lastRenew = at;
      if (!this.#leading) {
        this.#leading = true;
        this.#deps.onEvent('info', 'leading: this replica holds the Lease and keeps the cluster-wide objects', {
          lease: identity,
          ...(step.kind === 'takeover' && step.from !== '' ? { tookOverFrom: step.from } : {}),
        });
        this.#deps.onStartedLeading();
      }
    } catch (err) {
      const conflict = err instanceof DriftgateError && err.code === 'DG_KUBE_CONFLICT';
      if (!conflict) this.#deps.onEvent('warn', 'leader election: could not read or write the Lease', { problem: messageOf(err) });
      // Another candidate wrote first (conflict), or the API is unreachable: a holder keeps
      // leading only while its last renewal is recent enough that nobody may have taken over.
      if (this.#leading && now() - this.#lastRenew >= this.#deps.renewDeadlineMs) this.#lose('the Lease could not be renewed in time');
      else if (conflict && !this.#leading) this.#observed = undefined;
    }
  }

  /** stop ends the election; a holder releases the Lease so that another replica takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#ticking;
    if (!this.#leading) return;
    this.#lose('shutting down');
    try {
      const lease = await this.#deps.api.get();
      if (lease?.spec.holderIdentity === this.#deps.identity) {
        await this.#deps.api.update({ ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } });
      }
    } catch (err) {
      this.#deps.onEvent('warn', 'could not release the Lease; another replica takes over once it expires', { problem: messageOf(err) });
    }
  }

  #lose(why: string): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#deps.onEvent('warn', 'no longer leading: stopped keeping the cluster-wide objects', { why });
    this.#deps.onStoppedLeading();
  }

  #seconds(): number {
    return Math.max(1, Math.ceil(this.#deps.durationMs / 1000));
  }

  #fresh(at: number): LeaseObject {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: '', namespace: '' },
      spec: {
        holderIdentity: this.#deps.identity,
        leaseDurationSeconds: this.#seconds(),
        acquireTime: microTime(at),
        renewTime: microTime(at),
        leaseTransitions: 0,
      },
    };
  }

  #claim(lease: LeaseObject, at: number, transition: boolean): LeaseObject {
    // Everything else on the Lease (annotations such as the disable switch) is kept as read.
    const spec = { ...lease.spec, holderIdentity: this.#deps.identity, leaseDurationSeconds: this.#seconds(), renewTime: microTime(at) };
    if (transition) {
      spec.acquireTime = microTime(at);
      spec.leaseTransitions = (lease.spec.leaseTransitions ?? 0) + 1;
    }
    return { ...lease, spec };
  }
}
