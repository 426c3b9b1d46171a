import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseSince } from '../../../src/cli/tickets.js';
import { JournalStore } from '../../../src/tickets/journal.js';
import { runTickets } from './cli-harness.js';
import type { Ticket } from '../../../src/tickets/types.js';
import { draft } from './drafts.js';

const NOW = new Date('2025-06-08T12:00:00Z');

let dir: string;
let path: string;
let spec: string;

async function run(args: string[], env: Record<string, string> = {}): Promise<{ out: string; err: string; code: number }> {
  return runTickets(args, { env: env, now: NOW });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'driftgate-cli-'));
  path = join(dir, 'tickets.jsonl');
  spec = `journal:${path}`;
  const store = await JournalStore.open(path);
  await store.record(draft({ id: 'bt-shop-web-1', uid: 'u1', at: '2025-06-01T10:00:00Z' }));
  await store.record(draft({ id: 'bt-shop-web-1', uid: 'u2', at: '2025-06-01T10:30:00Z' }));
  await store.record(draft({ id: 'bt-pay-api-2', uid: 'u3', namespace: 'payments', name: 'api', incident: 'INC-22', at: '2025-06-07T08:00:00Z' }));
  await store.close();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tickets list', () => {
  it('prints a table', async () => {
    const { out, err, code } = await run(['list', '--tickets', spec]);
    expect({ err, code }).toEqual({ err: '', code: 0 });
    expect(out.split('\n')[0]).toMatch(/^ID\s+STATE\s+NAMESPACE\s+OBJECT\s+INCIDENT\s+CHANGES\s+OPENED$/);
    expect(out).toContain('bt-shop-web-1');
    expect(out).toContain('bt-pay-api-2');
  });

  it('prints everything, request uids included, with -o json', async () => {
    const { out } = await run(['list', '--tickets', spec, '-o', 'json']);
    const tickets = JSON.parse(out) as Ticket[];
    expect(tickets.map((t) => [t.id, t.changes.map((c) => c.requestUid)])).toEqual([
      ['bt-shop-web-1', ['u1', 'u2']],
      ['bt-pay-api-2', ['u3']],
    ]);
    expect(tickets[0]?.changes[0]).toEqual(draft({ uid: 'u1' }).change);
  });

  it('prints the same as YAML with -o yaml', async () => {
    const json = JSON.parse((await run(['list', '--tickets', spec, '-o', 'json'])).out) as unknown;
    expect(parseYaml((await run(['list', '--tickets', spec, '-o', 'yaml'])).out)).toEqual(json);
  });

  const filters = [
    { name: '--state', args: ['--state', 'open'], want: ['bt-shop-web-1', 'bt-pay-api-2'] },
    { name: '--namespace', args: ['--namespace', 'payments'], want: ['bt-pay-api-2'] },
    { name: '-n, as kubectl writes it', args: ['-n', 'payments'], want: ['bt-pay-api-2'] },
    { name: '--incident', args: ['--incident', 'INC-1'], want: ['bt-shop-web-1'] },
    { name: '--since in days', args: ['--since', '3d'], want: ['bt-pay-api-2'] },
    { name: '--since in hours', args: ['--since', '48h'], want: ['bt-pay-api-2'] },
    { name: '--since as RFC 3339', args: ['--since', '2025-06-01T10:15:00Z'], want: ['bt-shop-web-1', 'bt-pay-api-2'] },
  ];
  for (const { name, args, want } of filters) {
    it(`filters by ${name}`, async () => {
      const { out } = await run(['list', '--tickets', spec, '-o', 'json', ...args]);
      expect((JSON.parse(out) as Ticket[]).map((t) => t.id)).toEqual(want);
    });
  }

  it('says so on stderr when nothing matches', async () => {
    expect(await run(['list', '--tickets', spec, '--namespace', 'nowhere'])).toEqual({ out: '', err: 'No tickets found.\n', code: 0 });
  });

  it('takes --tickets from DRIFTGATE_TICKETS', async () => {
    const { out, code } = await run(['list', '-o', 'json'], { DRIFTGATE_TICKETS: spec });
    expect(code).toBe(0);
    expect(JSON.parse(out)).toHaveLength(2);
  });
});

describe('tickets show', () => {
  it('prints the ticket and its changes', async () => {
    const { out, code } = await run(['show', 'bt-shop-web-1', '--tickets', spec]);
    expect(code).toBe(0);
    expect(out).toContain('Ticket:       bt-shop-web-1\n');
    expect(out).toContain('Changes:      2\n');
    expect(out).toContain('   /spec/replicas: 3 → 5\n');
    expect(out).toContain('request u2');
  });

  it('prints the ticket as JSON with -o json', async () => {
    const { out } = await run(['show', 'bt-pay-api-2', '--tickets', spec, '-o', 'json']);
    expect(JSON.parse(out)).toMatchObject({ id: 'bt-pay-api-2', state: 'open', window: { incident: 'INC-22' } });
  });
});

