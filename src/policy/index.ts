/** The policy room's public face: load a GuardPolicy, read its defaults, match requests against it. */
export type { BreakGlass, Delegation, GuardPolicy, Mode, ResourceRule, Subjects } from './types.js';
export type { GuardPolicyDocument, SubjectsDocument } from './schema.js';
export { GUARD_POLICY_SCHEMA, POLICY_API_VERSION, POLICY_KIND } from './schema.js';
export { formatDuration, parseDuration } from './duration.js';
export { POLICY_DEFAULTS } from './defaults.js';
export { loadPolicy, parsePolicy } from './load.js';
export { delegatedPaths, inSubjects, matchesNamespace, matchesResource, type Requester } from './match.js';
