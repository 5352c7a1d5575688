/**
 * The flashback orchestrator, the FLASHBACK service (FLASHBACK.md section b, DESIGN.md section 6):
 * TiDB's job state machine without the SQL/DDL checks. A job is a durable record in placement:
 *
 *   check   -> refuse a future version (FUTURE_TS) or one below the GC safe point (GC_TOO_EARLY,
 *              equal allowed); wait, bounded, for min resolved ts to reach the version; pause GC
 *              and scheduling; get start_ts S and persist it              -> prepare
 *   prepare -> split regions at the range bounds; Prepare every region (bounded concurrency,
 *              seeded backoff, relocation on region errors); get commit_ts C and persist it -> finish
 *   finish  -> Finish every region (FLASHBACK_NOT_PREPARED counts as done); restore GC and
 *              scheduling                                                 -> done
 *
 * A failed check cancels the job (state 'cancelled', pauses released). A failure after S was
 * persisted leaves the job in its state with GC and scheduling still paused (regions may be in
 * flashback and need the old versions); `resume(jobId)` continues it with the same S and C.
 */
import { ReplaySubject } from 'rxjs';
import {
  codec,
  compareBytes,
  FLASHBACK_COMMAND,
  isKvError,
  KvError,
  PREPARE_FLASHBACK_COMMAND,
  timeOfTs,
  tsFromTime,
  type Clock,
  type Consensus,
  type EventCatalogue,
  type Flashback,
  type FlashbackLockPolicy,
  type FlashbackPreview,
  type FlashbackPreviewOptions,
  type FlashbackProgress,
  type FlashbackRun,
  type FlashbackRunOptions,
  type FlashbackTarget,
  type JobRecord,
  type Placement,
  type Region,
  type ResolvedTsSource,
  type Storage,
} from '@flashkv/core';
import type { FlashbackBatchEvent, FlashbackResult, PrepareFlashbackResult } from './commands.js';
import { PREVIEW_COMMAND, type PreviewCounts } from './preview.js';
import { parseFlashbackTime } from './time.js';

const U64_MAX = 0xffff_ffff_ffff_ffffn;

export type FlashbackJobState = 'check' | 'prepare' | 'finish' | 'done' | 'cancelled';

/** Points in a job where `onStep` is called; a throwing `onStep` stops the job there (tests use it as a crash). */
export type FlashbackStep = 'checked' | 'startTsPersisted' | 'split' | 'prepared' | 'commitTsPersisted' | 'finished';

export interface BackoffOptions {
  /** First delay. Default 10 ms. */
  readonly baseMs?: number;
  /** Cap of one delay. Default 2000 ms. */
  readonly maxMs?: number;
  /** Total delay one region may spend backing off before the job fails. Default 1,800,000 ms (TiDB's). */
  readonly budgetMs?: number;
}

export interface FlashbackServiceOptions {
  readonly storage: Storage;
  readonly placement: Placement;
  readonly consensus: Consensus;
  readonly clock: Clock;
  readonly events?: EventCatalogue;
  /** Min resolved ts of a range; without one it is computed from the locks in range. */
  readonly resolvedTs?: ResolvedTsSource;
  /** Regions prepared or finished at once. Default 16. */
  readonly concurrency?: number;
  /** How long to wait for min resolved ts to reach the version. Default 60,000 ms (TiDB's minute). */
  readonly resolvedTsWaitMs?: number;
  /** Poll interval of that wait. Default 1000 ms. */
  readonly resolvedTsPollMs?: number;
  readonly backoff?: BackoffOptions;
  /** Seed of the backoff jitter (xorshift32). Default 1. */
  readonly seed?: number;
  /** Waits `ms`; tests pass one that moves a ManualClock. Default: a timer. */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Makes this node lead `region` before the job splits, prepares or finishes it (a node of a
   * cluster of processes drives only the regions its store leads): resolves once it does, throws
   * (NOT_LEADER naming the leader) when it could not. A preview calls it before it reads a region.
   * Without it the job drives regions as routed.
   */
  readonly leadRegion?: (region: Region) => Promise<void>;
  /**
   * Time one region may spend on NOT_LEADER (failed attempts, leadRegion's waits included, and
   * their backoff) before the job fails with NOT_LEADER naming the region and its leader (the job
   * stays resumable). Default 15,000 ms.
   */
  readonly notLeaderBudgetMs?: number;
  /** Called at each step of every job, after the step's record is persisted. */
  readonly onStep?: (step: FlashbackStep, jobId: string) => void | Promise<void>;
}

