/**
 * `tickets backport`: carrying a ticket's changes into a Git checkout as one commit on a new
 * branch. Reads the YAML committed at HEAD, plans the edits (plan.ts), commits them without
 * touching the checkout (repo.ts), and returns what the ticket records.
 */
import { DriftgateError } from '../errors.js';
import { commitMessage } from '../tickets/commit-message.js';
import { shellQuote } from '../tickets/export.js';
import { safe } from '../tickets/render.js';
import type { BackportCommit, Ticket } from '../tickets/types.js';
import { readRepo } from './locate.js';
import { planBackport } from './plan.js';
import { Git } from './repo.js';

/** BackportOptions says where and as whom to commit. */
export interface BackportOptions {
  /** A directory inside the checkout. */
  repo: string;
  /** The new branch; default `backport/<ticket id>`. */
  branch?: string;
  now: Date;
}

/** BackportResult is the commit made, and notes the person must read. */
export interface BackportResult {
  commit: BackportCommit;
  notes: string[];
}

// Manifests larger than this are not what a person edits by hand; skipping them bounds the work.
const MAX_FILE_BYTES = 1024 * 1024;

/**
 * backportTicket commits the ticket's changes on a new branch of the checkout `opts.repo` and
 * returns the commit. Throws DG_USAGE when the ticket is closed already, or the checkout, the
 * branch or the manifests refuse it.
 */
export async function backportTicket(ticket: Ticket, opts: BackportOptions): Promise<BackportResult> {
  if (ticket.resolution !== undefined) {
    const r = ticket.resolution;
    throw new DriftgateError(
      'DG_USAGE',
      `ticket ${ticket.id} is already ${ticket.state} (${r.decision} by ${r.by} at ${r.at}, ${r.ref}): a closed ticket is not carried into Git again; a change made later under the window reopens it`,
    );
  }
  const git = await Git.open(opts.repo);
  const branch = opts.branch ?? `backport/${ticket.id}`;
  await git.checkBranchName(branch);
  const files = await git.yamlAtHead(MAX_FILE_BYTES);
  const plan = planBackport(ticket, readRepo(files));
  const by = await git.author();
  const paths = [...plan.files.keys()].sort();
  const message = backportMessage(ticket, paths);
  const commit = await git.commitOnNewBranch(branch, plan.files, message);
  const repo = await git.origin();
  return {
    commit: { commit, branch, files: paths, changes: ticket.changes.length, by, at: iso(opts.now), ...(repo === undefined ? {} : { repo }) },
    notes: plan.notes,
  };
}

/**
 * backportMessage returns the commit message: `tickets export`'s (incident, window, who changed
 * what, the Backport-Ticket trailer), with the files edited named before the trailer.
 */
export function backportMessage(ticket: Ticket, files: readonly string[]): string {
  const message = commitMessage(ticket);
  const trailer = message.lastIndexOf('\nBackport-Ticket:');
  if (trailer === -1) throw new DriftgateError('DG_INTERNAL', 'the commit message has no Backport-Ticket trailer');
  const listed = ['Edited by driftgate tickets backport:', ...files.map((f) => `- ${safe(f)}`), ''].join('\n');
  return `${message.slice(0, trailer + 1)}${listed}\n${message.slice(trailer + 1)}`;
}

/** pushHint returns the command that publishes the branch. */
export function pushHint(branch: string): string {
  return `git push origin ${shellQuote(branch)}`;
}

function iso(d: Date): string {
  // Whole seconds, as every other time on a ticket.
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
