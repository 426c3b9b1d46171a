/**
 * Deciding under whatever is in force: one policy, or the set of GuardPolicies taken from the
 * cluster. With a set, the request's namespace picks the one policy that guards it (policies never
 * overlap, src/policy/set.ts) and decide() runs under it unchanged; a namespace no policy guards
 * is unprotected. Pure, like decide(): the admission path and the judging worker both call these,
 * so a large review judged off the event loop meets the same policy as a small one.
 */
import type { AdmissionRequest, KubeObject } from '../admission/types.js';
import { isPolicySet, type PolicyInForce, policyFor } from '../policy/set.js';
import type { GuardPolicy } from '../policy/types.js';
import { decide, decideOrAsk, guardedNamespace } from './decide.js';
import type { Decision, Deny, NeedsObject } from './types.js';

/** Picked is the policy a request is judged by, or the decision already made without one. */
type Picked = { policy: GuardPolicy } | { decision: Decision };

function pick(request: AdmissionRequest, inForce: PolicyInForce): Picked {
  if (!isPolicySet(inForce)) return { policy: inForce };
  if (inForce.closed !== undefined) {
    // Fail closed: without a trusted policy driftgate cannot tell drift from a legitimate write,
    // and the apiserver sends it only what the webhooks' rules select (GitOps and Kubernetes'
    // controllers are skipped there, before driftgate is asked).
    const deny: Deny = {
      kind: 'deny',
      code: 'no-policy',
      message: `[driftgate/no-policy] driftgate has no valid GuardPolicy in force (${inForce.closed}), so it refuses the writes it guards until one is. Fix the GuardPolicy (kubectl get guardpolicies shows its status), or make the change through GitOps.`,
      warnings: [],
      changedPaths: [],
    };
    return { decision: deny };
  }
  const policy = policyFor(inForce, guardedNamespace(request));
  if (policy === undefined) return { decision: { kind: 'allow', code: 'unprotected-namespace', warnings: [], mutation: [], changedPaths: [] } };
  return { policy };
}

/** decideOrAskUnder is decideOrAsk() under the policy in force for the request. */
export function decideOrAskUnder(request: AdmissionRequest, inForce: PolicyInForce, now: Date): Decision | NeedsObject {
  const picked = pick(request, inForce);
  return 'decision' in picked ? picked.decision : decideOrAsk(request, picked.policy, now);
}

/** decideUnder is decide() under the policy in force for the request. */
export function decideUnder(request: AdmissionRequest, inForce: PolicyInForce, now: Date, parent?: KubeObject, namespace?: KubeObject): Decision {
  const picked = pick(request, inForce);
  return 'decision' in picked ? picked.decision : decide(request, picked.policy, now, parent, namespace);
}
