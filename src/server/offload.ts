/**
 * Large reviews are judged off the event loop (issue 11, "No input can stall driftgate"). The
 * decision is linear in a review's size, but a review of a few MiB still takes tens or hundreds
 * of milliseconds to parse and diff, and on the event loop every other review, from every
 * guarded write in the cluster, would wait behind it. So a review longer than `aboveChars` is
 * parsed and decided on a worker thread, one at a time, while small ones (nearly all of them)
 * are answered on the main thread as before.
 *
 * The worker runs within its own heap limit and the request's deadline: a review that needs more
 * memory, or more time than the apiserver will wait, costs only that worker, which is replaced;
 * the review is refused (fail closed) with a message that says why.
 */
import { Worker } from 'node:worker_threads';
import type { ReviewLimits, ReviewShape } from '../admission/limits.js';
import type { AdmissionRequest, KubeObject } from '../admission/types.js';
import type { Decision } from '../decision/types.js';
import { DriftgateError, messageOf } from '../errors.js';
import type { PolicyInForce } from '../policy/set.js';
import type { Asked, Prejudged } from '../admission/admit.js';
import type { JudgeJob, JudgeResult } from './judge.js';
import { parseJsonExact } from '../util/json.js';

/**
 * OFFLOAD_ABOVE_CHARS: a 10-30 KB Deployment review stays on the event loop; a 1 MiB ConfigMap
 * goes to the worker. The worst review just below it (a 64 KiB list of ~16,000 one-digit items,
 * every one changed) takes tens of milliseconds to diff in place (bench part 5).
 */
export const OFFLOAD_ABOVE_CHARS = 64 * 1024;
/**
 * MAX_QUEUED_BYTES bounds the large reviews waiting for the worker: each is held in memory until
 * its turn, and the Deployment's pods have 256 MiB. Beyond it a large review is refused at once
 * (503, the apiserver's failure policy applies): fail closed rather than run out of memory.
 */
export const MAX_QUEUED_BYTES = 32 * 1024 * 1024;
/** WORKER_HEAP_MB bounds the worker's heap; the worst review within the default limits needs well under half. */
export const WORKER_HEAP_MB = 128;

/**
 * A large review judged in place after all, because its shape is cheap: at most INLINE_MAX_LEAVES
 * leaves (about what a 64 KiB review can hold, the worst judged in place, bench part 5) and
 * INLINE_MAX_BYTES (JSON.parse of 2 MiB takes a few milliseconds). A 1 MiB ConfigMap of a few
 * files stays on the event loop, which costs less CPU than a trip to the worker and back.
 */
export const INLINE_MAX_LEAVES = 16_000;
export const INLINE_MAX_BYTES = 2 * 1024 * 1024;

/** OffloadOptions configure the judging worker. */
export interface OffloadOptions {
  limits: ReviewLimits;
  aboveChars?: number;
  heapMb?: number;
  maxQueuedBytes?: number;
  /** Told when a worker had to be replaced (out of memory, out of time, crashed). */
  onReplaced?: (why: string) => void;
}

/** Judged is a large review judged by the worker: its envelope (objects left there) and its Prejudged. */
export type Judged = { ok: true; request: AdmissionRequest; prejudged: Prejudged } | { ok: false; error: DriftgateError; uid: string };

/** Offload judges large reviews on a worker thread. */
export interface Offload {
  /** Whether a review of this length (characters, or bytes as declared by Content-Length) may be judged on the worker (it is read as bytes then). */
  takes(length: number): boolean;
  /** Whether a review of this shape and size is cheap enough to judge on the event loop all the same. */
  inPlace(shape: ReviewShape, bytes: number): boolean;
  /**
   * Parses and decides `body` (text, or UTF-8 bytes: decoding 12 MiB is itself tens of
   * milliseconds better spent on the worker) under `policy` at `now`, or says why it is not a
   * review; rejects (DG_REVIEW_TIMEOUT) once `signal` aborts.
   */
  judge(body: string | Uint8Array, policy: PolicyInForce, now: Date, signal: AbortSignal): Promise<Judged>;
  close(): Promise<void>;
}

interface Pending {
  job: JudgeJob;
  /** Characters or bytes of the body, counted against MAX_QUEUED_BYTES while it waits. */
  size: number;
  signal: AbortSignal;
  resolve(result: JudgeResult): void;
  reject(err: unknown): void;
  onAbort(): void;
}

