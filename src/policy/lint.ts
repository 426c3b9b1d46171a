/**
 * Risky choices in a valid GuardPolicy: settings the schema must accept, because somebody may
 * mean them, but that rarely do what their writer believes. Each finding names the field as
 * `policy check` prints problems (`spec.delegations[0].paths[1]`), says what the setting does in
 * the cluster and how to write it instead. Pure: the CLI decides what a finding costs (`--strict`).
 */
import { POLICY_DEFAULTS } from './defaults.js';
import { formatDuration } from './duration.js';
import { formatPath, show, type FieldPath } from './messages.js';
import { KUBERNETES_CONTROLLERS, type KubernetesController } from './kubernetes-controllers.js';
import { guardsKind, matchesResource, resourceOfKind } from './match.js';
import { NOT_IMPLIED, isImplied } from './subresources.js';
import type { GuardPolicy, Subjects } from './types.js';

/** FindingLevel: a `warning` is probably a mistake; an `info` is worth knowing but often meant. */
export type FindingLevel = 'warning' | 'info';

/** Finding is one risky choice at one field of a policy. */
export interface Finding {
  level: FindingLevel;
  /** The field as written in messages, e.g. `spec.delegations[0].paths[1]`. */
  field: string;
  message: string;
  fix: string;
}

// A delegate of one of these owns every field below it: as free as a GitOps writer on that
// object, without being one. "/" cannot pass the schema today; it is kept so that a policy built
// in code is judged the same way.
const BROAD_POINTERS: ReadonlySet<string> = new Set(['/', '/spec', '/metadata']);

// Groups the apiserver gives to everybody of a kind, and the user it gives to nobody in particular.
const EVERYBODY_GROUPS: Readonly<Record<string, string>> = {
  'system:authenticated': 'every signed-in identity (people and service accounts)',
  'system:serviceaccounts': 'every service account in the cluster',
  'system:unauthenticated': 'every anonymous request',
};
const EVERYBODY_USERS: Readonly<Record<string, string>> = {
  'system:anonymous': 'every anonymous request',
};

// The namespaces the rendered webhooks never select whatever the policy says (NEVER_GUARDED in
// src/manifests/render.ts; the policy room imports nothing, so the list is repeated here).
const NEVER_GUARDED: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease', 'driftgate-system'];

// A day: a window longer than that outlives any incident, and the drift it lets in stays
// unreconciled while GitOps is told to look away.
const MAX_SENSIBLE_WINDOW_MS = 24 * 3_600_000;

function finding(level: FindingLevel, path: FieldPath, message: string, fix: string): Finding {
  return { level, field: formatPath(path), message, fix };
}

function lintDelegations(policy: GuardPolicy): Finding[] {
  const out: Finding[] = [];
  policy.delegations.forEach((delegation, i) => {
    delegation.paths.forEach((pointer, j) => {
      if (!BROAD_POINTERS.has(pointer)) return;
      out.push(
        finding(
          'warning',
          ['spec', 'delegations', i, 'paths', j],
          `${show(pointer)} is too broad: the delegation owns every field below it, so its subjects may change all of it unrecorded, as freely as a GitOps writer`,
          'name only the fields the controller owns, e.g. /spec/replicas',
        ),
      );
    });
  });
  return out;
}

/** Where a Subjects list sits in the document, and what being named there lets one do. */
interface SubjectsRole {
  path: FieldPath;
  subjects: Subjects;
  /** What being named there lets one do, as a verb phrase: "open break-glass windows". */
  grants: string;
  fix: string;
}

function writersRole(policy: GuardPolicy): SubjectsRole {
  return {
    path: ['spec', 'gitopsWriters'],
    subjects: policy.gitopsWriters,
    grants: 'change every protected object freely, as a GitOps writer, with nothing recorded',
    fix: 'name the GitOps controller itself, e.g. system:serviceaccount:argocd:argocd-application-controller',
  };
}