interface Job {
  id: string;
  state: FlashbackJobState;
  version: bigint;
  startKey: Uint8Array;
  endKey: Uint8Array;
  lockPolicy: FlashbackLockPolicy;
  startTs: bigint;
  commitTs: bigint;
  createdMs: number;
}

const hex = (b: Uint8Array) => codec.toHex(b);

function toRecord(j: Job, extra: Record<string, string | number> = {}): JobRecord {
  return {
    kind: 'flashback',
    state: j.state,
    version: j.version,
    startKey: hex(j.startKey),
    endKey: hex(j.endKey),
    lockPolicy: j.lockPolicy,
    startTs: j.startTs,
    commitTs: j.commitTs,
    createdMs: j.createdMs,
    ...extra,
  };
}

function fromRecord(id: string, r: JobRecord): Job {
  if (r['kind'] !== 'flashback') throw new KvError('INVALID_ARGUMENT', `job ${id} is not a flashback job`, { jobId: id });
  return {
    id,
    state: r['state'] as FlashbackJobState,
    version: r['version'] as bigint,
    startKey: codec.fromHex(r['startKey'] as string),
    endKey: codec.fromHex(r['endKey'] as string),
    lockPolicy: r['lockPolicy'] as FlashbackLockPolicy,
    startTs: r['startTs'] as bigint,
    commitTs: r['commitTs'] as bigint,
    createdMs: r['createdMs'] as number,
  };
}

/** KvErrors a retry cannot fix: the job fails at once. */
function isFatal(e: unknown): boolean {
  if (!(e instanceof KvError)) return true;
  return e.code === 'INVALID_ARGUMENT' || e.code === 'CORRUPTED' || e.code === 'INVALID_TXN_TSO' || e.code === 'KERNEL_STATE' || e.code === 'ENGINE_CLOSED';
}

interface Progress {
  jobId: string;
  phase: FlashbackProgress['phase'];
  version: bigint;
  startTs: bigint;
  commitTs: bigint;
  regionsTotal: number;
  regionsPrepared: number;
  regionsFinished: number;
  locksRolledBack: number;
  locksCommitted: number;
  keysRewritten: number;
  startedMs: number;
  phaseStartedMs: number;
  finishStartedMs: number;
  error?: Error;
}

/** A sub-range of encoded keys, [start, end) with an empty end unbounded. */
interface Span {
  readonly start: Uint8Array;
  readonly end: Uint8Array;
  /** Backoff spent on this span so far. */
  spentMs: number;
  attempt: number;
  /** Backoff spent on NOT_LEADER replies so far (bounded by notLeaderBudgetMs). */
  notLeaderMs?: number;
}

export class FlashbackService implements Flashback {
  private readonly o: FlashbackServiceOptions;
  private readonly runs = new Map<string, FlashbackRun>();
  private readonly settled = new Set<Promise<unknown>>();
  private rngState: number;
  private seq = 0;
  private closed = false;

  constructor(options: FlashbackServiceOptions) {
    if (options === null || typeof options !== 'object' || !options.storage || !options.placement || !options.consensus || !options.clock) {
      throw new TypeError('FlashbackService needs { storage, placement, consensus, clock }');
    }
    this.o = options;
    this.rngState = (options.seed ?? 1) >>> 0 || 1;
  }

  // ---- public API

  run(options: FlashbackRunOptions & { readonly jobId?: string }): FlashbackRun {
    this.assertOpen();
    const version = this.versionOf(options);
    const { startKey, endKey } = this.rangeOf(options);
    const lockPolicy = options.lockPolicy ?? 'rollback';
    if (lockPolicy !== 'rollback' && lockPolicy !== 'resolve') throw new KvError('INVALID_ARGUMENT', `lockPolicy must be 'rollback' or 'resolve', got ${String(lockPolicy)}`, {});
    const id = options.jobId ?? this.newJobId();
    if (this.runs.has(id) || this.o.placement.getJob(id) !== undefined) throw new KvError('INVALID_ARGUMENT', `flashback job ${id} already exists; resume it instead`, { jobId: id });
    const job: Job = { id, state: 'check', version, startKey, endKey, lockPolicy, startTs: 0n, commitTs: 0n, createdMs: this.o.clock.nowMs() };
    return this.start(job, true);
  }

