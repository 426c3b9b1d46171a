/**
 * The journal store: tickets as an append-only JSON Lines file, one event per line, fsynced before
 * `record()` resolves. Good for one replica or a laptop; several replicas use the Kubernetes store.
 *
 * Why no per-line checksum: every batch is one `write` on an O_APPEND fd followed by `fsync`, and
 * nobody is told "recorded" before that fsync returns. A crash can therefore only leave a torn
 * *tail*, and a torn JSON Lines event is never valid JSON (a prefix of an object lacks its closing
 * brace), so parse-then-shape-check finds it. A checksum would only add detection of silent media
 * corruption inside a line, which is the filesystem's job, not an admission webhook's.
 */
import { constants } from 'node:fs';
import { mkdir, open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { TicketDraft } from '../decision/types.js';
import { DriftgateError } from '../errors.js';
import { checkEvent, filterTickets, foldEvents, mayResolve } from './fold.js';
import {
  TICKET_DECISIONS,
  type BackportCommit,
  type Resolution,
  type SettlementProgress,
  type Ticket,
  type TicketEvent,
  type TicketFilter,
  type TicketStore,
} from './types.js';
import { parseJsonExact } from '../util/json.js';

/** JournalOptions configures a JournalStore. */
export interface JournalOptions {
  /** Told about each skipped line (torn or corrupt), naming its line number. Defaults to a process warning. */
  onWarning?: (message: string) => void;
}

interface Pending {
  line: string;
  settle(err: DriftgateError | undefined): void;
}

/** JournalStore keeps tickets in an append-only JSON Lines file. */
export class JournalStore implements TicketStore {
  readonly #path: string;
  readonly #onWarning: (message: string) => void;
  #created = false;
  #fd: FileHandle | undefined;
  // True when the file may not end with "\n" (a crash or a failed write tore the last line): the
  // next batch then starts with "\n" so that its first event is not glued to the fragment.
  #torn = false;
  #queue: Pending[] = [];
  #drained: Promise<void> = Promise.resolve();
  #writing = false;
  #closed = false;

  constructor(opts: { path: string } & JournalOptions) {
    this.#path = opts.path;
    this.#onWarning = opts.onWarning ?? ((message) => process.emitWarning(message, 'DriftgateJournalWarning'));
  }

  /**
   * open returns a store over `path`, creating its directory (0700) and the file (0600) when
   * missing. The append handle is opened on the first write, so reading needs no write access.
   */
  static async open(path: string, opts: JournalOptions = {}): Promise<JournalStore> {
    const store = new JournalStore({ path, ...opts });
    await store.#create();
    return store;
  }

  /** describeStore returns `journal:<path>`. */
  describeStore(): string {
    return `journal:${this.#path}`;
  }

  /** record resolves once the change is fsynced; a retry with the same request uid folds into one change. */
  async record(draft: TicketDraft, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = opts;
    if (signal?.aborted === true) throw this.#timeout(draft.id);
    const checked = checkEvent({ type: 'change', draft });
    if (!checked.ok) {
      // A line the reader would skip is a change silently lost: refuse it now, while the bypass can still be denied.
      throw new DriftgateError('DG_TICKET_STORE', `ticket ${draft.id}: not recorded, the draft is malformed: ${checked.problem}`);
    }
    await this.#append(eventLine(checked.event), draft.id, signal);
  }

  /** list returns the tickets matching `filter`, oldest first, read afresh from the file. */
  async list(filter: TicketFilter = {}): Promise<Ticket[]> {
    return filterTickets(foldEvents(await this.#readEvents()), filter);
  }

  /** get returns the ticket `id`, or throws DG_TICKET_NOT_FOUND. */
  async get(id: string): Promise<Ticket> {
    const ticket = (await this.list()).find((t) => t.id === id);
    if (ticket === undefined) {
      throw new DriftgateError(
        'DG_TICKET_NOT_FOUND',
        `no ticket "${id}" in ${this.describeStore()}; list the ids with: driftgate tickets list --tickets ${this.describeStore()}`,
      );
    }
    return ticket;
  }

  /** resolve appends the decision, fsynced, and returns the ticket as it now reads. */
  async resolve(id: string, resolution: Resolution): Promise<Ticket> {
    checkResolution(resolution);
    const checked = checkEvent({ type: 'resolve', id, resolution });
    if (!checked.ok) throw new DriftgateError('DG_TICKET_INVALID', `ticket ${id}: ${checked.problem}`);
    const before = await this.get(id);
    if (before.resolution !== undefined && !mayResolve(before, resolution)) throw conflict(before.id, before.resolution);
    const event: TicketEvent = { type: 'resolve', id, resolution: { ...resolution } };
    await this.#append(eventLine(event), id, undefined);
    // Another process may have resolved it between our read and our append; the fold keeps the
    // first resolution, so reading back tells who won.
    const after = await this.get(id);
    const ours = [after.resolution, ...(after.earlierResolutions ?? [])].some((r) => r !== undefined && sameResolution(r, resolution));
    if (!ours && after.resolution !== undefined) throw conflict(id, after.resolution);
    return after;
  }

  /** recordBackport appends the commit, fsynced, and returns the ticket as it now reads. */
  async recordBackport(id: string, backport: BackportCommit): Promise<Ticket> {
    const checked = checkEvent({ type: 'backport', id, backport });
    if (!checked.ok) throw new DriftgateError('DG_USAGE', `ticket ${id}: ${checked.problem}`);
    await this.get(id);
    await this.#append(eventLine(checked.event), id, undefined);
    return this.get(id);
  }

  /** recordSettlement appends settlement's finding, fsynced, and returns the ticket as it now reads. */
  async recordSettlement(id: string, settlement: SettlementProgress): Promise<Ticket> {
    const checked = checkEvent({ type: 'settle', id, settlement });
    if (!checked.ok) throw new DriftgateError('DG_TICKET_INVALID', `ticket ${id}: ${checked.problem}`);
    await this.get(id);
    await this.#append(eventLine(checked.event), id, undefined);
    return this.get(id);
  }

  /** close resolves once queued appends have settled and the file is closed. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#drained;
    const fd = this.#fd;
    this.#fd = undefined;
    await fd?.close();
  }

  async #create(): Promise<void> {
    if (this.#created) return;
    const path = this.#path;
    try {
      const firstCreated = await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const existing = await stat(path).catch((err: unknown) => {
        if (errnoCode(err) === 'ENOENT') return undefined;
        throw err;
      });
      if (existing !== undefined && !existing.isFile()) throw new Error('it is not a regular file');
      if (existing === undefined && (await createFile(path))) {
        // The file's name lives in its directory: without this fsync a crash can lose the whole journal.
        for (const dir of dirsToSync(path, firstCreated)) await syncDir(dir);
      }
    } catch (err) {
      throw ioError(path, 'open the journal', err);
    }
    this.#created = true;
  }

  async #appendHandle(): Promise<FileHandle> {
    if (this.#fd !== undefined) return this.#fd;
    await this.#create();
    // O_RDWR only to read the last byte; writes still go to the end because of O_APPEND.
    const fd = await open(this.#path, constants.O_RDWR | constants.O_APPEND);
    try {
      const { size } = await fd.stat();
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fd.read(last, 0, 1, size - 1);
        this.#torn = last[0] !== 0x0a;
      }
    } catch (err) {
      await fd.close().catch(() => undefined);
      throw err;
    }
    this.#fd = fd;
    return fd;
  }

  #append(line: string, id: string, signal: AbortSignal | undefined): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new DriftgateError('DG_TICKET_STORE', `ticket ${id}: not recorded, ${this.describeStore()} is closed`));
    }
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const onAbort = (): void => {
        const at = this.#queue.indexOf(entry);
        if (at !== -1) this.#queue.splice(at, 1);
        // Already handed to write(): it may still land. A change recorded for a write that was
        // then refused is a harmless extra line; the reverse (allowed, not recorded) is not.
        entry.settle(this.#timeout(id));
      };
      const entry: Pending = {
        line,
        settle: (err) => {
          if (done) return;
          done = true;
          signal?.removeEventListener('abort', onAbort);
          if (err === undefined) resolve();
          else reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(entry);
      if (!this.#writing) {
        this.#writing = true;
        this.#drained = this.#drain();
      }
    });
  }

  // The single writer: whatever queued while the previous batch was being written and fsynced
  // goes out as the next batch, in one write and one fsync (group commit).
  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        let batch: Pending[] = [];
        try {
          const fd = await this.#appendHandle();
          batch = this.#queue.splice(0);
          if (batch.length > 0) await this.#write(fd, batch.map((p) => p.line).join(''));
          for (const p of batch) p.settle(undefined);
        } catch (err) {
          if (batch.length === 0) batch = this.#queue.splice(0);
          const failure = ioError(this.#path, 'append the ticket', err);
          for (const p of batch) p.settle(failure);
          // After a failed fsync the kernel may have dropped the dirty pages and cleared the error;
          // a fresh descriptor (and a fresh look at the tail) is the safe way on.
          const fd = this.#fd;
          this.#fd = undefined;
          await fd?.close().catch(() => undefined);
        }
      }
    } finally {
      this.#writing = false;
    }
  }

  async #write(fd: FileHandle, text: string): Promise<void> {
    const data = Buffer.from(this.#torn ? `\n${text}` : text, 'utf8');
    this.#torn = true; // until the write is known whole
    let offset = 0;
    // One write() in practice; the loop only covers a short write, which regular files rarely do.
    while (offset < data.length) {
      const { bytesWritten } = await fd.write(data, offset, data.length - offset, null);
      offset += bytesWritten;
    }
    this.#torn = false;
    await fd.sync();
  }

  async #readEvents(): Promise<TicketEvent[]> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new DriftgateError('DG_JOURNAL_IO', `no journal at ${this.#path}`, { cause: err });
      throw ioError(this.#path, 'read the journal', err);
    }
    const events: TicketEvent[] = [];
    const skipped: string[] = [];
    const lines = text.split('\n');
    const last = lines.findLastIndex((line) => line.trim() !== '');
    lines.forEach((line, index) => {
      if (line.trim() === '') return; // blank lines are the separators written after a torn tail
      const where = `${this.#path}:${index + 1}`;
      let value: unknown;
      try {
        // Exact: a ticket's patch may hold an int64 beyond 2^53 (a custom resource's field).
        value = parseJsonExact(line);
      } catch {
        if (index !== last) skipped.push(where);
        this.#warn(`${where}: skipped a torn or corrupt line (not JSON); the events around it are intact`);
        return;
      }
      const checked = checkEvent(value);
      if (checked.ok) events.push(checked.event);
      else {
        skipped.push(where);
        this.#warn(`${where}: skipped a line that is not a ticket event: ${checked.problem}`);
      }
    });
    // A file none of whose lines is an event (a torn last line aside, which a crash during the
    // first append leaves) is not a journal: a mistyped --tickets must not read as "no tickets",
    // nor have bypasses appended to someone's file.
    if (events.length === 0 && skipped.length > 0) {
      throw new DriftgateError(
        'DG_NOT_A_JOURNAL',
        `${this.#path} is not a ticket journal: no line of it is a ticket event (first: ${skipped[0] ?? ''}); is --tickets the path driftgate serve writes?`,
      );
    }
    return events;
  }

  #warn(message: string): void {
    try {
      this.#onWarning(message);
    } catch {
      // A failing warning sink must not make the journal unreadable.
    }
  }

  #timeout(id: string): DriftgateError {
    return new DriftgateError(
      'DG_TICKET_TIMEOUT',
      `ticket ${id}: gave up recording the change in ${this.describeStore()}: the deadline passed before the write was durable`,
    );
  }
}

/** TicketsSpec is a parsed `--tickets` flag; a kubernetes spec without a namespace means the store's default. */
export type TicketsSpec = { kind: 'journal'; path: string } | { kind: 'kubernetes'; namespace?: string };

/** parseTicketsSpec returns where `--tickets journal:FILE|kubernetes[:NAMESPACE]` says tickets live, or throws DG_TICKETS_SPEC. */
export function parseTicketsSpec(spec: string): TicketsSpec {
  if (spec === 'kubernetes') return { kind: 'kubernetes' };
  const kube = 'kubernetes:';
  if (spec.startsWith(kube)) {
    const namespace = spec.slice(kube.length);
    // Checked here: an invalid name would otherwise surface only as an API error on the first bypass.
    if (/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) return { kind: 'kubernetes', namespace };
    throw new DriftgateError(
      'DG_TICKETS_SPEC',
      `--tickets ${JSON.stringify(spec)}: ${JSON.stringify(namespace)} is not a namespace name (lowercase letters, digits and '-', at most 63); use kubernetes:NAMESPACE`,
    );
  }
  const prefix = 'journal:';
  if (spec.startsWith(prefix) && spec.length > prefix.length) return { kind: 'journal', path: spec.slice(prefix.length) };
  throw new DriftgateError('DG_TICKETS_SPEC', `--tickets ${JSON.stringify(spec)}: use journal:/path/to/tickets.jsonl or kubernetes`);
}

// JSON.stringify escapes every newline inside strings, so one event is always exactly one line.
function eventLine(event: TicketEvent): string {
  return `${JSON.stringify(event)}\n`;
}

function checkResolution(r: Resolution): void {
  const problems = [
    TICKET_DECISIONS.includes(r.decision) ? undefined : `decision ${JSON.stringify(r.decision)}: use one of ${TICKET_DECISIONS.join(', ')}`,
    r.by.trim() === '' ? 'by is empty: name who decided' : undefined,
    r.ref.trim() === '' ? 'ref is empty: give where the decision happened, e.g. a pull request URL' : undefined,
    Number.isFinite(Date.parse(r.at)) ? undefined : `at ${JSON.stringify(r.at)} is not an RFC 3339 time`,
  ].filter((p): p is string => p !== undefined);
  if (problems.length > 0) throw new DriftgateError('DG_TICKET_INVALID', `resolution: ${problems.join('; ')}`);
}

function sameResolution(a: Resolution, b: Resolution): boolean {
  return a.decision === b.decision && a.by === b.by && a.ref === b.ref && a.at === b.at;
}

function conflict(id: string, earlier: Resolution): DriftgateError {
  return new DriftgateError(
    'DG_TICKET_CONFLICT',
    `ticket ${id} was already resolved: ${earlier.decision} by ${earlier.by} at ${earlier.at} (${earlier.ref}); a ticket is resolved once: to record another decision over it, add --override to tickets resolve`,
  );
}

function ioError(path: string, what: string, err: unknown): DriftgateError {
  // A failure to open the file surfaces here already wrapped; name the root cause once.
  const root = err instanceof DriftgateError && err.cause !== undefined ? err.cause : err;
  const cause = root instanceof Error ? root.message : String(root);
  return new DriftgateError('DG_JOURNAL_IO', `${path}: could not ${what}: ${cause}`, { cause: root });
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

// The journal's directory, and, when mkdir created directories, each parent up to the one that
// already existed: every new name must reach the disk for the file to be found after a crash.
function dirsToSync(path: string, firstCreated: string | undefined): string[] {
  const dirs = [dirname(path)];
  if (firstCreated === undefined) return dirs;
  while (dirs[dirs.length - 1] !== dirname(firstCreated)) {
    const last = dirs[dirs.length - 1] as string;
    const up = dirname(last);
    if (up === last) break;
    dirs.push(up);
  }
  return dirs;
}

// True when this call created the file; false when another process won the race to create it.
async function createFile(path: string): Promise<boolean> {
  try {
    await (await open(path, 'wx', 0o600)).close();
    return true;
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}
