/**
 * The hardened install (issue 16): a kube-apiserver of this file's own, started with the
 * AdmissionConfiguration `driftgate manifests --static` wrote (staticManifestsDir, KEP-5793) and
 * the caller-authentication kubeconfig `driftgate certs client` wrote. A cluster-admin who deletes
 * every ValidatingWebhookConfiguration and MutatingWebhookConfiguration the API knows, and tries
 * to delete or take over driftgate's static ones by name, cannot stop driftgate refusing a
 * developer's write; GitOps still passes without reaching driftgate; a responder's bypass is
 * still recorded. The suite's shared cluster is untouched: own etcd, own ports, stopped here.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cluster } from './cluster.js';
import {
  ARGOCD_USER,
  type Outcome,
  type OwnControlPlane,
  type Replica,
  ROOT,
  driftgateCli,
  freePort,
  installDriftgate,
  serve,
  startControlPlane,
  stopChild,
} from './own-cluster.js';

const CALLER = 'kube-apiserver-admission';
const POLICY = join(ROOT, 'test/e2e/policy.yaml');
const RESPONDER = ['--as=dave@example.com', '--as-group=oncall'];

let work = '';
let cp: OwnControlPlane | undefined;
let driftgate: Replica | undefined;
let developer = '';

function must(what: string, r: Outcome): string {
  if (r.code !== 0) throw new Error(`${what} failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

function own(): OwnControlPlane {
  if (cp === undefined) throw new Error('the control plane did not start');
  return cp;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'driftgate-static-e2e-'));
  const port = await freePort();
  // What an operator runs, in order: a serving certificate, the apiserver's client certificate for
  // the host it calls, then the static install from the policy, pointing at both.
  must('certs generate', await driftgateCli(['certs', 'generate', '--out', join(work, 'certs'), '--hosts', '127.0.0.1']));
  must('certs client', await driftgateCli(['certs', 'client', '--out', join(work, 'callers'), '--name', CALLER, '--webhook-host', `127.0.0.1:${port}`]));
  must(
    'manifests --static',
    await driftgateCli([
      'manifests',
      '--policy',
      POLICY,
      '--url',
      `https://127.0.0.1:${port}`,
      '--ca-bundle',
      join(work, 'certs/ca.crt'),
      '--static',
      join(work, 'static'),
      '--client-kubeconfig',
      join(work, 'callers/webhook-clients.kubeconfig'),
    ]),
  );
  // The shared cluster's launcher binary; no kube-controller-manager (nothing here needs one).
  const binDir = dirname(cluster().controlplane);
  cp = await startControlPlane(
    binDir,
    ['--admission-config', join(work, 'static/admission-configuration.yaml'), '--controller-manager=false'],
    join(work, 'users'),
  );
  const driftgateKubeconfig = await installDriftgate(cp, ['prod', 'payments-eu', 'dev', 'blackhole']);
  developer = cp.mint('dev@example.com', ['developers']);
  const logFile = join(work, 'driftgate.log');
  writeFileSync(logFile, '');
  driftgate = await serve({
    policy: POLICY,
    cert: join(work, 'certs/tls.crt'),
    key: join(work, 'certs/tls.key'),
    port,
    kubeconfig: driftgateKubeconfig,
    logFile,
    caller: { caCert: join(work, 'callers/ca.crt'), name: CALLER },
    // Nothing named driftgate in the API to watch: the apiserver's reload series watch the files.
    extraArgs: ['--webhook-registration', 'static', '--housekeeping-interval', '500'],
  });
}, 300_000);

afterAll(async () => {
  if (driftgate !== undefined) await stopChild(driftgate.child);
  if (cp !== undefined) await cp.stop();
  if (work !== '') rmSync(work, { recursive: true, force: true });
}, 60_000);

async function developerWrite(name: string): Promise<Outcome> {
  return own().kubectl(['-n', 'prod', 'create', 'configmap', name, '--from-literal=k=v'], undefined, developer);
}

describe('driftgate registered from files the apiserver loads (manifests --static)', () => {
  it("is called by the apiserver: a developer write is refused with driftgate's message, which came through the client certificate", async () => {
    const r = await developerWrite('before');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('admission webhook "validate.driftgate.dev" denied the request');
    expect(r.stderr).toContain('[driftgate/drift]');
    // driftgate requires the apiserver's client certificate (--client-ca): a refusal with its
    // message means the kubeConfigFile the static AdmissionConfiguration names was presented.
    const log = readFileSync(join(work, 'driftgate.log'), 'utf8');
    expect(log).not.toContain('DG_CALLER_UNAUTHENTICATED');
  });

  it("shows in the apiserver's own series that it loaded both directories (what to alert on instead of driftgate's API check)", async () => {
    const metrics = must('metrics', await own().kubectl(['get', '--raw', '/metrics']));
    for (const plugin of ['ValidatingAdmissionWebhook', 'MutatingAdmissionWebhook']) {
      expect(metrics).toMatch(
        new RegExp(`^apiserver_manifest_admission_config_controller_automatic_reloads_total\\{[^}]*plugin="${plugin}"[^}]*status="success"[^}]*\\} [1-9]`, 'm'),
      );
      expect(metrics).toMatch(
        new RegExp(`^apiserver_manifest_admission_config_controller_last_config_info\\{[^}]*hash="sha256:[0-9a-f]{64}"[^}]*plugin="${plugin}"`, 'm'),
      );
    }
    // driftgate, told the webhooks are static, looks for no API object and reports none missing.
    const log = readFileSync(join(work, 'driftgate.log'), 'utf8');
    expect(log).not.toContain('webhook configuration is missing');
  });

  it('is not an API object: listing shows no driftgate configuration, deleting or editing one by name finds nothing, and its name cannot be taken', async () => {
    for (const kind of ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations']) {
      const listed = must(`list ${kind}`, await own().kubectl(['get', kind, '-o', 'name']));
      expect(listed).not.toContain('driftgate');
      const deleted = await own().kubectl(['delete', kind, 'driftgate.static.k8s.io']);
      expect(deleted.code).not.toBe(0);
      expect(deleted.stderr).toMatch(/NotFound|not found/);
      const edited = await own().kubectl(['patch', kind, 'driftgate.static.k8s.io', '--type=json', '-p', '[{"op":"replace","path":"/webhooks","value":[]}]']);
      expect(edited.code).not.toBe(0);
      expect(edited.stderr).toMatch(/NotFound|not found/);
    }
    // Creating an API object with the static name, to shadow it, is refused by the API itself.
    const shadow = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'driftgate.static.k8s.io' },
      webhooks: [],
    };
    const created = await own().kubectl(['create', '-f', '-'], JSON.stringify(shadow));
    expect(created.code).not.toBe(0);
    expect(created.stderr).toContain('reserved for static manifest-based configurations');
  });

  it('keeps refusing a developer after a cluster-admin deletes every webhook configuration the API has, and GitOps still passes', async () => {
    // A decoy dynamic configuration too, as an operator migrating from the API-registered install would have.
    const decoy = must(
      'render dynamic',
      await driftgateCli(['manifests', '--policy', POLICY, '--url', 'https://127.0.0.1:1', '--ca-bundle', join(work, 'certs/ca.crt')]),
    );
    must('apply decoy', await own().kubectl(['apply', '-f', '-'], decoy));
    must('delete validating', await own().kubectl(['delete', 'validatingwebhookconfigurations', '--all']));
    must('delete mutating', await own().kubectl(['delete', 'mutatingwebhookconfigurations', '--all']));
    expect(must('list', await own().kubectl(['get', 'validatingwebhookconfigurations,mutatingwebhookconfigurations', '-o', 'name'])).trim()).toBe('');

    const refused = await developerWrite('after');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('[driftgate/drift]');
    expect(refused.stderr).toContain('dev@example.com');

    const gitops = await own().kubectl([`--as=${ARGOCD_USER}`, '-n', 'prod', 'create', 'configmap', 'synced', '--from-literal=k=v']);
    expect(gitops.stderr).toBe('');
    expect(gitops.code).toBe(0);
  });

  it("still records a responder's bypass through both static webhooks: the mutating one turns the window into an end, the validating one files the ticket", async () => {
    must('create as Argo CD', await own().kubectl([`--as=${ARGOCD_USER}`, '-n', 'prod', 'create', 'configmap', 'hotfix', '--from-literal=k=v']));
    const opened = await own().kubectl([
      ...RESPONDER,
      '-n',
      'prod',
      'annotate',
      'configmap',
      'hotfix',
      'driftgate.dev/break-glass-for=30m',
      'driftgate.dev/break-glass-reason=static webhook e2e, payment outage',
      'driftgate.dev/break-glass-incident=INC-16',
    ]);
    expect(opened.stderr).not.toContain('denied');
    expect(opened.code).toBe(0);
    const fixed = await own().kubectl([...RESPONDER, '-n', 'prod', 'patch', 'configmap', 'hotfix', '--type=merge', '-p', '{"data":{"k":"fixed"}}']);
    expect(fixed.code).toBe(0);
    expect(fixed.stderr).toMatch(/backport ticket \S+/);
    const object = JSON.parse(must('get', await own().kubectl(['-n', 'prod', 'get', 'configmap', 'hotfix', '-o', 'json']))) as {
      metadata: { annotations: Record<string, string> };
    };
    expect(object.metadata.annotations['driftgate.dev/break-glass-until']).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(object.metadata.annotations['driftgate.dev/break-glass-for']).toBeUndefined();
    const ticket = object.metadata.annotations['driftgate.dev/backport-ticket'] ?? '';
    const shown = JSON.parse(
      must(
        'tickets show',
        await driftgateCli(['tickets', 'show', ticket, '--tickets', 'kubernetes:driftgate-system', '--kubeconfig', own().info.kubeconfig, '-o', 'json']),
      ),
    ) as { changes: { username: string; patch: { path: string }[] }[] };
    expect(shown.changes.some((c) => c.username === 'dave@example.com' && c.patch.some((op) => op.path === '/data/k'))).toBe(true);
  });

  it('keeps the files in force when a broken one is dropped next to them, and says so in its reload series', async () => {
    const failures = async (): Promise<number> => {
      const metrics = must('metrics', await own().kubectl(['get', '--raw', '/metrics']));
      const line = metrics
        .split('\n')
        .find(
          (l) =>
            l.startsWith('apiserver_manifest_admission_config_controller_automatic_reloads_total{') &&
            l.includes('plugin="ValidatingAdmissionWebhook"') &&
            l.includes('status="failure"'),
        );
      return Number(line?.split(' ').pop() ?? 0);
    };
    const before = await failures();
    writeFileSync(
      join(work, 'static/validating/zz-broken.yaml'),
      'apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: { name: not-static }\n',
    );
    await until('the apiserver to reject the broken file', async () => (await failures()) > before);
    const refused = await developerWrite('with-broken-file');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('[driftgate/drift]');
  });

  it('is switched off only by a change on the control-plane node: removing its files there', async () => {
    rmSync(join(work, 'static/validating/zz-broken.yaml'));
    rmSync(join(work, 'static/validating/driftgate.static.k8s.io.yaml'));
    rmSync(join(work, 'static/mutating/driftgate.static.k8s.io.yaml'));
    let last: Outcome | undefined;
    await until('the apiserver to drop the webhooks', async () => {
      last = await developerWrite(`unguarded-${Date.now()}`);
      return last.code === 0;
    });
    expect(last?.code).toBe(0);
  });
});

/** until polls `check` (every 250 ms, at most 90 s: the apiserver re-reads the directory every minute even without a file event). */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 360; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}
