/**
 * The Dockerfile cannot be built here (no Docker engine), so this checks what can be checked
 * without one: base images pinned by digest, every path it copies present and not dropped by
 * .dockerignore, the build context free of modules, keys and caches, and its entrypoint running
 * the CLI the build stage compiles, from the layout the runtime stage assembles.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serveCommand } from '../../../src/cli/serve.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const lines = dockerfile.split('\n').filter((l) => !l.startsWith('#') && l.trim() !== '');
const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

/** ignored says whether .dockerignore drops `path` (or a folder above it) from the build context. */
function ignored(path: string): boolean {
  const patterns = ignore.map(
    (p) =>
      new RegExp(
        `^${p
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*\*\//g, '(?:.*/)?')
          .replace(/\*/g, '[^/]*')}$`,
      ),
  );
  const parts = path.split('/');
  return parts.some((_, i) => patterns.some((re) => re.test(parts.slice(0, i + 1).join('/'))));
}

const work = mkdtempSync(join(tmpdir(), 'driftgate-image-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('Dockerfile', () => {
  it('pins every base image by digest', () => {
    const bases = lines.filter((l) => l.startsWith('FROM ')).map((l) => l.split(/\s+/)[1] ?? '');
    expect(bases.length).toBe(3);
    for (const base of bases) expect(base).toMatch(/^[a-z0-9./-]+:[a-z0-9.-]+@sha256:[0-9a-f]{64}$/);
  });

  it('copies only paths that exist and that .dockerignore keeps', () => {
    const sources = lines.filter((l) => l.startsWith('COPY ') && !l.includes('--from=')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(new Set(sources)).toEqual(new Set(['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'examples/policy.yaml']));
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), source).toBe(true);
      expect(ignored(source), `${source} is dropped by .dockerignore`).toBe(false);
    }
  });

  it("keeps installed modules, certificates and keys, caches and a dev run's state out of the build context", () => {
    for (const path of [
      'node_modules/express/package.json',
      'bench/node_modules/x',
      '.cache/controlplane/v1.37.2/etcd',
      '.driftgate/certs/ca.key',
      '.driftgate/tickets.jsonl',
      'certs/tls.key',
      'driftgate-certs/ca.key',
      'dist/cli/main.js',
      'test/e2e/policy.yaml',
    ]) {
      expect(ignored(path), path).toBe(true);
    }
  });

  it("runs the built CLI: the entrypoint, in the runtime layout, answers --version; the default command uses serve's flags", () => {
    // The runtime stage: WORKDIR /app with node_modules, dist (built as the build stage builds
    // it), package.json and the example policy; node stands in for /nodejs/bin/node.
    const app = join(work, 'app');
    mkdirSync(join(app, 'examples'), { recursive: true });
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(app, 'dist')], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'), 'dir');
    cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
    cpSync(join(ROOT, 'examples/policy.yaml'), join(app, 'examples/policy.yaml'));

    const json = (line: string): string[] => JSON.parse(line.replace(/^(ENTRYPOINT|CMD)\s+/, '')) as string[];
    const entrypoint = json(lines.find((l) => l.startsWith('ENTRYPOINT ')) ?? '');
    expect(entrypoint[0]).toBe('/nodejs/bin/node');
    expect(lines.filter((l) => l.startsWith('WORKDIR ')).pop()).toBe('WORKDIR /app');
    const version = execFileSync(process.execPath, [...entrypoint.slice(1), '--version'], { cwd: app, encoding: 'utf8' }).trim();
    expect(version).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);

    const cmd = json(lines.find((l) => l.startsWith('CMD ')) ?? '');
    expect(cmd[0]).toBe('serve');
    const known = serveCommand().options.map((o) => o.long);
    for (const flag of cmd.filter((a) => a.startsWith('--'))) expect(known, flag).toContain(flag);
  }, 120_000);
});
