/**
 * Fail closed on what cannot be judged: a request missing an object the apiserver always sends
 * (the old object of a DELETE or an UPDATE, the new object of a CREATE or an UPDATE) or carrying an
 * operation driftgate does not know would otherwise read as "nothing changed" and pass.
 */
import { type AdmissionRequest, OPERATIONS } from '../admission/types.js';
import { isRecord } from './normalize.js';

/** incompleteness returns what makes the request impossible to judge in full, or undefined when nothing does. */
export function incompleteness(request: AdmissionRequest): string | undefined {
  const op: unknown = request.operation;
  if (typeof op !== 'string' || !(OPERATIONS as readonly string[]).includes(op)) {
    return `operation ${JSON.stringify(op)} is not one driftgate knows (${OPERATIONS.join(', ')})`;
  }
  const needsNew = op === 'CREATE' || op === 'UPDATE';
  const needsOld = op === 'UPDATE' || op === 'DELETE';
  const missing = [...(needsOld && !isRecord(request.oldObject) ? ['oldObject'] : []), ...(needsNew && !isRecord(request.object) ? ['object'] : [])];
  if (missing.length === 0) return undefined;
  return `${op === 'UPDATE' ? 'an' : 'a'} ${op} must carry ${missing.join(' and ')}, and this request has no ${missing.join(' and no ')}`;
}
