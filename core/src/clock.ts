/**
 * Wall time as an injected edge (STYLE.md habit 1). Code under `core/src/txn`, raft's core and
 * every `actions/` folder never reads `Date.now`; it is handed a `Clock`. Production wiring
 * passes `systemClock`; tests pass a `ManualClock` and move time by hand, including backwards,
 * which is how the TSO's restart guarantee is tested.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. May go backwards (NTP steps, VM migration). */
  nowMs(): number;
}

/** The process's wall clock. */
export const systemClock: Clock = Object.freeze({
  nowMs(): number {
    return Date.now();
  },
});

function assertMs(what: string, ms: unknown): asserts ms is number {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new TypeError(`${what} must be a finite number of milliseconds, got ${String(ms)}`);
}

/** A clock that moves only when told to; `set` may move it backwards. */
export class ManualClock implements Clock {
  private ms: number;

  constructor(startMs = 0) {
    assertMs('ManualClock start', startMs);
    this.ms = startMs;
  }

  nowMs(): number {
    return this.ms;
  }

  /** Moves the clock by `deltaMs` (negative moves it back) and returns the new time. */
  advance(deltaMs: number): number {
    assertMs('ManualClock.advance delta', deltaMs);
    this.ms += deltaMs;
    return this.ms;
  }

  /** Jumps to `ms`, in either direction. */
  set(ms: number): void {
    assertMs('ManualClock.set', ms);
    this.ms = ms;
  }
}