function breakGlassRole(policy: GuardPolicy): SubjectsRole {
  return {
    path: ['spec', 'breakGlass'],
    subjects: policy.breakGlass,
    grants: 'open break-glass windows and so bypass the policy',
    fix: 'name the responders, e.g. groups: ["oncall"]',
  };
}

function lintEverybody(role: SubjectsRole): Finding[] {
  const out: Finding[] = [];
  const check = (kind: 'users' | 'groups', everybody: Readonly<Record<string, string>>): void => {
    role.subjects[kind].forEach((name, i) => {
      const who = everybody[name];
      if (who !== undefined) out.push(finding('warning', [...role.path, kind, i], `${show(name)} lets ${who} ${role.grants}`, role.fix));
    });
  };
  check('users', EVERYBODY_USERS);
  check('groups', EVERYBODY_GROUPS);
  return out;
}

function lintOverlap(policy: GuardPolicy): Finding[] {
  const out: Finding[] = [];
  const writers = policy.gitopsWriters;
  const pointless = (kind: string): string => `is also a GitOps writer, which may write anyway: naming this ${kind} for break-glass changes nothing`;
  const fix = 'remove it from breakGlass, or from gitopsWriters if it is a person rather than the GitOps controller';
  policy.breakGlass.users.forEach((user, i) => {
    if (writers.users.includes(user)) out.push(finding('warning', ['spec', 'breakGlass', 'users', i], `${show(user)} ${pointless('user')}`, fix));
  });
  policy.breakGlass.groups.forEach((group, i) => {
    if (writers.groups.includes(group)) out.push(finding('warning', ['spec', 'breakGlass', 'groups', i], `${show(group)} ${pointless('group')}`, fix));
  });
  return out;
}

/**
 * topLevelBranches returns the alternatives of a pattern split at its top-level "|", or
 * undefined when the pattern cannot be read that simply (unbalanced brackets). Escapes, character
 * classes and groups are stepped over, since a "|" inside them does not split the pattern.
 */
function topLevelBranches(pattern: string): string[] | undefined {
  const branches: string[] = [];
  let depth = 0;
  let inClass = false;
  let start = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
    } else if (c === '(') {
      depth++;
    } else if (c === ')') {
      depth--;
    } else if (c === '|' && depth === 0) {
      branches.push(pattern.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0 || inClass) return undefined;
  branches.push(pattern.slice(start));
  return branches;
}

/** endsWithAnchor returns whether `branch` ends in a "$" that is not escaped. */
function endsWithAnchor(branch: string): boolean {
  if (!branch.endsWith('$')) return false;
  let backslashes = 0;
  for (let i = branch.length - 2; i >= 0 && branch[i] === '\\'; i--) backslashes++;
  return backslashes % 2 === 0;
}

/** bareBranch returns a branch without its own leading "^" and trailing "$". */
function bareBranch(branch: string): string {
  const front = branch.startsWith('^') ? branch.slice(1) : branch;
  return endsWithAnchor(front) ? front.slice(0, -1) : front;
}

// What a shorthand class stands for in a sample; other escaped letters make no sample.
const CLASS_SAMPLES: Readonly<Record<string, string>> = { d: '1', w: 'a', s: ' ', S: 'a', D: 'x', W: '-' };

/**
 * sampleMatch returns a plausible reference a branch accepts, e.g. "INC-0" for INC-[0-9]+, or
 * undefined. It is only a guess (a class becomes its first character, "+", "*" and "?" keep one
 * of their item, "{n}" repeats it n times); the caller keeps it only when the pattern really
 * matches it, so a wrong guess costs an example, never a false statement.
 */
