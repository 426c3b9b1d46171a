/**
 * `driftgate manifests --static DIR` (issue 16): the hardened install, where the kube-apiserver
 * loads driftgate's webhooks from files (KEP-5793 `staticManifestsDir`) and the API cannot delete
 * them. What the apiserver demands of those files was read from k8s.io/apiserver v0.37.2 and
 * k8s.io/kubernetes v1.37.2 (src/manifests/static.ts lists it); each demand is one test here, and
 * test/e2e/static-webhooks.test.ts starts a real apiserver with the output.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { manifestsCommand } from '../../../src/cli/manifests.js';
import { DriftgateError } from '../../../src/errors.js';
import { renderWebhooks } from '../../../src/manifests/render.js';
import { renderStaticInstall, STATIC_FILES, STATIC_NAME, STATIC_SUFFIX } from '../../../src/manifests/static.js';
import { loadPolicy } from '../../../src/policy/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const POLICY_FILE = join(ROOT, 'examples/policy.yaml');
const PEM = '-----BEGIN CERTIFICATE-----\nREPLACE-ME\n-----END CERTIFICATE-----\n';
const CA = Buffer.from(PEM).toString('base64');
const URL_ = 'https://10.96.0.50';
const NODE_DIR = '/etc/kubernetes/driftgate/static';
const KUBECONFIG = '/etc/kubernetes/driftgate/webhook-clients.kubeconfig';

interface WebhookAdmission {
  apiVersion: string;
  kind: string;
  kubeConfigFile?: string;
  staticManifestsDir: string;
}
interface AdmissionConfiguration {
  apiVersion: string;
  kind: string;
  plugins: { name: string; configuration: WebhookAdmission }[];
}

async function policy() {
  return loadPolicy(await readFile(POLICY_FILE, 'utf8'), POLICY_FILE);
}

describe('renderStaticInstall', () => {
  it('writes the AdmissionConfiguration with one staticManifestsDir per plugin and the caller-authentication kubeConfigFile kept', async () => {
    const install = renderStaticInstall(await policy(), URL_, CA, { apiserverDir: NODE_DIR, clientKubeconfig: KUBECONFIG });
    const file = install.files.find((f) => f.path === STATIC_FILES.admissionConfiguration);
    const config = parse(file?.text ?? '') as AdmissionConfiguration;
    expect(config).toEqual({
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'AdmissionConfiguration',
      plugins: [
        {
          name: 'ValidatingAdmissionWebhook',
          configuration: {
            apiVersion: 'apiserver.config.k8s.io/v1',
            kind: 'WebhookAdmissionConfiguration',
            kubeConfigFile: KUBECONFIG,
            staticManifestsDir: `${NODE_DIR}/validating`,
          },
        },
        {
          name: 'MutatingAdmissionWebhook',
          configuration: {
            apiVersion: 'apiserver.config.k8s.io/v1',
            kind: 'WebhookAdmissionConfiguration',
            kubeConfigFile: KUBECONFIG,
            staticManifestsDir: `${NODE_DIR}/mutating`,
          },
        },
      ],
    });
    expect(install.apiserverFlag).toBe(`--admission-control-config-file=${NODE_DIR}/admission-configuration.yaml`);
  });

  it('puts each kind in its own directory: the validating plugin refuses a mutating configuration and vice versa', async () => {
    const install = renderStaticInstall(await policy(), URL_, CA, { apiserverDir: NODE_DIR, clientKubeconfig: KUBECONFIG });
    const kinds = Object.fromEntries(install.files.map((f) => [f.path, parseAllDocuments(f.text).map((d) => (d.toJS() as { kind: string }).kind)]));
    expect(kinds).toEqual({
      'admission-configuration.yaml': ['AdmissionConfiguration'],
      [`validating/${STATIC_NAME}.yaml`]: ['ValidatingWebhookConfiguration'],
      [`mutating/${STATIC_NAME}.yaml`]: ['MutatingWebhookConfiguration'],
    });
  });

  it('names both configurations with the suffix the apiserver requires of static objects and refuses from the API', async () => {
    const install = renderStaticInstall(await policy(), URL_, CA, { apiserverDir: NODE_DIR, clientKubeconfig: KUBECONFIG });
    expect(STATIC_SUFFIX).toBe('.static.k8s.io');
    expect(install.validating.metadata.name).toBe('driftgate.static.k8s.io');
    expect(install.mutating.metadata.name).toBe('driftgate.static.k8s.io');
  });

  it('holds exactly what the dynamic renderer registers, but for the name: the same rules, selectors and match conditions', async () => {
    const p = await policy();
    const install = renderStaticInstall(p, URL_, CA, { apiserverDir: NODE_DIR, clientKubeconfig: KUBECONFIG });
    const [validating, mutating] = renderWebhooks(p, { url: URL_ }, CA);
    expect(install.validating.webhooks).toEqual(validating.webhooks);
    expect(install.mutating.webhooks).toEqual(mutating.webhooks);
    // Calls by URL (the apiserver refuses clientConfig.service in a static manifest), with the CA.
    for (const webhook of [...install.validating.webhooks, ...install.mutating.webhooks]) {
      expect(webhook.clientConfig).toMatchObject({ url: expect.stringMatching(/^https:\/\/10\.96\.0\.50\/(validate|mutate)$/), caBundle: CA });
      expect(webhook.matchConditions?.length).toBeGreaterThan(0);
    }
    const parsed = install.files.filter((f) => f.path !== STATIC_FILES.admissionConfiguration).map((f) => parse(f.text) as unknown);
    expect(parsed).toEqual([install.validating, install.mutating]);
  });

  it('writes no kubeConfigFile when told the apiserver presents no client certificate, and says so in the file', async () => {
    const install = renderStaticInstall(await policy(), URL_, CA, { apiserverDir: NODE_DIR, clientKubeconfig: undefined });
    const text = install.files[0]?.text ?? '';
    const config = parse(text) as AdmissionConfiguration;
    for (const plugin of config.plugins) expect(plugin.configuration.kubeConfigFile).toBeUndefined();
    expect(text).toContain('driftgate cannot require one');
  });

  it.each([
    {
      name: 'a relative directory',
      apiserverDir: 'static',
      clientKubeconfig: KUBECONFIG,
      want: /the directory on the control-plane nodes "static" is not an absolute path/,
    },
    {
      name: 'a relative kubeconfig',
      apiserverDir: NODE_DIR,
      clientKubeconfig: 'webhook-clients.kubeconfig',
      want: /the client kubeconfig "webhook-clients.kubeconfig" is not an absolute path/,
    },
  ])('refuses $name: the apiserver would not start with it', async ({ apiserverDir, clientKubeconfig, want }) => {
    const p = await policy();
    expect(() => renderStaticInstall(p, URL_, CA, { apiserverDir, clientKubeconfig })).toThrow(want);
  });

  it('refuses a plain-http URL as the dynamic renderer does', async () => {
    const p = await policy();
    expect(() => renderStaticInstall(p, 'http://10.96.0.50', CA, { apiserverDir: NODE_DIR, clientKubeconfig: KUBECONFIG })).toThrow(
      /only calls webhooks over https/,
    );
  });
});

describe('driftgate manifests --static', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftgate-static-'));
    await writeFile(join(dir, 'ca.crt'), PEM);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function run(args: string[]): Promise<{ out: string; error?: unknown }> {
    let out = '';
    const io = { out: { write: (s: string) => (out += s) }, err: { write: () => true } };
    try {
      await manifestsCommand(io)
        .exitOverride()
        .configureOutput({ writeErr: () => undefined })
        .parseAsync(['--policy', POLICY_FILE, ...args], { from: 'user' });
      return { out };
    } catch (error) {
      return { out, error };
    }
  }

  async function filesUnder(root: string): Promise<string[]> {
    const entries = await readdir(root, { withFileTypes: true, recursive: true }).catch(() => []);
    return entries
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
      .sort();
  }

  it('writes the three files, nothing else (no temporary file left), and prints where they went and the apiserver flag', async () => {
    const out = join(dir, 'out');
    const { out: printed, error } = await run([
      '--url',
      URL_,
      '--ca-bundle',
      join(dir, 'ca.crt'),
      '--static',
      out,
      '--apiserver-dir',
      NODE_DIR,
      '--client-kubeconfig',
      KUBECONFIG,
      '-o',
      'json',
    ]);
    expect(error).toBeUndefined();
    expect(await filesUnder(out)).toEqual(['admission-configuration.yaml', `mutating/${STATIC_NAME}.yaml`, `validating/${STATIC_NAME}.yaml`]);
    expect(JSON.parse(printed)).toEqual({
      written: [join(out, 'admission-configuration.yaml'), join(out, 'validating', `${STATIC_NAME}.yaml`), join(out, 'mutating', `${STATIC_NAME}.yaml`)],
      apiserverFlag: `--admission-control-config-file=${NODE_DIR}/admission-configuration.yaml`,
      configurations: { validatingWebhookConfiguration: STATIC_NAME, mutatingWebhookConfiguration: STATIC_NAME },
    });
    const validating = parse(await readFile(join(out, 'validating', `${STATIC_NAME}.yaml`), 'utf8')) as { webhooks: { clientConfig: { caBundle: string } }[] };
    expect(validating.webhooks[0]?.clientConfig.caBundle).toBe(CA);
  });

  it('points the apiserver at the written directory itself when no --apiserver-dir is given', async () => {
    const out = join(dir, 'here');
    const { error } = await run(['--url', URL_, '--ca-bundle-base64', CA, '--static', out, '--no-client-kubeconfig']);
    expect(error).toBeUndefined();
    const config = parse(await readFile(join(out, 'admission-configuration.yaml'), 'utf8')) as AdmissionConfiguration;
    expect(config.plugins.map((p) => p.configuration.staticManifestsDir)).toEqual([join(out, 'validating'), join(out, 'mutating')]);
  });

  it('rewrites the files in place on a second run (a policy change), keeping nothing stale', async () => {
    const out = join(dir, 'again');
    const args = ['--url', URL_, '--ca-bundle-base64', CA, '--static', out, '--client-kubeconfig', KUBECONFIG];
    expect((await run(args)).error).toBeUndefined();
    expect((await run([...args, '--failure-policy', 'Ignore'])).error).toBeUndefined();
    expect(await filesUnder(out)).toHaveLength(3);
    const validating = parse(await readFile(join(out, 'validating', `${STATIC_NAME}.yaml`), 'utf8')) as { webhooks: { failurePolicy: string }[] };
    expect(validating.webhooks.map((w) => w.failurePolicy)).toEqual(validating.webhooks.map(() => 'Ignore'));
  });

  const refusals = [
    {
      name: 'a Service target',
      args: ['--service', 'driftgate-system/driftgate', '--ca-bundle-base64', CA, '--no-client-kubeconfig'],
      want: /calls a static webhook by URL only \(it refuses clientConfig\.service\)/,
    },
    { name: 'no --url', args: ['--ca-bundle-base64', CA, '--no-client-kubeconfig'], want: /^--static needs --url/ },
    {
      name: 'cert-manager injection',
      args: ['--url', URL_, '--ca-inject-from', 'driftgate-system/driftgate-tls', '--no-client-kubeconfig'],
      want: /cert-manager injects CAs into API objects only/,
    },
    {
      name: 'no choice about the client certificate',
      args: ['--url', URL_, '--ca-bundle-base64', CA],
      want: /^--static needs --client-kubeconfig PATH .* or --no-client-kubeconfig/,
    },
    {
      name: 'a relative --apiserver-dir',
      args: ['--url', URL_, '--ca-bundle-base64', CA, '--no-client-kubeconfig', '--apiserver-dir', 'etc/driftgate'],
      want: /"etc\/driftgate" is not an absolute path/,
    },
    { name: '--helm-values as well', args: ['--helm-values', '--service', 'driftgate-system/driftgate', '--no-client-kubeconfig'], want: /not both/ },
  ];
  it.each(refusals)('refuses $name with one line naming the fix, and writes nothing', async ({ args, want }) => {
    const out = join(dir, 'refused');
    const { out: printed, error } = await run([...args, '--static', out]);
    expect(printed).toBe('');
    expect(error).toBeInstanceOf(DriftgateError);
    expect((error as DriftgateError).message).toMatch(want);
    expect((error as DriftgateError).message).not.toContain('\n');
    expect(await filesUnder(out)).toEqual([]);
  });

  it('refuses an empty --static rather than writing into the working directory', async () => {
    const { error } = await run(['--url', URL_, '--ca-bundle-base64', CA, '--no-client-kubeconfig', '--static', '']);
    expect((error as DriftgateError).message).toMatch(/^--static needs a directory/);
  });

  it('refuses --apiserver-dir and --client-kubeconfig without --static', async () => {
    const { error } = await run(['--url', URL_, '--ca-bundle-base64', CA, '--client-kubeconfig', KUBECONFIG]);
    expect((error as DriftgateError).message).toMatch(/only go with --static DIR/);
  });

  it('says which file it could not write', async () => {
    const blocker = join(dir, 'a-file');
    await writeFile(blocker, 'not a directory');
    const { error } = await run(['--url', URL_, '--ca-bundle-base64', CA, '--no-client-kubeconfig', '--static', blocker]);
    expect(error).toBeInstanceOf(DriftgateError);
    expect((error as DriftgateError).code).toBe('DG_FILE_UNWRITABLE');
    expect((error as DriftgateError).message).toContain(blocker);
  });
});

describe('examples/apiserver/static', () => {
  it('is exactly what the command its README shows writes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'driftgate-static-example-'));
    try {
      await writeFile(join(dir, 'ca.crt'), PEM);
      let out = '';
      await manifestsCommand({ out: { write: (s: string) => (out += s) }, err: { write: () => true } })
        .exitOverride()
        .parseAsync(
          [
            '--policy',
            POLICY_FILE,
            '--url',
            'https://10.96.0.50',
            '--ca-bundle',
            join(dir, 'ca.crt'),
            '--static',
            join(dir, 'static'),
            '--apiserver-dir',
            '/etc/kubernetes/driftgate/static',
            '--client-kubeconfig',
            '/etc/kubernetes/driftgate/webhook-clients.kubeconfig',
          ],
          { from: 'user' },
        );
      expect(out).toContain('written:');
      for (const file of Object.values(STATIC_FILES)) {
        const shipped = await readFile(join(ROOT, 'examples/apiserver/static', file), 'utf8');
        expect(shipped, file).toBe(await readFile(join(dir, 'static', file), 'utf8'));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
