/**
 * `driftgate policy check|test`: what a policy change goes through in CI before it reaches a
 * cluster. `check` validates the GuardPolicy and warns about risky choices; `test` answers a
 * folder of saved AdmissionReviews through the very admission path the server runs (as `review`
 * does) and compares each answer with the case's expect.yaml.
 *
 * Exit codes: 0 passed; 1 invalid policy, failing case or unusable input; 2 `check --strict`
 * found warnings. Each non-zero exit is an Exit (cli/io.ts), which `run` turns into the code
 * without printing anything more: this command has already said why.
 */
import { Command, Option } from 'commander';
import { type Io, guard, processIo } from './io.js';
import { type CheckOptions, check } from './policy-check.js';
import { type TestOptions, test } from './policy-test.js';

/**
 * policyCommand returns the `policy` command with its `check` (validate and lint a GuardPolicy)
 * and `test` (run a folder of AdmissionReview cases against it) subcommands.
 */
export function policyCommand(io: Io = processIo): Command {
  const policy = new Command('policy')
    .description('check a GuardPolicy and test it against saved AdmissionReviews, e.g. in CI')
    .configureOutput({ writeOut: (s) => void io.out.write(s), writeErr: (s) => void io.err.write(s) })
    // Usage errors become a CommanderError for `run` to turn into an exit code, never a
    // process.exit() from deep inside commander; subcommands inherit this and the output.
    .exitOverride();

  policy
    .command('check')
    .description('validate a GuardPolicy (every problem, with its field and fix) and warn about risky choices')
    .argument('<policy>', 'the GuardPolicy (YAML or JSON), or - for stdin')
    .option('--strict', 'exit 2 when there are warnings (info lines never fail)')
    .addOption(new Option('-o, --output <format>', 'table, json or yaml').choices(['table', 'json', 'yaml', 'text']).default('table'))
    .action(guard(io, (file: string, opts: CheckOptions) => check(io, file, opts)));

  policy
    .command('test')
    .description('answer each case (a folder with review.json and expect.yaml) as the webhook would and compare')
    .argument('<policy>', 'the GuardPolicy (YAML or JSON)')
    .argument('<cases>', 'a folder holding one folder per case')
    .addOption(new Option('-o, --output <format>', 'table, json or yaml').choices(['table', 'json', 'yaml']).default('table'))
    .action(guard(io, (file: string, cases: string, opts: TestOptions) => test(io, file, cases, opts)));

  return policy;
}
