/**
 * `driftgate review`: answers one AdmissionReview offline, through the very admission path the
 * server runs, so a policy change can be tried on a saved request before it reaches a cluster.
 *
 * Exit codes: 0 allowed (a bypass too: the server allows it once recorded); 2 refused; 1 the
 * review could not be answered. A refusal exits non-zero by default, as `kyverno apply`,
 * `conftest test` and `kubectl auth can-i` do: a script asking "would this pass?" must not read
 * a refusal as success. `--exit-zero` exits 0 whenever the answer was printed.
 */
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { parseReviewText } from '../admission/schema.js';
import { review as envelope } from '../admission/respond.js';
import type { KubeObject } from '../admission/types.js';
import { DriftgateError } from '../errors.js';
import { createAdmitter } from '../admission/admit.js';
import { offlineStore } from '../tickets/offline.js';
import { type Io, exit, parseNow, processIo, readPolicyFile, readText, reviewLimitsOf } from './io.js';
import { isRecord } from '../util/json.js';
import { DEFAULT_REVIEW_LIMITS } from '../admission/limits.js';

interface ReviewOptions {
  policy: string;
  now?: string;
  mutate?: boolean;
  parent?: string;
  output: 'json' | 'yaml';
  exitZero?: boolean;
  maxReviewDepth: string;
  maxReviewValues: string;
}

/** EXIT_REFUSED is the exit code of a review the webhook would refuse. */
export const EXIT_REFUSED = 2;

/** reviewCommand returns the `review` command. */
export function reviewCommand(io: Io = processIo): Command {
  return new Command('review')
    .description('answer one admission.k8s.io/v1 AdmissionReview as the webhook would, and print the response')
    .argument('<file>', 'the AdmissionReview JSON file, or - for stdin')
    .requiredOption('--policy <file>', 'the GuardPolicy (YAML or JSON)')
    .option('--now <time>', 'RFC 3339 time to decide at, instead of the clock')
    .option('--mutate', 'answer as the mutating webhook (prints the JSONPatch)')
    .option('--parent <file>', 'the parent object (JSON) of a /scale or other subresource request, as the server would look it up')
    .addOption(new Option('-o, --output <format>', 'json or yaml').choices(['json', 'yaml']).default('json'))
    .option('--exit-zero', `exit 0 when the request would be refused (default: exit ${EXIT_REFUSED})`)
    .option('--max-review-depth <levels>', 'refuse a review nesting deeper than this, as serve does', String(DEFAULT_REVIEW_LIMITS.maxDepth))
    .option('--max-review-values <count>', 'refuse a review holding more leaves than this, as serve does', String(DEFAULT_REVIEW_LIMITS.maxLeaves))
    .action(async (file: string, opts: ReviewOptions) => {
      // Flags first: a mistyped --now is said before any file is read.
      const now = parseNow(opts.now);
      const limits = reviewLimitsOf(opts);
      const policy = await readPolicyFile(opts.policy);
      const request = parseReviewText(await readText(file, 'AdmissionReview'), limits);
      const parent = opts.parent === undefined ? undefined : await readParent(opts.parent);
      const tickets = offlineStore();
      const admitter = createAdmitter({
        policy: () => policy,
        now: () => now,
        tickets,
        ...(parent === undefined ? {} : { parents: async () => parent }),
      });
      const admitted = opts.mutate === true ? await admitter.mutate(request) : await admitter.validate(request);
      const reply = envelope(request.uid, admitted.answer);
      io.out.write(opts.output === 'yaml' ? stringify(reply) : `${JSON.stringify(reply, null, 2)}\n`);
      if (admitted.outcome === 'bypass' && opts.mutate !== true) {
        io.err.write(
          `note: a break-glass bypass; the server answers this only after recording it on ticket ${admitted.ticketId ?? ''} (here tickets go ${tickets.describeStore()})\n`,
        );
      }
      if (!reply.response.allowed && opts.exitZero !== true) exit(EXIT_REFUSED);
    });
}

async function readParent(path: string): Promise<KubeObject> {
  const text = await readText(path, 'parent object');
  try {
    const value: unknown = JSON.parse(text);
    if (isRecord(value)) return value as KubeObject;
  } catch {
    // reported below with the fix
  }
  throw new DriftgateError('DG_FILE_UNREADABLE', `--parent ${path}: not a Kubernetes object in JSON; save it with kubectl get -o json`);
}
