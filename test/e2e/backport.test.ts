/**
 * The loop closed through Git, against the real apiserver: a Deployment applied by Argo CD from a
 * manifest in a Git checkout, a responder's fix under a window, `driftgate tickets backport`
 * writing the fix into that manifest and recording the commit on the BackportTicket, and Argo CD
 * applying the backported manifest leaving the fix in place (Git describes the cluster again).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARGOCD, RESPONDER, cluster, driftgate, getJson, kubectl, unique } from './cluster.js';

const git = (dir: string, ...args: string[]): string =>
  execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'Dave Oncall',
      GIT_AUTHOR_EMAIL: 'dave@example.com',
      GIT_COMMITTER_NAME: 'Dave Oncall',
      GIT_COMMITTER_EMAIL: 'dave@example.com',
    },
  });

function manifest(name: string): string {
  return `# ${name}: the checkout service (team shop)
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: prod
  labels: {app: ${name}}
spec:
  replicas: 2   # two zones
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
      - name: app
        image: registry.example.com/checkout:v1.2.3
        resources:
          limits:
            memory: 512Mi   # measured in May
            cpu: "1"
`;
}

describe('tickets backport against the real apiserver', () => {
  it('carries a live fix into the manifest Argo CD applies, and records the commit on the BackportTicket', async () => {
    const name = unique('bport');
    const repo = mkdtempSync(join(tmpdir(), 'driftgate-e2e-repo-'));
    git(repo, 'init', '-q', '-b', 'main');
    writeFileSync(join(repo, 'checkout.yaml'), manifest(name));
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'checkout');
    expect((await kubectl(ARGOCD, ['apply', '-f', join(repo, 'checkout.yaml')])).code).toBe(0);

    const opened = await kubectl(RESPONDER, [
      '-n',
      'prod',
      'annotate',
      '--overwrite',
      `deployment/${name}`,
      'driftgate.dev/break-glass-for=30m',
      'driftgate.dev/break-glass-incident=INC-4711',
      'driftgate.dev/break-glass-reason=checkout OOMKilled under load',
    ]);
    expect(opened.code).toBe(0);
    const fixed = await kubectl(RESPONDER, ['-n', 'prod', 'set', 'resources', `deployment/${name}`, '-c', 'app', '--limits=memory=2Gi']);
    expect(fixed.code).toBe(0);
    const ticket = (await getJson<{ metadata: { annotations: Record<string, string> } }>(['-n', 'prod', 'deployment', name])).metadata.annotations[
      'driftgate.dev/backport-ticket'
    ];
    if (ticket === undefined) throw new Error('no ticket stamped on the object');

    const tickets = ['--tickets', 'kubernetes:driftgate-system', '--kubeconfig', cluster().kubeconfig];
    const made = await driftgate(['tickets', 'backport', ticket, '--repo', repo, ...tickets]);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const commit = /^commit ([0-9a-f]{40})$/m.exec(made.stdout)?.[1];
    expect(made.stdout).toContain(`branch backport/${ticket}\n`);
    expect(made.stdout).toContain('edited checkout.yaml\n');

    // Only the memory line changed; the comment on it and everything else stayed.
    expect(git(repo, 'show', `backport/${ticket}:checkout.yaml`)).toBe(
      manifest(name).replace('memory: 512Mi   # measured in May', 'memory: 2Gi   # measured in May'),
    );
    expect(git(repo, 'log', '-1', '--format=%B', `backport/${ticket}`)).toContain(`Backport-Ticket: ${ticket}`);
    // The commit is its own BackportTicket object of the ticket (event backport); the ticket stays open.
    const stored = await getJson<{ items: Array<{ spec: { backport: { commit: string; branch: string; files: string[] } } }> }>([
      '-n',
      'driftgate-system',
      'backporttickets',
      '-l',
      `driftgate.dev/ticket=${ticket},driftgate.dev/event=backport`,
    ]);
    expect(stored.items.map((o) => o.spec.backport)).toMatchObject([{ commit, branch: `backport/${ticket}`, files: ['checkout.yaml'] }]);
    expect(JSON.parse((await driftgate(['tickets', 'show', ticket, ...tickets, '-o', 'json'])).stdout)).toMatchObject({ state: 'open' });

    // Argo CD applies what the branch holds once merged: the fix stays, nothing drifts back.
    git(repo, 'checkout', '-q', `backport/${ticket}`);
    expect((await kubectl(ARGOCD, ['apply', '-f', join(repo, 'checkout.yaml')])).code).toBe(0);
    const live = await getJson<{ spec: { template: { spec: { containers: Array<{ resources: { limits: Record<string, string> } }> } } } }>([
      '-n',
      'prod',
      'deployment',
      name,
    ]);
    expect(live.spec.template.spec.containers[0]?.resources.limits['memory']).toBe('2Gi');
  });
});