  resume(jobId: string): FlashbackRun {
    this.assertOpen();
    const inFlight = this.runs.get(jobId);
    if (inFlight !== undefined) return inFlight;
    const rec = this.o.placement.getJob(jobId);
    if (rec === undefined) throw new KvError('INVALID_ARGUMENT', `no flashback job ${jobId}`, { jobId });
    return this.start(fromRecord(jobId, rec), false);
  }

  unfinishedJobs(): string[] {
    return this.o.placement
      .listJobs()
      .filter((j) => j.record['kind'] === 'flashback' && j.record['state'] !== 'done' && j.record['state'] !== 'cancelled')
      .map((j) => j.id);
  }

  /** The persisted state of a job, or undefined. */
  jobState(jobId: string): { state: FlashbackJobState; version: bigint; startTs: bigint; commitTs: bigint } | undefined {
    const rec = this.o.placement.getJob(jobId);
    if (rec === undefined) return undefined;
    const j = fromRecord(jobId, rec);
    return { state: j.state, version: j.version, startTs: j.startTs, commitTs: j.commitTs };
  }

  async preview(options: FlashbackPreviewOptions): Promise<FlashbackPreview> {
    this.assertOpen();
    const version = this.versionOf(options);
    const { startKey, endKey } = this.rangeOf(options);
    const sampleSize = options.sampleSize ?? 20;
    if (!Number.isSafeInteger(sampleSize) || sampleSize < 0) throw new KvError('INVALID_ARGUMENT', `sampleSize must be a non-negative integer, got ${sampleSize}`, {});
    await this.checkVersion(version);
    const out = { keysToRewrite: 0, toDelete: 0, toRestore: 0, toUpdate: 0, unchanged: 0, locks: 0, sample: [] as FlashbackPreview['sample'][number][] };
    const regions = this.o.placement.regionsInRange(startKey, endKey);
    for (const r of regions) {
      const c = clip(r, startKey, endKey);
      // A preview reads each region where it is led: with leadRegion (a node of a process
      // cluster) the region's leadership is moved here first, as a run does; that locks and
      // writes nothing. A leader moved away meanwhile is NOT_LEADER, retried within the bound.
      const span: Span = { start: c.start, end: c.end, spentMs: 0, attempt: 0 };
      let got: PreviewCounts;
      for (;;) {
        const t0 = this.o.clock.nowMs();
        try {
          await this.o.leadRegion?.(r);
          got = await this.o.storage.run<PreviewCounts>(PREVIEW_COMMAND, { route: { regionId: r.id, epoch: r.epoch }, startKey: c.start, endKey: c.end, version, sampleSize: sampleSize - out.sample.length });
          break;
        } catch (e) {
          if (this.o.leadRegion === undefined || !isKvError(e, 'NOT_LEADER')) throw e;
          this.chargeNotLeader(span, e, t0);
          await this.backoff(span, e, undefined, r.id);
        }
      }
      out.keysToRewrite += got.keysToRewrite;
      out.toDelete += got.toDelete;
      out.toRestore += got.toRestore;
      out.toUpdate += got.toUpdate;
      out.unchanged += got.unchanged;
      out.locks += got.locks;
      for (const s of got.sample) out.sample.push(s);
    }
    return { version, regions: regions.length, ...out };
  }

