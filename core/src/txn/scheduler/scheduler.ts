/**
 * The transaction scheduler, after TiKV's `src/storage/txn/scheduler.rs`: it owns the latches
 * and therefore all write concurrency (STYLE.md habit 4). A command arrives, is refused with
 * SERVER_BUSY if too many are already pending (TiKV's `SchedTooBusy`, checked before anything
 * is queued), otherwise waits for the latches of its keys, gets its context (TiKV takes the
 * snapshot here, after the latches, so it sees every earlier conflicting command's writes),
 * runs, and releases its latches however it ends. Commands with a common key run one at a time
 * in arrival order; others run concurrently.
 *
 * No timers and no clock: waiting is promise chaining only (STYLE.md habit 1).
 */
import { KvError } from '../../errors.js';
import { DEFAULT_LATCH_SLOTS, Latches, latchLockFor, type LatchLock } from '../latches.js';
import type { Command, CommandContext } from './command.js';

export const DEFAULT_MAX_PENDING = 4096;

/** Identifies one run of a command to the context factory. */
export interface CommandRun {
  readonly cid: number;
  readonly name: string;
}

interface BaseSchedulerOptions<C> {
  /** Commands accepted and not yet finished (waiting or running) before SERVER_BUSY. Default 4096. */
  readonly maxPending?: number;
  /** Latch slots, rounded up to a power of two. Default 2048. */
  readonly latchSlots?: number;
  /** Called after the command's latches are held and after its promise settled, e.g. to release a snapshot. */
  readonly disposeContext?: (ctx: C) => void;
}

/**
 * `context` builds what `process` receives, once the latches are held. It may be omitted only
 * when the commands need nothing beyond `CommandContext`.
 */
export type SchedulerOptions<C> = BaseSchedulerOptions<C> &
  (CommandContext extends C
    ? { readonly context?: (run: CommandRun) => C | Promise<C> }
    : { readonly context: (run: CommandRun) => C | Promise<C> });

interface Task<C> {
  readonly cid: number;
  readonly cmd: Command<unknown, C>;
  readonly lock: LatchLock;
  started: boolean;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

export class Scheduler<C = CommandContext> {
  private readonly latches: Latches;
  private readonly maxPending: number;
  private readonly makeContext: (run: CommandRun) => C | Promise<C>;
  private readonly disposeContext: ((ctx: C) => void) | undefined;
  private readonly waiting = new Map<number, Task<C>>();
  private nextCid = 1;
  private pendingCount = 0;
  private runningCount = 0;

  constructor(options: SchedulerOptions<C> = {} as SchedulerOptions<C>) {
    const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    if (!Number.isSafeInteger(maxPending) || maxPending < 1) throw new TypeError(`maxPending must be a positive integer, got ${maxPending}`);
    this.maxPending = maxPending;
    this.latches = new Latches(options.latchSlots ?? DEFAULT_LATCH_SLOTS);
    this.makeContext = options.context ?? ((run: CommandRun) => ({ cid: run.cid }) as unknown as C);
    this.disposeContext = options.disposeContext;
  }

  /** Commands accepted and not finished: waiting for latches or running. */
  get pending(): number {
    return this.pendingCount;
  }

  /** Commands holding their latches (building their context or in `process`). */
  get running(): number {
    return this.runningCount;
  }

  /**
   * Runs `cmd` under its latches. Rejects with SERVER_BUSY, without running or queueing
   * anything, when `maxPending` commands are already pending; with a TypeError if the command
   * or its latch keys are malformed; otherwise settles as `process` does.
   */
  run<R>(cmd: Command<R, C>): Promise<R> {
    if (cmd === null || typeof cmd !== 'object' || typeof cmd.latchKeys !== 'function' || typeof cmd.process !== 'function') {
      return Promise.reject(new TypeError('Scheduler.run needs a command { name, latchKeys(), process(ctx) }'));
    }
    if (this.pendingCount >= this.maxPending) {
      return Promise.reject(
        new KvError('SERVER_BUSY', `scheduler is busy: ${this.pendingCount} commands pending (limit ${this.maxPending}); ${cmd.name} was not run`, {
          command: cmd.name,
          pending: this.pendingCount,
          maxPending: this.maxPending,
        }),
      );
    }
    let lock: LatchLock;
    try {
      lock = latchLockFor(cmd.latchKeys());
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<R>((resolve, reject) => {
      const task: Task<C> = {
        cid: this.nextCid++,
        cmd: cmd as Command<unknown, C>,
        lock,
        started: false,
        resolve: resolve as (v: unknown) => void,
        reject,
      };
      this.pendingCount++;
      if (this.latches.acquire(lock, task.cid)) this.start(task);
      else this.waiting.set(task.cid, task);
    });
  }

  private start(task: Task<C>): void {
    task.started = true;
    this.waiting.delete(task.cid);
    this.runningCount++;
    void this.execute(task);
  }

  private async execute(task: Task<C>): Promise<void> {
    let ok = false;
    let value: unknown;
    let error: unknown;
    let ctx: C | undefined;
    let haveCtx = false;
    try {
      ctx = await this.makeContext({ cid: task.cid, name: task.cmd.name });
      haveCtx = true;
      value = await task.cmd.process(ctx);
      ok = true;
    } catch (e) {
      error = e;
    }
    if (haveCtx && this.disposeContext !== undefined) {
      try {
        this.disposeContext(ctx as C);
      } catch (e) {
        // The command's own outcome wins; a dispose failure is reported only when it succeeded.
        if (ok) {
          ok = false;
          error = e;
        }
      }
    }
    this.runningCount--;
    this.pendingCount--;
    // Release before settling, so a caller that awaits and then submits finds the keys free
    // and the next waiter already started.
    for (const cid of this.latches.release(task.lock, task.cid)) {
      const next = this.waiting.get(cid);
      if (next !== undefined && !next.started && this.latches.acquire(next.lock, cid)) this.start(next);
    }
    if (ok) task.resolve(value);
    else task.reject(error);
  }
}
