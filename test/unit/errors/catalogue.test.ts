/**
 * The error catalogue (src/errors.ts) holds what driftgate raises and nothing else: every code is
 * raised somewhere in src/, and the one status map answers for every code. A code left behind
 * when its last raiser goes fails here, so the catalogue cannot drift into fiction.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DriftgateError, ERROR_CODES, httpStatusOf } from '../../../src/errors.js';

const SRC = join(import.meta.dirname, '..', '..', '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sources(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

const code = sources(SRC)
  .filter((f) => !f.endsWith(join('src', 'errors.ts')))
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');

describe('the error catalogue', () => {
  it.each(ERROR_CODES)('%s is raised somewhere in src/', (c) => {
    // A raise names the code as a string literal (doc comments name it bare).
    expect(code).toContain(`'${c}'`);
  });

  it('maps the admission-path codes to their statuses, anything else to 500', () => {
    expect(httpStatusOf(new DriftgateError('DG_REVIEW_INVALID', 'x'))).toBe(400);
    expect(httpStatusOf(new DriftgateError('DG_REVIEW_TOO_LARGE', 'x'))).toBe(413);
    expect(httpStatusOf(new DriftgateError('DG_TICKET_TIMEOUT', 'x'))).toBe(503);
    expect(httpStatusOf(new DriftgateError('DG_JOURNAL_IO', 'x'))).toBe(503);
    expect(httpStatusOf(new DriftgateError('DG_INTERNAL', 'x'))).toBe(500);
    expect(httpStatusOf(new Error('a bug'))).toBe(500);
    expect(httpStatusOf('thrown string')).toBe(500);
  });
});
