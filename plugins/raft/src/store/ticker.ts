/**
 * Wall time into raft ticks, outside the pure core: a `TickSource` says when a tick is due and
 * the `StoreTicker` ticks its stores. Tests pass a manual source (or call `Store.tick()`
 * themselves on simulated time); a process uses `intervalTickSource`.
 */
export interface TickSource {
  /** Starts calling `onTick` once per tick; returns a function that stops it. */
  start(onTick: () => void): () => void;
}

export interface Tickable {
  tick(): Promise<void>;
}

/** Ticks every `ms` milliseconds of wall time; the timer does not keep the process alive. */
export function intervalTickSource(ms: number): TickSource {
  if (!Number.isFinite(ms) || ms <= 0) throw new TypeError(`tick interval must be a positive number of ms, got ${ms}`);
  return {
    start(onTick) {
      const h = setInterval(onTick, ms);
      h.unref?.();
      return () => clearInterval(h);
    },
  };
}

/** A source driven by hand: each `fire()` is one tick. */
export class ManualTickSource implements TickSource {
  private listener: (() => void) | undefined;
  start(onTick: () => void): () => void {
    this.listener = onTick;
    return () => {
      if (this.listener === onTick) this.listener = undefined;
    };
  }
  fire(): void {
    this.listener?.();
  }
}

/**
 * Ticks stores from a source. A tick that arrives while the previous one is still running is
 * skipped rather than queued, so a slow disk stretches the raft clock instead of bursting it
 * (a burst of ticks would fire elections all at once).
 */
export class StoreTicker {
  private stopSource: (() => void) | undefined;
  private running: Promise<void> | undefined;
  /** Ticks skipped because the previous one had not finished. */
  skipped = 0;
  /** Errors from ticking (a stopped store); the ticker keeps going for the others. */
  readonly errors: unknown[] = [];

  private stores: readonly Tickable[];

  constructor(
    stores: readonly Tickable[],
    private readonly source: TickSource,
  ) {
    this.stores = stores.slice();
  }

  /** Ticks `t` too from the next tick on (a store added to a running cluster), before the last `before` entries. */
  add(t: Tickable, before = 0): void {
    const at = this.stores.length - before;
    this.stores = [...this.stores.slice(0, at), t, ...this.stores.slice(at)];
  }

  /** Stops ticking `t` (a store stopped in a running cluster). */
  remove(t: Tickable): void {
    this.stores = this.stores.filter((x) => x !== t);
  }

  start(): void {
    if (this.stopSource) return;
    this.stopSource = this.source.start(() => this.onTick());
  }

  private onTick(): void {
    if (this.running) {
      this.skipped++;
      return;
    }
    this.running = (async () => {
      for (const s of this.stores) {
        try {
          await s.tick();
        } catch (e) {
          this.errors.push(e);
        }
      }
    })().finally(() => (this.running = undefined));
  }

  /** Stops the source and waits for a tick in progress. */
  async stop(): Promise<void> {
    this.stopSource?.();
    this.stopSource = undefined;
    await this.running;
  }
}
