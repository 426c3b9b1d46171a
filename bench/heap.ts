/**
 * `node .cache/bench/heap.js`: RSS and throughput of driftgate under the bench's loads for each
 * V8 heap setting in HEAP_FLAGS (`|`-separated NODE_OPTIONS values; the first is usually "", no
 * limits), one fresh process per setting and round: 10 KB deny then bypass reviews at 20
 * connections, then 1 MiB deny reviews at 20 connections. How the Deployment's NODE_OPTIONS
 * (charts/driftgate/templates/deployment.yaml) were chosen; prints one JSON line per run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, memoryOf, runLoad, startServer, stop } from './common.js';
import { writeReviewBodies } from './reviews.js';
import { driftgateArgs, generateCerts, loadSpec } from './webhook.js';

const sets = (process.env['HEAP_FLAGS'] ?? '|--max-semi-space-size=2 --max-old-space-size=192').split('|');
const rounds = Number(process.env['ROUNDS'] ?? 2);
const dir = mkdtempSync(join(tmpdir(), 'driftgate-heap-'));
try {
  const certs = generateCerts(join(dir, 'certs'));
  const bodies = writeReviewBodies(ROOT, dir);
  for (let round = 0; round < rounds; round++) {
    for (const [i, flags] of sets.entries()) {
      const env = { ...process.env, NODE_OPTIONS: flags };
      const s = await startServer(
        driftgateArgs(certs, `journal:${join(dir, `t-${round}-${i}.jsonl`)}`, ['--log-level', 'info']),
        join(dir, 'driftgate.log'),
        'driftgate serving',
        { env },
      );
      const rps10k: number[] = [];
      for (const path of ['deny', 'bypass'] as const) rps10k.push(Math.round((await runLoad(loadSpec(bodies, '10k', path, 20, s.port, 4, 1), s.pid)).rps));
      const after10k = memoryOf(s.pid);
      const big = await runLoad(loadSpec(bodies, '1m', 'deny', 20, s.port, 4, 1), s.pid);
      const after1m = memoryOf(s.pid);
      const alive = s.child.exitCode === null;
      process.stdout.write(
        `${JSON.stringify({ round, flags, rps10k, rssAfter10kMiB: Math.round(after10k.rssMiB), rps1m: Number(big.rps.toFixed(1)), failed1m: big.errors + big.non2xx, rssAfter1mMiB: Math.round(after1m.rssMiB), peakMiB: Math.round(after1m.peakMiB), alive })}\n`,
      );
      await stop(s.child);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
