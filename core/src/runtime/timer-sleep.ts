/**
 * The wall-clock sleeper the txnClient plugin passes to TxnClient when none is injected. It lives
 * in wiring code, outside core/src/txn (STYLE.md habit 1: no timers there): TxnClient only calls
 * the `sleep` it was given, and tests inject a simulated one that moves a ManualClock instead.
 */
export function timerSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
