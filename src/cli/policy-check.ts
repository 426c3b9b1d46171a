/**
 * `driftgate policy check`: validate a GuardPolicy (every problem, with its field and fix) and
 * warn about risky choices. Exit 1 when it is invalid, 2 with --strict when there are warnings.
 */
import { isDriftgateError } from '../errors.js';
import { SHARED_CONTROLLER_IDENTITY } from '../policy/kubernetes-controllers.js';
import { lintPolicy, type Finding } from '../policy/lint.js';
import { loadPolicy } from '../policy/load.js';
import type { GuardPolicy } from '../policy/types.js';
import { type DataFormat, type Io, exit, formatData, readText } from './io.js';

/** plural returns "1 case", "2 cases". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

// ---------------------------------------------------------------------------------------------
// policy check

export interface CheckOptions {
  strict?: boolean;
  /** 'text' is the earlier name of 'table', still accepted. */
  output: 'table' | 'text' | DataFormat;
}

export async function check(io: Io, file: string, opts: CheckOptions): Promise<void> {
  const text = await readText(file, 'policy', 'DG_POLICY_UNREADABLE');
  let policy: GuardPolicy;
  try {
    policy = loadPolicy(text, file);
  } catch (err) {
    if (!isDriftgateError(err) || err.code !== 'DG_POLICY_INVALID') throw err;
    if (opts.output === 'json' || opts.output === 'yaml') {
      io.out.write(formatData({ file, valid: false, problems: err.details, findings: [] }, opts.output));
    } else {
      io.out.write(`INVALID ${err.message}\n${err.details.map((line) => `error: ${line}\n`).join('')}`);
    }
    exit(1);
  }
  const findings = lintPolicy(policy);
  const warnings = findings.filter((f) => f.level === 'warning').length;
  if (opts.output === 'json' || opts.output === 'yaml') {
    const summary = { name: policy.name, mode: policy.mode, namespaces: policy.namespaces.length, resourceRules: policy.resources.length };
    const kubernetesControllers = {
      sharedIdentity: policy.kubernetesControllers.sharedIdentity,
      allowed: policy.kubernetesControllers.controllers.map((c) => ({ name: c.name, serviceAccount: c.serviceAccount, why: c.why })),
    };
    io.out.write(formatData({ file, valid: true, policy: summary, kubernetesControllers, problems: [], findings }, opts.output));
  } else {
    const summary = `${policy.mode}, ${plural(policy.namespaces.length, 'namespace')}, ${plural(policy.resources.length, 'resource rule')}`;
    io.out.write(`OK policy ${policy.name} (${summary})\n${formatControllers(policy)}${findings.map(formatFinding).join('')}`);
  }
  if (opts.strict === true && warnings > 0) {
    io.err.write(`driftgate: --strict: ${plural(warnings, 'warning')} in ${file}\n`);
    exit(2);
  }
}

/** formatControllers names, on one line, Kubernetes' own controllers the policy lets through, and as whom. */
function formatControllers(policy: GuardPolicy): string {
  const { controllers, sharedIdentity } = policy.kubernetesControllers;
  if (controllers.length === 0) return 'kubernetes controllers: none allowed (kubernetesControllers.allow is empty)\n';
  const as = sharedIdentity ? `their service accounts or ${SHARED_CONTROLLER_IDENTITY}` : 'their service accounts only';
  return `kubernetes controllers allowed, as ${as}: ${controllers.map((c) => c.name).join(', ')}\n`;
}

function formatFinding(f: Finding): string {
  return `${f.level}: ${f.field}: ${f.message}; ${f.fix}\n`;
}
