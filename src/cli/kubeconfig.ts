/**
 * Choosing and loading the kubeconfig, the way kubectl does: --kubeconfig, else in-cluster, else
 * $KUBECONFIG, else ~/.kube/config. Here, in the CLI, because only the CLI reads the environment
 * and files; src/kube is handed the loaded config. When there is none, one line says so, instead
 * of the client library's fallback to http://localhost:8080 and its confusing refusal of it.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { DriftgateError, messageOf } from '../errors.js';

/** KubeOptions select the cluster: the --kubeconfig and --context flags. */
export interface KubeOptions {
  kubeconfig?: string;
  context?: string;
}

/** Where a kubeconfig may come from, besides the flags (injectable for tests). */
export interface KubeEnv {
  KUBERNETES_SERVICE_HOST?: string | undefined;
  KUBECONFIG?: string | undefined;
  home?: string;
}

/** kubeEnv returns the process' environment as far as the kubeconfig goes. */
export function kubeEnv(): KubeEnv {
  return { KUBERNETES_SERVICE_HOST: process.env['KUBERNETES_SERVICE_HOST'], KUBECONFIG: process.env['KUBECONFIG'], home: homedir() };
}

/** inCluster tells whether the process runs in a Pod (and so has a service account to use). */
export function inCluster(env: KubeEnv = kubeEnv()): boolean {
  return env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_HOST !== '';
}

/** loadKubeConfig returns the kubeconfig, or throws DG_KUBECONFIG in one line naming what is missing and the fix. */
export async function loadKubeConfig(opts: KubeOptions = {}, env: KubeEnv = kubeEnv()): Promise<KubeConfig> {
  const files = opts.kubeconfig !== undefined ? [opts.kubeconfig] : inCluster(env) ? [] : defaultFiles(env);
  for (const file of files) {
    if (!existsSync(file)) throw new DriftgateError('DG_KUBECONFIG', `kubeconfig ${file}: no such file; pass --kubeconfig FILE`);
  }
  if (opts.kubeconfig === undefined && !inCluster(env) && files.length === 0) {
    throw new DriftgateError(
      'DG_KUBECONFIG',
      `no kubeconfig: not running in a cluster, $KUBECONFIG is not set and ${join(env.home ?? '~', '.kube', 'config')} does not exist; pass --kubeconfig FILE`,
    );
  }
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    if (files.length === 0) kc.loadFromCluster();
    for (const [i, file] of files.entries()) {
      if (i === 0) kc.loadFromFile(file);
      else {
        const more = new KubeConfig();
        more.loadFromFile(file);
        kc.mergeConfig(more, true);
      }
    }
    if (opts.context !== undefined) kc.setCurrentContext(opts.context);
  } catch (err) {
    throw new DriftgateError(
      'DG_KUBECONFIG',
      `cannot load the kubeconfig${files.length === 0 ? ' (in-cluster)' : ` ${files.join(delimiter)}`}: ${messageOf(err)}`,
      { cause: err },
    );
  }
  if (opts.context !== undefined && kc.getContextObject(opts.context) === null) {
    throw new DriftgateError(
      'DG_KUBECONFIG',
      `--context ${opts.context}: the kubeconfig has no such context (it has: ${
        kc
          .getContexts()
          .map((c) => c.name)
          .join(', ') || 'none'
      })`,
    );
  }
  if (kc.getCurrentCluster() === null) {
    throw new DriftgateError('DG_KUBECONFIG', 'the kubeconfig names no current cluster; pass --context NAME');
  }
  return kc;
}

/** $KUBECONFIG's files (the empty entries skipped, as kubectl does), else ~/.kube/config when it exists. */
function defaultFiles(env: KubeEnv): string[] {
  if (env.KUBECONFIG !== undefined && env.KUBECONFIG !== '') return env.KUBECONFIG.split(delimiter).filter((f) => f !== '');
  const home = join(env.home ?? homedir(), '.kube', 'config');
  return existsSync(home) ? [home] : [];
}
