import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { certsCommand } from '../../../src/cli/certs.js';

const now = new Date('2026-03-01T12:00:00Z');
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'driftgate-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** run returns what `driftgate certs …args` printed, and the error it ended with, if any. */
async function run(...args: string[]): Promise<{ out: string; err: string; thrown?: unknown }> {
  let out = '';
  let err = '';
  const io = { out: { write: (s: string) => (out += s) }, err: { write: (s: string) => (err += s) } };
  const cmd = certsCommand(io, () => now).exitOverride();
  try {
    await cmd.parseAsync(args, { from: 'user' });
    return { out, err };
  } catch (thrown) {
    return { out, err, thrown };
  }
}

describe('driftgate certs generate', () => {
  it('prints the same facts as data with -o json', async () => {
    const { out, thrown } = await run('generate', '--out', dir, '--hosts', 'driftgate.driftgate-system.svc', '--days', '90', '-o', 'json');
    expect(thrown).toBeUndefined();
    expect(JSON.parse(out)).toEqual({
      ca: { reused: false, cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') },
      serving: { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), hosts: ['driftgate.driftgate-system.svc'], notAfter: '2026-05-30T12:00:00.000Z' },
      caBundle: readFileSync(join(dir, 'ca.crt')).toString('base64'),
    });
  });

  it('writes the files and prints what it did, with the caBundle line', async () => {
    const { out, err, thrown } = await run('generate', '--out', dir, '--hosts', ' driftgate.driftgate-system.svc , 127.0.0.1', '--days', '90');
    expect(thrown).toBeUndefined();
    expect(err).toBe('');
    const bundle = readFileSync(join(dir, 'ca.crt')).toString('base64');
    expect(out).toBe(
      [
        `CA: new, wrote ${join(dir, 'ca.crt')} and ${join(dir, 'ca.key')} (register the caBundle below)`,
        `serving certificate: wrote ${join(dir, 'tls.crt')} and ${join(dir, 'tls.key')} for driftgate.driftgate-system.svc, 127.0.0.1`,
        'expires: 2026-05-30T12:00:00.000Z',
        `caBundle: ${bundle}`,
        '',
      ].join('\n'),
    );
  });

  it('says when it reused the CA', async () => {
    await run('generate', '--out', dir, '--hosts', 'a.svc');
    const { out } = await run('generate', '--out', dir, '--hosts', 'a.svc');
    expect(out.split('\n')[0]).toBe(`CA: reused ${join(dir, 'ca.crt')} (the caBundle already registered stays valid)`);
    expect(out).toContain('expires: 2027-03-01T12:00:00.000Z');
  });

  it.each([
    [['--days', 'ten'], "error: option '--days <n>' argument 'ten' is invalid. write a whole number of days from 1 to 3650\n"],
    [['--days', '0'], "error: option '--days <n>' argument '0' is invalid. write a whole number of days from 1 to 3650\n"],
    [
      ['--hosts', 'a.svc,,b.svc'],
      "error: option '--hosts <list>' argument 'a.svc,,b.svc' is invalid. list DNS names or IPs separated by commas, none empty, e.g. driftgate.driftgate-system.svc,127.0.0.1\n",
    ],
  ])('refuses %j with one line on stderr', async (extra, message) => {
    const args = ['generate', '--out', dir, ...(extra.includes('--hosts') ? [] : ['--hosts', 'a.svc']), ...extra];
    const { out, err, thrown } = await run(...args);
    expect(out).toBe('');
    expect(err).toBe(message);
    expect(thrown).toBeInstanceOf(CommanderError);
    expect((thrown as CommanderError).exitCode).toBe(1);
  });

  it('requires --hosts', async () => {
    const { err, thrown } = await run('generate', '--out', dir);
    expect(err).toBe("error: required option '--hosts <list>' not specified\n");
    expect((thrown as CommanderError).exitCode).toBe(1);
  });

  it('throws a DriftgateError for main to report when the certificate cannot be made', async () => {
    const { thrown } = await run('generate', '--out', dir, '--hosts', 'not a host');
    expect(thrown).toMatchObject({ code: 'DG_CERT_REQUEST', message: 'hosts[0]: "not a host" is neither an IP address nor a DNS name' });
  });
});

describe('driftgate certs client', () => {
  it('prints the same facts as data with -o json (one output convention), and a table by default', async () => {
    const { out, thrown } = await run('client', '--out', dir, '--name', 'kube-apiserver-admission', '--days', '90', '-o', 'json');
    expect(thrown).toBeUndefined();
    const data = JSON.parse(out) as { client: { notAfter: string } };
    expect(data).toEqual({
      ca: { reused: false, cert: join(dir, 'ca.crt') },
      client: { cert: join(dir, 'client.crt'), key: join(dir, 'client.key'), name: 'kube-apiserver-admission', notAfter: data.client.notAfter },
      kubeconfig: { path: join(dir, 'webhook-clients.kubeconfig'), user: 'driftgate.driftgate-system.svc' },
    });
    expect(new Date(data.client.notAfter).getTime()).toBeGreaterThan(now.getTime());
    const table = await run('client', '--out', dir, '--name', 'kube-apiserver-admission');
    expect(table.out).toMatch(
      /^CA: reused .*\nclient certificate: wrote .*client\.crt.*\n.*\ndriftgate serve: --client-ca .*ca\.crt --client-name kube-apiserver-admission\n$/,
    );
  });

  it('refuses an output format it does not print', async () => {
    const { thrown } = await run('client', '--out', dir, '-o', 'xml');
    expect(thrown).toBeInstanceOf(CommanderError);
  });
});
