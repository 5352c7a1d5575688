/**
 * Bounded exponential backoff with jitter (TiKV client's `Backoffer`). Time and randomness are
 * injected (STYLE.md habit 1): `sleep` may be a simulated clock in tests, and the jitter comes
 * from a seeded generator, so a run replays exactly.
 */
import { KvError } from '../../errors.js';

/**
 * Waits `ms` milliseconds. A sleeper given a `signal` resolves early once it aborts (the
 * heartbeat of a finished txn stops at once instead of holding a timer); one that ignores the
 * signal is still correct, only slower to stop.
 */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export interface BackoffOptions {
  readonly sleep: Sleep;
  /** Uniform floats in [0, 1) for the jitter. */
  readonly random: () => number;
  /** First sleep in ms. Default 2. */
  readonly baseMs?: number;
  /** Largest single sleep in ms. Default 200. */
  readonly capMs?: number;
  /** Total sleep in ms before the last error is thrown. Default 20000 (TiKV client uses 20 s for locks). */
  readonly budgetMs?: number;
}

/** mulberry32: a 32-bit seeded generator, enough for backoff jitter. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

export class Backoffer {
  private attempts = 0;
  private slept = 0;
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly budgetMs: number;

  constructor(private readonly options: BackoffOptions) {
    this.baseMs = options.baseMs ?? 2;
    this.capMs = options.capMs ?? 200;
    this.budgetMs = options.budgetMs ?? 20_000;
  }

  get totalSleptMs(): number {
    return this.slept;
  }

  /** Sleeps before the next attempt, or throws `cause` once the budget is spent. */
  async backoff(cause: unknown): Promise<void> {
    if (this.slept >= this.budgetMs) {
      if (cause instanceof KvError) throw cause;
      throw new KvError('SERVER_BUSY', `gave up after ${this.attempts} retries (${this.slept} ms of backoff)`, { attempts: this.attempts }, { cause });
    }
    const exp = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.attempts, 30));
    // "Equal jitter": half fixed, half random, so concurrent retries spread out.
    const ms = Math.max(1, Math.round(exp / 2 + this.options.random() * (exp / 2)));
    this.attempts++;
    this.slept += ms;
    await this.options.sleep(ms);
  }
}