function sampleMatch(branch: string): string | undefined {
  let out = '';
  let last = '';
  for (let i = 0; i < branch.length; i++) {
    const c = branch[i] ?? '';
    let piece: string | undefined = '';
    if (c === '\\') {
      const next = branch[++i] ?? '';
      piece = /[a-zA-Z]/.test(next) ? CLASS_SAMPLES[next] : next;
    } else if (c === '[') {
      const close = branch.indexOf(']', i + 2);
      if (close === -1 || branch[i + 1] === '^') return undefined;
      const first = branch[i + 1] ?? '';
      piece = first === '\\' ? (CLASS_SAMPLES[branch[i + 2] ?? ''] ?? branch[i + 2]) : first;
      i = close;
    } else if (c === '{') {
      const close = branch.indexOf('}', i);
      const times = Number(/^\d+/.exec(branch.slice(i + 1, close))?.[0] ?? Number.NaN);
      if (close === -1 || !Number.isInteger(times)) return undefined;
      out += last.repeat(Math.max(0, times - 1));
      i = close;
      continue;
    } else if (c === '(') {
      // A non-capturing "(?:" opens a group like "("; lookarounds and named groups make no sample.
      if (branch[i + 1] === '?') {
        if (branch[i + 2] !== ':') return undefined;
        i += 2;
      }
      continue;
    } else if (c === '.') {
      piece = 'a';
    } else if ('^$)+*?|'.includes(c)) {
      continue;
    } else {
      piece = c;
    }
    if (piece === undefined) return undefined;
    out += piece;
    last = piece;
  }
  return out === '' ? undefined : out;
}

function lintIncidentPattern(policy: GuardPolicy): Finding[] {
  const { breakGlass } = policy;
  const path = ['spec', 'breakGlass', 'incidentPattern'];
  const mayBreakGlass = breakGlass.users.length > 0 || breakGlass.groups.length > 0;
  if (breakGlass.incidentPattern === POLICY_DEFAULTS.breakGlass.incidentPattern) {
    // The default accepts anything on purpose; it is only news when somebody may break glass.
    if (!mayBreakGlass) return [];
    return [
      finding(
        'info',
        path,
        `the default ${show(breakGlass.incidentPattern)} accepts any incident reference, so a ticket may point at no real incident`,
        "write your tracker's form, anchored, e.g. ^INC-[0-9]+$",
      ),
    ];
  }
  const branches = topLevelBranches(breakGlass.incidentPattern);
  if (branches === undefined) return [];
  const open = branches.find((b) => !b.startsWith('^') || !endsWithAnchor(b));
  if (open === undefined) return [];
  const front = !open.startsWith('^');
  const back = !endsWithAnchor(open);
  const where = front && back ? 'at either end' : front ? 'at the start' : 'at the end';
  const sample = sampleMatch(bareBranch(open));
  let example = 'any text around a valid reference';
  if (sample !== undefined && breakGlass.incident.test(sample)) {
    const wrapped = `${front ? 'x' : ''}${sample}${back ? 'y' : ''}`;
    if (breakGlass.incident.test(wrapped)) example = show(wrapped);
  }
  const several = branches.length > 1;
  const anchored = several ? `^(?:${branches.map(bareBranch).join('|')})$` : `^${bareBranch(open)}$`;
  return [
    finding(
      'warning',
      path,
      `${show(breakGlass.incidentPattern)} is not anchored ${where}${several ? ' (a "|" splits the anchors: each alternative needs its own ^ and $)' : ''}, so an incident reference that merely contains a match passes, e.g. ${example}`,
      `anchor it, e.g. ${anchored}`,
    ),
  ];
}

function lintMaxDuration(policy: GuardPolicy): Finding[] {
  const { maxDuration, maxDurationMs } = policy.breakGlass;
  if (maxDurationMs <= MAX_SENSIBLE_WINDOW_MS) return [];
  return [
    finding(
      'warning',
      ['spec', 'breakGlass', 'maxDuration'],
      `${show(maxDuration)} lets a break-glass window stay open longer than ${formatDuration(MAX_SENSIBLE_WINDOW_MS)}: the drift outlives the incident and GitOps looks away for days`,
      'keep windows short, e.g. 4h, and open a new one if the incident lasts',
    ),
  ];
}

