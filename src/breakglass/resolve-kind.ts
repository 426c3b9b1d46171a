/**
 * KIND/NAME as kubectl reads it (`deploy/checkout-api`, `deployments.apps/x`, `cm/x`), resolved
 * against the cluster's own API discovery rather than a built-in table, so that custom resources
 * and short names work as they do in kubectl. Pure: the discovery lists come in as arguments.
 */
import { DriftgateError } from '../errors.js';

/** ApiResource is one main resource of the API discovery (no subresources). */
export interface ApiResource {
  group: string;
  version: string;
  /** The plural, lowercase name used in API paths, e.g. "deployments". */
  resource: string;
  singular: string;
  kind: string;
  shortNames: string[];
  namespaced: boolean;
}

/** resourceLabel returns a resource as kubectl accepts it unambiguously: "deployments.apps", "configmaps". */
export function resourceLabel(ref: { group: string; resource: string }): string {
  return ref.group === '' ? ref.resource : `${ref.resource}.${ref.group}`;
}

/** Target is the object a command line names: its kind as written and its name. */
export interface Target {
  kind: string;
  name: string;
}

/** APIResourceList as `GET /api/v1` and `GET /apis/<group>/<version>` answer it (the fields read here). */
export interface ApiResourceList {
  groupVersion?: string;
  resources?: { name?: string; singularName?: string; kind?: string; namespaced?: boolean; shortNames?: string[] }[];
}

// A Kubernetes API version: v1, v2beta3, v1alpha1. Used to tell `deployments.v1.apps` from a group.
const VERSION = /^v\d+((alpha|beta)\d+)?$/;

/** parseTarget returns the kind and name of a `KIND/NAME` argument, or throws DG_TARGET_INVALID saying how to write it. */
export function parseTarget(text: string): Target {
  const slash = text.indexOf('/');
  const kind = slash === -1 ? '' : text.slice(0, slash).trim();
  const name = slash === -1 ? '' : text.slice(slash + 1).trim();
  if (kind === '' || name === '' || name.includes('/')) {
    throw new DriftgateError(
      'DG_TARGET_INVALID',
      `"${text}" is not KIND/NAME; write e.g. deploy/checkout-api, configmap/settings or deployments.apps/checkout-api`,
    );
  }
  return { kind, name };
}

/** resourcesOf returns the main resources of one discovery list (subresources such as "deployments/scale" left out). */
export function resourcesOf(list: ApiResourceList): ApiResource[] {
  const gv = list.groupVersion ?? '';
  const slash = gv.indexOf('/');
  const group = slash === -1 ? '' : gv.slice(0, slash);
  const version = slash === -1 ? gv : gv.slice(slash + 1);
  return (list.resources ?? []).flatMap((r) => {
    const resource = r.name ?? '';
    if (resource === '' || resource.includes('/')) return [];
    const kind = r.kind ?? '';
    return [
      { group, version, resource, singular: r.singularName || kind.toLowerCase(), kind, shortNames: r.shortNames ?? [], namespaced: r.namespaced === true },
    ];
  });
}

// How a written kind may name a resource, strongest first. kubectl's own order is close to this:
// the plural, then the singular and the Kind, then the short names.
const TIERS: ReadonlyArray<(r: ApiResource, name: string) => boolean> = [
  (r, name) => r.resource === name,
  (r, name) => r.singular === name || r.kind.toLowerCase() === name,
  (r, name) => r.shortNames.includes(name),
];

/** Qualifier narrows a kind to a group (and maybe a version), as in `deployments.apps` or `deployments.v1.apps`. */
interface Qualifier {
  group: string;
  version?: string;
}

function qualifiers(rest: string[]): Qualifier[] {
  if (rest.length === 0) return [];
  const out: Qualifier[] = [{ group: rest.join('.') }];
  const [first, ...group] = rest;
  if (first !== undefined && VERSION.test(first) && group.length > 0) out.push({ group: group.join('.'), version: first });
  return out;
}

/**
 * requestedGroupVersion returns the group/version a kind names explicitly (`deployments.v1.apps`),
 * which discovery must list even when it is not the group's preferred version.
 */
export function requestedGroupVersion(kind: string): Qualifier | undefined {
  return qualifiers(kind.toLowerCase().split('.').slice(1)).find((q) => q.version !== undefined);
}

/**
 * resolveKind returns the namespaced resource a written kind names, picking the first match in
 * `resources`' order (the apiserver's own group priority: core first, then as `GET /apis` lists
 * them), or throws DG_TARGET_INVALID naming close matches when nothing matches.
 */
export function resolveKind(kind: string, resources: readonly ApiResource[]): ApiResource {
  const [head = '', ...rest] = kind.toLowerCase().split('.');
  const quals = qualifiers(rest);
  const candidates =
    quals.length === 0 ? resources : resources.filter((r) => quals.some((q) => q.group === r.group && (q.version === undefined || q.version === r.version)));
  for (const tier of TIERS) {
    const found = candidates.find((r) => tier(r, head));
    if (found === undefined) continue;
    if (!found.namespaced) {
      throw new DriftgateError(
        'DG_TARGET_INVALID',
        `${resourceLabel(found)} (${kind}) is cluster-scoped; break-glass windows are for namespaced objects, which driftgate protects`,
      );
    }
    return found;
  }
  const near = closeMatches(
    head,
    resources.filter((r) => r.namespaced),
  );
  const hint = near.length > 0 ? `did you mean ${near.join(', ')}?` : 'no resource has a close name;';
  throw new DriftgateError(
    'DG_TARGET_INVALID',
    `unknown kind "${kind}": the cluster's API lists no namespaced resource of that name; ${hint} list them with: kubectl api-resources --namespaced`,
  );
}

/** closeMatches returns up to 5 resources (as "deployments.apps (deploy)") whose names are a typo or a prefix away from `name`. */
export function closeMatches(name: string, resources: readonly ApiResource[]): string[] {
  const scored: { label: string; score: number }[] = [];
  for (const r of resources) {
    const names = [r.resource, r.singular, r.kind.toLowerCase(), ...r.shortNames];
    const score = Math.min(...names.map((n) => nearness(name, n)));
    if (score <= 2) {
      const short = r.shortNames.length > 0 ? ` (${r.shortNames.join(', ')})` : '';
      scored.push({ label: `${resourceLabel(r)}${short}`, score });
    }
  }
  return scored
    .sort((a, b) => a.score - b.score)
    .map((s) => s.label)
    .filter((label, i, all) => all.indexOf(label) === i)
    .slice(0, 5);
}

// 0 for a prefix of at least 3 letters either way ("deploym" → deployments), else the edit distance.
function nearness(a: string, b: string): number {
  if (a.length >= 3 && (b.startsWith(a) || a.startsWith(b))) return 0;
  return editDistance(a, b);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}
