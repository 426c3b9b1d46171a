/**
 * The rules a JSON Schema cannot say well: subjects that name somebody, durations longer than
 * zero, incident patterns that compile, versions written where a group belongs. They run on the
 * raw document next to the schema, so a person sees every problem in one pass; each check looks
 * only at values of the right type and leaves wrong types to the schema's messages.
 */
import { parseDuration } from './duration.js';
import { controllerNames } from './kubernetes-controllers.js';
import { show, type Problem } from './messages.js';
import { isRecord } from '../util/json.js';

type Node = Record<string, unknown>;

const isNode: (value: unknown) => value is Node = isRecord;

function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** namesNobody reports subjects whose users and groups are both missing or empty. */
function namesNobody(subjects: Node): boolean {
  const empty = (value: unknown): boolean => value === undefined || (Array.isArray(value) && value.length === 0);
  return empty(subjects['users']) && empty(subjects['groups']);
}

function checkBreakGlass(breakGlass: Node): Problem[] {
  const problems: Problem[] = [];
  const path = ['spec', 'breakGlass'];
  const maxDuration = breakGlass['maxDuration'];
  if (typeof maxDuration === 'string') {
    const ms = parseDuration(maxDuration);
    if (ms === undefined) {
      problems.push({ path: [...path, 'maxDuration'], message: `${show(maxDuration)} is not a duration; write 4h or 30m` });
    } else if (ms <= 0) {
      problems.push({ path: [...path, 'maxDuration'], message: `${show(maxDuration)} must be longer than zero; write 4h or 30m` });
    }
  }
  const pattern = breakGlass['incidentPattern'];
  if (typeof pattern === 'string' && pattern !== '') {
    try {
      new RegExp(pattern);
    } catch (err) {
      // V8 says "Invalid regular expression: /(/: Unterminated group"; the last clause is the news.
      const reason = err instanceof Error ? (err.message.split(': ').pop() ?? err.message) : String(err);
      problems.push({
        path: [...path, 'incidentPattern'],
        message: `${show(pattern)} is not a regular expression (${reason}); fix it, e.g. ^INC-[0-9]+$`,
      });
    }
  }
  return problems;
}

// Versions such as "v1" or "v1beta1" are valid DNS labels, so only a rule of their own catches them.
const VERSION = /^v\d+((alpha|beta)\d+)?$/;

function checkResources(resources: unknown[]): Problem[] {
  const problems: Problem[] = [];
  resources.forEach((rule, i) => {
    if (!isNode(rule)) return;
    listOf(rule['apiGroups']).forEach((group, j) => {
      if (typeof group === 'string' && VERSION.test(group)) {
        problems.push({
          path: ['spec', 'resources', i, 'apiGroups', j],
          message: `${show(group)} is a version, not an API group; write "" for the core group or a group such as apps`,
        });
      }
    });
  });
  return problems;
}

function checkControllers(controllers: Node): Problem[] {
  const known = controllerNames();
  const allow = listOf(controllers['allow']);
  const problems: Problem[] = [];
  allow.forEach((name, i) => {
    if (typeof name !== 'string' || name === '*' || known.includes(name)) return;
    problems.push({
      path: ['spec', 'kubernetesControllers', 'allow', i],
      message: `${show(name)} is not one of Kubernetes' controllers driftgate knows; write "*" or some of: ${known.join(', ')}`,
    });
  });
  if (allow.includes('*') && allow.length > 1) {
    problems.push({ path: ['spec', 'kubernetesControllers', 'allow'], message: '"*" already allows every controller; write "*" alone or list names' });
  }
  return problems;
}

/** checkSemantics returns the problems of `doc` that lie beyond its JSON Schema. */
export function checkSemantics(doc: unknown): Problem[] {
  if (!isNode(doc) || !isNode(doc['spec'])) return [];
  const spec = doc['spec'];
  const problems: Problem[] = [];
  problems.push(...checkResources(listOf(spec['resources'])));
  const writers = spec['gitopsWriters'];
  if (isNode(writers) && namesNobody(writers)) {
    problems.push({
      path: ['spec', 'gitopsWriters'],
      message: 'names nobody; list at least one user or group, or leave gitopsWriters out',
    });
  }
  listOf(spec['delegations']).forEach((delegation, i) => {
    if (isNode(delegation) && namesNobody(delegation)) {
      problems.push({
        path: ['spec', 'delegations', i],
        message: 'names nobody; list at least one user or group the delegation applies to',
      });
    }
  });
  if (isNode(spec['breakGlass'])) problems.push(...checkBreakGlass(spec['breakGlass']));
  if (isNode(spec['kubernetesControllers'])) problems.push(...checkControllers(spec['kubernetesControllers']));
  return problems;
}