function lintNamespaces(policy: GuardPolicy): Finding[] {
  const out: Finding[] = [];
  policy.namespaces.forEach((entry, i) => {
    const path = ['spec', 'namespaces', i];
    if (entry === '*') {
      out.push(
        finding(
          'warning',
          path,
          '"*" protects every namespace: writes by operators, Helm releases and controllers anywhere are refused unless the policy names them (the system namespaces are never guarded, whatever the policy says)',
          'list the namespaces GitOps owns, e.g. prod or payments-*',
        ),
      );
      return;
    }
    const prefix = entry.endsWith('*') ? entry.slice(0, -1) : undefined;
    const hit = NEVER_GUARDED.filter((ns) => (prefix === undefined ? ns === entry : ns.startsWith(prefix)));
    if (hit.length === 0) return;
    const names = hit.join(', ');
    const message =
      prefix === undefined
        ? `${show(entry)} has no effect: the webhooks never send ${entry} to driftgate, because a webhook that fails closed there could stop the cluster (or driftgate) from repairing itself`
        : `${show(entry)} also matches ${names}, which the webhooks never guard, and any other namespace with that prefix (often cluster add-ons)`;
    out.push(finding('warning', path, message, prefix === undefined ? 'remove it' : 'name the namespaces GitOps owns instead of a prefix this wide'));
  });
  return out;
}

function lintResources(policy: GuardPolicy): Finding[] {
  const out: Finding[] = [];
  policy.resources.forEach((rule, i) => {
    const everyGroup = rule.apiGroups.includes('*');
    const core = rule.apiGroups.includes('');
    if (!everyGroup && !core) return;
    rule.resources.forEach((resource, j) => {
      if (resource !== '*') return;
      const scope = everyGroup ? 'every resource in every API group' : 'every resource in the core group';
      const examples = everyGroup ? 'leases, events, endpointslices, pods' : 'events, endpoints, pods';
      out.push(
        finding(
          'warning',
          ['spec', 'resources', i, 'resources', j],
          `"*" with apiGroups ${show(everyGroup ? '*' : '')} guards ${scope}, including what controllers write on their own (${examples}): they will be refused in protected namespaces`,
          'list the resources GitOps applies, e.g. resources: ["deployments", "configmaps"]',
        ),
      );
    });
  });
  return out;
}

/**
 * lintGaps names every way around the policy that it leaves open: each implied subresource an
 * `openSubresources` entry opts out of (with its reason), an opt-out that opens nothing, and (as
 * info) the action subresources of a guarded resource that are not guarded by default (exec,
 * proxy…: subresources.ts says why).
 */
