/**
 * What the backport reads of a checkout and how it commits, through the `git` command (child
 * processes, arguments as arrays: no shell). Why git itself rather than a library: the checkout
 * is the user's, with their hooks, identity and config, and `git` is the one program guaranteed
 * to read all of it the way they do.
 *
 * The commit is made with plumbing on a temporary index (read-tree, hash-object, update-index,
 * write-tree, commit-tree, update-ref): the new branch gets the commit without the user's
 * checkout switching branch or their index and files changing underneath them.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DriftgateError, messageOf } from '../errors.js';

/** Git runs git commands in one checkout. */
export class Git {
  readonly root: string;

  private constructor(root: string) {
    this.root = root;
  }

  /** open returns the checkout `dir` belongs to, or throws DG_USAGE when it is not one. */
  static async open(dir: string): Promise<Git> {
    let top: string;
    try {
      top = (await git(dir, ['rev-parse', '--show-toplevel'])).trim();
    } catch (err) {
      throw new DriftgateError('DG_USAGE', `--repo ${dir}: not a Git checkout (${messageOf(err)})`, { cause: err });
    }
    const repo = new Git(top);
    try {
      await repo.run(['rev-parse', '--verify', 'HEAD^{commit}']);
    } catch (err) {
      throw new DriftgateError('DG_USAGE', `--repo ${dir}: the checkout has no commit yet; the backport branch starts from HEAD`, { cause: err });
    }
    return repo;
  }

  /** run returns the standard output of `git args…` in the checkout; throws DG_USAGE with git's own words. */
  run(args: readonly string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<string> {
    return git(this.root, args, opts);
  }

  /**
   * yamlAtHead returns every .yaml and .yml file committed at HEAD (path relative to the root →
   * text), skipping files over `maxBytes`: the backport edits HEAD's content, so whatever the
   * working tree holds uncommitted neither leaks into the commit nor is lost.
   */
  async yamlAtHead(maxBytes: number): Promise<Map<string, string>> {
    const listing = await this.run(['ls-tree', '-r', '-z', '--long', 'HEAD']);
    const wanted: string[] = [];
    for (const entry of listing.split('\0')) {
      const m = /^\d+ blob [0-9a-f]+\s+(\d+)\t(.*)$/s.exec(entry);
      if (m === null || !/\.ya?ml$/i.test(m[2] ?? '') || Number(m[1]) > maxBytes) continue;
      wanted.push(m[2] ?? '');
    }
    const files = new Map<string, string>();
    if (wanted.length === 0) return files;
    const out = await gitBytes(this.root, ['cat-file', '--batch'], wanted.map((p) => `HEAD:${p}\n`).join(''));
    let at = 0;
    for (const path of wanted) {
      const nl = out.indexOf(0x0a, at);
      const header = out.subarray(at, nl).toString('utf8');
      const size = Number(/ blob (\d+)$/.exec(header)?.[1] ?? Number.NaN);
      if (!Number.isFinite(size)) throw new DriftgateError('DG_USAGE', `git cat-file: cannot read ${path} at HEAD (${header})`);
      files.set(path, out.subarray(nl + 1, nl + 1 + size).toString('utf8'));
      at = nl + 1 + size + 1;
    }
    return files;
  }

  /** branchExists returns true when `refs/heads/<branch>` exists. */
  async branchExists(branch: string): Promise<boolean> {
    try {
      await this.run(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]);
      return true;
    } catch {
      return false;
    }
  }

  /** checkBranchName throws DG_USAGE unless `branch` is a valid new branch name. */
  async checkBranchName(branch: string): Promise<void> {
    try {
      await this.run(['check-ref-format', '--branch', branch]);
    } catch (err) {
      throw new DriftgateError('DG_USAGE', `--branch ${JSON.stringify(branch)}: not a valid branch name`, { cause: err });
    }
    if (await this.branchExists(branch)) {
      throw new DriftgateError('DG_USAGE', `--branch ${branch}: the branch already exists; name another with --branch, or delete it (git branch -D ${branch})`);
    }
  }

  /** origin returns the URL of the `origin` remote, or undefined. */
  async origin(): Promise<string | undefined> {
    try {
      const url = (await this.run(['config', '--get', 'remote.origin.url'])).trim();
      return url === '' ? undefined : url;
    } catch {
      return undefined;
    }
  }

  /** author returns `Name <email>` as git would write the commit's author; throws DG_USAGE when git has no identity. */
  async author(): Promise<string> {
    try {
      return (await this.run(['var', 'GIT_AUTHOR_IDENT'])).replace(/\s+\d+\s+[+-]\d{4}\s*$/, '').trim();
    } catch (err) {
      throw new DriftgateError(
        'DG_USAGE',
        `git has no identity to commit with in ${this.root}: set user.name and user.email (git config user.email you@example.com)`,
        { cause: err },
      );
    }
  }

  /**
   * commitOnNewBranch returns the id of a commit on HEAD with `files` (path → full text) written,
   * made on `branch`, which must not exist yet; the checkout, its index and HEAD stay as they were.
   */
  async commitOnNewBranch(branch: string, files: ReadonlyMap<string, string>, message: string): Promise<string> {
    const scratch = await mkdtemp(join(tmpdir(), 'driftgate-backport-'));
    const env = { GIT_INDEX_FILE: join(scratch, 'index') };
    try {
      await this.run(['read-tree', 'HEAD'], { env });
      for (const [path, text] of files) {
        const blob = (await this.run(['hash-object', '-w', '--stdin'], { input: text })).trim();
        const mode = (await this.run(['ls-tree', 'HEAD', '--', path])).split(/\s/)[0] || '100644';
        await this.run(['update-index', '--add', '--cacheinfo', `${mode},${blob},${path}`], { env });
      }
      const tree = (await this.run(['write-tree'], { env })).trim();
      const commit = (await this.run(['commit-tree', tree, '-p', 'HEAD', '-F', '-'], { input: message })).trim();
      // The empty old value makes update-ref fail if the branch appeared meanwhile: never overwrite one.
      await this.run(['update-ref', '-m', 'driftgate tickets backport', `refs/heads/${branch}`, commit, '']);
      return commit;
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
}

function gitBytes(cwd: string, args: readonly string[], input: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile('git', [...args], { cwd, env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 256 * 1024 * 1024, encoding: 'buffer' }, (err, stdout) => {
      if (err === null) resolve(stdout);
      else reject(new DriftgateError('DG_USAGE', `git ${args[0] ?? ''}: ${err.message}`, { cause: err }));
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

function git(cwd: string, args: readonly string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      [...args],
      { cwd, env: { ...process.env, ...opts.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' }, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err === null) return resolve(stdout);
        const said = stderr
          .trim()
          .split('\n')
          .filter((l) => l !== '')
          .pop();
        const why = 'code' in err && err.code === 'ENOENT' ? 'git is not installed or not on PATH' : (said ?? err.message);
        reject(new DriftgateError('DG_USAGE', `git ${args[0] ?? ''}: ${why}`, { cause: err }));
      },
    );
    // A command that exits without reading its input says how it went in its exit status; the
    // EPIPE writing to it is not news.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input ?? '');
  });
}
