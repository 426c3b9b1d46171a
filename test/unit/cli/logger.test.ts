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
    logger.info({ token: 'tok-1', authorization: 'Bearer tok-2', headers: { authorization: 'Bearer tok-3' }, request: { userInfo: { username: 'u', extra: { t: ['tok-4'] } } }, object: { data: { p: 'c2VjcmV0' } } }, 'x');
    const text = lines.join('');
    for (const secret of ['tok-1', 'tok-2', 'tok-3', 'tok-4', 'c2VjcmV0']) expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
  });
});
