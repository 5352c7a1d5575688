import { Worker } from 'node:worker_threads';
import { CorruptedError, KvError } from '@flashkv/core';
import type { CompactionJob, CompactionResult, FlushJob } from './compaction.js';
import type { FileMeta } from './manifest.js';

/** The engine's handle on its worker thread (one flush and one compaction at a time). */
export class CompactionWorker {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: never) => void; reject: (e: unknown) => void }>();

  constructor() {
    this.worker = new Worker(new URL('./compaction-worker.js', import.meta.url));
    // The engine terminates it on close; an unclosed engine must not keep the process alive.
    this.worker.unref();
    this.worker.on('message', (msg: { id: number; result?: unknown; error?: { message: string; code?: string; details?: Record<string, unknown> } }) => {
      const w = this.waiting.get(msg.id);
      if (w === undefined) return;
      this.waiting.delete(msg.id);
      if (msg.error === undefined) w.resolve(msg.result as never);
      else if (msg.error.code === 'CORRUPTED') w.reject(new CorruptedError(msg.error.message, msg.error.details ?? {}));
      else w.reject(Object.assign(new Error(msg.error.message), { code: msg.error.code }));
    });
    this.worker.on('error', (e) => {
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    });
  }

  run(job: CompactionJob): Promise<CompactionResult> {
    const id = this.nextId++;
    return new Promise<CompactionResult>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, job });
    });
  }

  /** Writes a packed memtable as an SST; the buffer is transferred (unusable afterwards). */
  flush(flush: FlushJob): Promise<FileMeta | null> {
    const id = this.nextId++;
    return new Promise<FileMeta | null>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, flush }, [flush.data.buffer as ArrayBuffer]);
    });
  }

  async terminate(): Promise<void> {
    for (const w of this.waiting.values()) w.reject(new KvError('ENGINE_CLOSED', 'compaction worker stopped'));
    this.waiting.clear();
    await this.worker.terminate();
  }
}
