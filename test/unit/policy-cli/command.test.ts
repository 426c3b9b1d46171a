/**
 * `driftgate policy check|test` as a person (or CI) runs them: what is printed and the exit code.
 * Files the cases need are written to a temp directory per test; the shipped examples are used
 * as they are, since CI runs exactly those.
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { Exit } from '../../../src/cli/io.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { policyCommand } from '../../../src/cli/policy.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
const POLICY = join(EXAMPLES, 'policy.yaml');
const CASES = join(EXAMPLES, 'policy-tests');

interface Ran {
  out: string;
  err: string;
  code: number;
}

/** run returns what the command printed and the exit code `run` in program.ts would return. */
async function run(args: string[]): Promise<Ran> {
  let out = '';
  let err = '';
  const io = { out: { write: (s: string) => (out += s) }, err: { write: (s: string) => (err += s) } };
  try {
    await policyCommand(io).parseAsync(args, { from: 'user' });
    return { out, err, code: 0 };
  } catch (e) {
    if (e instanceof Exit) return { out, err, code: e.code };
    if (e instanceof CommanderError) return { out, err, code: e.exitCode };
    throw e;
  }
}

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'driftgate-policy-cli-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** writeCase copies an example case's review.json into `dir/name` and writes its expect.yaml. */
async function writeCase(name: string, from: string, expectYaml: string): Promise<string> {
  const caseDir = join(dir, 'cases', name);
  await mkdir(caseDir, { recursive: true });
  await cp(join(CASES, from, 'review.json'), join(caseDir, 'review.json'));
  await writeFile(join(caseDir, 'expect.yaml'), expectYaml);
  return caseDir;
}

const RISKY = `apiVersion: driftgate.dev/v1alpha1
kind: GuardPolicy
metadata: {name: risky}
spec:
  namespaces: ["prod", "kube-system"]
  resources: [{apiGroups: ["*"], resources: ["*"]}]
  gitopsWriters: {groups: ["system:authenticated"]}
  delegations: [{users: ["x"], paths: ["/spec"]}]
  breakGlass: {groups: ["oncall"], maxDuration: 72h, incidentPattern: "INC-[0-9]+"}
`;

const CONTROLLERS_LINE =
  'kubernetes controllers allowed, as their service accounts or system:kube-controller-manager: garbage-collector, namespace-controller, root-ca-cert-publisher, ' +
  'serviceaccount-controller, deployment-controller, replicaset-controller, statefulset-controller, daemonset-controller, job-controller, cronjob-controller, service-controller, endpointslice-controller\n';

