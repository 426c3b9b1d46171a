/**
 * `driftgate policy test`: answer each case folder (review.json and expect.yaml) through the very
 * admission path the server runs, as `review` does, and compare the answer with the expectation.
 * Exit 1 when a case fails or cannot be read.
 */
import { readdir, stat } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { basename, join } from 'node:path';
import { parseReviewText } from '../admission/schema.js';
import type { AdmissionRequest, AdmissionResponse, KubeObject } from '../admission/types.js';
import { DriftgateError, messageOf, isDriftgateError } from '../errors.js';
import { compareCase, describeExpected, describeObserved, parseExpectation, type CaseExpectation, type Mismatch, type Observed } from '../policy/casefile.js';
import type { GuardPolicy } from '../policy/types.js';
import { createAdmitter } from '../admission/admit.js';
import { offlineStore } from '../tickets/offline.js';
import { review } from '../admission/respond.js';
import { type DataFormat, type Io, exit, formatData, readPolicyFile, readText } from './io.js';
import { isRecord } from '../util/json.js';
import { plural } from './policy-check.js';

const REVIEW_FILE = 'review.json';
const EXPECT_FILE = 'expect.yaml';

// ---------------------------------------------------------------------------------------------
// policy test

/** A case folder read from disk: ready to run, or every problem found in its files. */
type LoadedCase =
  | { kind: 'ok'; expectation: CaseExpectation; request: AdmissionRequest; parent?: KubeObject }
  | { kind: 'invalid'; expectation?: CaseExpectation; problems: string[] };

type Result = 'pass' | 'fail' | 'error';

interface CaseResult {
  case: string;
  dir: string;
  name?: string;
  result: Result;
  expected?: string;
  got?: string;
  /** For `fail`: each expectation the answer missed. */
  mismatches: Mismatch[];
  /** For `error`: why the case could not run, each naming its file and field. */
  problems: string[];
  response?: AdmissionResponse;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The case folders under `dir`, sorted; `dir` itself when it is one case. Hidden folders are
 * skipped (a checkout's .git); any other folder is a case, so a misnamed file fails loudly
 * instead of quietly testing less.
 */
async function findCases(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    if (!(await stat(dir)).isDirectory()) {
      throw new DriftgateError('DG_USAGE', `cases ${dir}: not a directory; give the folder that holds one folder per case`);
    }
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isDriftgateError(err)) throw err;
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : messageOf(err);
    throw new DriftgateError('DG_USAGE', `cases ${dir}: cannot read it (${reason})`, { cause: err });
  }
  if (entries.some((e) => e.isFile() && (e.name === REVIEW_FILE || e.name === EXPECT_FILE))) return [dir];
  const cases = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort()
    .map((name) => join(dir, name));
  if (cases.length === 0) {
    throw new DriftgateError(
      'DG_USAGE',
      `cases ${dir}: holds no case folders; make one folder per case with ${REVIEW_FILE} and ${EXPECT_FILE} (docs/policy-testing.md)`,
    );
  }
  return cases;
}

/** Reads a file of a case, or returns the problem naming it. */
async function readCaseFile(dir: string, file: string, missing: string): Promise<{ text: string } | { problem: string }> {
  const path = join(dir, file);
  try {
    return { text: await readText(path, file) };
  } catch {
    return { problem: (await exists(path)) ? `${file}: cannot read it` : `${file}: ${missing}` };
  }
}

async function readExpectation(dir: string): Promise<{ expectation?: CaseExpectation; problems: string[] }> {
  const alternative = (await exists(join(dir, 'expect.yml'))) ? 'rename expect.yml to expect.yaml' : 'write one, e.g. allowed: false (docs/policy-testing.md)';
  const read = await readCaseFile(dir, EXPECT_FILE, `missing; ${alternative}`);
  if ('problem' in read) return { problems: [read.problem] };
  const parsed = parseExpectation(read.text);
  if (parsed.kind === 'invalid') return { problems: parsed.problems.map((p) => `${EXPECT_FILE}: ${p}`) };
  return { expectation: parsed.expectation, problems: [] };
}

async function readRequest(dir: string): Promise<{ request?: AdmissionRequest; problems: string[] }> {
  const read = await readCaseFile(dir, REVIEW_FILE, 'missing; save the AdmissionReview (admission.k8s.io/v1) the case answers here');
  if ('problem' in read) return { problems: [read.problem] };
  try {
    return { request: parseReviewText(read.text), problems: [] };
  } catch (err) {
    if (!isDriftgateError(err)) throw err;
    // The envelope parser speaks of the HTTP "body"; here the body is a file.
    const lines = err.details.length > 0 ? err.details : [err.message];
    return { problems: lines.map((line) => `${REVIEW_FILE}: ${line.replace(/^body( is|:)? /, '')}`) };
  }
}

async function readParentFile(dir: string, file: string): Promise<{ parent?: KubeObject; problems: string[] }> {
  const field = `${EXPECT_FILE}: parent`;
  const read = await readCaseFile(dir, file, 'no such file');
  if ('problem' in read) return { problems: [`${field}: ${read.problem}; save the parent object there with kubectl get -o json`] };
  try {
    const value: unknown = JSON.parse(read.text);
    if (isRecord(value)) return { parent: value as KubeObject, problems: [] };
  } catch {
    // reported below with the fix
  }
  return { problems: [`${field}: ${file}: not a Kubernetes object in JSON; save it with kubectl get -o json`] };
}

