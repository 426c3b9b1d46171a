/**
 * `driftgate tickets list|show|resolve|export|backport|report`: how security and the on-call read, carry
 * into Git and close backport tickets. The commands only parse flags, print and write the files
 * asked for; the store and the pure modules under src/tickets do the work.
 */
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { DriftgateError, messageOf } from '../errors.js';
import { type Io, formatData, guard, parseNow } from './io.js';
import { backportTicket, pushHint } from '../backport/backport.js';
import { parseAge } from '../policy/duration.js';
import { EXPORT_FORMATS, exportRevert, exportTicket, renderExport, type ExportFormat, type TicketExport } from '../tickets/export.js';
import { parseTicketsSpec } from '../tickets/journal.js';
import { renderTable, renderTicket, safe } from '../tickets/render.js';
import { buildReport, renderReportTable } from '../tickets/report.js';
import { renderReportHtml } from '../tickets/report-html.js';
import {
  TICKET_DECISIONS,
  TICKET_STATES,
  type Evidence,
  type Resolution,
  type TicketDecision,
  type TicketFilter,
  type TicketState,
  type TicketStore,
} from '../tickets/types.js';
import { parseRfc3339 } from '../util/rfc3339.js';

/** TicketsIo is everything the commands touch outside themselves, injectable for tests. */
export interface TicketsIo extends Io {
  env: Readonly<Record<string, string | undefined>>;
  now: () => Date;
}

type Format = 'table' | 'json' | 'yaml';
const FORMATS: readonly Format[] = ['table', 'json', 'yaml'];
type ReportFormat = 'table' | 'json' | 'yaml' | 'html';
const REPORT_FORMATS: readonly ReportFormat[] = ['table', 'json', 'yaml', 'html'];

interface CommonOptions {
  tickets?: string;
  output?: string;
  kubeconfig?: string;
  context?: string;
}

/** OpenStore opens the store a `--tickets` spec names (the cluster options matter for kubernetes). */
export type OpenStore = (spec: string, cluster: { kubeconfig?: string; context?: string }) => Promise<TicketStore>;

/**
 * ticketsCommand returns the `tickets` command with its `list`, `show`, `resolve`, `export` and
 * `report` subcommands. `openStore` turns a `--tickets` spec into a store; the command closes it.
 */