function lintGaps(policy: GuardPolicy): Finding[] {
  const out: Finding[] = [];
  // Everything opened: what still matches is named in spec.resources itself.
  const listed = { resources: policy.resources, openSubresources: [{ apiGroups: ['*'], resources: ['*/*'], reason: '' }] };
  policy.openSubresources.forEach((open, i) => {
    open.resources.forEach((entry, j) => {
      const [resource = '', sub = ''] = entry.split('/');
      const path: FieldPath = ['spec', 'openSubresources', i, 'resources', j];
      const groups = open.apiGroups.includes('*') ? policy.resources.flatMap((r) => r.apiGroups) : open.apiGroups;
      const names = resource === '*' ? policy.resources.flatMap((r) => r.resources).filter((r) => !r.includes('/')) : [resource];
      const opened = groups.some((g) =>
        names.some((r) => (sub === '*' || isImplied(g, r, sub)) && matchesResource(listed, g, r) && !matchesResource(listed, g, r, sub)),
      );
      if (!opened) {
        out.push(
          finding(
            'warning',
            path,
            `${show(entry)} opens nothing: no guarded resource implies it, or spec.resources names it (which guards it anyway)`,
            'remove the entry',
          ),
        );
        return;
      }
      out.push(
        finding(
          'warning',
          path,
          `${show(entry)} is left open: writes through it reach no check and land on no ticket (reason given: ${show(open.reason)})`,
          'remove the entry to guard it again once the reason no longer holds',
        ),
      );
    });
  });
  policy.resources.forEach((rule, i) => {
    if (!rule.apiGroups.includes('') && !rule.apiGroups.includes('*')) return;
    rule.resources.forEach((resource, j) => {
      if (resource.includes('/')) return;
      const open = Object.entries(NOT_IMPLIED).filter(([name]) => {
        const [kind = '', sub = ''] = name.split('/');
        return (resource === '*' || resource === kind) && !matchesResource(policy, '', kind, sub);
      });
      if (open.length === 0) return;
      const names = open.map(([name]) => name);
      // namespaces/finalize is named, but not offered to guard: the namespace controller has no
      // grant for it, so guarding it would stall every deletion of a guarded namespace.
      const guardable = names.filter((n) => n !== 'namespaces/finalize');
      out.push(
        finding(
          'info',
          ['spec', 'resources', i, 'resources', j],
          `not guarded, by design: ${open.map(([name, why]) => `${name} (${why})`).join('; ')}`,
          guardable.length === 0
            ? 'restrict who may update namespaces/finalize with RBAC; guarding it would stall namespace deletion'
            : `add ${guardable.map((n) => `"${n}"`).join(', ')} to spec.resources to guard ${guardable.length === 1 ? 'it' : 'them'}`,
        ),
      );
    });
  });
  return out;
}

function lintMode(policy: GuardPolicy): Finding[] {
  if (policy.mode !== 'warn') return [];
  return [
    finding(
      'info',
      ['spec', 'mode'],
      'warn lets through, with a warning, every write enforce would refuse: nothing is enforced, and that drift is recorded on no ticket',
      'switch to enforce once the warnings are understood',
    ),
  ];
}

/**
 * Writes Kubernetes components make on their own that the built-in list does not cover, because
 * they cannot be told apart from a person's by what the request carries: a policy guarding
 * these resources refuses them unless it names the writer (a delegation, or a GitOps writer).
 */
const UNCOVERED_CONTROLLER_WRITES: readonly { group: string; resource: string; subResource?: string; writer: string }[] = [
  { group: '', resource: 'endpoints', writer: 'the endpoints controller (system:serviceaccount:kube-system:endpoint-controller) keeps them for every Service' },
  { group: '', resource: 'events', writer: 'every controller and kubelet records events' },
  { group: 'batch', resource: 'jobs', writer: 'the ttl-after-finished controller deletes finished Jobs that ask for it (spec.ttlSecondsAfterFinished)' },
  { group: '', resource: 'pods', writer: 'the pod garbage collector and the taint-eviction controller delete pods (terminated, orphaned, on failed nodes)' },
  {
    group: '',
    resource: 'persistentvolumeclaims',
    writer: 'the statefulset and ephemeral-volume controllers create claims, the pvc-protection controller removes its finalizer',
  },
  // Not pods/status: kubelets write status alone, and a pure status write passes (issue 11).
  { group: 'coordination.k8s.io', resource: 'leases', writer: 'controllers and kubelets renew leases' },
];

/** grantResources returns the resources a controller's grants name, or undefined when they apply to every guarded kind. */
function grantResources(controller: KubernetesController): { group: string; resource: string }[] | undefined {
  const named = controller.grants.flatMap((g) => ('resource' in g ? [{ group: g.group, resource: g.resource }] : []));
  return named.length === controller.grants.length ? named : undefined;
}

