/**
 * Every `driftgate COMMAND … --flag` the docs show is a command and flags the CLI has (issue 14,
 * "docs match the product"): a renamed flag would otherwise leave a runbook step that fails at
 * 3 a.m. Prose ("driftgate runs on…") is skipped: only words that name a command are read.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { program } from '../../../src/cli/program.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const DOCS = [
  'README.md',
  'charts/driftgate/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** flagsIn returns every `driftgate …` invocation in `text` whose flags the CLI lacks. */
function unknownFlags(text: string): string[] {
  const root = program();
  const wrong: string[] = [];
  for (const m of text.matchAll(/\bdriftgate ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?([^`\n]*)/g)) {
    const [whole, name, second, rest = ''] = m;
    const command = root.commands.find((c) => c.name() === name);
    if (command === undefined) continue;
    const sub = command.commands.find((c) => c.name() === second);
    // "the `driftgate tickets` CLI", "driftgate break-glass open|extend": the group, not a call.
    if (command.commands.length > 0 && second === undefined) continue;
    if (command.commands.length > 0 && sub === undefined) {
      wrong.push(`${whole.trim()}: "${name}" has no subcommand "${second ?? ''}"`);
      continue;
    }
    const leaf = sub ?? command;
    const known = new Set(['--help', ...leaf.options.flatMap((o) => [o.long, o.short]).filter((f): f is string => f !== undefined)]);
    for (const [, flag] of `${sub === undefined ? (second ?? '') : ''} ${rest}`.matchAll(/(?:^|\s)(--[a-z][a-z-]*)/g)) {
      if (flag !== undefined && !known.has(flag)) wrong.push(`${whole.trim()}: no ${flag}`);
    }
  }
  return wrong;
}

describe('the commands the docs show', () => {
  it.each(DOCS)('%s uses only commands and flags driftgate has', (file) => {
    expect(unknownFlags(readFileSync(join(ROOT, file), 'utf8'))).toEqual([]);
  });

  it('would catch a flag that does not exist (the check is not empty)', () => {
    expect(unknownFlags('`driftgate review --bogus x` and `driftgate tickets show ID --nope` and `driftgate tickets frobnicate`')).toEqual([
      'driftgate review --bogus x: no --bogus',
      'driftgate tickets show ID --nope: no --nope',
      'driftgate tickets frobnicate: "tickets" has no subcommand "frobnicate"',
    ]);
  });
});
