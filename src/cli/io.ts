/**
 * What every command shares: reading the files a person names (the CLI is the only room that
 * reads files, flags or the environment), and turning any failure into one line on stderr.
 */
import { readFile } from 'node:fs/promises';
import { CommanderError } from 'commander';
import { jsonSafe } from '../util/terminal.js';
import { safeYamlOf } from '../util/yaml-safe.js';
import { DriftgateError, messageOf } from '../errors.js';
import { loadPolicy } from '../policy/load.js';
import type { GuardPolicy } from '../policy/types.js';
import { RFC3339_EXAMPLE, parseRfc3339 } from '../util/rfc3339.js';
import type { ReviewLimits } from '../admission/limits.js';

/** Streams a command writes to; injectable so tests read what a person would see. */
export interface Io {
  out: { write(text: string): unknown };
  err: { write(text: string): unknown };
}

/** processIo is the terminal. */
export const processIo: Io = { out: process.stdout, err: process.stderr };

/** readText returns a file's text ("-" is stdin), or throws a DriftgateError naming the file. */
export async function readText(path: string, what: string, code: 'DG_POLICY_UNREADABLE' | 'DG_FILE_UNREADABLE' = 'DG_FILE_UNREADABLE'): Promise<string> {
  try {
    if (path === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
      return Buffer.concat(chunks).toString('utf8');
    }
    return await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : messageOf(err);
    throw new DriftgateError(code, `${what} ${path}: cannot read it (${reason})`, { cause: err });
  }
}

/** readPolicyFile returns the validated GuardPolicy in a file. */
export async function readPolicyFile(path: string): Promise<GuardPolicy> {
  return loadPolicy(await readText(path, 'policy', 'DG_POLICY_UNREADABLE'), path);
}

/** parseNow returns the `--now` time, or throws naming the flag and the form to write. */
export function parseNow(text: string | undefined, clock: () => Date = () => new Date()): Date {
  if (text === undefined) return clock();
  const ms = parseRfc3339(text, { allowSpace: true });
  if (ms === undefined) {
    throw new DriftgateError('DG_USAGE', `--now "${text}" is not an RFC 3339 time; write e.g. ${RFC3339_EXAMPLE}`);
  }
  return new Date(ms);
}

/** DataFormat is how a command prints data for a program rather than a person (-o json|yaml). */
export type DataFormat = 'json' | 'yaml';

/**
 * formatData returns `value` as `-o json` or `-o yaml` prints it, the same way in every command,
 * with lossless escapes of the control and bidi characters a request may have carried in.
 */
export function formatData(value: unknown, format: DataFormat): string {
  return format === 'json' ? `${jsonSafe(JSON.stringify(value, null, 2))}\n` : safeYamlOf(value);
}

/** report writes an error for a person: one line (plus one per detail), never a stack trace. */
export function report(io: Io, err: unknown): void {
  io.err.write(`driftgate: ${messageOf(err)}\n`);
}

/**
 * Exit ends a command with `code` after it has said what it had to (a failed policy test, a
 * refused review): not an error to report. The one way a command chooses its exit code; `run`
 * (program.ts) turns it into the process' exit code.
 */
export class Exit extends Error {
  readonly code: number;

  constructor(code: number) {
    super(`exit ${code}`);
    this.name = 'Exit';
    this.code = code;
  }
}

/** exit ends the command with `code` (see Exit). */
export function exit(code: number): never {
  throw new Exit(code);
}

/**
 * guard returns `action` made to end any failure as one line on the command's own stderr (plus
 * one per detail) and exit code 1, so that tests read what a person would see. An Exit, or
 * commander's own usage error, passes through.
 */
export function guard<A extends unknown[]>(io: Io, action: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await action(...args);
    } catch (err) {
      if (err instanceof Exit || err instanceof CommanderError) throw err;
      report(io, err);
      exit(1);
    }
  };
}

/** reviewLimitsOf returns the shape limits of --max-review-depth and --max-review-values (serve and review share them). */
export function reviewLimitsOf(opts: { maxReviewDepth: string; maxReviewValues: string }): ReviewLimits {
  const whole = (flag: string, text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new DriftgateError('DG_USAGE', `--${flag} "${text}" is not a whole number ≥ 1`);
    return n;
  };
  return { maxDepth: whole('max-review-depth', opts.maxReviewDepth), maxLeaves: whole('max-review-values', opts.maxReviewValues) };
}