function lintControllers(policy: GuardPolicy): Finding[] {
  const out: Finding[] = [];
  const path: FieldPath = ['spec', 'kubernetesControllers'];
  const inForce = new Set(policy.kubernetesControllers.controllers.map((c) => c.name));
  for (const controller of KUBERNETES_CONTROLLERS) {
    if (inForce.has(controller.name)) continue;
    const resources = grantResources(controller);
    const guarded = resources === undefined ? true : resources.some((r) => matchesResource(policy, r.group, r.resource));
    if (!guarded) continue;
    out.push(
      finding(
        'warning',
        [...path, 'allow'],
        `${controller.name} is left out, so driftgate refuses it: it ${controller.why}, and without it ${consequence(controller.name)}`,
        `add ${controller.name} to kubernetesControllers.allow, or write "*"`,
      ),
    );
  }
  if (policy.mode === 'enforce' && inForce.has('namespace-controller') && !matchesResource(policy, '', 'namespaces')) {
    out.push(
      finding(
        'warning',
        ['spec', 'resources'],
        'namespaces is not guarded, so deleting a protected namespace is not judged: driftgate then refuses the namespace controller, and a protected namespace never finishes deleting',
        'add namespaces to the core-group rule of resources (GitOps writers still create and delete namespaces freely)',
      ),
    );
  }
  for (const controller of policy.kubernetesControllers.controllers) {
    for (const grant of controller.grants) {
      if (grant.kind !== 'write-owned' || !matchesResource(policy, grant.group, grant.resource)) continue;
      for (const owner of grant.owners.filter((o) => !guardsKind(policy, o.group, o.kind))) {
        out.push(
          finding(
            'warning',
            ['spec', 'resources'],
            `${grant.resource} is guarded but the ${owner.kind} that controls them is not: a person may change the ${owner.kind} freely, so driftgate refuses the ${controller.name} writing what it says`,
            `guard ${resourceOfKind(owner.kind)}${owner.group === '' ? '' : ` (apiGroups ${owner.group})`} too, or leave ${grant.resource} out`,
          ),
        );
      }
    }
  }
  for (const write of UNCOVERED_CONTROLLER_WRITES) {
    if (!matchesResource(policy, write.group, write.resource, write.subResource)) continue;
    const name = `${write.resource}${write.group === '' ? '' : `.${write.group}`}${write.subResource === undefined ? '' : `/${write.subResource}`}`;
    out.push(
      finding(
        'warning',
        ['spec', 'resources'],
        `${name} is guarded, but ${write.writer}: driftgate will refuse those writes`,
        `leave ${name} out of resources, or name its writer in a delegation`,
      ),
    );
  }
  return out;
}

function consequence(name: string): string {
  switch (name) {
    case 'garbage-collector':
      return 'objects deleted in the foreground (Argo CD prunes that way) or with orphan propagation stay Terminating';
    case 'namespace-controller':
      return 'deleting a protected namespace never finishes';
    case 'root-ca-cert-publisher':
      return 'pods in new protected namespaces cannot mount their service-account CA';
    case 'serviceaccount-controller':
      return 'new protected namespaces get no default ServiceAccount, so their pods cannot be created';
    default:
      return 'its workloads stop being reconciled in protected namespaces';
  }
}

/**
 * lintPolicy returns the risky choices in a valid policy, in document order: too-broad
 * delegations, everybody-groups as GitOps writers or responders, windows over a day, namespaces
 * the webhook never guards or `*`, `*` resources, subresources left open, unanchored incident
 * patterns, responders who are GitOps writers anyway, Kubernetes' own controllers the policy would
 * refuse, and (as info) warn mode and action subresources left open. An empty list means nothing
 * looked risky.
 */
export function lintPolicy(policy: GuardPolicy): Finding[] {
  return [
    ...lintMode(policy),
    ...lintNamespaces(policy),
    ...lintResources(policy),
    ...lintGaps(policy),
    ...lintEverybody(writersRole(policy)),
    ...lintDelegations(policy),
    ...lintOverlap(policy),
    ...lintEverybody(breakGlassRole(policy)),
    ...lintMaxDuration(policy),
    ...lintIncidentPattern(policy),
    ...lintControllers(policy),
  ];
}
