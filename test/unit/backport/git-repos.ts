/** Real Git checkouts for the backport tests, made in temp dirs with the `git` command. */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// A fixed identity and no user or system config, so the tests run the same on any machine.
const ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Alice Oncall',
  GIT_AUTHOR_EMAIL: 'alice@example.com',
  GIT_COMMITTER_NAME: 'Alice Oncall',
  GIT_COMMITTER_EMAIL: 'alice@example.com',
};

/** gitIn returns git's standard output in `dir`. */
export function gitIn(dir: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: dir, env: ENV, encoding: 'utf8' });
}

/** makeRepo returns a new checkout in a temp dir holding `files` in one commit on `main`. */
export async function makeRepo(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'driftgate-repo-'));
  gitIn(dir, 'init', '-q', '-b', 'main');
  gitIn(dir, 'config', 'user.name', 'Alice Oncall');
  gitIn(dir, 'config', 'user.email', 'alice@example.com');
  gitIn(dir, 'config', 'commit.gpgsign', 'false');
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  gitIn(dir, 'add', '-A');
  gitIn(dir, 'commit', '-q', '-m', 'initial manifests');
  return dir;
}

/** fileAt returns a file's text at a revision (a branch, a commit). */
export function fileAt(dir: string, rev: string, path: string): string {
  return gitIn(dir, 'show', `${rev}:${path}`);
}
