/**
 * Choosing the kubeconfig as kubectl does, and saying in one line when there is none (rather than
 * the client library's fallback to http://localhost:8080, refused with "HTTP protocol is not
 * allowed when skipTLSVerify is not set or false"). The environment is passed in, not mutated.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../../src/cli/kubeconfig.js';
import { DriftgateError } from '../../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'dg-kubeconfig-'));
const emptyHome = mkdtempSync(join(tmpdir(), 'dg-home-'));

function kubeconfig(name: string, server: string, context = name): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: ${name}, cluster: {server: "${server}"}}]`,
      `users: [{name: ${name}, user: {token: not-a-real-token}}]`,
      `contexts: [{name: ${context}, context: {cluster: ${name}, user: ${name}, namespace: prod}}]`,
      `current-context: ${context}`,
    ].join('\n'),
  );
  return file;
}

async function failure(p: Promise<unknown>): Promise<DriftgateError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof DriftgateError) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('loadKubeConfig', () => {
  it('says in one line that there is no kubeconfig, and how to pass one', async () => {
    const err = await failure(loadKubeConfig({}, { home: emptyHome }));
    expect(err.code).toBe('DG_KUBECONFIG');
    expect(err.message).toBe(
      `no kubeconfig: not running in a cluster, $KUBECONFIG is not set and ${join(emptyHome, '.kube', 'config')} does not exist; pass --kubeconfig FILE`,
    );
    expect(err.message).not.toContain('\n');
  });

  it('names a --kubeconfig file that does not exist', async () => {
    const err = await failure(loadKubeConfig({ kubeconfig: join(dir, 'nope.yaml') }, { home: emptyHome }));
    expect(err.message).toBe(`kubeconfig ${join(dir, 'nope.yaml')}: no such file; pass --kubeconfig FILE`);
  });

  it('loads --kubeconfig, and it wins over $KUBECONFIG', async () => {
    const a = kubeconfig('a', 'https://a.example:6443');
    const b = kubeconfig('b', 'https://b.example:6443');
    const kc = await loadKubeConfig({ kubeconfig: a }, { KUBECONFIG: b, home: emptyHome });
    expect(kc.getCurrentCluster()?.server).toBe('https://a.example:6443');
  });

  it('merges the files of $KUBECONFIG, the first one naming the current context', async () => {
    const a = kubeconfig('c', 'https://c.example:6443');
    const b = kubeconfig('d', 'https://d.example:6443');
    const kc = await loadKubeConfig({}, { KUBECONFIG: `${a}${delimiter}${delimiter}${b}`, home: emptyHome });
    expect(kc.getCurrentCluster()?.server).toBe('https://c.example:6443');
    expect((await loadKubeConfig({ context: 'd' }, { KUBECONFIG: `${a}${delimiter}${b}`, home: emptyHome })).getCurrentCluster()?.server).toBe(
      'https://d.example:6443',
    );
  });

  it('names a --context the kubeconfig lacks, listing the ones it has', async () => {
    const a = kubeconfig('e', 'https://e.example:6443');
    const err = await failure(loadKubeConfig({ kubeconfig: a, context: 'prod-eu' }, { home: emptyHome }));
    expect(err.code).toBe('DG_KUBECONFIG');
    expect(err.message).toContain('--context prod-eu');
    expect(err.message).toContain('it has: e');
  });
});
