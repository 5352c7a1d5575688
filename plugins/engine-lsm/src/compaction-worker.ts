// A worker-thread entry point: it loads @flashkv/core, whose kernel needs the reflect polyfill
// (see core/src/placement/README.md: every entry point imports it first).
import 'reflect-metadata';
import { parentPort } from 'node:worker_threads';
import { runCompaction, runFlushJob, type CompactionJob, type FlushJob } from './compaction.js';
import { nodeFS } from './fs.js';

/**
 * Runs compaction and flush jobs off the main thread so merging and writing tables never
 * delays reads and writes. Messages: { id, job } or { id, flush } in; { id, result } or { id, error: { message, code } } out.
 */
parentPort!.on('message', (msg: { id: number; job?: CompactionJob; flush?: FlushJob; stop?: true }) => {
  if (msg.stop === true) {
    // Nothing is in flight (the engine stops an idle worker): closing the port lets the
    // thread's event loop empty, and the thread exits on its own.
    parentPort!.close();
    return;
  }
  const work: Promise<unknown> = msg.job !== undefined ? runCompaction(msg.job, nodeFS) : runFlushJob(msg.flush!, nodeFS);
  work.then(
    (result) => {
      // A flush's warm blocks go back without a copy.
      const warm = (result as { warm?: Uint8Array | null } | null)?.warm;
      parentPort!.postMessage({ id: msg.id, result }, warm ? [warm.buffer as ArrayBuffer] : []);
    },
    (e: unknown) => {
      const err = e as { message?: string; code?: string; details?: unknown };
      parentPort!.postMessage({ id: msg.id, error: { message: err?.message ?? String(e), code: err?.code, details: err?.details } });
    },
  );
});
