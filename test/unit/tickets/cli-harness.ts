/** runTickets: the `tickets` command over journals, with its output captured, for the CLI tests. */
import { Exit } from '../../../src/cli/io.js';
import { ticketsCommand } from '../../../src/cli/tickets.js';
import { DriftgateError } from '../../../src/errors.js';
import { JournalStore, parseTicketsSpec } from '../../../src/tickets/journal.js';
import type { TicketStore } from '../../../src/tickets/types.js';

/** openJournal opens the journal a spec names; these tests use no other store. */
export async function openJournal(spec: string): Promise<TicketStore> {
  const where = parseTicketsSpec(spec);
  if (where.kind !== 'journal') throw new DriftgateError('DG_TICKETS_SPEC', 'only journals in these tests');
  return JournalStore.open(where.path, { onWarning: () => undefined });
}

/** runTickets returns what `driftgate tickets …args` printed and the exit code it asked for. */
export async function runTickets(args: string[], opts: { env: Record<string, string>; now: Date }): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  let code = 0;
  const command = ticketsCommand(openJournal, {
    out: { write: (s: string) => (out += s) },
    err: { write: (s: string) => (err += s) },
    env: opts.env,
    now: () => opts.now,
  });
  try {
    await command.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (!(e instanceof Exit)) throw e;
    code = e.code;
  }
  return { out, err, code };
}