  /** Stops accepting jobs; jobs in flight fail at their next step (they stay resumable). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.settled]);
  }

  // ---- the job

  private start(job: Job, isNew: boolean): FlashbackRun {
    const subject = new ReplaySubject<FlashbackProgress>(1);
    const now = this.o.clock.nowMs();
    const p: Progress = {
      jobId: job.id,
      phase: job.state === 'finish' ? 'finish' : job.state === 'prepare' ? 'prepare' : job.state === 'done' ? 'done' : 'check',
      version: job.version,
      startTs: job.startTs,
      commitTs: job.commitTs,
      regionsTotal: 0,
      regionsPrepared: 0,
      regionsFinished: 0,
      locksRolledBack: 0,
      locksCommitted: 0,
      keysRewritten: 0,
      startedMs: now,
      phaseStartedMs: now,
      finishStartedMs: now,
    };
    const done = (async () => {
      try {
        if (isNew) await this.o.placement.putJob(job.id, toRecord(job));
        if (job.state === 'cancelled') throw new KvError('INVALID_ARGUMENT', `flashback job ${job.id} was cancelled`, { jobId: job.id });
        this.emit(p, subject);
        await this.execute(job, p, subject);
        p.phase = 'done';
        const final = this.emit(p, subject);
        subject.complete();
        return final;
      } catch (e) {
        p.phase = 'failed';
        p.error = e instanceof Error ? e : new Error(String(e));
        this.emit(p, subject);
        subject.complete();
        throw e;
      } finally {
        this.runs.delete(job.id);
      }
    })();
    const run: FlashbackRun = { jobId: job.id, progress$: subject.asObservable(), done };
    this.runs.set(job.id, run);
    const tracked = done.catch(() => undefined);
    this.settled.add(tracked);
    void tracked.then(() => this.settled.delete(tracked));
    return run;
  }

  private async execute(job: Job, p: Progress, subject: ReplaySubject<FlashbackProgress>): Promise<void> {
    const { placement } = this.o;
    if (job.state === 'done') return;
    if (job.state === 'check') {
      try {
        await this.checkVersion(job.version);
        await this.waitResolvedTs(job);
      } catch (e) {
        job.state = 'cancelled';
        await placement.putJob(job.id, toRecord(job, { error: e instanceof Error ? e.message : String(e) }));
        throw e;
      }
      await this.step('checked', job);
      // GC and scheduling off before S exists (TiDB: DeleteOnly -> WriteOnly).
      await placement.pauseGc(job.id);
      await placement.pauseScheduling(job.id);
      job.startTs = await placement.getTs();
      job.state = 'prepare';
      await placement.putJob(job.id, toRecord(job));
      p.startTs = job.startTs;
      await this.step('startTsPersisted', job);
    }
    // A resumed job pauses again: pauses are per owner and idempotent.
    await placement.pauseGc(job.id);
    await placement.pauseScheduling(job.id);
    if (job.state === 'prepare') {
      p.phase = 'prepare';
      p.phaseStartedMs = this.o.clock.nowMs();
      await this.splitAtBounds(job);
      await this.step('split', job);
      await this.forEachRegion(job, p, subject, PREPARE_FLASHBACK_COMMAND, (r) => {
        const res = r as PrepareFlashbackResult;
        p.locksRolledBack += res.locksRolledBack;
        p.locksCommitted += res.locksCommitted;
        p.regionsPrepared++;
      });
      await this.step('prepared', job);
      job.commitTs = await placement.getTs();
      job.state = 'finish';
      await placement.putJob(job.id, toRecord(job));
      p.commitTs = job.commitTs;
      await this.step('commitTsPersisted', job);
    }
    p.phase = 'finish';
    p.phaseStartedMs = this.o.clock.nowMs();
    p.finishStartedMs = p.phaseStartedMs;
    await this.forEachRegion(job, p, subject, FLASHBACK_COMMAND, () => {
      p.regionsFinished++;
    });
    await this.step('finished', job);
    await placement.resumeGc(job.id);
    await placement.resumeScheduling(job.id);
    job.state = 'done';
    await placement.putJob(job.id, toRecord(job, { keysRewritten: p.keysRewritten, finishedMs: this.o.clock.nowMs() }));
  }

  private async step(step: FlashbackStep, job: Job): Promise<void> {
    this.assertOpen();
    await this.o.onStep?.(step, job.id);
  }

  // ---- checks

  private async checkVersion(version: bigint): Promise<void> {
    const now = await this.o.placement.getTs();
    if (version > now) {
      throw new KvError('FUTURE_TS', `cannot set flashback timestamp to future time (version ${version} is after the current ts ${now})`, { version, currentTs: now });
    }
    const safePoint = this.o.placement.gcSafePoint();
    // Equal is allowed: the safe point's own version is still kept.
    if (safePoint > version) {
      throw new KvError('GC_TOO_EARLY', `snapshot is older than GC safe point ${timeOfTs(safePoint).toISOString()} (version ${version} < safe point ${safePoint})`, { version, safePoint });
    }
  }

  private async minResolvedTs(job: Job): Promise<bigint> {
    const src = this.o.resolvedTs;
    if (src !== undefined) return src.minResolvedTs(rawBound(job.startKey), rawBound(job.endKey));
    // No CDC: the oldest lock in range bounds resolved ts; with none, everything up to now is resolved.
    const locks = await this.o.storage.scanLock({
      maxTs: U64_MAX,
      ...(job.startKey.length > 0 ? { start: rawBound(job.startKey) } : {}),
      ...(job.endKey.length > 0 ? { end: rawBound(job.endKey) } : {}),
    });
    if (locks.length === 0) return this.o.placement.getTs();
    let min = U64_MAX;
    for (const l of locks) if (l.lock.startTs < min) min = l.lock.startTs;
    return min;
  }

  private async waitResolvedTs(job: Job): Promise<void> {
    const waitMs = this.o.resolvedTsWaitMs ?? 60_000;
    const pollMs = this.o.resolvedTsPollMs ?? 1000;
    const until = this.o.clock.nowMs() + waitMs;
    for (;;) {
      const resolved = await this.minResolvedTs(job);
      if (resolved >= job.version) return;
      if (this.o.clock.nowMs() + pollMs > until) {
        throw new KvError('FUTURE_TS', `cannot set flashback timestamp after min-resolved-ts(${timeOfTs(resolved).toISOString()}): version ${job.version} > min resolved ts ${resolved} after waiting ${waitMs} ms`, {
          reason: 'minResolvedTs',
          version: job.version,
          minResolvedTs: resolved,
        });
      }
      await this.sleep(pollMs);
    }
  }

  // ---- regions

  private async splitAtBounds(job: Job): Promise<void> {
    for (const key of [job.startKey, job.endKey]) {
      if (key.length === 0) continue;
      const span: Span = { start: key, end: key, spentMs: 0, attempt: 0 };
      for (;;) {
        const r = this.o.placement.regionForKey(key);
        if (compareBytes(r.startKey, key) === 0) break;
        const t0 = this.o.clock.nowMs();
        try {
          await this.o.leadRegion?.(r);
          await this.o.consensus.admin({ regionId: r.id, epoch: r.epoch }, { type: 'split', splitKey: key });
          break;
        } catch (e) {
          this.chargeNotLeader(span, e, t0);
          await this.backoff(span, e, job, r.id);
        }
      }
    }
  }

  /**
   * Runs `command` on every region of the job's range with `concurrency` workers. A span whose
   * command fails with a retryable error backs off and is looked up again (it may have split).
   */
  private async forEachRegion(job: Job, p: Progress, subject: ReplaySubject<FlashbackProgress>, command: string, onDone: (result: unknown) => void): Promise<void> {
    const queue: Span[] = this.o.placement.regionsInRange(job.startKey, job.endKey).map((r) => {
      const c = clip(r, job.startKey, job.endKey);
      return { start: c.start, end: c.end, spentMs: 0, attempt: 0 };
    });
    p.regionsTotal = Math.max(p.regionsTotal, queue.length);
    this.emit(p, subject);
    const isFinish = command === FLASHBACK_COMMAND;
    const onBatch = (e: FlashbackBatchEvent) => {
      if (e.step === 'flashbackWrite') {
        p.keysRewritten += e.keys;
        this.emit(p, subject);
      } else if (e.step === 'commit') {
        p.keysRewritten += e.keys;
      } else if (e.step === 'rollbackLock') {
        this.emit(p, subject);
      }
    };
    const worker = async (): Promise<void> => {
      for (let span = queue.shift(); span !== undefined; span = queue.shift()) {
        this.assertOpen();
        const regions = this.o.placement.regionsInRange(span.start, span.end);
        // A span that now covers several regions (a split happened) becomes one span each.
        for (const r of regions.slice(1)) {
          const c = clip(r, span.start, span.end);
          queue.push({ start: c.start, end: c.end, spentMs: span.spentMs, attempt: span.attempt });
          p.regionsTotal++;
        }
        const r = regions[0]!;
        const c = clip(r, span.start, span.end);
        const cur: Span = { start: c.start, end: c.end, spentMs: span.spentMs, attempt: span.attempt, notLeaderMs: span.notLeaderMs ?? 0 };
        const t0 = this.o.clock.nowMs();
        try {
          await this.o.leadRegion?.(r);
          const result = await this.o.storage.run(command, {
            route: { regionId: r.id, epoch: r.epoch },
            startKey: cur.start,
            endKey: cur.end,
            version: job.version,
            startTs: job.startTs,
            ...(isFinish ? { commitTs: job.commitTs } : { lockPolicy: job.lockPolicy }),
            onBatch,
          });
          onDone(result);
        } catch (e) {
          // TiDB: a region "not prepared" during Finish was already finished (b.2 step 4).
          if (isFinish && isKvError(e, 'FLASHBACK_NOT_PREPARED')) onDone(undefined);
          else {
            this.chargeNotLeader(cur, e, t0);
            await this.backoff(cur, e, job, r.id);
            queue.push(cur);
            continue;
          }
        }
        this.emit(p, subject);
      }
    };
    const n = Math.max(1, Math.min(this.o.concurrency ?? 16, queue.length));
    const workers: Promise<void>[] = [];
    for (let i = 0; i < n; i++) workers.push(worker());
    // Workers exit when the queue is empty, but a failing span is queued again after its
    // backoff: keep draining until no worker is left and nothing is queued.
    for (;;) {
      const results = await Promise.allSettled(workers.splice(0));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      if (queue.length === 0) return;
      for (let i = 0; i < Math.min(n, queue.length); i++) workers.push(worker());
    }
  }

