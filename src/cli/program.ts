/**
 * The `driftgate` command. Each subcommand lives in its own file; this one only wires them and
 * turns any failure into one line on stderr and a non-zero exit, never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { breakGlassCommand } from './break-glass.js';
import { certsCommand } from './certs.js';
import { manifestsCommand } from './manifests.js';
import { policyCommand } from './policy.js';
import { reviewCommand } from './review.js';
import { serveCommand } from './serve.js';
import { openTicketStore } from './stores.js';
import { type OpenStore, ticketsCommand } from './tickets.js';
import { Exit, processIo, report } from './io.js';
import { VERSION } from './version.js';
import { webhooksCommand } from './webhooks.js';

/** program returns the whole command tree (tests build it too). */
export function program(): Command {
  const root = new Command('driftgate')
    .description(
      'Kubernetes admission webhook that keeps GitOps honest: refuses live drift, lets time-bound break-glass through, records every bypass as a backport ticket',
    )
    .version(VERSION, '-v, --version', 'print the driftgate version')
    .showHelpAfterError()
    .exitOverride();
  const openStore: OpenStore = async (spec, cluster) => (await openTicketStore(spec, cluster)).store;
  for (const cmd of [
    serveCommand(),
    reviewCommand(),
    certsCommand(),
    manifestsCommand(),
    policyCommand(),
    ticketsCommand(openStore),
    breakGlassCommand(),
    webhooksCommand(),
  ])
    root.addCommand(cmd.exitOverride());
  return root;
}

/** run executes the CLI with the given arguments and returns the exit code. */
export async function run(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    // A command that chose its exit code has already said why.
    if (err instanceof Exit) return err.code;
    // commander has already printed its own usage errors (and --help / --version are not failures).
    if (err instanceof CommanderError) return err.exitCode;
    report(processIo, err);
    return 1;
  }
}
