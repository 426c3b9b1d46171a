/**
 * From the GuardPolicy objects of the cluster to the policies in force and the status each object
 * should carry. Pure: the watcher (guardpolicy-watch.ts) feeds it what it listed and writes back
 * what differs, so every replica computes the same answer from the same objects and the status
 * writes of several replicas converge instead of fighting.
 *
 * The rules, in order:
 * - A generation is accepted when it passes the schema and the checks (`policy check`'s messages),
 *   renders webhooks (it selects a namespace driftgate may guard), and overlaps no other policy in force.
 * - An invalid generation never replaces the one in force: the last accepted generation stays,
 *   remembered in `status.inForce` (validated again on read), so a restarted or new replica
 *   enforces it too. With none accepted yet, the object guards nothing and says so.
 * - Overlaps: a policy already in force keeps its namespaces; among new ones, the older object
 *   (creationTimestamp, then name) wins. The webhook on /validate-policy refuses overlaps before
 *   they are stored; this order only settles what got in while it was not registered.
 */
import { createHash } from 'node:crypto';
import { isDriftgateError, messageOf } from '../errors.js';
import { renderWebhooks, type WebhookTarget } from '../manifests/render.js';
import { parsePolicy } from '../policy/load.js';
import { POLICY_API_VERSION, POLICY_KIND } from '../policy/schema.js';
import { overlapMessage, overlapsOf } from '../policy/set.js';
import type { GuardPolicy } from '../policy/types.js';
import { isRecord } from '../util/json.js';

/** PolicyObject is a GuardPolicy as the apiserver returns it. */
export interface PolicyObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    generation?: number;
    creationTimestamp?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: unknown;
  status?: PolicyStatus;
}

/** Condition is one metav1.Condition of a GuardPolicy's status. */
export interface Condition {
  type: 'Ready' | 'Invalid';
  status: 'True' | 'False';
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime?: string;
}

/** Rendered is what driftgate enforces from the generation in force. */
export interface Rendered {
  mode: string;
  namespaces: string[];
  resources: string[];
  webhookRulesHash: string;
}

/** PolicyStatus is a GuardPolicy's status, written by driftgate only. */
export interface PolicyStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  rendered?: Rendered;
  inForce?: { generation: number; spec: unknown };
}

/** Accepted is a generation of a policy that is (or was) in force. */
export interface Accepted {
  generation: number;
  spec: unknown;
  policy: GuardPolicy;
  rendered: Rendered;
}

/** Judgement is the outcome for every object: the policies in force, and each object's status. */
export interface Judgement {
  /** The policies in force, in the order their objects were created. */
  inForce: GuardPolicy[];
  /** What is in force per object name (what the next call gets as `previous`). */
  accepted: Map<string, Accepted>;
  /** The status each object should carry, without lastTransitionTime (the writer stamps it). */
  statuses: Map<string, PolicyStatus>;
  /** The names whose newest generation was refused, with why (for the log and the metric). */
  invalid: Map<string, string>;
}

/** documentOf returns the policy document of a GuardPolicy object: what `policy check` would read from a file. */
export function documentOf(object: { metadata: PolicyObject['metadata']; spec?: unknown }, spec: unknown = object.spec): unknown {
  const { name, labels, annotations } = object.metadata;
  return {
    apiVersion: POLICY_API_VERSION,
    kind: POLICY_KIND,
    metadata: { name, ...(labels === undefined ? {} : { labels }), ...(annotations === undefined ? {} : { annotations }) },
    spec,
  };
}

/** problemsOf returns the lines of a policy error: each path-qualified detail, or its one message. */
export function problemsOf(err: unknown): string[] {
  if (isDriftgateError(err) && err.details.length > 0) return [...err.details];
  return [isDriftgateError(err) ? err.message : messageOf(err)];
}

/** renderedOf returns what a policy renders to: its namespaces, resources and the hash of its webhook entries (less where they call). */
export function renderedOf(policy: GuardPolicy, target: WebhookTarget): Rendered {
  const [validating, mutating] = renderWebhooks(policy, target, '');
  const entries = [...validating.webhooks, ...mutating.webhooks].map(({ clientConfig: _clientConfig, ...entry }) => entry);
  const hash = createHash('sha256').update(JSON.stringify(entries)).digest('hex');
  return {
    mode: policy.mode,
    namespaces: [...policy.namespaces],
    resources: policy.resources.flatMap((rule) => rule.apiGroups.flatMap((g) => rule.resources.map((r) => `${g === '' ? 'core' : g}/${r}`))),
    webhookRulesHash: `sha256:${hash.slice(0, 16)}`,
  };
}

/**
 * judgeSpec returns the policy a spec describes and what it renders to, or the problems that keep
 * it out (schema, checks, rendering, overlaps with `others`).
 */
export function judgeSpec(
  object: PolicyObject,
  spec: unknown,
  others: readonly GuardPolicy[],
  target: WebhookTarget,
): { ok: true; policy: GuardPolicy; rendered: Rendered } | { ok: false; problems: string[]; reason: 'Invalid' | 'Overlaps' } {
  let policy: GuardPolicy;
  let rendered: Rendered;
  try {
    policy = parsePolicy(documentOf(object, spec), `GuardPolicy ${object.metadata.name}`);
    rendered = renderedOf(policy, target);
  } catch (err) {
    return { ok: false, problems: problemsOf(err), reason: 'Invalid' };
  }
  const overlaps = overlapsOf(policy.namespaces, others);
  if (overlaps.length > 0) return { ok: false, problems: overlaps.map(overlapMessage), reason: 'Overlaps' };
  return { ok: true, policy, rendered };
}