describe('policy check', () => {
  it('prints OK and a summary for examples/policy.yaml, and exits 0', async () => {
    const got = await run(['check', POLICY]);
    expect({ ...got, out: got.out.split('\n') }).toEqual({
      out: [
        'OK policy prod (enforce, 2 namespaces, 2 resource rules)',
        CONTROLLERS_LINE.trimEnd(),
        expect.stringMatching(/^info: spec\.resources\[1\]\.resources\[2\]: not guarded, by design: services\/proxy/),
        expect.stringMatching(/^info: spec\.resources\[1\]\.resources\[3\]: not guarded, by design: namespaces\/finalize/),
        '',
      ],
      err: '',
      code: 0,
    });
  });

  it('prints info lines without failing, even with --strict', async () => {
    const { out, code } = await run(['check', '--strict', join(EXAMPLES, 'policy-warn.yaml')]);
    expect(code).toBe(0);
    expect(out.split('\n')).toEqual([
      'OK policy staging-trial (warn, 1 namespace, 1 resource rule)',
      CONTROLLERS_LINE.trimEnd(),
      expect.stringMatching(/^info: spec\.mode: warn lets through.*nothing is enforced.*; switch to enforce/),
      '',
    ]);
  });

  it('prints a warning line per risky choice and still exits 0', async () => {
    await writeFile(join(dir, 'risky.yaml'), RISKY);
    const { out, err, code } = await run(['check', join(dir, 'risky.yaml')]);
    expect({ err, code }).toEqual({ err: '', code: 0 });
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe('OK policy risky (enforce, 2 namespaces, 1 resource rule)');
    expect(lines[1]).toBe(CONTROLLERS_LINE.trimEnd());
    expect(
      lines
        .slice(2)
        .filter((l) => !l.startsWith('info:'))
        .map((l) => /^warning: ([^:]+):/.exec(l)?.[1]),
    ).toEqual([
      'spec.namespaces[1]',
      'spec.resources[0].resources[0]',
      'spec.gitopsWriters.groups[0]',
      'spec.delegations[0].paths[0]',
      'spec.breakGlass.maxDuration',
      'spec.breakGlass.incidentPattern',
      // endpoints, events, jobs, pods, persistentvolumeclaims and leases: written by components driftgate cannot tell apart.
      'spec.resources',
      'spec.resources',
      'spec.resources',
      'spec.resources',
      'spec.resources',
      'spec.resources',
    ]);
    // Each line is `warning: field: message; fix`.
    for (const line of lines.slice(2)) expect(line).toMatch(/^(warning|info): \S+: .+; .+$/);
  });

  it('exits 2 on warnings with --strict', async () => {
    await writeFile(join(dir, 'risky.yaml'), RISKY);
    const { code, err } = await run(['check', '--strict', join(dir, 'risky.yaml')]);
    expect(code).toBe(2);
    expect(err).toBe(`driftgate: --strict: 12 warnings in ${join(dir, 'risky.yaml')}\n`);
  });

  it('prints every problem of an invalid policy, one per line, and exits 1', async () => {
    const path = join(dir, 'bad.yaml');
    await writeFile(
      path,
      'apiVersion: driftgate.dev/v1alpha1\nkind: GuardPolicy\nmetadata: {name: Prod}\nspec:\n  mode: enforced\n  namespaces: []\n  resources: [{apiGroups: ["apps/v1"], resources: ["deployments"]}]\n  delegation: []\n',
    );
    expect(await run(['check', path])).toEqual({
      out: [
        `INVALID ${path}: the GuardPolicy is invalid (5 problems)`,
        'error: metadata.name: "Prod" is not a valid name; use lowercase letters, digits, - and ., e.g. prod',
        'error: spec.mode: "enforced" is not allowed; use enforce or warn',
        'error: spec.namespaces: must not be empty; list the namespaces to protect, e.g. ["prod"]',
        'error: spec.resources[0].apiGroups[0]: "apps/v1" is not an API group; write apps (the group without its version)',
        'error: spec.delegation: unknown field; did you mean delegations?',
        '',
      ].join('\n'),
      err: '',
      code: 1,
    });
  });

  it('prints JSON with -o json', async () => {
    await writeFile(join(dir, 'risky.yaml'), RISKY);
    const { out, code } = await run(['check', '-o', 'json', join(dir, 'risky.yaml')]);
    expect(code).toBe(0);
    const got = JSON.parse(out) as { valid: boolean; policy: unknown; findings: Array<{ level: string; field: string }> };
    expect(got.valid).toBe(true);
    expect(got.policy).toEqual({ name: 'risky', mode: 'enforce', namespaces: 2, resourceRules: 1 });
    expect(got.findings[0]).toMatchObject({ level: 'warning', field: 'spec.namespaces[1]' });
  });

  it('says in one line when the file cannot be read', async () => {
    const path = join(dir, 'missing.yaml');
    expect(await run(['check', path])).toEqual({ out: '', err: `driftgate: policy ${path}: cannot read it (no such file)\n`, code: 1 });
  });
});

