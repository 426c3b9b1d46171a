/**
 * Flag readers shared by the commands: a value that is not what the flag takes is refused with the
 * flag's name and what to write, before anything is listened on or connected to.
 */
import { DriftgateError } from '../errors.js';
import { parseAge } from '../policy/duration.js';

/** durationFlag returns a Go-style (or days) duration in ms, or throws DG_USAGE naming the flag. */
export function durationFlag(name: string, text: string): number {
  const ms = parseAge(text);
  if (ms === undefined) throw new DriftgateError('DG_USAGE', `--${name} "${text}" is not a duration; write e.g. 72h or 3d`);
  return ms;
}

/** intFlag returns a whole number ≥ min, or throws DG_USAGE naming the flag. */
export function intFlag(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new DriftgateError('DG_USAGE', `--${name} "${text}" is not a whole number ≥ ${min}`);
  return n;
}

const NAME_REF = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$/;

/** refFlag returns NAMESPACE/NAME as its parts, or throws DG_USAGE naming the flag. */
export function refFlag(flag: string, text: string): { namespace: string; name: string } {
  const m = NAME_REF.exec(text);
  if (m === null || m[1] === undefined || m[3] === undefined)
    throw new DriftgateError('DG_USAGE', `--${flag} "${text}" is not NAMESPACE/NAME; write e.g. driftgate-system/driftgate`);
  return { namespace: m[1], name: m[3] };
}
