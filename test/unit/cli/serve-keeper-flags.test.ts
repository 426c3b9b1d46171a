/**
 * `serve --manage-webhooks` / `--self-managed-certs` flags are checked before anything listens or
 * connects (issue 14), each refusal naming the flag and what to write.
 */
import { describe, expect, it } from 'vitest';
import { serveCommand } from '../../../src/cli/serve.js';

async function refusal(args: string[]): Promise<string> {
  const io = { out: { write: () => true }, err: { write: () => true } };
  try {
    await serveCommand(io)
      .exitOverride()
      .parseAsync(['--policy', 'examples/policy.yaml', '--tickets', 'journal:/nonexistent/t.jsonl', ...args], { from: 'user' });
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('serve accepted the flags');
}

describe('serve: keeper flags', () => {
  it.each([
    [['--self-managed-certs', 'no-slash'], '--self-managed-certs "no-slash" is not NAMESPACE/NAME'],
    [['--self-managed-certs', 'driftgate-system/x', '--tls-cert', 'a', '--tls-key', 'b'], 'drop --tls-cert and --tls-key'],
    [['--self-managed-certs', 'driftgate-system/x'], '--cert-hosts a,b, or --manage-webhooks'],
    [['--manage-webhooks', 'http://127.0.0.1:8443', '--tls-cert', 'a', '--tls-key', 'b'], 'only calls webhooks over https'],
    [['--manage-webhooks', 'driftgate-system/driftgate', '--tls-cert', 'a', '--tls-key', 'b'], 'exactly one source for the caBundle'],
    [['--webhook-ca-inject-from', 'a/b', '--tls-cert', 'a', '--tls-key', 'b'], '--webhook-ca-inject-from needs --manage-webhooks'],
    [['--self-managed-certs', 'driftgate-system/x', '--cert-hosts', 'h', '--lease-duration', '1s'], '--lease-duration 1s: at least 3s'],
    [
      ['--self-managed-certs', 'driftgate-system/x', '--cert-hosts', 'h', '--cert-validity', '90d', '--ca-validity', '100d'],
      'at most a third of the CA validity',
    ],
    [['--self-managed-certs', 'driftgate-system/x', '--cert-hosts', 'h', '--ca-overlap', 'soon'], '--ca-overlap "soon" is not a duration'],
    [
      ['--manage-webhooks', 'driftgate-system/driftgate', '--self-managed-certs', 'driftgate-system/x', '--webhook-failure-policy', 'Maybe'],
      '--webhook-failure-policy "Maybe" is neither Fail nor Ignore',
    ],
  ])('refuses %j', async (args, want) => {
    expect(await refusal(args)).toContain(want);
  });
});
