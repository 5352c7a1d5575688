import { Worker } from 'node:worker_threads';
import { CorruptedError, KvError } from '@flashkv/core';
import type { CompactionJob, CompactionResult, FlushJob, FlushResult } from './compaction.js';

/** The engine's handle on its worker thread (one flush and one compaction at a time). */
export class CompactionWorker {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly exited: Promise<void>;
  private readonly waiting = new Map<number, { resolve: (r: never) => void; reject: (e: unknown) => void }>();

  constructor() {
    this.worker = new Worker(new URL('./compaction-worker.js', import.meta.url));
    // Idle, it must not keep the process alive (an engine someone forgot to close); with a job
    // in flight it must, or a process awaiting only that job would exit under it.
    this.worker.unref();
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.on('message', (msg: { id: number; result?: unknown; error?: { message: string; code?: string; details?: Record<string, unknown> } }) => {
      const w = this.waiting.get(msg.id);
      if (w === undefined) return;
      this.waiting.delete(msg.id);
      if (this.waiting.size === 0) this.worker.unref();
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
      this.worker.ref();
      this.worker.postMessage({ id, job });
    });
  }

  /** Writes a packed memtable as an SST; the buffer is transferred (unusable afterwards). */
  flush(flush: FlushJob): Promise<FlushResult | null> {
    const id = this.nextId++;
    return new Promise<FlushResult | null>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ id, flush }, [flush.data.buffer as ArrayBuffer]);
    });
  }

  /**
   * Asks the worker to finish (it closes its port and its event loop runs dry) and waits for
   * it to exit. A graceful exit rather than `terminate()`: the engine only stops an idle worker,
   * and letting it wind down itself never interrupts a thread in the middle of anything.
   */
  async stop(): Promise<void> {
    for (const w of this.waiting.values()) w.reject(new KvError('ENGINE_CLOSED', 'compaction worker stopped'));
    this.waiting.clear();
    // Held until the exit event, which an unreferenced worker would let the process skip.
    this.worker.ref();
    this.worker.postMessage({ stop: true });
    await this.exited;
  }
}