async function loadCase(dir: string): Promise<LoadedCase> {
  const [expect, review] = await Promise.all([readExpectation(dir), readRequest(dir)]);
  const problems = [...expect.problems, ...review.problems];
  const { expectation } = expect;
  let parent: KubeObject | undefined;
  if (expectation?.parent !== undefined) {
    const read = await readParentFile(dir, expectation.parent);
    problems.push(...read.problems);
    parent = read.parent;
  }
  if (problems.length > 0 || expectation === undefined || review.request === undefined) {
    return { kind: 'invalid', problems, ...(expectation === undefined ? {} : { expectation }) };
  }
  return { kind: 'ok', expectation, request: review.request, ...(parent === undefined ? {} : { parent }) };
}

function isPatchOp(value: unknown): value is Observed['patch'][number] {
  return typeof value === 'object' && value !== null && 'op' in value && typeof value.op === 'string' && 'path' in value && typeof value.path === 'string';
}

/** observe returns what a response says in the terms of the case format, its JSONPatch decoded. */
function observe(response: AdmissionResponse): Observed {
  let patch: Observed['patch'] = [];
  if (response.patch !== undefined) {
    const ops: unknown = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'));
    patch = Array.isArray(ops) ? ops.filter(isPatchOp) : [];
  }
  return {
    allowed: response.allowed,
    ...(response.status?.code === undefined ? {} : { code: response.status.code }),
    ...(response.status?.message === undefined ? {} : { message: response.status.message }),
    warnings: response.warnings ?? [],
    patch,
  };
}

/** caseResult returns a result with its fields in the order a reader of the JSON wants them. */
function caseResult(dir: string, result: Result, parts: Partial<Omit<CaseResult, 'case' | 'dir' | 'result'>> & { expectation?: CaseExpectation }): CaseResult {
  const { expectation, ...rest } = parts;
  return {
    case: basename(dir),
    ...(expectation?.name === undefined ? {} : { name: expectation.name }),
    dir,
    result,
    ...(rest.expected === undefined ? {} : { expected: rest.expected }),
    ...(rest.got === undefined ? {} : { got: rest.got }),
    mismatches: rest.mismatches ?? [],
    problems: rest.problems ?? [],
    ...(rest.response === undefined ? {} : { response: rest.response }),
  };
}

async function runCase(policy: GuardPolicy, dir: string): Promise<CaseResult> {
  const loaded = await loadCase(dir);
  if (loaded.kind === 'invalid') {
    return caseResult(dir, 'error', { problems: loaded.problems, ...(loaded.expectation === undefined ? {} : { expectation: loaded.expectation }) });
  }
  const { expectation, request, parent } = loaded;
  // As in `review`: a bypass is answered as the server answers it once recorded, and not recorded.
  const admitter = createAdmitter({
    policy: () => policy,
    now: () => new Date(expectation.now),
    tickets: offlineStore(),
    ...(parent === undefined ? {} : { parents: async () => parent }),
  });
  const expected = describeExpected(expectation);
  let response: AdmissionResponse;
  try {
    const admitted = expectation.mutate ? await admitter.mutate(request) : await admitter.validate(request);
    response = review(request.uid, admitted.answer).response;
  } catch (err) {
    // A throw here is a driftgate bug, not a case mistake; it still fails only this case.
    const problem = `driftgate could not answer ${REVIEW_FILE}: ${err instanceof Error ? err.message : String(err)}`;
    return caseResult(dir, 'error', { expectation, expected, problems: [problem] });
  }
  const observed = observe(response);
  const mismatches = compareCase(expectation, observed);
  return caseResult(dir, mismatches.length === 0 ? 'pass' : 'fail', { expectation, expected, got: describeObserved(observed), mismatches, response });
}

function renderTable(results: readonly CaseResult[]): string {
  const header = ['CASE', 'EXPECTED', 'GOT', 'RESULT'] as const;
  const rows = results.map((r) => [r.case, r.expected ?? '-', r.got ?? '-', r.result.toUpperCase()] as const);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: readonly string[]): string => `${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('   ')}\n`;
  let out = line(header);
  results.forEach((r, i) => {
    out += line(rows[i] ?? []);
    // Reasons sit under their row, indented, so a long message never breaks the columns.
    if (r.result === 'fail') {
      if (r.name !== undefined) out += `    case: ${r.name}\n`;
      for (const m of r.mismatches) out += `    ${m.expectation}: want ${m.want}; got ${m.got}\n`;
    }
    for (const problem of r.problems) out += `    ${problem}\n`;
  });
  const failed = results.filter((r) => r.result !== 'pass').length;
  out += `\n${plural(results.length - failed, 'case')} passed, ${failed} failed\n`;
  return out;
}

export interface TestOptions {
  output: 'table' | DataFormat;
}

export async function test(io: Io, policyFile: string, casesDir: string, opts: TestOptions): Promise<void> {
  const policy = await readPolicyFile(policyFile);
  const dirs = await findCases(casesDir);
  const results: CaseResult[] = [];
  // One after another: results come out in folder order, and a case never waits on another's I/O.
  for (const dir of dirs) results.push(await runCase(policy, dir));
  const failed = results.filter((r) => r.result !== 'pass').length;
  if (opts.output !== 'table') {
    const summary = { policy: policyFile, cases: casesDir, passed: results.length - failed, failed, results };
    io.out.write(formatData(summary, opts.output));
  } else {
    io.out.write(renderTable(results));
  }
  if (failed > 0) exit(1);
}