describe('tickets resolve', () => {
  const resolveArgs = ['resolve', 'bt-shop-web-1', '--decision', 'backport', '--ref', 'https://git.example/pr/9', '--by', 'bob'];

  it('appends the decision durably and prints the new state', async () => {
    expect(await run([...resolveArgs, '--tickets', spec])).toEqual({ out: 'ticket bt-shop-web-1 is now backported\n', err: '', code: 0 });
    const last = (await readFile(path, 'utf8')).trimEnd().split('\n').at(-1) ?? '';
    expect(JSON.parse(last)).toEqual({
      type: 'resolve',
      id: 'bt-shop-web-1',
      resolution: { decision: 'backport', ref: 'https://git.example/pr/9', by: 'bob', at: NOW.toISOString(), closedBy: 'person' },
    });
    const { out } = await run(['show', 'bt-shop-web-1', '--tickets', spec, '-o', 'json']);
    expect(JSON.parse(out)).toMatchObject({ state: 'backported', resolution: { by: 'bob' } });
  });

  it('refuses a second decision, naming the first', async () => {
    await run([...resolveArgs, '--tickets', spec]);
    const { out, err, code } = await run(['resolve', 'bt-shop-web-1', '--tickets', spec, '--decision', 'revert', '--ref', 'x', '--by', 'carol']);
    expect({ out, code }).toEqual({ out: '', code: 1 });
    expect(err).toBe(
      `driftgate: ticket bt-shop-web-1 was already resolved: backport by bob at ${NOW.toISOString()} (https://git.example/pr/9); a ticket is resolved once: to record another decision over it, add --override to tickets resolve\n`,
    );
  });
});

describe('tickets errors', () => {
  const cases = [
    {
      name: 'an unknown id',
      args: () => ['show', 'bt-nope', '--tickets', spec],
      err: () => `driftgate: no ticket "bt-nope" in ${spec}; list the ids with: driftgate tickets list --tickets ${spec}\n`,
    },
    { name: 'a bad -o', args: () => ['list', '--tickets', spec, '-o', 'xml'], err: () => 'driftgate: -o "xml": use table, json or yaml\n' },
    {
      name: 'a bad --state',
      args: () => ['list', '--tickets', spec, '--state', 'closed'],
      err: () => 'driftgate: --state "closed": use one of open, backported, reverted, accepted\n',
    },
    {
      name: 'a bad --since',
      args: () => ['list', '--tickets', spec, '--since', 'last week'],
      err: () => 'driftgate: --since "last week": use a duration such as 7d or 12h, or an RFC 3339 time such as 2025-01-02T15:04:05Z\n',
    },
    {
      name: 'a bad --decision',
      args: () => ['resolve', 'bt-shop-web-1', '--tickets', spec, '--decision', 'merge', '--ref', 'x', '--by', 'bob'],
      err: () => 'driftgate: --decision "merge": use one of backport, revert, accept\n',
    },
    {
      name: 'a missing --by',
      args: () => ['resolve', 'bt-shop-web-1', '--tickets', spec, '--decision', 'accept', '--ref', 'x'],
      err: () => 'driftgate: --by is required: give who decided\n',
    },
    {
      name: 'a bad --tickets',
      args: () => ['list', '--tickets', 'foo'],
      err: () => 'driftgate: --tickets "foo": use journal:/path/to/tickets.jsonl or kubernetes\n',
    },
    {
      name: 'no --tickets at all',
      args: () => ['list'],
      err: () => 'driftgate: --tickets is required: give journal:/path/to/tickets.jsonl or kubernetes, or set DRIFTGATE_TICKETS\n',
    },
    {
      name: 'a missing journal',
      args: () => ['list', '--tickets', `journal:${join(dir, 'typo.jsonl')}`],
      err: () => `driftgate: no journal at ${join(dir, 'typo.jsonl')}; is --tickets the path driftgate serve writes?\n`,
    },
    {
      name: 'an unreadable journal (a directory)',
      args: () => ['list', '--tickets', `journal:${dir}`],
      err: () => `driftgate: ${dir}: could not open the journal: it is not a regular file\n`,
    },
  ];
  for (const c of cases) {
    it(`reports ${c.name} in one line on stderr with exit code 1`, async () => {
      expect(await run(c.args())).toEqual({ out: '', err: c.err(), code: 1 });
    });
  }

  it('does not create a journal at a mistyped path', async () => {
    await run(['list', '--tickets', `journal:${join(dir, 'typo.jsonl')}`]);
    await expect(access(join(dir, 'typo.jsonl'))).rejects.toThrow();
  });
});

describe('parseSince', () => {
  const cases = [
    { text: '7d', want: '2025-06-01T12:00:00.000Z' },
    { text: '36h', want: '2025-06-07T00:00:00.000Z' },
    { text: '1d12h', want: '2025-06-07T00:00:00.000Z' },
    { text: '30m', want: '2025-06-08T11:30:00.000Z' },
    { text: '2025-06-01T00:00:00+02:00', want: '2025-05-31T22:00:00.000Z' },
  ];
  for (const { text, want } of cases) {
    it(`reads ${text}`, () => expect(parseSince(text, NOW).toISOString()).toBe(want));
  }
  for (const text of ['7', 'd', '7days', '-7d', '2025-06-01']) {
    it(`refuses ${JSON.stringify(text)}`, () => expect(() => parseSince(text, NOW)).toThrow(expect.objectContaining({ code: 'DG_USAGE' })));
  }
});
