/**
 * Replacing a file that something else watches (a serving certificate driftgate reloads, a
 * webhook manifest the kube-apiserver reloads) without ever showing the watcher half of it.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DriftgateError, type ErrorCode } from '../errors.js';

/**
 * writeAtomic replaces `path` with `text` at `mode` by writing a temporary file beside it and
 * renaming it over: a watcher sees the old file or the new one, never half of one. The temporary
 * name starts with a dot and ends in `.tmp`, so neither the apiserver's manifest loader (it reads
 * `.yaml`, `.yml` and `.json` only) nor a glob of the directory picks it up. Throws a
 * DriftgateError with `code` naming the file.
 */
export async function writeAtomic(path: string, text: string, mode: number, code: ErrorCode): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      // The umask has already applied to open()'s mode; a key's mode must be exactly 0600.
      await fh.chmod(mode);
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new DriftgateError(code, `${path}: cannot write it (${(err as Error).message})`, { cause: err });
  }
}
