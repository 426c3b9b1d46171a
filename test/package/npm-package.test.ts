/**
 * The CLI as a package (issue 14): `npm pack` builds it (prepack) into a tarball that holds what
 * it needs, `npm install -g` of that tarball puts a working `driftgate` on PATH, and the CI
 * recipe of docs/policy-testing.md works as written, in a policy repository of its own.
 *
 * The tarball is packed from a copy of the sources (its own dist/), so the build prepack runs
 * never rewrites the dist/ other tests are running. Installs use npm's cache first
 * (--prefer-offline): the dependencies are those `npm ci` just fetched.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; files: string[]; engines: { node: string } };
// Node 24 (this test's own runtime) first on PATH, as setup-node and the README ask.
const NODE24_PATH = [dirname(process.execPath), process.env['PATH'] ?? ''].join(delimiter);

let work = '';
let tarball = '';

function sh(command: string, cwd: string, path = NODE24_PATH): { status: number; out: string } {
  const run = spawnSync('bash', ['-euo', 'pipefail', '-c', command], {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      PATH: path,
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_prefer_offline: 'true',
      npm_config_update_notifier: 'false',
    },
  });
  return { status: run.status ?? -1, out: `${run.stdout}${run.stderr}` };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'driftgate-package-'));
  const stage = join(work, 'stage');
  mkdirSync(stage);
  for (const entry of [
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'src',
    ...pkg.files.filter((f) => !f.startsWith('!') && f !== 'dist'),
  ]) {
    cpSync(join(ROOT, entry), join(stage, entry), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir');
  const packed = sh(`npm pack --pack-destination ${JSON.stringify(work)}`, stage);
  expect(packed.status, packed.out).toBe(0);
  tarball = join(work, `${pkg.name}-${pkg.version}.tgz`);
  expect(existsSync(tarball), packed.out).toBe(true);
}, 10 * 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm pack', () => {
  it('builds on prepack and ships the CLI, the chart, the install manifests, the examples and the docs, not the sources', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const want of [
      'package/dist/cli/main.js',
      'package/dist/cli/program.js',
      'package/charts/driftgate/Chart.yaml',
      'package/charts/driftgate/files/webhooks.yaml',
      'package/manifests/install.yaml',
      'package/examples/policy.yaml',
      'package/docs/install.md',
      'package/README.md',
    ]) {
      expect(files).toContain(want);
    }
    expect(files.filter((f) => /^package\/(src|test|node_modules|\.cache)\//.test(f))).toEqual([]);
  });
});

describe('npm install -g of the tarball', () => {
  let prefix = '';
  beforeAll(() => {
    prefix = join(work, 'prefix');
    const installed = sh(`npm install -g --prefix ${JSON.stringify(prefix)} ${JSON.stringify(tarball)}`, work);
    expect(installed.status, installed.out).toBe(0);
  }, 10 * 60_000);
  const onPath = (): string => [join(prefix, 'bin'), NODE24_PATH].join(delimiter);

  it('puts a working driftgate on PATH', () => {
    const version = sh('driftgate --version', work, onPath());
    expect(version.out.trim()).toBe(pkg.version);
    expect(version.status).toBe(0);
    const example = join(prefix, 'lib/node_modules/driftgate/examples/policy.yaml');
    const check = sh(`driftgate policy check ${JSON.stringify(example)}`, work, onPath());
    expect(check.out).toMatch(/^OK policy prod \(enforce/m);
    expect(check.status).toBe(0);
    const values = sh(`driftgate manifests --helm-values --policy ${JSON.stringify(example)} --service driftgate-system/driftgate`, work, onPath());
    expect(values.status, values.out).toBe(0);
    expect((parse(values.out) as { webhooks: { rendered: { policy: string } } }).webhooks.rendered.policy).toBe('prod');
  });

  // engines says ">=24": on an older Node the CLI says so instead of failing inside a dependency.
  const oldNode = ['/usr/bin/node', '/usr/local/bin/node']
    .filter((p) => existsSync(p))
    .find((p) => Number(execFileSync(p, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' })) < 24);
  it.skipIf(oldNode === undefined)(`on an older Node (${oldNode ?? 'none on this machine'}), says which Node it needs`, () => {
    const run = spawnSync(oldNode ?? '', [join(prefix, 'lib/node_modules/driftgate/dist/cli/main.js'), '--version'], { encoding: 'utf8' });
    expect(run.stderr).toMatch(/^driftgate: needs Node\.js 24 or later; this is Node\.js \d+\./);
    expect(run.status).toBe(1);
  });
  it('engines and the CLI agree on the Node version', () => {
    expect(pkg.engines.node).toBe('>=24');
    expect(readFileSync(join(ROOT, 'src/cli/main.ts'), 'utf8')).toContain('const MIN_NODE_MAJOR = 24;');
  });
});

describe('docs/policy-testing.md, "In CI"', () => {
  const doc = readFileSync(join(ROOT, 'docs/policy-testing.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## In CI'));
  const blocks = [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], body: m[2] ?? '' }));

  it('works as written in a policy repository: pin the tarball, then every run step of the workflow', () => {
    const repo = join(work, 'policy-repo');
    mkdirSync(join(repo, 'tools'), { recursive: true });
    mkdirSync(join(repo, 'policy'));
    writeFileSync(join(repo, 'package.json'), `${JSON.stringify({ name: 'policy', private: true }, null, 2)}\n`);
    cpSync(join(ROOT, 'examples/policy.yaml'), join(repo, 'policy/guardpolicy.yaml'));
    cpSync(join(ROOT, 'examples/policy-tests'), join(repo, 'policy/tests'), { recursive: true });
    cpSync(tarball, join(repo, 'tools', `${pkg.name}-${pkg.version}.tgz`));

    const pin = blocks.find((b) => b.lang === 'sh' && b.body.includes('npm install --save-dev'));
    expect(pin, 'the doc shows how to pin the tarball').toBeDefined();
    const pinLine = (pin?.body ?? '').split('\n').find((l) => l.startsWith('npm install --save-dev')) ?? '';
    const pinned = sh(pinLine.replace(/\s+#.*$/, ''), repo);
    expect(pinned.status, pinned.out).toBe(0);

    const workflow = blocks.find((b) => b.lang === 'yaml' && b.body.includes('jobs:'));
    expect(workflow, 'the doc shows the workflow').toBeDefined();
    const steps =
      (parse(workflow?.body ?? '') as { jobs: Record<string, { steps: Array<{ run?: string; with?: { 'node-version'?: number } }> }> }).jobs['policy']?.steps ??
      [];
    expect(steps.find((s) => s.with?.['node-version'] !== undefined)?.with?.['node-version']).toBe(24);
    const runs = steps.flatMap((s) => (s.run === undefined ? [] : [s.run]));
    expect(runs).toEqual([
      'npm ci',
      'npx driftgate policy check --strict policy/guardpolicy.yaml',
      'npx driftgate policy test policy/guardpolicy.yaml policy/tests',
    ]);
    for (const run of runs) {
      const result = sh(run, repo);
      expect(result.status, `${run}\n${result.out}`).toBe(0);
    }
    expect(readdirSync(join(repo, 'node_modules/.bin'))).toContain('driftgate');
  });
});
