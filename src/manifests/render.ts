/**
 * The two admissionregistration.k8s.io/v1 webhook configurations that send a GuardPolicy's writes
 * to driftgate. They are rendered from the policy rather than shipped as static files because
 * their namespace selection and rules must say what the policy says: a static file drifts from the
 * policy, and then either driftgate never sees a guarded write or it slows writes it never guards.
 *
 * The configurations are narrower than `decide()` on purpose: kube-system, the other system
 * namespaces and driftgate's own namespace never reach driftgate, even under `namespaces: ["*"]`.
 * A webhook with failurePolicy Fail that guards the namespace it runs in (or the control plane's)
 * can lock a cluster out of repairing it; and driftgate records its tickets in its own namespace,
 * so guarding it would send driftgate's own writes back to driftgate.
 */
import { stringify } from 'yaml';
import type { Operation } from '../admission/types.js';
import { BACKPORT_TICKET } from '../decision/annotations.js';
import { DriftgateError } from '../errors.js';
import { matchesResource } from '../policy/match.js';
import { impliedSubresources } from '../policy/subresources.js';
import type { GuardPolicy, ResourceRule } from '../policy/types.js';
import { compileSkips, subjectsCel, type MatchCondition } from './conditions.js';
import { skipsOf, type Skip } from './skips.js';

export type { MatchCondition } from './conditions.js';

/** The label the apiserver sets on every Namespace to its name; no client can change it. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** The namespace the shipped manifests install driftgate into. */
export const DRIFTGATE_NAMESPACE = 'driftgate-system';

/** NEVER_GUARDED lists the namespaces the rendered webhooks never select, whatever the policy says. */
export const NEVER_GUARDED: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease', DRIFTGATE_NAMESPACE];

/** The annotation cert-manager's cainjector reads to fill in each webhook's caBundle. */
export const CA_INJECT_ANNOTATION = 'cert-manager.io/inject-ca-from';

/**
 * Subresources the apiserver reaches with CONNECT (streams rather than objects). Their rules get
 * CONNECT as well; other rules leave it out so the apiserver does not call driftgate for, say, a
 * `kubectl port-forward` to a pod the policy never named.
 */
const CONNECT_SUBRESOURCES = new Set(['exec', 'attach', 'portforward', 'proxy']);

const VALIDATE_OPERATIONS: Operation[] = ['CREATE', 'UPDATE', 'DELETE'];
// The mutating webhook only rewrites window annotations on the object itself: a DELETE has nothing
// to patch, and a subresource request (a Scale, an Eviction) carries no annotations to rewrite.
const MUTATE_OPERATIONS: Operation[] = ['CREATE', 'UPDATE'];

// Short, because the apiserver holds the write (and its API Priority and Fairness seat) for as
// long as it waits. driftgate answers in milliseconds; only recording a ticket may take longer,
// and the server bounds that by the `?timeout=` the apiserver sends, so a slow store becomes a
// clear denial from driftgate rather than an opaque timeout.
const TIMEOUT_SECONDS = 5;

/** WebhookTarget says where the apiserver calls driftgate: a base URL, or an in-cluster Service. */
export type WebhookTarget = { url: string } | { service: { namespace: string; name: string; port?: number } };

/** RuleWithOperations is one admissionregistration.k8s.io/v1 rule. */
export interface RuleWithOperations {
  operations: Operation[];
  apiGroups: string[];
  apiVersions: string[];
  resources: string[];
  scope: 'Namespaced' | 'Cluster';
}

/** LabelSelector is the subset of metav1.LabelSelector the webhooks use. */
export interface LabelSelector {
  matchExpressions: Array<{ key: string; operator: 'In' | 'NotIn'; values: string[] }>;
}

/** ClientConfig says how the apiserver reaches the webhook and which CA it trusts for it. */
export type ClientConfig = { url: string; caBundle?: string } | { service: { namespace: string; name: string; path: string; port: number }; caBundle?: string };

