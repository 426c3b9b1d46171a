/**
 * driftgate's own check of GuardPolicy writes (the webhook entry `validate-policies.driftgate.dev`,
 * path /validate-policy): `kubectl apply` of a policy driftgate would refuse is refused at once,
 * with the path-qualified messages of `policy check`, instead of being stored and then marked
 * Invalid. The same judgement as the watcher's (policy-status.ts judgeSpec), against the other
 * policies in force, so a policy that overlaps another's namespaces is refused here too. Lint
 * warnings (`policy check`'s) come back as kubectl warnings; they never refuse.
 */
import { type Answer, allowed, denied } from '../admission/respond.js';
import type { AdmissionRequest } from '../admission/types.js';
import type { WebhookTarget } from '../manifests/render.js';
import { lintPolicy } from '../policy/lint.js';
import type { GuardPolicy } from '../policy/types.js';
import { isRecord } from '../util/json.js';
import { judgeSpec, type PolicyObject } from './policy-status.js';

/** PolicyAdmissionDeps: the policies in force now (one is the object's own earlier generation) and the webhook target. */
export interface PolicyAdmissionDeps {
  inForce: () => readonly GuardPolicy[];
  target: WebhookTarget;
}

/** PolicyAdmission answers a review of a GuardPolicy write. */
export type PolicyAdmission = (request: AdmissionRequest) => Answer;

/** createPolicyAdmission returns the check of GuardPolicy writes. */
export function createPolicyAdmission(deps: PolicyAdmissionDeps): PolicyAdmission {
  return (request) => {
    const { group, resource } = request.resource;
    // Only GuardPolicy creates and updates are sent here; anything else is let through untouched,
    // so a mistake in the webhook's rules can never block an unrelated write.
    if (group !== 'driftgate.dev' || resource !== 'guardpolicies' || (request.subResource ?? '') !== '') return allowed();
    if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return allowed();
    const object = request.object;
    const metadata = isRecord(object) && isRecord(object['metadata']) ? object['metadata'] : undefined;
    const name = typeof metadata?.['name'] === 'string' ? metadata['name'] : request.name;
    if (!isRecord(object) || name === undefined || name === '') {
      return denied(`GuardPolicy: the request carries no object with a name to check; driftgate refuses what it cannot check`, 400);
    }
    const policyObject: PolicyObject = {
      metadata: {
        name,
        ...(isRecord(metadata?.['labels']) ? { labels: metadata['labels'] as Record<string, string> } : {}),
        ...(isRecord(metadata?.['annotations']) ? { annotations: metadata['annotations'] as Record<string, string> } : {}),
      },
      spec: object['spec'],
    };
    const others = deps.inForce().filter((p) => p.name !== name);
    const judged = judgeSpec(policyObject, object['spec'], others, deps.target);
    if (!judged.ok) {
      const count = judged.problems.length === 1 ? '1 problem' : `${judged.problems.length} problems`;
      return denied(`GuardPolicy ${name} is invalid (${count}):\n${judged.problems.map((p) => `  - ${p}`).join('\n')}`, 422);
    }
    const warnings = lintPolicy(judged.policy)
      .filter((f) => f.level === 'warning')
      .map((f) => `GuardPolicy ${name}: ${f.field}: ${f.message}; ${f.fix}`);
    return allowed({ warnings });
  };
}
