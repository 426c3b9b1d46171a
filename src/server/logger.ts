/**
 * The decision log: pino JSON on stdout, one line per decision. Secret values never reach it
 * (the diff redacts them before anything is decided), and the redact list below drops anything
 * token-shaped that a future field might carry, as a second line of defence. No control character
 * a user wrote reaches a terminal tailing it raw (streamWrite below).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { jsonSafe } from '../util/terminal.js';

export type { Logger };

/**
 * Paths pino censors in a log line. Exact paths only: a wildcard makes pino walk every line's
 * fields, which the profile showed as two thirds of the decision line's cost, while the decision
 * line is built field by field (src/server/app.ts) and never carries an object, a token or
 * `userInfo.extra`. These catch the places such things could come from if logged whole.
 */
export const REDACT_PATHS = [
  'token',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'userInfo.extra',
  'request.userInfo.extra',
  'object.data',
  'object.stringData',
  'oldObject.data',
  'oldObject.stringData',
];

/** createLogger returns the JSON logger, writing to `destination` (stdout when absent). */
export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { service: 'driftgate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // A log line carries names, usernames and paths a user chose. JSON escapes C0 controls;
      // this escapes the rest a terminal acts on (DEL, C1, bidi controls), losslessly, on the whole
      // line: every field, including errors and messages, whoever added it.
      hooks: { streamWrite: jsonSafe },
    },
    opts.destination,
  );
}
