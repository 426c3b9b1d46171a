/**
 * Issue 11, "values compared exactly", carried through to the tickets: a bypass whose patch holds
 * int64 values beyond 2^53 (decided exactly) is recorded, read back from the journal and printed
 * by `tickets show` (table, JSON, YAML) and `tickets export` (patch, YAML, revert) with every digit.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JournalStore } from '../../../src/tickets/journal.js';
import { parseJsonExact } from '../../../src/util/json.js';
import { runTickets } from './cli-harness.js';
import { draft } from './drafts.js';

const NOW = new Date('2025-06-08T12:00:00Z');
const BEFORE = '9007199254740992';
const AFTER = '9007199254740993';

let dir: string;
let spec: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'driftgate-exact-'));
  spec = `journal:${join(dir, 'tickets.jsonl')}`;
  const store = await JournalStore.open(join(dir, 'tickets.jsonl'));
  // As decide() makes it from a review read exactly.
  const ops = parseJsonExact(`[{"op":"replace","path":"/spec/sequence","value":${AFTER}}]`) as never;
  const revert = parseJsonExact(`[{"op":"replace","path":"/spec/sequence","value":${BEFORE}}]`) as never;
  const d = draft({ id: 'bt-shop-web-1' });
  d.change.patch = ops;
  d.change.revert = revert;
  await store.record(d);
  await store.close();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function out(args: string[]): Promise<string> {
  const got = await runTickets([...args, '--tickets', spec], { env: {}, now: NOW });
  expect({ code: got.code, err: got.err }).toEqual({ code: 0, err: '' });
  return got.out;
}

describe('tickets keep integers beyond 2^53 exact', () => {
  for (const args of [
    ['show', 'bt-shop-web-1'],
    ['show', 'bt-shop-web-1', '-o', 'json'],
    ['show', 'bt-shop-web-1', '-o', 'yaml'],
    ['export', 'bt-shop-web-1', '--format', 'patch'],
    ['export', 'bt-shop-web-1', '--format', 'yaml'],
    ['export', 'bt-shop-web-1', '--revert'],
  ]) {
    it(args.join(' '), async () => {
      const text = await out(args);
      const wanted = args.includes('--revert') ? BEFORE : AFTER;
      expect(text).toContain(wanted);
      expect(text).not.toContain('rawJSON');
    });
  }

  it('shows old → new with both exact values', async () => {
    expect(await out(['show', 'bt-shop-web-1'])).toContain(`/spec/sequence: ${BEFORE} → ${AFTER}`);
  });
});
