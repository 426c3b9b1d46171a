/**
 * The helm CLI for the chart tests, built from its Go module by test/helm/build.sh (cached under
 * .cache/helm; test/setup.sh builds it ahead of time, otherwise the first call builds it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CHART = join(ROOT, 'charts/driftgate');

let cached: string | undefined;

/** helmBinary returns the path of the helm binary, building it on first use (minutes when cold). */
export function helmBinary(): string {
  cached ??= execFileSync('bash', [join(ROOT, 'test/helm/build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000 })
    .trim()
    .split('\n')
    .pop();
  if (cached === undefined || cached === '') throw new Error('test/helm/build.sh printed no path');
  return cached;
}

/** HelmResult is what one helm run printed and how it exited. */
export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** helm runs the helm CLI with `args` and returns its output, whatever its exit code. */
export function helm(args: string[]): HelmResult {
  const run = spawnSync(helmBinary(), args, {
    encoding: 'utf8',
    cwd: ROOT,
    env: {
      ...process.env,
      HELM_CACHE_HOME: join(ROOT, '.cache/helm/home/cache'),
      HELM_CONFIG_HOME: join(ROOT, '.cache/helm/home/config'),
      HELM_DATA_HOME: join(ROOT, '.cache/helm/home/data'),
    },
  });
  return { status: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
}

/** KubeObject is one rendered object. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

/** template renders the chart into driftgate-system with `args` (e.g. --set, -f) and returns its objects; throws with helm's message when it refuses. */
export function template(args: string[] = [], namespace = 'driftgate-system'): KubeObject[] {
  const result = helm(['template', 'driftgate', CHART, '--namespace', namespace, ...args]);
  if (result.status !== 0) throw new Error(result.stderr.trim());
  return parseAllDocuments(result.stdout)
    .map((doc) => doc.toJS() as KubeObject | null)
    .filter((obj): obj is KubeObject => obj !== null);
}

/** templateError returns helm's message when the chart refuses `args`, or undefined when it renders. */
export function templateError(args: string[], namespace = 'driftgate-system'): string | undefined {
  const result = helm(['template', 'driftgate', CHART, '--namespace', namespace, ...args]);
  return result.status === 0 ? undefined : result.stderr.trim();
}

/** find returns the rendered object of that kind and name, or undefined. */
export function find(objects: readonly KubeObject[], kind: string, name = 'driftgate'): KubeObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name);
}
