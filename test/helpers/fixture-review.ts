/**
 * Reading a decide() fixture's AdmissionReview in either form: a full `request.json`, or
 * `request.patch.json`, the RFC 6902 operations that turn the shared `testdata/base-request.json`
 * into it (test/unit/decision/slim-fixtures.mjs writes those). Both forms are read, so a fixture
 * added in the full form works as it is.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import jsonpatch, { type Operation } from 'fast-json-patch';

/** readFixtureReview returns the AdmissionReview (unvalidated JSON) of the case folder `dir` under `testdata`. */
export function readFixtureReview(testdata: string, dir: string): unknown {
  return JSON.parse(readFixtureReviewText(testdata, dir));
}

/**
 * readFixtureReviewText returns the AdmissionReview's JSON text, to parse as the server parses a
 * body (exactly: a case about integers beyond 2^53 keeps the full form, whose text is returned as
 * it is; slim-fixtures.mjs never slims one).
 */
export function readFixtureReviewText(testdata: string, dir: string): string {
  const full = join(testdata, dir, 'request.json');
  const patch = join(testdata, dir, 'request.patch.json');
  // Both would leave a reader unsure which one the test reads.
  if (existsSync(full) && existsSync(patch)) throw new Error(`${dir}: has both request.json and request.patch.json; keep one`);
  if (existsSync(full)) return readFileSync(full, 'utf8');
  const base: unknown = JSON.parse(readFileSync(join(testdata, 'base-request.json'), 'utf8'));
  const ops = JSON.parse(readFileSync(patch, 'utf8')) as Operation[];
  return JSON.stringify(jsonpatch.applyPatch(base, ops, true).newDocument);
}