/** ValidatingWebhook is one entry of a ValidatingWebhookConfiguration. */
export interface ValidatingWebhook {
  name: string;
  admissionReviewVersions: string[];
  clientConfig: ClientConfig;
  rules: RuleWithOperations[];
  failurePolicy: FailurePolicy;
  matchPolicy: 'Equivalent';
  sideEffects: 'None' | 'NoneOnDryRun';
  timeoutSeconds: number;
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  matchConditions?: MatchCondition[];
}

/** MutatingWebhook is one entry of a MutatingWebhookConfiguration. */
export interface MutatingWebhook extends ValidatingWebhook {
  reinvocationPolicy: 'IfNeeded';
}

interface Metadata {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** ValidatingWebhookConfiguration is the object the validating webhook is registered with. */
export interface ValidatingWebhookConfiguration {
  apiVersion: 'admissionregistration.k8s.io/v1';
  kind: 'ValidatingWebhookConfiguration';
  metadata: Metadata;
  webhooks: ValidatingWebhook[];
}

/** MutatingWebhookConfiguration is the object the mutating webhook is registered with. */
export interface MutatingWebhookConfiguration {
  apiVersion: 'admissionregistration.k8s.io/v1';
  kind: 'MutatingWebhookConfiguration';
  metadata: Metadata;
  webhooks: MutatingWebhook[];
}

/** FailurePolicy is what the apiserver does when it cannot get an answer from driftgate. */
export type FailurePolicy = 'Fail' | 'Ignore';

/** RenderOptions are the rarer choices of `renderWebhooks`. */
export interface RenderOptions {
  /**
   * Overrides the failure policy, which otherwise follows the policy's mode: Fail in enforce mode
   * (a write driftgate could not see is a write nobody checked against Git), Ignore in warn mode
   * (a trial must never block writes because driftgate is down).
   */
  failurePolicy?: FailurePolicy;
  /**
   * Writes no skip conditions: the apiserver then calls driftgate for every guarded write, as
   * before match conditions. For comparisons (the benchmark) and for an apiserver whose CEL
   * misbehaves; it makes GitOps writes depend on driftgate being up.
   */
  withoutSkips?: boolean;
  /**
   * `namespace/certificate` of a cert-manager Certificate whose CA cert-manager's cainjector
   * writes into every caBundle (pass caBundle "" then).
   */
  caInjectFrom?: string;
  /**
   * Adds `observe.driftgate.dev`: GitOps writers' writes to objects carrying a ticket stamp, sent
   * to `/observe` so that driftgate can settle their tickets (backported, reverted). Fail-open
   * whatever the mode (failurePolicy Ignore, a one-second timeout) and answered before anything
   * is compared, so it never refuses or holds a GitOps write; opt-in (`manifests --settle`),
   * because even a one-second wait on a hung driftgate is a cost the operator should choose.
   */
  observeGitopsWrites?: boolean;
  /**
   * The configurations' name, `driftgate` unless given: `serve --manage-webhooks --webhook-name`
   * (the RBAC the chart grants names `driftgate`; another name needs its own grant).
   */
  name?: string;
}

/**
 * renderWebhooks returns the ValidatingWebhookConfiguration and the MutatingWebhookConfiguration
 * (both named `driftgate`, or `options.name`) that send the policy's guarded writes to driftgate at `target`.
 * `caBundle` is the base64 of the CA's PEM; "" leaves it out (cert-manager injection, or a URL
 * whose certificate the apiserver's own roots trust). Throws DG_POLICY_INVALID when the policy
 * selects no namespace driftgate may guard, and DG_WEBHOOK_TARGET when a URL target is not https.
 */
export function renderWebhooks(
  policy: GuardPolicy,
  target: WebhookTarget,
  caBundle: string,
  options: RenderOptions = {},
): [ValidatingWebhookConfiguration, MutatingWebhookConfiguration] {
  const never = neverGuarded(target);
  const selection = selectionOf(policy, never);
  const client = (path: string): ClientConfig => clientConfigOf(target, path, caBundle);
  const metadata: Metadata = {
    name: options.name ?? 'driftgate',
    labels: { 'app.kubernetes.io/name': 'driftgate', 'app.kubernetes.io/component': 'webhook' },
    // Which policy these were rendered from: a person comparing them with the ConfigMap needs it.
    annotations: {
      'driftgate.dev/policy': policy.name,
      ...(options.caInjectFrom === undefined ? {} : { [CA_INJECT_ANNOTATION]: options.caInjectFrom }),
    },
  };

  const failurePolicy = options.failurePolicy ?? (policy.mode === 'warn' ? 'Ignore' : 'Fail');
  const skips = options.withoutSkips === true ? [] : skipsOf(policy);
  const validateConditions = matchConditionsOf(selection, skips, []);
  const mutateConditions = matchConditionsOf(selection, skips, [{ name: 'carries-break-glass', expression: CARRIES_BREAK_GLASS_CEL }]);
  const entry = (name: string, path: string, rules: RuleWithOperations[], sideEffects: 'None' | 'NoneOnDryRun'): ValidatingWebhook =>
    common(name, client(path), rules, sideEffects, failurePolicy);

  const validating: ValidatingWebhook[] = [];
  const mutating: MutatingWebhook[] = [];
  const validateRules = namespacedRules(policy, 'validate');
  const mutateRules = namespacedRules(policy, 'mutate');
  if (validateRules.length > 0) {
    validating.push({
      ...entry('validate.driftgate.dev', '/validate', validateRules, 'NoneOnDryRun'),
      namespaceSelector: selection.selector,
      ...validateConditions,
    });
  }
  if (mutateRules.length > 0) {
    mutating.push({
      ...entry('mutate.driftgate.dev', '/mutate', mutateRules, 'None'),
      reinvocationPolicy: 'IfNeeded',
      namespaceSelector: selection.selector,
      ...mutateConditions,
    });
  }

  // A Namespace object is cluster-scoped, so the Namespaced rules above never match it, yet
  // decide() guards a protected namespace's own object (relabelling it is a write to it). Its
  // entry selects by objectSelector: for a Namespace, the apiserver matches a namespaceSelector
  // against the object itself, which works but reads as if it selected the namespace "around" it.
  // The name label is forced to the name on every write, so a relabel cannot escape either way.
  const nsValidate = namespaceRules(policy, 'validate');
  const nsMutate = namespaceRules(policy, 'mutate');
  if (nsValidate.length > 0) {
    validating.push({
      ...entry('validate-namespaces.driftgate.dev', '/validate', nsValidate, 'NoneOnDryRun'),
      objectSelector: selection.selector,
      ...validateConditions,
    });
  }
  if (nsMutate.length > 0) {
    mutating.push({
      ...entry('mutate-namespaces.driftgate.dev', '/mutate', nsMutate, 'None'),
      reinvocationPolicy: 'IfNeeded',
      objectSelector: selection.selector,
      ...mutateConditions,
    });
  }

  const observed = options.observeGitopsWrites === true ? observeEntry(policy, selection, client('/observe')) : undefined;
  if (observed !== undefined) validating.push(observed);

  return [
    { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata, webhooks: validating },
    // Always rendered, even with no entries: applying the pair then removes entries an earlier
    // policy needed, instead of leaving a stale mutating webhook behind.
    { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: structuredClone(metadata), webhooks: mutating },
  ];
}

/** The name of the entry that lets driftgate observe GitOps writes to stamped objects. */
export const OBSERVE_WEBHOOK = 'observe.driftgate.dev';

/**
 * The apiserver's smallest timeout (1 s, the minimum it accepts): /observe answers before it
 * compares anything, so the only wait is a driftgate that accepts the connection and hangs.
 */
const OBSERVE_TIMEOUT_SECONDS = 1;

/**
 * Selects GitOps writers' writes to objects carrying driftgate's ticket stamp (on the object
 * written, or, for a DELETE, on the object deleted): the only writes settlement needs. Cheap:
 * the identity test and two annotation lookups, a few dozen cost units whatever the object. The
 * type tests keep a malformed object (metadata or annotations that are not maps) from erroring.
 */
export const STAMPED_CEL = ['object', 'oldObject']
  .map(
    (o) =>
      `(${o} != null && has(${o}.metadata) && type(${o}.metadata) == map && has(${o}.metadata.annotations) && type(${o}.metadata.annotations) == map && ${JSON.stringify(BACKPORT_TICKET)} in ${o}.metadata.annotations)`,
  )
  .join('\n|| ');

function observeEntry(policy: GuardPolicy, selection: Selection, clientConfig: ClientConfig): ValidatingWebhook | undefined {
  const writers = policy.gitopsWriters;
  if (writers.users.length === 0 && writers.groups.length === 0) return undefined;
  const rules = namespacedRules(policy, 'mutate').map((r) => ({ ...r, operations: [...VALIDATE_OPERATIONS] }));
  if (rules.length === 0) return undefined;
  return {
    ...common(OBSERVE_WEBHOOK, clientConfig, rules, 'NoneOnDryRun', 'Ignore'),
    timeoutSeconds: OBSERVE_TIMEOUT_SECONDS,
    namespaceSelector: selection.selector,
    matchConditions: [
      ...namespaceCondition(selection),
      { name: 'gitops-writer', expression: subjectsCel(writers) },
      { name: 'ticket-stamped', expression: STAMPED_CEL },
    ],
  };
}

/** renderManifestsYaml returns the objects as one YAML stream, documents separated by `---`. */
export function renderManifestsYaml(objects: readonly object[]): string {
  // Objects shared between entries (a selector, a rule's operations) are written out each time:
  // anchors and aliases are valid YAML but make a reviewer chase references. lineWidth 0: never
  // fold a long string across lines.
  return objects.map((object) => stringify(object, { aliasDuplicateObjects: false, lineWidth: 0 })).join('---\n');
}

function common(
  name: string,
  clientConfig: ClientConfig,
  rules: RuleWithOperations[],
  sideEffects: 'None' | 'NoneOnDryRun',
  failurePolicy: FailurePolicy,
): ValidatingWebhook {
  return {
    name,
    admissionReviewVersions: ['v1'],
    clientConfig,
    rules,
    // Enforce mode fails closed (a write driftgate could not see is a write nobody checked against
    // Git); the writes that must always work never depend on it, through the skip conditions.
    failurePolicy,
    // Also called when the same object is written through another group or version.
    matchPolicy: 'Equivalent',
    // The validating webhook records tickets, but never for a dry run (kubectl diff, --dry-run=server).
    sideEffects,
    timeoutSeconds: TIMEOUT_SECONDS,
  };
}

function neverGuarded(target: WebhookTarget): string[] {
  const own = 'service' in target ? target.service.namespace : DRIFTGATE_NAMESPACE;
  return NEVER_GUARDED.includes(own) ? [...NEVER_GUARDED] : [...NEVER_GUARDED, own];
}

function clientConfigOf(target: WebhookTarget, path: string, caBundle: string): ClientConfig {
  const ca = caBundle === '' ? {} : { caBundle };
  if ('service' in target) {
    const { namespace, name, port } = target.service;
    return { service: { namespace, name, path, port: port ?? 443 }, ...ca };
  }
  if (!target.url.startsWith('https://')) {
    throw new DriftgateError('DG_WEBHOOK_TARGET', `webhook URL ${target.url}: the kube-apiserver only calls webhooks over https`);
  }
  return { url: `${target.url.replace(/\/+$/, '')}${path}`, ...ca };
}

/** Selection is how the webhooks pick the policy's namespaces. */
interface Selection {
  /** On the name label: In the exact names, or NotIn the never-guarded ones when there are globs. */
  selector: LabelSelector;
  /** The exact names and glob prefixes the match condition keeps when `needsCel`. */
  names: string[];
  prefixes: string[];
  /** False when the selector says it all: exact names only, or "*". */
  needsCel: boolean;
}

function selectionOf(policy: GuardPolicy, never: readonly string[]): Selection {
  const globs = policy.namespaces.filter((entry) => entry.endsWith('*'));
  const names = unique(policy.namespaces.filter((entry) => !entry.endsWith('*') && !never.includes(entry)));
  if (globs.length === 0) {
    if (names.length === 0) {
      throw new DriftgateError(
        'DG_POLICY_INVALID',
        `${policy.name}: spec.namespaces names only namespaces driftgate never guards (${never.join(', ')}); the webhooks would select nothing`,
      );
    }
    return { selector: { matchExpressions: [{ key: NAMESPACE_NAME_LABEL, operator: 'In', values: names }] }, names, prefixes: [], needsCel: false };
  }
  // A label selector has no prefix match, so a glob widens it to every namespace but the system
  // ones, and a CEL match condition narrows it back before the apiserver calls driftgate.
  const selector: LabelSelector = { matchExpressions: [{ key: NAMESPACE_NAME_LABEL, operator: 'NotIn', values: [...never] }] };
  const everything = globs.includes('*');
  return { selector, names, prefixes: unique(globs.map((glob) => glob.slice(0, -1))), needsCel: !everything };
}

/**
 * The namespace a request is guarded by, in CEL, exactly as decide() reads it: `request.namespace`,
 * or for a Namespace object (which has none) the request's name. The request's, not the object's:
 * an object may carry another name or none (a DELETE has no object), and where the two disagree
 * the condition must not skip what decide() guards. Absent fields read as "" rather than an
 * error, because with failurePolicy Fail an error in a match condition refuses the write.
 */
const REQUEST_NAMESPACE_CEL = [
  'request.?namespace.orValue("") != "" ? request.namespace',
  ': (request.resource.group == "" && request.resource.resource == "namespaces") ? request.?name.orValue("")',
  ': ""',
].join('\n');

/**
 * The mutating webhook only ever patches an object that carries a break-glass annotation (a
 * `break-glass-for` to fix, or a window whose bypass it stamps with the ticket id), so the
 * apiserver is told to call it for those only: every other guarded write then costs one webhook
 * call instead of two (the benchmark's largest lever, docs/PERFORMANCE.md).
 */
export const CARRIES_BREAK_GLASS_CEL =
  'object != null && has(object.metadata) && has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith("driftgate.dev/break-glass-"))';

/**
 * The match conditions of one webhook entry: the namespace narrowing (when the selector cannot
 * say it), the entry's own (`extra`), then the skips: the writes the apiserver lets through
 * without calling driftgate because decide() would allow them anyway (skips.ts, conditions.ts).
 */
function matchConditionsOf(selection: Selection, skips: readonly Skip[], extra: readonly MatchCondition[]): { matchConditions?: MatchCondition[] } {
  const own = [...namespaceCondition(selection), ...extra];
  const all = [...own, ...compileSkips(skips, own.length).conditions];
  return all.length === 0 ? {} : { matchConditions: all };
}

function namespaceCondition(selection: Selection): MatchCondition[] {
  if (!selection.needsCel) return [];
  const tests = [
    ...(selection.names.length > 0 ? [`ns in [${selection.names.map(celString).join(', ')}]`] : []),
    ...selection.prefixes.map((prefix) => `ns.startsWith(${celString(prefix)})`),
  ];
  // A one-element list binds the namespace to `ns` once, instead of repeating its expression per test.
  return [{ name: 'guarded-namespace', expression: `[${REQUEST_NAMESPACE_CEL}]\n.exists(ns, ${tests.join(' || ')})` }];
}

function celString(text: string): string {
  // Namespace names are DNS labels (the policy schema checks), so JSON quoting is CEL quoting.
  return JSON.stringify(text);
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function isSubresource(entry: string): boolean {
  return entry.includes('/');
}

function isConnectCapable(entry: string): boolean {
  const slash = entry.indexOf('/');
  if (slash === -1) return false;
  const sub = entry.slice(slash + 1);
  return sub === '*' || CONNECT_SUBRESOURCES.has(sub);
}

/** The policy's rules merged by their set of API groups, resources in policy order, no repeats. */
function byApiGroups(rules: readonly ResourceRule[]): ResourceRule[] {
  const merged = new Map<string, ResourceRule>();
  for (const rule of rules) {
    const apiGroups = unique(rule.apiGroups);
    const key = JSON.stringify([...apiGroups].sort());
    const into = merged.get(key);
    if (into === undefined) merged.set(key, { apiGroups, resources: unique(rule.resources) });
    else into.resources = unique([...into.resources, ...rule.resources]);
  }
  return [...merged.values()];
}

function rule(apiGroups: string[], resources: string[], operations: Operation[], scope: 'Namespaced' | 'Cluster'): RuleWithOperations {
  // Every version: the policy names resources, and matchPolicy Equivalent covers the rest.
  return { operations, apiGroups, apiVersions: ['*'], resources, scope };
}

/**
 * The rules of the namespaced entries: the policy's resources as written ("deployments",
 * "deployments/scale", "*\/scale" mean the same to the apiserver as to the policy), plus, for
 * the validating webhook, the subresources each main resource implies (`/status`, `/scale`,
 * `pods/eviction`…: src/policy/subresources.ts) unless `openSubresources` leaves them open in every
 * group of the rule. A pure status write reaching driftgate is allowed at once ("no-drift"); one
 * left out here would be a way around the policy. CONNECT only where the entry can be a CONNECT;
 * the mutating webhook gets main resources only.
 */
function namespacedRules(policy: GuardPolicy, webhook: 'validate' | 'mutate'): RuleWithOperations[] {
  const rules: RuleWithOperations[] = [];
  for (const group of byApiGroups(policy.resources)) {
    if (webhook === 'mutate') {
      const main = group.resources.filter((entry) => !isSubresource(entry));
      if (main.length > 0) rules.push(rule(group.apiGroups, main, MUTATE_OPERATIONS, 'Namespaced'));
      continue;
    }
    const resources = unique([...group.resources, ...impliedEntries(policy, group)]);
    const plain = resources.filter((entry) => !isConnectCapable(entry));
    const connect = resources.filter(isConnectCapable);
    if (plain.length > 0) rules.push(rule(group.apiGroups, plain, VALIDATE_OPERATIONS, 'Namespaced'));
    if (connect.length > 0) rules.push(rule(group.apiGroups, connect, [...VALIDATE_OPERATIONS, 'CONNECT'], 'Namespaced'));
  }
  return rules;
}

/** The implied "resource/sub" entries of a rule's main resources that some group of the rule still guards. */
function impliedEntries(policy: GuardPolicy, group: ResourceRule): string[] {
  const out: string[] = [];
  for (const entry of group.resources.filter((e) => !isSubresource(e))) {
    const groups = group.apiGroups.includes('*') ? ['*'] : group.apiGroups;
    for (const sub of unique(groups.flatMap((g) => impliedSubresources(g, entry)))) {
      // "*" as a group or resource cannot be checked against an opt-out here: decide() does it.
      const guarded = entry === '*' || groups.includes('*') || groups.some((g) => matchesResource(policy, g, entry, sub));
      if (guarded) out.push(`${entry}/${sub}`);
    }
  }
  return out;
}

/** The rules of the Namespace-object entries: whatever of `namespaces` the policy guards. */
function namespaceRules(policy: GuardPolicy, webhook: 'validate' | 'mutate'): RuleWithOperations[] {
  const candidates = webhook === 'mutate' ? ['namespaces'] : ['namespaces', 'namespaces/status', 'namespaces/finalize'];
  const guarded = candidates.filter((entry) => {
    const [resource = entry, sub] = entry.split('/');
    return matchesResource(policy, '', resource, sub);
  });
  if (guarded.length === 0) return [];
  return [rule([''], guarded, webhook === 'mutate' ? MUTATE_OPERATIONS : VALIDATE_OPERATIONS, 'Cluster')];
}