describe('policy test', () => {
  it('passes every example case and exits 0', async () => {
    const { out, err, code } = await run(['test', POLICY, CASES]);
    expect({ err, code }).toEqual({ err: '', code: 0 });
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CASE\s+EXPECTED\s+GOT\s+RESULT$/);
    const rows = lines.slice(1, -2);
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual([
      'developer-memory-limit-refused',
      'gitops-writer-changes-image',
      'hpa-scales-deployment',
      'responder-opens-window-for',
      'responder-opens-window-for-mutate',
      'responder-scales-under-parent-window',
      'responder-under-window-bypass',
    ]);
    for (const row of rows) expect(row).toMatch(/PASS$/);
    expect(rows[0]).toMatch(/denied 403\s+denied 403\s+PASS$/);
    expect(lines.at(-1)).toBe('7 cases passed, 0 failed');
  });

  it('fails a case whose expectations do not hold, saying which and why, and exits 1', async () => {
    await writeCase('good', 'gitops-writer-changes-image', 'allowed: true\n');
    await writeCase(
      'wrong',
      'developer-memory-limit-refused',
      'name: expects the developer through\nnow: 2026-11-24T03:00:00Z\nallowed: true\nmessageContains: ["/spec/template"]\n',
    );
    const { out, code } = await run(['test', POLICY, join(dir, 'cases')]);
    expect(code).toBe(1);
    const lines = out.trimEnd().split('\n');
    expect(lines[1]).toMatch(/^good\s+allowed\s+allowed\s+PASS$/);
    expect(lines[2]).toMatch(/^wrong\s+allowed\s+denied 403\s+FAIL$/);
    expect(lines[3]).toBe('    case: expects the developer through');
    expect(lines[4]).toBe('    allowed: want true; got false');
    // The message expectation held; only the failing ones are listed.
    expect(out).not.toContain('messageContains[0]');
    expect(lines.at(-1)).toBe('1 case passed, 1 failed');
  });

  it('reports malformed case files as that case failing, naming file and field, and runs the rest', async () => {
    await writeCase('a-good', 'hpa-scales-deployment', 'allowed: true\n');
    await writeCase('b-bad-expect', 'hpa-scales-deployment', 'alowed: true\npatchContains: [{op: ad, path: /x}]\n');
    const badReview = await writeCase('c-bad-review', 'hpa-scales-deployment', 'allowed: true\n');
    await writeFile(join(badReview, 'review.json'), '{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {');
    await writeCase('d-no-parent', 'hpa-scales-deployment', 'allowed: true\nparent: parent.json\n');
    const noExpect = await writeCase('e-no-expect', 'hpa-scales-deployment', '');
    await rm(join(noExpect, 'expect.yaml'));
    await writeFile(join(noExpect, 'expect.yml'), 'allowed: true\n');
    const notAReview = await writeCase('f-not-a-review', 'hpa-scales-deployment', 'allowed: true\n');
    await writeFile(join(notAReview, 'review.json'), '{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u"}}');

    const { out, err, code } = await run(['test', POLICY, join(dir, 'cases')]);
    expect({ err, code }).toEqual({ err: '', code: 1 });
    expect(out).toMatch(/^a-good\s+allowed\s+allowed\s+PASS$/m);
    for (const name of ['b-bad-expect', 'c-bad-review', 'd-no-parent', 'e-no-expect', 'f-not-a-review']) {
      expect(out).toMatch(new RegExp(`^${name}\\s+.*ERROR$`, 'm'));
    }
    expect(out).toContain('    expect.yaml: alowed: unknown field; did you mean allowed?\n');
    expect(out).toContain('    expect.yaml: allowed: required; write allowed: true or allowed: false\n');
    expect(out).toContain('    expect.yaml: patchContains[0].op: "ad" is not a JSON Patch operation');
    expect(out).toMatch(/^ {4}review\.json: not JSON: .*line 1/m);
    expect(out).toContain('    expect.yaml: parent: parent.json: no such file; save the parent object there with kubectl get -o json\n');
    expect(out).toContain('    expect.yaml: missing; rename expect.yml to expect.yaml\n');
    expect(out).toContain('    review.json: request.userInfo: missing; expected {username, groups}\n');
    expect(out).not.toMatch(/\n\s+at /); // no stack trace
    expect(out.trimEnd().split('\n').at(-1)).toBe('1 case passed, 5 failed');
  });

  it('prints the results as JSON with -o json', async () => {
    await writeCase('wrong', 'developer-memory-limit-refused', 'now: 2026-11-24T03:00:00Z\nallowed: false\ncode: 422\n');
    const { out, code } = await run(['test', '-o', 'json', POLICY, join(dir, 'cases')]);
    expect(code).toBe(1);
    const got = JSON.parse(out) as { passed: number; failed: number; results: Array<Record<string, unknown>> };
    expect({ passed: got.passed, failed: got.failed }).toEqual({ passed: 0, failed: 1 });
    expect(got.results[0]).toMatchObject({
      case: 'wrong',
      result: 'fail',
      expected: 'denied 422',
      got: 'denied 403',
      mismatches: [{ expectation: 'code', want: '422', got: '403' }],
      response: { allowed: false, status: { code: 403 } },
    });
  });

  it('runs a single case folder given directly', async () => {
    const { out, code } = await run(['test', POLICY, join(CASES, 'responder-opens-window-for-mutate')]);
    expect(code).toBe(0);
    expect(out).toMatch(/^responder-opens-window-for-mutate\s+allowed \+ patch\s+allowed \+ patch\s+PASS$/m);
  });

  it('says in one line when the cases folder is missing or empty', async () => {
    const missing = join(dir, 'nope');
    expect(await run(['test', POLICY, missing])).toEqual({ out: '', err: `driftgate: cases ${missing}: cannot read it (no such directory)\n`, code: 1 });
    await mkdir(join(dir, 'empty'));
    const empty = await run(['test', POLICY, join(dir, 'empty')]);
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/^driftgate: cases .*empty: holds no case folders; make one folder per case with review\.json and expect\.yaml/);
  });

  it('refuses to run against an invalid policy, listing its problems', async () => {
    const path = join(dir, 'bad.yaml');
    await writeFile(path, 'apiVersion: driftgate.dev/v1alpha1\nkind: GuardPolicy\nmetadata: {name: p}\nspec: {namespaces: [], resources: []}\n');
    const { out, err, code } = await run(['test', path, CASES]);
    expect({ out, code }).toEqual({ out: '', code: 1 });
    expect(err.split('\n')[0]).toBe(`driftgate: ${path}: the GuardPolicy is invalid (2 problems)`);
    expect(err).toContain('  - spec.namespaces: must not be empty');
  });
});

describe('policyCommand under the driftgate root', () => {
  it('hands its exit code to run() as an Exit', async () => {
    // run() returns an Exit's code: the one way a command chooses its exit code.
    const io = { out: { write: () => undefined }, err: { write: () => undefined } };
    const root = new Command('driftgate').exitOverride().addCommand(policyCommand(io).exitOverride());
    await writeFile(join(dir, 'risky.yaml'), RISKY);
    const err = await root.parseAsync(['policy', 'check', '--strict', join(dir, 'risky.yaml')], { from: 'user' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Exit);
    expect((err as Exit).code).toBe(2);
  });
});