export function ticketsCommand(openStore: OpenStore, io: Partial<TicketsIo> = {}): Command {
  const ctx: TicketsIo = {
    out: io.out ?? process.stdout,
    err: io.err ?? process.stderr,
    env: io.env ?? process.env,
    now: io.now ?? (() => new Date()),
  };
  const output = { writeOut: (s: string) => void ctx.out.write(s), writeErr: (s: string) => void ctx.err.write(s) };
  const tickets = new Command('tickets').description('list, show, resolve, export and report backport tickets').configureOutput(output);
  // `outputs` are the -o choices, the first the default; none for a command whose output has its own flag.
  const sub = (name: string, summary: string, outputs: readonly string[] = FORMATS): Command => {
    const cmd = tickets
      .command(name)
      .description(summary)
      .configureOutput(output)
      .option('--tickets <spec>', 'where tickets live: journal:FILE or kubernetes (default: $DRIFTGATE_TICKETS)');
    if (outputs.length > 0) cmd.option('-o, --output <format>', choices(outputs), outputs[0]);
    return cmd
      .option('--kubeconfig <file>', 'kubeconfig for --tickets kubernetes (default: $KUBECONFIG, ~/.kube/config)')
      .option('--context <name>', 'kubeconfig context for --tickets kubernetes');
  };

  sub('list', 'list tickets, oldest first')
    .option('--state <state>', `only this state: ${TICKET_STATES.join(', ')}`)
    .option('-n, --namespace <ns>', 'only tickets on objects in this namespace')
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
        else ctx.out.write(format === 'table' ? renderTable(found) : formatData(found, format));
      }),
    );

  sub('show', 'show one ticket and every change made under it')
    .argument('<id>', 'ticket id, as `tickets list` prints it')
    .action(
      guard(ctx, async (id: string, opts: CommonOptions) => {
        const format = parseFormat(opts.output);
        const ticket = await withStore(ctx, openStore, opts, (store) => store.get(id));
        ctx.out.write(format === 'table' ? renderTicket(ticket) : formatData(ticket, format));
      }),
    );

  sub('resolve', 'record what became of the drift: backported to Git, reverted, or accepted')
    .argument('<id>', 'ticket id, as `tickets list` prints it')
    .option('--decision <decision>', TICKET_DECISIONS.join(', '))
    .option('--ref <ref>', 'where it was decided or done, e.g. the pull request URL')
    .option('--by <name>', 'who decided')
    .option('--override', 'record this decision over an earlier closure (e.g. one settlement made); the earlier one is kept on the ticket')
    .action(
      guard(ctx, async (id: string, opts: CommonOptions & { decision?: string; ref?: string; by?: string; override?: boolean }) => {
        const format = parseFormat(opts.output);
        const decision = parseDecision(opts.decision);
        const ref = required('--ref', opts.ref, 'the pull request or note that records the decision');
        const by = required('--by', opts.by, 'who decided');
        const at = ctx.now().toISOString();
        const ticket = await withStore(ctx, openStore, opts, async (store) => {
          // A backport decision points at the commits `tickets backport` made for the ticket, so
          // the review sees which commit the pull request carried.
          const commits = decision === 'backport' ? ((await store.get(id)).backports ?? []) : [];
          const evidence = commits.map(
            (b): Evidence => ({ kind: 'commit', commit: b.commit, branch: b.branch, ...(b.repo === undefined ? {} : { repo: b.repo }) }),
          );
          const resolution: Resolution = {
            decision,
            ref,
            by,
            at,
            closedBy: 'person',
            ...(evidence.length === 0 ? {} : { evidence }),
            ...(opts.override === true ? { override: true } : {}),
          };
          return store.resolve(id, resolution);
        });
        ctx.out.write(format === 'table' ? `ticket ${ticket.id} is now ${ticket.state}\n` : formatData(ticket, format));
      }),
    );

  sub('export', 'print what to carry into Git for a ticket, with a commit message; or, with --revert, how to undo it live', [])
    .argument('<id>', 'ticket id, as `tickets list` prints it')
    .option('--format <format>', `${choices(EXPORT_FORMATS)} (default: patch)`)
    .option('--revert', 'print the revert patch (newest change first) and the kubectl command that undoes the changes live')
    .option('--out <dir>', 'write the files into DIR (created if missing) and print their paths')
    .action(
      guard(ctx, async (id: string, opts: CommonOptions & { format?: string; revert?: boolean; out?: string }) => {
        if (opts.revert === true && opts.format !== undefined) {
          throw new DriftgateError('DG_USAGE', '--revert prints a JSON patch and a kubectl command; leave out --format');
        }
        const format = parseExportFormat(opts.format);
        const ticket = await withStore(ctx, openStore, opts, (store) => store.get(id));
        const exported = opts.revert === true ? exportRevert(ticket) : exportTicket(ticket, format);
        // Notes go to stderr so that they are seen even when stdout is piped or files are written.
        for (const note of exported.notes) ctx.err.write(`note: ${safe(note)}\n`);
        if (opts.out === undefined) ctx.out.write(renderExport(exported));
        else for (const path of await writeExport(opts.out, exported)) ctx.out.write(`${path}\n`);
      }),
    );

  sub('backport', "commit the ticket's changes into the manifests of a Git checkout, on a new branch, and record the commit on the ticket")
    .argument('<id>', 'ticket id, as `tickets list` prints it')
    .option('--repo <dir>', 'the Git checkout the GitOps tool syncs from (its committed HEAD is read; the working tree is left alone)')
    .option('--branch <name>', 'the new branch (default: backport/<id>)')
    .action(
      guard(ctx, async (id: string, opts: CommonOptions & { repo?: string; branch?: string }) => {
        const format = parseFormat(opts.output);
        const repo = required('--repo', opts.repo, 'the directory of a Git checkout');
        const made = await withStore(ctx, openStore, opts, async (store) => {
          const ticket = await store.get(id);
          const result = await backportTicket(ticket, { repo, ...(opts.branch === undefined ? {} : { branch: opts.branch }), now: ctx.now() });
          for (const note of result.notes) ctx.err.write(`note: ${safe(note)}\n`);
          try {
            await store.recordBackport(id, result.commit);
          } catch (err) {
            // The commit exists whatever the store says: name it, so that nobody makes it twice.
            throw new DriftgateError(
              'DG_TICKET_STORE',
              `made commit ${result.commit.commit} on branch ${safe(result.commit.branch)}, but recording it on ticket ${id} failed: ${messageOf(err)}`,
              { cause: err },
            );
          }
          return result.commit;
        });
        if (format !== 'table') {
          ctx.out.write(formatData(made, format));
          return;
        }
        ctx.out.write(`branch ${safe(made.branch)}\ncommit ${made.commit}\n`);
        for (const file of made.files) ctx.out.write(`edited ${safe(file)}\n`);
        ctx.out.write(`recorded on ticket ${safe(id)}; publish it with: ${safe(pushHint(made.branch))}\n`);
      }),
    );

  sub(
    'report',
    'summarize bypasses for a security review: per namespace, person and incident; open and overdue tickets; every ticket changed or closed in the period, with who or what closed it; long windows',
    REPORT_FORMATS,
  )
    .option('--since <when>', 'count bypasses since: a duration back from now (7d, 12h) or an RFC 3339 time', '7d')
    .option('--overdue <age>', 'an open ticket is overdue once its window ended longer ago than this (3d, 36h)', '3d')
    .option('--now <time>', 'report as of this RFC 3339 time instead of the clock')
    .option('--out <file>', 'write the report to FILE and print its path')
    .action(
      guard(ctx, async (opts: CommonOptions & { since: string; overdue: string; now?: string; out?: string }) => {
        const format = parseReportFormat(opts.output);
        const now = parseNow(opts.now, ctx.now);
        const since = parseSince(opts.since, now);
        const overdueAfterMs = parseAgeFlag('--overdue', opts.overdue);
        const all = await withStore(ctx, openStore, opts, (store) => store.list());
        const report = buildReport(all, { now, since, overdueAfterMs });
        const text = format === 'html' ? renderReportHtml(report) : format === 'table' ? renderReportTable(report) : formatData(report, format);
        if (opts.out === undefined) {
          ctx.out.write(text);
        } else {
          await writeOut(opts.out, text);
          ctx.out.write(`${opts.out}\n`);
        }
      }),
    );
  return tickets;
}