function generationOf(object: PolicyObject): number {
  return object.metadata.generation ?? 1;
}

function byAge(a: PolicyObject, b: PolicyObject): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/**
 * fromStatus returns the accepted generation a status remembers, validated again, or undefined.
 * Only an earlier generation than the object's is taken: the newest is always judged from the
 * spec itself, so a status forged to claim the current generation with another spec is ignored.
 */
function fromStatus(object: PolicyObject, target: WebhookTarget): Accepted | undefined {
  const remembered = object.status?.inForce;
  if (!isRecord(remembered) || typeof remembered.generation !== 'number') return undefined;
  if (remembered.generation >= generationOf(object)) return undefined;
  const judged = judgeSpec(object, remembered.spec, [], target);
  return judged.ok ? { generation: remembered.generation, spec: remembered.spec, policy: judged.policy, rendered: judged.rendered } : undefined;
}

/**
 * judgePolicies returns the policies in force and the status of every object, given the objects
 * listed and what was in force before (`previous`, from the last call; empty at start-up, when
 * each object's `status.inForce` stands in for it).
 */
export function judgePolicies(objects: readonly PolicyObject[], previous: ReadonlyMap<string, Accepted>, target: WebhookTarget): Judgement {
  const sorted = [...objects].sort(byAge);
  const accepted = new Map<string, Accepted>();
  for (const object of sorted) {
    const before = previous.get(object.metadata.name) ?? fromStatus(object, target);
    if (before !== undefined) accepted.set(object.metadata.name, before);
  }
  const statuses = new Map<string, PolicyStatus>();
  const invalid = new Map<string, string>();
  for (const object of sorted) {
    const name = object.metadata.name;
    const generation = generationOf(object);
    const before = accepted.get(name);
    if (before?.generation !== generation) {
      const others = [...accepted].filter(([other]) => other !== name).map(([, a]) => a.policy);
      const judged = judgeSpec(object, object.spec, others, target);
      if (judged.ok) {
        accepted.set(name, { generation, spec: object.spec, policy: judged.policy, rendered: judged.rendered });
      } else {
        const message = judged.problems.join('; ');
        invalid.set(name, message);
        statuses.set(name, invalidStatus(generation, accepted.get(name), judged.reason, message));
        continue;
      }
    }
    const now = accepted.get(name);
    if (now !== undefined) statuses.set(name, readyStatus(generation, now));
  }
  const inForce = sorted.flatMap((object) => {
    const a = accepted.get(object.metadata.name);
    return a === undefined ? [] : [a.policy];
  });
  return { inForce, accepted, statuses, invalid };
}

function readyStatus(generation: number, now: Accepted): PolicyStatus {
  return {
    observedGeneration: generation,
    conditions: [
      { type: 'Ready', status: 'True', reason: 'InForce', message: `generation ${now.generation} is in force`, observedGeneration: generation },
      { type: 'Invalid', status: 'False', reason: 'Valid', message: '', observedGeneration: generation },
    ],
    rendered: now.rendered,
    inForce: { generation: now.generation, spec: now.spec },
  };
}

function invalidStatus(generation: number, kept: Accepted | undefined, reason: 'Invalid' | 'Overlaps', message: string): PolicyStatus {
  const readyMessage =
    kept === undefined
      ? `generation ${generation} is refused and no earlier generation was ever in force: this policy guards nothing`
      : `generation ${generation} is refused; generation ${kept.generation} stays in force`;
  return {
    observedGeneration: generation,
    conditions: [
      { type: 'Ready', status: 'False', reason, message: readyMessage, observedGeneration: generation },
      { type: 'Invalid', status: 'True', reason, message, observedGeneration: generation },
    ],
    ...(kept === undefined ? {} : { rendered: kept.rendered, inForce: { generation: kept.generation, spec: kept.spec } }),
  };
}

/**
 * statusToWrite returns the status to write over `current`, or undefined when it already says the
 * same (conditions compared without their lastTransitionTime): so a status is written once per
 * change, whatever the number of replicas. A condition whose status did not change keeps its time.
 */
export function statusToWrite(current: PolicyStatus | undefined, desired: PolicyStatus, now: Date): PolicyStatus | undefined {
  const conditions = (desired.conditions ?? []).map((c) => {
    const old = current?.conditions?.find((o) => o.type === c.type);
    const lastTransitionTime =
      old !== undefined && old.status === c.status && old.lastTransitionTime !== undefined ? old.lastTransitionTime : now.toISOString();
    return { ...c, lastTransitionTime };
  });
  const next: PolicyStatus = { ...desired, conditions };
  return sameStatus(current, next) ? undefined : next;
}

function sameStatus(a: PolicyStatus | undefined, b: PolicyStatus): boolean {
  if (a === undefined) return false;
  const strip = (s: PolicyStatus): unknown => ({
    ...s,
    conditions: (s.conditions ?? []).map(({ lastTransitionTime: _t, ...c }) => c).sort((x, y) => x.type.localeCompare(y.type)),
  });
  return canonical(strip(a)) === canonical(strip(b));
}

/** canonical returns JSON with object keys sorted, so key order (the apiserver's or ours) never counts as a change. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isRecord(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
