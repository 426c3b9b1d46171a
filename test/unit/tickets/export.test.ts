/**
 * Golden files for `tickets export`. Each case directory under testdata/export/ holds exactly the
 * files `--out` would write (plus NOTES when the export has notes), compared byte for byte.
 * After an intended change of output run
 *   UPDATE_GOLDEN=1 npx vitest run test/unit/tickets/export.test.ts
 * and read the rewritten files before committing them.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { applyPatch, type Operation } from 'fast-json-patch';
import { describe, expect, it, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { JsonPatchOp } from '../../../src/admission/types.js';
import { getAt } from '../../../src/decision/pointer.js';
import { exportRevert, exportTicket, renderExport, revertPlan, shellQuote, type ExportFormat, type TicketExport } from '../../../src/tickets/export.js';
import { combinedPatch, combinedRevert, netChange } from '../../../src/tickets/net-change.js';
import { fieldName } from '../../../src/tickets/commit-message.js';
import { SECRET_PASSWORDS, prepared, story, ticketOf } from './stories.js';

const TESTDATA = new URL('./testdata/export/', import.meta.url);
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const run = promisify(execFile);

interface Case {
  dir: string;
  name: string;
  story: string;
  mode: ExportFormat | 'revert';
}

const cases: Case[] = [
  { dir: 'update-patch', name: 'combines three changes into one RFC 6902 patch, in order', story: 'update', mode: 'patch' },
  { dir: 'update-kustomize', name: 'targets the Deployment from a kustomization patches entry', story: 'update', mode: 'kustomize' },
  { dir: 'update-yaml', name: 'sets only the changed leaves and notes the removals as comments', story: 'update', mode: 'yaml' },
  { dir: 'update-revert', name: 'reverts newest first with one kubectl patch, the quote in a value escaped', story: 'update', mode: 'revert' },
  { dir: 'scale-patch', name: "exports a /scale change as the parent's /spec/replicas", story: 'scale', mode: 'patch' },
  { dir: 'scale-revert', name: "reverts a /scale change on the parent's /spec/replicas", story: 'scale', mode: 'revert' },
  { dir: 'create-patch', name: 'keeps the CREATE as an add at the root', story: 'create', mode: 'patch' },
  { dir: 'create-kustomize', name: 'adds a created object as a resource, later changes folded in', story: 'create', mode: 'kustomize' },
  { dir: 'create-yaml', name: 'prints a created object whole', story: 'create', mode: 'yaml' },
  { dir: 'create-revert', name: 'reverts a CREATE with kubectl delete', story: 'create', mode: 'revert' },
  { dir: 'delete-kustomize', name: 'deletes the object with a $patch: delete', story: 'delete', mode: 'kustomize' },
  { dir: 'delete-yaml', name: 'says to remove the manifest of a deleted object', story: 'delete', mode: 'yaml' },
  { dir: 'delete-revert', name: 'reverts a DELETE with kubectl create -f - of the object as it was before the window', story: 'delete', mode: 'revert' },
  { dir: 'secret-patch', name: 'keeps fingerprints in a Secret patch and says to re-enter the values', story: 'secret', mode: 'patch' },
  { dir: 'secret-yaml', name: 'marks each fingerprint in a Secret fragment', story: 'secret', mode: 'yaml' },
  { dir: 'secret-kustomize', name: 'marks each fingerprint in a Secret Kustomize patch', story: 'secret', mode: 'kustomize' },
  { dir: 'secret-label-revert', name: 'reverts a Secret change that needs no value', story: 'secret-label', mode: 'revert' },
  { dir: 'secret-created-revert', name: 'reverts a created Secret with kubectl delete', story: 'secret-created', mode: 'revert' },
  { dir: 'exec-patch', name: 'says an exec changed no fields', story: 'exec', mode: 'patch' },
  { dir: 'exec-revert', name: 'has nothing to revert for an exec', story: 'exec', mode: 'revert' },
];

function exported(c: Case): TicketExport {
  const ticket = ticketOf(story(c.story));
  return c.mode === 'revert' ? exportRevert(ticket) : exportTicket(ticket, c.mode);
}

// The golden directory is what `--out` writes, plus NOTES: renaming or adding a file fails too.
function golden(dir: string, exp: TicketExport): void {
  const want = new URL(`${dir}/`, TESTDATA);
  const files = new Map(exp.files.map((f) => [f.name, f.text]));
  if (exp.notes.length > 0) files.set('NOTES', `${exp.notes.join('\n')}\n`);
  if (UPDATE) {
    rmSync(want, { recursive: true, force: true });
    mkdirSync(want, { recursive: true });
    for (const [name, text] of files) writeFileSync(new URL(name, want), text);
  }
  expect(readdirSync(want).sort(), `${dir}: the files differ; if intended run with UPDATE_GOLDEN=1 and review`).toEqual([...files.keys()].sort());
  for (const [name, text] of files) {
    expect(text, `${dir}/${name} differs; if the change is intended run with UPDATE_GOLDEN=1 and review it`).toBe(readFileSync(new URL(name, want), 'utf8'));
  }
}

describe('export golden files', () => {
  test('every testdata directory has a case', () => {
    const dirs = existsSync(TESTDATA)
      ? readdirSync(TESTDATA, { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => d.name)
      : [];
    expect(dirs.sort()).toEqual(cases.map((c) => c.dir).sort());
  });

  test.each(cases)('$dir: $name', (c) => {
    const exp = exported(c);
    golden(c.dir, exp);
    // No Secret value, raw or base64, may leave an export (the diff redacted them; keep it so).
    const text = renderExport(exp) + exp.notes.join('\n');
    for (const secret of SECRET_PASSWORDS) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(Buffer.from(secret).toString('base64'));
    }
  });
});

describe('the exported patches do what they say', () => {
  const first = (name: string): unknown => prepared(story(name).writes[0]?.before ?? null);
  const last = (name: string): unknown => prepared(story(name).writes.at(-1)?.after ?? null);
  const apply = (doc: unknown, ops: JsonPatchOp[]): unknown => applyPatch(structuredClone(doc), ops as Operation[], true, true).newDocument;

  for (const name of ['update', 'scale', 'create', 'delete', 'secret']) {
    it(`${name}: the combined patch turns the object before the window into the one after, and the revert back`, () => {
      const ticket = ticketOf(story(name));
      expect(apply(first(name), combinedPatch(ticket))).toEqual(last(name));
      expect(apply(last(name), combinedRevert(ticket))).toEqual(first(name));
    });
  }

  it('update: the YAML fragment holds each changed leaf at its new value, and no other spec field', () => {
    const exp = exportTicket(ticketOf(story('update')), 'yaml');
    const fragment = parseYaml(exp.files[0]?.text ?? '') as Record<string, unknown>;
    const after = last('update');
    for (const path of [
      '/spec/replicas',
      '/spec/template/spec/containers/0/image',
      '/spec/template/spec/containers/0/resources/limits/memory',
      '/metadata/labels/hotfix',
    ]) {
      expect(getAt(fragment, path), path).toEqual(getAt(after, path));
    }
    expect(getAt(fragment, '/spec/selector')).toBeUndefined();
    expect(fragment).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' } });
  });

  it('update: the Kustomize patch file is the combined patch', () => {
    const exp = exportTicket(ticketOf(story('update')), 'kustomize');
    const [kustomization, patch] = exp.files;
    expect(parseYaml(kustomization?.text ?? '')).toEqual({
      patches: [{ target: { group: 'apps', version: 'v1', kind: 'Deployment', name: 'web', namespace: 'shop' }, path: 'web.patch.yaml' }],
    });
    expect(patch?.name).toBe('web.patch.yaml');
    expect(parseYaml(patch?.text ?? '')).toEqual(combinedPatch(ticketOf(story('update'))));
  });

  it('delete: the revert recreates the object as it was before the window, not as it was deleted', () => {
    const plan = revertPlan(ticketOf(story('delete')));
    expect(plan).toMatchObject({ kind: 'create', object: first('delete') });
  });

  it('create then delete: nothing is left to revert', () => {
    const created = ticketOf(story('create'));
    const deleted = ticketOf(story('delete'));
    const both = { ...created, changes: [...created.changes, ...deleted.changes.slice(1)] };
    expect(revertPlan(both)).toMatchObject({ kind: 'nothing' });
  });
});

describe('the revert script runs as written', () => {
  // A kubectl stand-in that prints its arguments and stdin as JSON, so the test sees exactly what
  // the shell handed over after quoting.
  const FAKE_KUBECTL = `#!/bin/sh\nnode -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify({argv:process.argv.slice(1),stdin:s})))' -- "$@"\n`;

  async function runScript(text: string, stdinNeeded: boolean): Promise<{ argv: string[]; stdin: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'driftgate-revert-'));
    try {
      await writeFile(join(dir, 'kubectl'), FAKE_KUBECTL);
      await chmod(join(dir, 'kubectl'), 0o755);
      await writeFile(join(dir, 'revert.sh'), text);
      const env = { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` };
      const child = run('/bin/sh', [join(dir, 'revert.sh')], { env });
      if (!stdinNeeded) child.child.stdin?.end();
      const { stdout } = await child;
      return JSON.parse(stdout) as { argv: string[]; stdin: string };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('hands kubectl patch the revert ops intact, the single quote included', async () => {
    const ticket = ticketOf(story('update'));
    const script = exportRevert(ticket).files.find((f) => f.name === 'revert.sh')?.text ?? '';
    const { argv } = await runScript(script, false);
    expect(argv.slice(0, 6)).toEqual(['patch', '-n', 'shop', 'deployments.apps/web', '--type=json', '-p']);
    expect(JSON.parse(argv[6] ?? '')).toEqual(combinedRevert(ticket));
    expect(argv[6]).toContain("it's ops");
  });

  it('hands kubectl create the object on stdin', async () => {
    const ticket = ticketOf(story('delete'));
    const script = exportRevert(ticket).files.find((f) => f.name === 'revert.sh')?.text ?? '';
    const { argv, stdin } = await runScript(script, true);
    expect(argv).toEqual(['create', '-n', 'shop', '-f', '-']);
    expect(JSON.parse(stdin)).toEqual(prepared(story('delete').writes[0]?.before ?? null));
  });
});

describe('Secrets', () => {
  it('refuses to revert a rotated Secret value, saying to restore it from the secret manager', () => {
    expect(() => exportRevert(ticketOf(story('secret')))).toThrow(
      expect.objectContaining({
        code: 'DG_TICKET_NOT_REVERTIBLE',
        message:
          'ticket bt-shop-db-creds-1 is on Secret shop/db-creds: its old values are not recorded (driftgate keeps only fingerprints, at /data/password), so it cannot be reverted from the ticket; restore the values from the secret manager, then record it: driftgate tickets resolve bt-shop-db-creds-1 --decision revert --ref <where> --by <you>',
      }),
    );
  });

  it('says plainly, in every format, that values must be re-entered', () => {
    for (const format of ['patch', 'kustomize', 'yaml'] as const) {
      const exp = exportTicket(ticketOf(story('secret')), format);
      expect(exp.notes.join('\n')).toContain('re-enter every such value from the secret manager');
      expect(exp.files.find((f) => f.name === 'COMMIT_MSG')?.text).toContain('re-enter each one from the secret manager');
    }
  });
});

describe('commit message', () => {
  it('has the subject, window, changes, reason and trailer', () => {
    const text = exportTicket(ticketOf(story('update')), 'patch').files.at(-1)?.text ?? '';
    const [subject, blank] = text.split('\n');
    expect(subject).toBe('backport INC-123: Deployment/web in shop: containers[0].image +5 more');
    expect(blank).toBe('');
    expect(text).toContain('Window:   until 2025-06-01T14:00:00Z\n');
    expect(text).toContain("Reason:   checkout latency: raise memory, it's OOMing\n");
    expect(text).toContain('- 2025-06-01T10:20:00Z by bob (UPDATE /scale):\n    /spec/replicas: 3 → 8\n');
    expect(text.endsWith('\nBackport-Ticket: bt-shop-web-1\n')).toBe(true);
  });

  it('keeps a newline in a reason from forging a trailer', () => {
    const ticket = ticketOf(story('scale'));
    const forged = { ...ticket, window: { ...ticket.window, reason: 'ok\nBackport-Ticket: bt-other' } };
    const text = exportTicket(forged, 'patch').files.at(-1)?.text ?? '';
    expect(text.split('\n').filter((l) => l.startsWith('Backport-Ticket:'))).toEqual(['Backport-Ticket: bt-shop-web-2']);
    expect(text).toContain('Reason:   ok\\u000aBackport-Ticket: bt-other');
  });

  it('keeps a newline in a reason out of YAML keys', () => {
    const ticket = ticketOf(story('scale'));
    const forged = { ...ticket, window: { ...ticket.window, incident: 'INC-1\nevil: true' } };
    const fragment = parseYaml(exportTicket(forged, 'yaml').files[0]?.text ?? '') as Record<string, unknown>;
    expect(Object.keys(fragment)).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
  });
});

describe('netChange', () => {
  it('drops a removal once the field is set again', () => {
    const ticket = ticketOf(story('scale'));
    const change = ticket.changes[0];
    if (change === undefined) throw new Error('no change');
    const t = {
      ...ticket,
      changes: [
        { ...change, patch: [{ op: 'remove' as const, path: '/metadata/labels/x' }], revert: [{ op: 'add' as const, path: '/metadata/labels/x', value: 'a' }] },
        { ...change, patch: [{ op: 'add' as const, path: '/metadata/labels/x', value: 'b' }], revert: [{ op: 'remove' as const, path: '/metadata/labels/x' }] },
      ],
    };
    expect(netChange(t)).toEqual({ kind: 'fields', set: { metadata: { labels: { x: 'b' } } }, removed: [] });
  });
});

describe('helpers', () => {
  const quoted = [
    { text: 'shop', want: 'shop' },
    { text: 'deployments.apps/web', want: 'deployments.apps/web' },
    { text: '[{"op":"replace"}]', want: `'[{"op":"replace"}]'` },
    { text: "it's", want: `'it'\\''s'` },
    { text: '$(rm -rf /)', want: `'$(rm -rf /)'` },
    { text: '', want: `''` },
  ];
  for (const { text, want } of quoted) it(`shellQuote(${JSON.stringify(text)})`, () => expect(shellQuote(text)).toBe(want));

  const names = [
    { pointer: '/spec/replicas', want: 'spec.replicas' },
    { pointer: '/spec/template/spec/containers/0/image', want: 'spec.template.spec.containers[0].image' },
    { pointer: '/metadata/annotations/example.com~1owner', want: 'metadata.annotations["example.com/owner"]' },
  ];
  for (const { pointer, want } of names) it(`fieldName(${pointer})`, () => expect(fieldName(pointer)).toBe(want));
});