  /** The time a NOT_LEADER attempt took (leadRegion waits for a transfer) counts toward notLeaderBudgetMs too. */
  private chargeNotLeader(span: Span, error: unknown, t0: number): void {
    if (isKvError(error, 'NOT_LEADER')) span.notLeaderMs = (span.notLeaderMs ?? 0) + Math.max(0, this.o.clock.nowMs() - t0);
  }

  private async backoff(span: Span, error: unknown, job?: Job, regionId?: number): Promise<void> {
    if (isFatal(error)) throw error;
    const b = this.o.backoff ?? {};
    const base = b.baseMs ?? 10;
    const cap = b.maxMs ?? 2000;
    const budget = b.budgetMs ?? 1_800_000;
    const full = Math.min(cap, base * 2 ** Math.min(span.attempt, 30));
    const delay = Math.max(1, Math.round(full / 2 + (full / 2) * this.random()));
    if (isKvError(error, 'NOT_LEADER')) {
      // A region led elsewhere (e.g. a piece of a split whose election another store won) is not
      // something this node can wait out for the full budget: fail, bounded, naming the leader.
      const spent = span.notLeaderMs ?? 0;
      const nlBudget = this.o.notLeaderBudgetMs ?? 15_000;
      if (spent + delay > nlBudget) {
        const d = (error.details ?? {}) as { regionId?: number; leader?: { storeId?: number; peerId?: number } };
        const rid = regionId ?? d.regionId;
        const where = d.leader?.storeId ? `its leader is store ${d.leader.storeId}` : 'no leader is known';
        const resumable = job !== undefined && job.state !== 'check' ? `; flashback job ${job.id} stays in state '${job.state}' (start_ts ${job.startTs}) and can be resumed` : '';
        throw new KvError('NOT_LEADER', `flashback cannot drive region ${rid ?? '?'}: ${where}, not this node, after ${spent} ms of attempts and backoff (${error.message})${resumable}`, {
          ...(rid !== undefined ? { regionId: rid } : {}),
          ...(d.leader !== undefined ? { leader: d.leader } : {}),
          ...(job !== undefined ? { jobId: job.id } : {}),
        }, { cause: error });
      }
      span.notLeaderMs = spent + delay;
    }
    if (span.spentMs + delay > budget) {
      throw new KvError(isKvError(error) ? error.code : 'SERVER_BUSY', `flashback gave up on a region after ${span.attempt + 1} attempts (${span.spentMs} ms of backoff): ${error instanceof Error ? error.message : String(error)}`, {
        attempts: span.attempt + 1,
      }, { cause: error });
    }
    span.spentMs += delay;
    span.attempt++;
    await this.sleep(delay);
  }

