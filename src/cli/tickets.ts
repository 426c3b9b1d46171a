/**
 * `driftgate tickets list|show|resolve`: how security and the on-call read and close backport
 * tickets. The commands only parse flags and print; the store does the work, the same store the
 * server records into.
 */
import { stat } from 'node:fs/promises';
import { Command } from 'commander';
import { stringify } from 'yaml';
import { DriftgateError, describe } from '../errors.js';
import { parseDuration } from '../policy/duration.js';
import { parseTicketsSpec } from '../tickets/journal.js';
import { renderTable, renderTicket } from '../tickets/render.js';
import { DECISIONS, TICKET_STATES, type Decision, type Ticket, type TicketFilter, type TicketState, type TicketStore } from '../tickets/types.js';

/** Writer is the little of a stream the commands need. */
export interface Writer {
  write(chunk: string): unknown;
}

/** TicketsIo is everything the commands touch outside themselves, injectable for tests. */
export interface TicketsIo {
  out: Writer;
  err: Writer;
  env: Readonly<Record<string, string | undefined>>;
  now: () => Date;
  /** Called with 1 after a command failed; the default sets process.exitCode so output still flushes. */
  exit: (code: number) => void;
}

type Format = 'table' | 'json' | 'yaml';
const FORMATS: readonly Format[] = ['table', 'json', 'yaml'];
const DAY_MS = 86_400_000;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

interface CommonOptions {
  tickets?: string;
  output?: string;
  kubeconfig?: string;
  context?: string;
}

/** OpenStore opens the store a `--tickets` spec names (the cluster options matter for kubernetes). */
export type OpenStore = (spec: string, cluster: { kubeconfig?: string; context?: string }) => Promise<TicketStore>;

/**
 * ticketsCommand returns the `tickets` command with its `list`, `show` and `resolve`
 * subcommands. `openStore` turns a `--tickets` spec into a store; the command closes it.
 */
export function ticketsCommand(openStore: OpenStore, io: Partial<TicketsIo> = {}): Command {
  const ctx: TicketsIo = {
    out: io.out ?? process.stdout,
    err: io.err ?? process.stderr,
    env: io.env ?? process.env,
    now: io.now ?? (() => new Date()),
    exit: io.exit ?? ((code) => void (process.exitCode = code)),
  };
  const output = { writeOut: (s: string) => void ctx.out.write(s), writeErr: (s: string) => void ctx.err.write(s) };
  const tickets = new Command('tickets').description('list, show and resolve backport tickets').configureOutput(output);
  const sub = (name: string, summary: string): Command =>
    tickets
      .command(name)
      .description(summary)
      .configureOutput(output)
      .option('--tickets <spec>', 'where tickets live: journal:FILE or kubernetes (default: $DRIFTGATE_TICKETS)')
      .option('-o, --output <format>', 'table, json or yaml', 'table')
      .option('--kubeconfig <file>', 'kubeconfig for --tickets kubernetes (default: $KUBECONFIG, ~/.kube/config)')
      .option('--context <name>', 'kubeconfig context for --tickets kubernetes');

  sub('list', 'list tickets, oldest first')
    .option('--state <state>', `only this state: ${TICKET_STATES.join(', ')}`)
    .option('--namespace <ns>', 'only tickets on objects in this namespace')
    .option('--incident <id>', 'only tickets under this incident')
    .option('--since <when>', 'only tickets with a change since: a duration back from now (7d, 12h) or an RFC 3339 time')
    .action(
      guard(ctx, async (opts: CommonOptions & { state?: string; namespace?: string; incident?: string; since?: string }) => {
        const format = parseFormat(opts.output);
        const filter: TicketFilter = {};
        if (opts.state !== undefined) filter.state = parseState(opts.state);
        if (opts.namespace !== undefined) filter.namespace = opts.namespace;
        if (opts.incident !== undefined) filter.incident = opts.incident;
        if (opts.since !== undefined) filter.since = parseSince(opts.since, ctx.now());
        const found = await withStore(ctx, openStore, opts, (store) => store.list(filter));
        if (format === 'table' && found.length === 0) ctx.err.write('No tickets found.\n');
        else ctx.out.write(format === 'table' ? renderTable(found) : serialize(found, format));
      }),
    );

  sub('show', 'show one ticket and every change made under it')
    .argument('<id>', 'ticket id, as `tickets list` prints it')
    .action(
      guard(ctx, async (id: string, opts: CommonOptions) => {
        const format = parseFormat(opts.output);
        const ticket = await withStore(ctx, openStore, opts, (store) => store.get(id));
        ctx.out.write(format === 'table' ? renderTicket(ticket) : serialize(ticket, format));
      }),
    );

  sub('resolve', 'record what became of the drift: backported to Git, reverted, or accepted')
    .argument('<id>', 'ticket id, as `tickets list` prints it')
    .option('--decision <decision>', DECISIONS.join(', '))
    .option('--ref <ref>', 'where it was decided or done, e.g. the pull request URL')
    .option('--by <name>', 'who decided')
    .action(
      guard(ctx, async (id: string, opts: CommonOptions & { decision?: string; ref?: string; by?: string }) => {
        const format = parseFormat(opts.output);
        const decision = parseDecision(opts.decision);
        const ref = required('--ref', opts.ref, 'the pull request or note that records the decision');
        const by = required('--by', opts.by, 'who decided');
        const resolution = { decision, ref, by, at: ctx.now().toISOString() };
        const ticket = await withStore(ctx, openStore, opts, (store) => store.resolve(id, resolution));
        ctx.out.write(format === 'table' ? `ticket ${ticket.id} is now ${ticket.state}\n` : serialize(ticket, format));
      }),
    );
  return tickets;
}