/** createOffload returns an Offload with one worker thread, started on the first large review. */
export function createOffload(opts: OffloadOptions): Offload {
  const aboveChars = opts.aboveChars ?? OFFLOAD_ABOVE_CHARS;
  const heapMb = opts.heapMb ?? WORKER_HEAP_MB;
  const maxQueuedBytes = opts.maxQueuedBytes ?? MAX_QUEUED_BYTES;
  const queue: Pending[] = [];
  let queuedBytes = 0;
  let current: Pending | undefined;
  let worker: Worker | undefined;
  let nextId = 1;
  let closed = false;

  function spawn(): Worker {
    const w = startWorker(heapMb);
    w.on('message', (text: string) => {
      const result = parseJsonExact(text) as JudgeResult;
      if (w !== worker || current === undefined || current.job.id !== result.id) return;
      finish(current).resolve(result);
    });
    w.on('error', (err) => replace(w, `the judging worker failed (${messageOf(err)})`));
    w.on('exit', (code) => replace(w, `the judging worker stopped (exit code ${code})`));
    return w;
  }

  // A worker that died, or is stuck past a deadline, is dropped and the review it held refused.
  function replace(w: Worker, why: string): void {
    if (w !== worker) return;
    worker = undefined;
    void w.terminate();
    if (closed) return;
    opts.onReplaced?.(why);
    if (current !== undefined) {
      finish(current).reject(new DriftgateError('DG_INTERNAL', `driftgate could not judge this review: ${why}; it is refused`));
    }
  }

  function finish(p: Pending): Pending {
    p.signal.removeEventListener('abort', p.onAbort);
    if (current === p) current = undefined;
    // After this settles, the next review in line goes to the worker.
    queueMicrotask(dispatch);
    return p;
  }

  function dispatch(): void {
    if (current !== undefined || closed) return;
    const next = queue.shift();
    if (next === undefined) {
      worker?.unref();
      return;
    }
    queuedBytes -= next.size;
    current = next;
    worker ??= spawn();
    worker.ref();
    // Bytes go as a fresh copy whose buffer is moved, not copied again: one memcpy on this
    // thread, made only now, and the caller keeps its own for a second decision with the parent.
    const { body } = next.job;
    if (typeof body === 'string') {
      worker.postMessage(next.job);
    } else {
      const copy = new Uint8Array(body);
      worker.postMessage({ ...next.job, body: copy }, [copy.buffer]);
    }
  }

  function judge(
    body: string | Uint8Array,
    policy: PolicyInForce,
    now: Date,
    signal: AbortSignal,
    parent?: KubeObject,
    namespace?: KubeObject,
  ): Promise<JudgeResult> {
    return new Promise<JudgeResult>((resolve, reject) => {
      const job: JudgeJob = {
        id: nextId++,
        body,
        limits: opts.limits,
        policy,
        now: now.getTime(),
        ...(parent === undefined ? {} : { parent }),
        ...(namespace === undefined ? {} : { namespace }),
      };
      const size = body.length;
      if (queue.length > 0 && queuedBytes + size > maxQueuedBytes) {
        reject(
          new DriftgateError(
            'DG_REVIEW_BUSY',
            `driftgate is already holding ${queue.length} large review${queue.length === 1 ? '' : 's'} (${Math.round(queuedBytes / 1048576)} MiB) for judging; this ${Math.round(size / 1024)} KiB one is refused to keep memory bounded. Retry.`,
          ),
        );
        return;
      }
      const pending: Pending = {
        job,
        size,
        signal,
        resolve,
        reject,
        onAbort: () => {
          const timeout = new DriftgateError(
            'DG_REVIEW_TIMEOUT',
            `driftgate could not judge this ${Math.round(body.length / 1024)} KiB review before the apiserver's deadline; it is refused`,
          );
          if (current === pending) {
            // Stuck on this very review: only replacing the worker gets the others going again.
            const stuck = worker;
            finish(pending).reject(timeout);
            if (stuck !== undefined) replace(stuck, 'a review took longer than its deadline');
          } else {
            const at = queue.indexOf(pending);
            if (at >= 0) {
              queue.splice(at, 1);
              queuedBytes -= pending.size;
            }
            finish(pending).reject(timeout);
          }
        },
      };
      if (signal.aborted) {
        pending.onAbort();
        return;
      }
      signal.addEventListener('abort', pending.onAbort, { once: true });
      queue.push(pending);
      queuedBytes += size;
      dispatch();
    });
  }

  return {
    takes: (length) => length > aboveChars,
    inPlace: (shape, bytes) => shape.leaves <= INLINE_MAX_LEAVES && bytes <= INLINE_MAX_BYTES,
    async judge(body, policy, now, signal) {
      const result = await judge(body, policy, now, signal);
      if (!result.ok) return { ok: false, error: new DriftgateError(result.code, result.message, { details: result.details }), uid: result.uid };
      // Judging again with the object found, on the worker, under the same policy, time and deadline.
      const again = async (parent?: KubeObject, namespace?: KubeObject): Promise<Decision> => {
        const result = await judge(body, policy, now, signal, parent, namespace);
        if (!result.ok) throw new DriftgateError(result.code, result.message, { details: result.details });
        if (result.decision.kind === 'needs-object') return result.decision.refusal;
        return result.decision;
      };
      const decided = result.decision;
      if (decided.kind !== 'needs-object') return { ok: true, request: result.request, prejudged: { first: decided } };
      // The NeedsObject's finish did not survive the trip (a function is not JSON): it is judging
      // again with `found` as the parent or the Namespace; without it, the refusal stands.
      const first: Asked = {
        ...decided,
        finish: (found) => (found === undefined ? decided.refusal : decided.what === 'parent' ? again(found) : again(undefined, found)),
      };
      return { ok: true, request: result.request, prejudged: { first } };
    },
    async close() {
      closed = true;
      const refused = new DriftgateError('DG_INTERNAL', 'driftgate is shutting down; this review was not judged');
      for (const p of queue.splice(0)) finish(p).reject(refused);
      queuedBytes = 0;
      if (current !== undefined) finish(current).reject(refused);
      const w = worker;
      worker = undefined;
      await w?.terminate();
    },
  };
}

/**
 * startWorker starts judge-worker beside this file: the compiled .js in dist/, or, when driftgate
 * runs from source (vitest runs src/ as TypeScript), the .ts itself. Node strips the types, but
 * our imports name the .js files tsc writes, so a small resolve hook maps those back to .ts.
 */
function startWorker(heapMb: number): Worker {
  const options = { resourceLimits: { maxOldGenerationSizeMb: heapMb } };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./judge-worker.js', import.meta.url), options);
  const entry = new URL('./judge-worker.ts', import.meta.url).href;
  const boot = `
import { registerHooks } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
registerHooks({
  resolve(specifier, context, next) {
    if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
      const ts = new URL(specifier.slice(0, -3) + '.ts', context.parentURL);
      if (existsSync(fileURLToPath(ts))) return next(ts.href, context);
    }
    return next(specifier, context);
  },
});
await import(${JSON.stringify(entry)});
`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), options);
}