  // ---- helpers

  private emit(p: Progress, subject: ReplaySubject<FlashbackProgress>): FlashbackProgress {
    const now = this.o.clock.nowMs();
    const finishMs = p.phase === 'finish' || p.phase === 'done' ? now - p.finishStartedMs : 0;
    const keysPerSecond = finishMs > 0 ? (p.keysRewritten * 1000) / finishMs : 0;
    const doneInPhase = p.phase === 'prepare' ? p.regionsPrepared : p.phase === 'finish' ? p.regionsFinished : 0;
    let etaMs: number | undefined;
    if (p.phase === 'done') etaMs = 0;
    else if ((p.phase === 'prepare' || p.phase === 'finish') && doneInPhase > 0) {
      // Pace of regions done in this phase; a prepare phase still has a finish phase ahead.
      const per = (now - p.phaseStartedMs) / doneInPhase;
      etaMs = Math.round(per * (p.regionsTotal - doneInPhase) + (p.phase === 'prepare' ? per * p.regionsTotal : 0));
    }
    const out: FlashbackProgress = {
      jobId: p.jobId,
      phase: p.phase,
      version: p.version,
      startTs: p.startTs,
      commitTs: p.commitTs,
      regionsTotal: p.regionsTotal,
      regionsPrepared: p.regionsPrepared,
      regionsFinished: p.regionsFinished,
      locksRolledBack: p.locksRolledBack,
      locksCommitted: p.locksCommitted,
      keysRewritten: p.keysRewritten,
      keysPerSecond,
      etaMs,
      elapsedMs: now - p.startedMs,
      ...(p.error !== undefined ? { error: p.error } : {}),
    };
    subject.next(out);
    this.o.events?.emit('flashbackProgress', {
      jobId: p.jobId,
      phase: p.phase,
      regionsTotal: p.regionsTotal,
      regionsDone: p.phase === 'finish' || p.phase === 'done' ? p.regionsFinished : p.regionsPrepared,
      keysRewritten: p.keysRewritten,
      regionsPrepared: p.regionsPrepared,
      regionsFinished: p.regionsFinished,
      locksRolledBack: p.locksRolledBack,
      startTs: p.startTs,
      commitTs: p.commitTs,
      keysPerSecond,
      ...(etaMs !== undefined ? { etaMs } : {}),
    });
    return out;
  }