// Every failure ends as one line on stderr and exit code 1: the message is the product, the
// stack trace never is.
function guard<A extends unknown[]>(ctx: TicketsIo, action: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await action(...args);
    } catch (err) {
      ctx.err.write(`error: ${describe(err)}\n`);
      ctx.exit(1);
    }
  };
}

async function withStore<T>(
  ctx: TicketsIo,
  openStore: OpenStore,
  opts: CommonOptions,
  use: (store: TicketStore) => Promise<T>,
): Promise<T> {
  const spec = opts.tickets ?? ctx.env['DRIFTGATE_TICKETS'];
  if (spec === undefined || spec === '') {
    throw new DriftgateError('DG_USAGE', '--tickets is required: give journal:/path/to/tickets.jsonl or kubernetes, or set DRIFTGATE_TICKETS');
  }
  const where = parseTicketsSpec(spec);
  // Checked here, before opening: opening a journal creates it, and a mistyped path must not
  // turn into an empty journal that quietly lists nothing.
  if (where.kind === 'journal') await requireJournal(where.path);
  const store = await openStore(spec, {
    ...(opts.kubeconfig === undefined ? {} : { kubeconfig: opts.kubeconfig }),
    ...(opts.context === undefined ? {} : { context: opts.context }),
  });
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

async function requireJournal(path: string): Promise<void> {
  try {
    await stat(path);
  } catch (err) {
    if (typeof err === 'object' && err !== null && 'code' in err && err.code === 'ENOENT') {
      throw new DriftgateError('DG_JOURNAL_IO', `no journal at ${path}; is --tickets the path driftgate serve writes?`, { cause: err });
    }
    // Anything else (permissions, …) the store reports with its own words.
  }
}

function parseFormat(text: string | undefined): Format {
  const format = FORMATS.find((f) => f === (text ?? 'table'));
  if (format === undefined) throw new DriftgateError('DG_USAGE', `-o ${JSON.stringify(text)}: use table, json or yaml`);
  return format;
}

function parseState(text: string): TicketState {
  const state = TICKET_STATES.find((s) => s === text);
  if (state === undefined) throw new DriftgateError('DG_USAGE', `--state ${JSON.stringify(text)}: use one of ${TICKET_STATES.join(', ')}`);
  return state;
}

function parseDecision(text: string | undefined): Decision {
  if (text === undefined) throw new DriftgateError('DG_USAGE', `--decision is required: use one of ${DECISIONS.join(', ')}`);
  const decision = DECISIONS.find((d) => d === text);
  if (decision === undefined) throw new DriftgateError('DG_USAGE', `--decision ${JSON.stringify(text)}: use one of ${DECISIONS.join(', ')}`);
  return decision;
}

function required(flag: string, value: string | undefined, what: string): string {
  if (value === undefined || value.trim() === '') throw new DriftgateError('DG_USAGE', `${flag} is required: give ${what}`);
  return value;
}

/**
 * parseSince returns the instant `--since` names: a duration back from `now` (days as `7d`, or a
 * Go-style duration such as `12h` or `1d12h`) or an RFC 3339 time; throws DG_USAGE otherwise.
 */
export function parseSince(text: string, now: Date): Date {
  // Go durations stop at hours; days are what people ask for when reviewing tickets.
  const days = /^(\d+)d(.*)$/.exec(text);
  const rest = days === null ? parseDuration(text) : days[2] === '' ? 0 : parseDuration(days[2] ?? '');
  if (rest !== undefined) return new Date(now.getTime() - Number(days?.[1] ?? 0) * DAY_MS - rest);
  const at = RFC3339.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isFinite(at)) return new Date(at);
  throw new DriftgateError('DG_USAGE', `--since ${JSON.stringify(text)}: use a duration such as 7d or 12h, or an RFC 3339 time such as 2025-01-02T15:04:05Z`);
}

function serialize(value: Ticket | Ticket[], format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value);
}
