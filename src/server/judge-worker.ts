/**
 * The judging worker thread's entry (offload.ts starts it): answers each job posted to it, one at
 * a time. A job that throws anything but a bad review is a bug; the thread then reports it and
 * goes on with the next.
 */
import { parentPort } from 'node:worker_threads';
import { messageOf } from '../errors.js';
import { type JudgeJob, type JudgeResult, judgeReview } from './judge.js';

const port = parentPort;
if (port === null) throw new Error('judge-worker.ts runs as a worker thread (see offload.ts)');
port.on('message', (job: JudgeJob) => {
  let result: JudgeResult;
  try {
    result = judgeReview(job);
  } catch (err) {
    result = { id: job.id, ok: false, code: 'DG_INTERNAL', message: messageOf(err), details: [], uid: '' };
  }
  // As JSON text, not a structured clone: integers beyond 2^53 travel as JSON.rawJSON values,
  // which structured cloning refuses; JSON.stringify writes their exact digits and the main
  // thread reads them back with parseJsonExact.
  port.postMessage(JSON.stringify(result));
});
