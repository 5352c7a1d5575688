// A worker-thread entry point: it loads @flashkv/core, whose kernel needs the reflect polyfill
// (see core/src/placement/README.md: every entry point imports it first).
import 'reflect-metadata';
import { parentPort } from 'node:worker_threads';
import { runCompaction, type CompactionJob } from './compaction.js';
import { nodeFS } from './fs.js';

/**
 * Runs compaction jobs off the main thread so merging and writing tables never delays reads
 * and writes. Messages: { id, job } in; { id, result } or { id, error: { message, code } } out.
 */
parentPort!.on('message', (msg: { id: number; job: CompactionJob }) => {
  runCompaction(msg.job, nodeFS).then(
    (result) => parentPort!.postMessage({ id: msg.id, result }),
    (e: unknown) => {
      const err = e as { message?: string; code?: string; details?: unknown };
      parentPort!.postMessage({ id: msg.id, error: { message: err?.message ?? String(e), code: err?.code, details: err?.details } });
    },
  );
});
