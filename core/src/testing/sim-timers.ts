/**
 * Simulated time for code that waits through an injected sleeper (TxnClient's backoff and lock
 * heartbeat): one ManualClock and a queue of sleepers, each woken when the clock reaches its
 * deadline. `advance` moves the clock, waking due sleepers in deadline order and giving each a
 * few event-loop turns to act before time moves on, so a heartbeat due every second beats every
 * second of a ten-second advance.
 */
import type { ManualClock } from '../clock.js';

interface Sleeper {
  readonly at: number;
  readonly seq: number;
  readonly wake: () => void;
}

/** Event-loop turns given to woken sleepers (their storage calls take a few). */
const SETTLE_TURNS = 8;

async function settle(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

export class SimulatedTimers {
  private readonly sleepers: Sleeper[] = [];
  private seq = 0;

  constructor(readonly clock: ManualClock) {}

  /** Sleepers waiting for the clock. */
  get pending(): number {
    return this.sleepers.length;
  }

  /** A sleeper that waits until the clock reaches now + ms, or resolves at once when `signal` aborts. */
  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> => {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new TypeError(`SimulatedTimers.sleep: bad ms ${String(ms)}`);
    if (signal?.aborted === true) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const sleeper: Sleeper = {
        at: this.clock.nowMs() + ms,
        seq: this.seq++,
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.sleepers.indexOf(sleeper);
        if (i >= 0) this.sleepers.splice(i, 1);
        sleeper.wake();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(sleeper);
    });
  };

  /** A sleeper that moves the clock itself (for a waiter that is what drives time, like backoff). */
  readonly advancingSleep = (ms: number): Promise<void> => this.advance(ms);

  /**
   * Moves the clock forward by `ms` from now, waking each sleeper due on the way at its own
   * deadline. Never moves the clock back (concurrent advances overlap rather than add up).
   */
  async advance(ms: number): Promise<void> {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new TypeError(`SimulatedTimers.advance: bad ms ${String(ms)}`);
    const target = this.clock.nowMs() + ms;
    for (;;) {
      let next = -1;
      for (let i = 0; i < this.sleepers.length; i++) {
        const s = this.sleepers[i]!;
        if (s.at > target) continue;
        if (next < 0 || s.at < this.sleepers[next]!.at || (s.at === this.sleepers[next]!.at && s.seq < this.sleepers[next]!.seq)) next = i;
      }
      if (next < 0) break;
      const [s] = this.sleepers.splice(next, 1);
      if (s!.at > this.clock.nowMs()) this.clock.set(s!.at);
      s!.wake();
      await settle(SETTLE_TURNS);
    }
    if (target > this.clock.nowMs()) this.clock.set(target);
    await settle(1);
  }
}
