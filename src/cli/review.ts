/**
 * `driftgate review`: answers one AdmissionReview offline, through the very admission path the
 * server runs, so a policy change can be tried on a saved request before it reaches a cluster.
 */
import { Command } from 'commander';
import { parseReviewText } from '../admission/schema.js';
import { review as envelope } from '../admission/respond.js';
import type { KubeObject } from '../admission/types.js';
import { DriftgateError } from '../errors.js';
import { createAdmitter } from '../admission/admit.js';
import { offlineStore } from '../tickets/offline.js';
import { type Io, parseNow, processIo, readPolicyFile, readText } from './io.js';

interface ReviewOptions {
  policy: string;
  now?: string;
  mutate?: boolean;
  parent?: string;
}

/** reviewCommand returns the `review` command. */
export function reviewCommand(io: Io = processIo): Command {
  return new Command('review')
    .description('answer one admission.k8s.io/v1 AdmissionReview as the webhook would, and print the response')
    .argument('<file>', 'the AdmissionReview JSON file, or - for stdin')
    .requiredOption('--policy <file>', 'the GuardPolicy (YAML or JSON)')
    .option('--now <time>', 'RFC 3339 time to decide at, instead of the clock')
    .option('--mutate', 'answer as the mutating webhook (prints the JSONPatch)')
    .option('--parent <file>', 'the parent object (JSON) of a /scale or other subresource request, as the server would look it up')
    .action(async (file: string, opts: ReviewOptions) => {
        const policy = await readPolicyFile(opts.policy);
        const now = parseNow(opts.now);
        const request = parseReviewText(await readText(file, 'AdmissionReview'));
        const parent = opts.parent === undefined ? undefined : await readParent(opts.parent);
        const tickets = offlineStore();
        const admitter = createAdmitter({
          policy: () => policy,
          now: () => now,
          tickets,
          ...(parent === undefined ? {} : { parents: async () => parent }),
        });
        const admitted = opts.mutate === true ? await admitter.mutate(request) : await admitter.validate(request);
        io.out.write(`${JSON.stringify(envelope(request.uid, admitted.answer), null, 2)}\n`);
        if (admitted.outcome === 'bypass' && opts.mutate !== true) {
          io.err.write(`note: a break-glass bypass; the server answers this only after recording it on ticket ${admitted.ticketId ?? ''} (tickets recorded here: ${tickets.describeStore()})\n`);
        }
    });
}

async function readParent(path: string): Promise<KubeObject> {
  const text = await readText(path, 'parent object');
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as KubeObject;
  } catch {
    // reported below with the fix
  }
  throw new DriftgateError('DG_FILE_UNREADABLE', `--parent ${path}: not a Kubernetes object in JSON; save it with kubectl get -o json`);
}
