/**
 * Issue 11, "text a user controls never reaches a terminal raw": a ticket whose reason, username,
 * object name, changed key and values carry ANSI escapes, C1 controls and bidi overrides is
 * printed by every `tickets` output (list, show, report in each format, export in each format,
 * the revert command) without one of them raw; JSON and YAML outputs still read back to the very
 * same values (the escapes are lossless there), and plain text stays as it is.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { JournalStore } from '../../../src/tickets/journal.js';
import { runTickets } from './cli-harness.js';
import { draft } from './drafts.js';

const NOW = new Date('2025-06-08T12:00:00Z');
const EVIL = '\u001b[2J\u001b]0;pwned\u0007\u009b31m\u202eevil\u2066\u007f';
// eslint-disable-next-line no-control-regex
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

let dir: string;
let spec: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'driftgate-ctl-'));
  spec = `journal:${join(dir, 'tickets.jsonl')}`;
  const store = await JournalStore.open(join(dir, 'tickets.jsonl'));
  const d = draft({ id: 'bt-shop-web-1', username: `mallory${EVIL}`, name: `web${EVIL}`, incident: `INC-1${EVIL}` });
  d.window.reason = `because ${EVIL}`;
  d.change.patch = [
    { op: 'replace', path: '/spec/replicas', value: 5 },
    { op: 'add', path: `/metadata/labels/hot${EVIL}`, value: `yes${EVIL}` },
  ];
  d.change.revert = [
    { op: 'replace', path: '/spec/replicas', value: 3 },
    { op: 'remove', path: `/metadata/labels/hot${EVIL}` },
  ];
  await store.record(d);
  await store.close();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function out(args: string[]): Promise<string> {
  const got = await runTickets([...args, '--tickets', spec], { env: {}, now: NOW });
  expect(got.err).not.toMatch(RAW);
  expect(got.code).toBe(0);
  return got.out;
}

describe('tickets outputs escape control and bidi characters', () => {
  const cases: Array<[string, string[]]> = [
    ['list', ['list']],
    ['list -o json', ['list', '-o', 'json']],
    ['list -o yaml', ['list', '-o', 'yaml']],
    ['show', ['show', 'bt-shop-web-1']],
    ['show -o json', ['show', 'bt-shop-web-1', '-o', 'json']],
    ['show -o yaml', ['show', 'bt-shop-web-1', '-o', 'yaml']],
    ['report', ['report', '--since', '30d']],
    ['report -o json', ['report', '--since', '30d', '-o', 'json']],
    ['report -o html', ['report', '--since', '30d', '-o', 'html']],
    ['export patch', ['export', 'bt-shop-web-1', '--format', 'patch']],
    ['export yaml', ['export', 'bt-shop-web-1', '--format', 'yaml']],
    ['export kustomize', ['export', 'bt-shop-web-1', '--format', 'kustomize']],
    ['export --revert', ['export', 'bt-shop-web-1', '--revert']],
  ];
  for (const [name, args] of cases) {
    it(`${name}: nothing raw`, async () => {
      const text = await out(args);
      expect(text.length).toBeGreaterThan(0);
      expect(text).not.toMatch(RAW);
    });
  }

  it('keeps JSON and YAML lossless: they read back to the recorded values', async () => {
    const json = JSON.parse(await out(['show', 'bt-shop-web-1', '-o', 'json'])) as { window: { reason: string }; changes: Array<{ username: string }> };
    expect(json.window.reason).toBe(`because ${EVIL}`);
    expect(json.changes[0]?.username).toBe(`mallory${EVIL}`);
    expect(parseYaml(await out(['show', 'bt-shop-web-1', '-o', 'yaml']))).toEqual(json);
  });

  it('shows the escapes, so a reviewer sees what was there', async () => {
    const text = await out(['show', 'bt-shop-web-1']);
    expect(text).toContain('because \\u001b[2J\\u001b]0;pwned\\u0007\\u009b31m\\u202eevil\\u2066\\u007f');
  });
});
