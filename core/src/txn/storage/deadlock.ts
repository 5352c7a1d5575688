/**
 * Deadlock detection for pessimistic lock waits (TiKV's lock manager detector, kept in one
 * Storage). When acquirePessimisticLock of txn W meets a lock of txn H, W waits for H; if H
 * already waits (through any chain) for W, the wait that would close the cycle is refused with
 * DEADLOCK, so one txn rolls back at once instead of both spending their lock-wait budget while
 * their heartbeats keep each other alive. A waiter refreshes its entry on every failed attempt;
 * an entry older than `ttlMs` of TSO time is ignored (its waiter gave up or died), and a txn's
 * entry is dropped once it locks, commits or rolls back.
 */
export class DeadlockDetector {
  private readonly waits = new Map<bigint, { readonly holder: bigint; readonly atMs: bigint }>();

  constructor(private readonly ttlMs = 3000n) {}

  /** Entries held now (for tests). */
  get size(): number {
    return this.waits.size;
  }

  /**
   * Records that `waiter` waits for `holder` at `nowMs` (physical ms of a TSO ts), or, if
   * `holder` already waits for `waiter`, records nothing and returns the cycle (waiter first and last).
   */
  detect(waiter: bigint, holder: bigint, nowMs: bigint): bigint[] | undefined {
    const chain = [waiter];
    const seen = new Set<bigint>([waiter]);
    let cur = holder;
    for (;;) {
      chain.push(cur);
      seen.add(cur);
      const e = this.waits.get(cur);
      if (e === undefined || nowMs - e.atMs > this.ttlMs) break;
      if (e.holder === waiter) return [...chain, waiter];
      // A cycle that does not pass through `waiter` is not its to break.
      if (seen.has(e.holder)) break;
      cur = e.holder;
    }
    this.waits.set(waiter, { holder, atMs: nowMs });
    return undefined;
  }

  clear(txn: bigint): void {
    this.waits.delete(txn);
  }
}
