/**
 * GuardPolicy (driftgate.dev/v1alpha1) as the rest of driftgate sees it: validated, defaults
 * filled in, durations and patterns compiled. The document form a person writes is described by
 * the JSON Schema in `schema.ts`; `load.ts` turns one into the other.
 */
import type { KubernetesController } from './kubernetes-controllers.js';

/** Subjects names identities by exact username or by any group the requester carries. */
export interface Subjects {
  users: string[];
  groups: string[];
}

/** ResourceRule matches like an RBAC rule; "deployments/scale" names a subresource. */
export interface ResourceRule {
  apiGroups: string[];
  resources: string[];
}

/** Delegation lets its subjects change the fields under `paths` (RFC 6901 JSON Pointers). */
export interface Delegation extends Subjects {
  paths: string[];
}

/** BreakGlass says who may open a time-bound window and what a valid window looks like. */
export interface BreakGlass extends Subjects {
  /** As written, e.g. "4h", for messages. */
  maxDuration: string;
  maxDurationMs: number;
  incidentPattern: string;
  incident: RegExp;
  minReasonLength: number;
}

/**
 * OpenSubresource leaves subresources open that guarding their resource would otherwise guard
 * (e.g. "statefulsets/scale" for a team whose autoscaler is not named in the policy). The reason
 * is required: `policy check` prints it next to the gap.
 */
export interface OpenSubresource {
  apiGroups: string[];
  resources: string[];
  reason: string;
}

export type Mode = 'enforce' | 'warn';

/**
 * KubernetesControllers is which of Kubernetes' own controllers (the built-in list of
 * `kubernetes-controllers.ts`) pass for the writes they must make, and under which identity.
 */
export interface KubernetesControllers {
  /** The controllers in force, in the built-in list's order. */
  controllers: KubernetesController[];
  /** Whether `system:kube-controller-manager` (all controllers under one identity) is accepted as each of them. */
  sharedIdentity: boolean;
}

/** GuardPolicy is a validated policy with every default applied. */
export interface GuardPolicy {
  name: string;
  mode: Mode;
  namespaces: string[];
  resources: ResourceRule[];
  /** Implied subresources left open on purpose (default none). */
  openSubresources: OpenSubresource[];
  gitopsWriters: Subjects;
  delegations: Delegation[];
  breakGlass: BreakGlass;
  kubernetesControllers: KubernetesControllers;
}
