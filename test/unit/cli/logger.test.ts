/** The logger's second line of defence: token-shaped fields never reach a line, even if logged whole. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/server/logger.js';

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { lines, stream };
}

describe('createLogger', () => {
  it('censors tokens, authorization headers, userInfo.extra and Secret data when logged whole', () => {
    const { lines, stream } = capture();
    const logger = createLogger({ destination: stream });
    logger.info(
      {
        token: 'tok-1',
        authorization: 'Bearer tok-2',
        headers: { authorization: 'Bearer tok-3' },
        request: { userInfo: { username: 'u', extra: { t: ['tok-4'] } } },
        object: { data: { p: 'c2VjcmV0' } },
      },
      'x',
    );
    const text = lines.join('');
    for (const secret of ['tok-1', 'tok-2', 'tok-3', 'tok-4', 'c2VjcmV0']) expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
  });
});

describe('createLogger and control characters (issue 11)', () => {
  const HOSTILE = 'mallory\u001b[2J\u001b]0;pwned\u0007\u009b31m\u202eevil\u007f';

  it('writes no control character raw, in any field, an error or the message, and keeps the text readable back', () => {
    const { lines, stream } = capture();
    const logger = createLogger({ destination: stream });
    logger.info({ user: HOSTILE, changedPaths: [`/spec/${HOSTILE}`], nested: { [HOSTILE]: 1 } }, 'decision');
    logger.error({ err: new Error(`store said ${HOSTILE}`) }, `failed for ${HOSTILE}`);
    const text = lines.join('');
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    const first = JSON.parse(lines[0] ?? '{}') as { user: string };
    expect(first.user).toBe(HOSTILE);
  });

  it('leaves plain text as it is', () => {
    const { lines, stream } = capture();
    createLogger({ destination: stream }).info({ user: 'alice@example.com', reason: 'Zahlungsdienst überlastet 🔥' }, 'decision');
    expect(lines.join('')).toContain('"reason":"Zahlungsdienst überlastet 🔥"');
  });
});