  private versionOf(o: FlashbackTarget): bigint {
    if (o === null || typeof o !== 'object') throw new TypeError('flashback options must be an object');
    const hasVersion = o.version !== undefined;
    const hasTime = o.time !== undefined;
    if (hasVersion === hasTime) throw new KvError('INVALID_ARGUMENT', 'give exactly one of version (a TSO) or time', {});
    if (hasVersion) {
      if (typeof o.version !== 'bigint' || o.version <= 0n || o.version > U64_MAX) throw new KvError('INVALID_ARGUMENT', `version must be a positive u64 bigint, got ${String(o.version)}`, {});
      return o.version;
    }
    return tsFromTime(parseFlashbackTime(o.time!));
  }

  private rangeOf(o: { startKey?: Uint8Array; endKey?: Uint8Array }): { startKey: Uint8Array; endKey: Uint8Array } {
    for (const k of ['startKey', 'endKey'] as const) if (o[k] !== undefined && !(o[k] instanceof Uint8Array)) throw new TypeError(`${k} must be a Uint8Array`);
    const s = o.startKey !== undefined && o.startKey.length > 0 ? codec.encodeBytes(o.startKey) : new Uint8Array(0);
    const e = o.endKey !== undefined && o.endKey.length > 0 ? codec.encodeBytes(o.endKey) : new Uint8Array(0);
    if (s.length > 0 && e.length > 0 && compareBytes(s, e) >= 0) throw new KvError('INVALID_ARGUMENT', 'startKey must be before endKey', {});
    return { startKey: s, endKey: e };
  }

  private newJobId(): string {
    for (;;) {
      const id = `flashback-${this.o.clock.nowMs()}-${++this.seq}`;
      if (!this.runs.has(id) && this.o.placement.getJob(id) === undefined) return id;
    }
  }

  private random(): number {
    // xorshift32: seeded jitter, so a SEED replays the same backoff schedule.
    let x = this.rngState;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rngState = x >>> 0;
    return this.rngState / 0x1_0000_0000;
  }

  private sleep(ms: number): Promise<void> {
    if (this.o.sleep) return this.o.sleep(ms);
    return new Promise((r) => setTimeout(r, ms));
  }

  private assertOpen(): void {
    if (this.closed) throw new KvError('KERNEL_STATE', 'the flashback service is closed', {});
  }
}

function rawBound(encoded: Uint8Array): Uint8Array {
  return encoded.length === 0 ? new Uint8Array(0) : codec.decodeBytes(encoded).raw;
}

/** The part of [start, end) inside region r (encoded keys; empty end unbounded). */
function clip(r: Region, start: Uint8Array, end: Uint8Array): { start: Uint8Array; end: Uint8Array } {
  const s = compareBytes(r.startKey, start) > 0 ? r.startKey : start;
  let e: Uint8Array;
  if (end.length === 0) e = r.endKey;
  else if (r.endKey.length === 0) e = end;
  else e = compareBytes(r.endKey, end) < 0 ? r.endKey : end;
  return { start: s, end: e };
}