async function writeExport(dir: string, exported: TicketExport): Promise<string[]> {
  await attempt(dir, () => mkdir(dir, { recursive: true }));
  const paths: string[] = [];
  for (const file of exported.files) {
    const path = join(dir, file.name);
    await writeOut(path, file.text);
    // chmod after writing: writeFile's mode applies only when it creates the file.
    if (file.executable === true) await attempt(path, () => chmod(path, 0o755));
    paths.push(path);
  }
  return paths;
}

async function writeOut(path: string, text: string): Promise<void> {
  await attempt(path, () => writeFile(path, text, 'utf8'));
}

async function attempt(path: string, io: () => Promise<unknown>): Promise<void> {
  try {
    await io();
  } catch (err) {
    throw new DriftgateError('DG_USAGE', `--out ${path}: cannot write it (${messageOf(err)})`, { cause: err });
  }
}

function choices(list: readonly string[]): string {
  return list.length < 2 ? list.join('') : `${list.slice(0, -1).join(', ')} or ${list[list.length - 1] ?? ''}`;
}

async function withStore<T>(ctx: TicketsIo, openStore: OpenStore, opts: CommonOptions, use: (store: TicketStore) => Promise<T>): Promise<T> {
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

function parseExportFormat(text: string | undefined): ExportFormat {
  const format = EXPORT_FORMATS.find((f) => f === (text ?? 'patch'));
  if (format === undefined) throw new DriftgateError('DG_USAGE', `--format ${JSON.stringify(text)}: use ${choices(EXPORT_FORMATS)}`);
  return format;
}

function parseReportFormat(text: string | undefined): ReportFormat {
  const format = REPORT_FORMATS.find((f) => f === (text ?? 'table'));
  if (format === undefined) throw new DriftgateError('DG_USAGE', `-o ${JSON.stringify(text)}: use ${choices(REPORT_FORMATS)}`);
  return format;
}

function parseState(text: string): TicketState {
  const state = TICKET_STATES.find((s) => s === text);
  if (state === undefined) throw new DriftgateError('DG_USAGE', `--state ${JSON.stringify(text)}: use one of ${TICKET_STATES.join(', ')}`);
  return state;
}

function parseDecision(text: string | undefined): TicketDecision {
  if (text === undefined) throw new DriftgateError('DG_USAGE', `--decision is required: use one of ${TICKET_DECISIONS.join(', ')}`);
  const decision = TICKET_DECISIONS.find((d) => d === text);
  if (decision === undefined) throw new DriftgateError('DG_USAGE', `--decision ${JSON.stringify(text)}: use one of ${TICKET_DECISIONS.join(', ')}`);
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
  const back = parseAge(text);
  if (back !== undefined) return new Date(now.getTime() - back);
  const at = parseRfc3339(text, { allowSpace: true });
  if (at !== undefined) return new Date(at);
  throw new DriftgateError('DG_USAGE', `--since ${JSON.stringify(text)}: use a duration such as 7d or 12h, or an RFC 3339 time such as 2025-01-02T15:04:05Z`);
}

/** parseAgeFlag returns the length of a duration flag such as `--overdue 3d` in milliseconds; throws DG_USAGE naming `flag` otherwise. */
export function parseAgeFlag(flag: string, text: string): number {
  const ms = parseAge(text);
  if (ms === undefined) throw new DriftgateError('DG_USAGE', `${flag} ${JSON.stringify(text)}: use a duration such as 3d, 36h or 1d12h`);
  return ms;
}
