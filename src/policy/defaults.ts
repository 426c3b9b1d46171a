/**
 * The defaults a GuardPolicy gets for what its writer left out. Each is the safe choice: refuse
 * drift, trust nobody implicitly, and let nobody break glass unless named. `namespaces` and
 * `resources` have no default on purpose: protecting everything would block the cluster's own
 * controllers, and protecting nothing would be useless. docs/policy-reference.md lists them.
 */
import { DriftgateError } from '../errors.js';
import { parseDuration } from './duration.js';
import type { GuardPolicyDocument, SubjectsDocument } from './schema.js';
import { KUBERNETES_CONTROLLERS } from './kubernetes-controllers.js';
import type { GuardPolicy, KubernetesControllers, Mode, Subjects } from './types.js';

/** POLICY_DEFAULTS holds the value of every optional GuardPolicy field. */
export const POLICY_DEFAULTS: {
  readonly mode: Mode;
  readonly gitopsWriters: Readonly<{ users: readonly string[]; groups: readonly string[] }>;
  readonly delegations: readonly [];
  readonly kubernetesControllers: Readonly<{ allow: readonly string[]; sharedIdentity: boolean }>;
  readonly breakGlass: Readonly<{
    users: readonly string[];
    groups: readonly string[];
    maxDuration: string;
    incidentPattern: string;
    minReasonLength: number;
  }>;
} = Object.freeze({
  mode: 'enforce',
  gitopsWriters: Object.freeze({ users: Object.freeze([]), groups: Object.freeze([]) }),
  delegations: Object.freeze([] as const),
  // Every built-in controller, under either identity: refusing one breaks the cluster (garbage
  // collection, namespace deletion, pod start-up), and each grant is narrow (kubernetes-controllers.ts).
  kubernetesControllers: Object.freeze({ allow: Object.freeze(['*']), sharedIdentity: true }),
  breakGlass: Object.freeze({
    users: Object.freeze([]),
    groups: Object.freeze([]),
    maxDuration: '1h',
    // Any incident reference with a visible character: naming schemes differ too much to impose one.
    incidentPattern: '\\S',
    minReasonLength: 10,
  }),
});

function kubernetesControllers(doc: GuardPolicyDocument['spec']['kubernetesControllers']): KubernetesControllers {
  const allow = doc?.allow ?? POLICY_DEFAULTS.kubernetesControllers.allow;
  return {
    controllers: KUBERNETES_CONTROLLERS.filter((c) => allow.includes('*') || allow.includes(c.name)),
    sharedIdentity: doc?.sharedIdentity ?? POLICY_DEFAULTS.kubernetesControllers.sharedIdentity,
  };
}

function subjects(doc: SubjectsDocument | undefined): Subjects {
  return { users: [...(doc?.users ?? [])], groups: [...(doc?.groups ?? [])] };
}

/**
 * applyDefaults returns the GuardPolicy a validated document describes, every default applied and
 * its duration and incident pattern compiled. The document must already have passed validation.
 */
export function applyDefaults(doc: GuardPolicyDocument): GuardPolicy {
  const { spec } = doc;
  const breakGlass = spec.breakGlass ?? {};
  const maxDuration = breakGlass.maxDuration ?? POLICY_DEFAULTS.breakGlass.maxDuration;
  const maxDurationMs = parseDuration(maxDuration);
  if (maxDurationMs === undefined) {
    throw new DriftgateError('DG_INTERNAL', `applyDefaults: maxDuration ${JSON.stringify(maxDuration)} was not validated`);
  }
  const incidentPattern = breakGlass.incidentPattern ?? POLICY_DEFAULTS.breakGlass.incidentPattern;
  return {
    name: doc.metadata.name,
    mode: spec.mode ?? POLICY_DEFAULTS.mode,
    namespaces: [...spec.namespaces],
    resources: spec.resources.map((rule) => ({ apiGroups: [...rule.apiGroups], resources: [...rule.resources] })),
    openSubresources: (spec.openSubresources ?? []).map((open) => ({ apiGroups: [...open.apiGroups], resources: [...open.resources], reason: open.reason })),
    gitopsWriters: subjects(spec.gitopsWriters),
    delegations: (spec.delegations ?? []).map((delegation) => ({ ...subjects(delegation), paths: [...delegation.paths] })),
    breakGlass: {
      ...subjects(breakGlass),
      maxDuration,
      maxDurationMs,
      incidentPattern,
      // No flags: without "g" or "y", test() keeps no lastIndex between calls.
      incident: new RegExp(incidentPattern),
      minReasonLength: breakGlass.minReasonLength ?? POLICY_DEFAULTS.breakGlass.minReasonLength,
    },
    kubernetesControllers: kubernetesControllers(spec.kubernetesControllers),
  };
}
