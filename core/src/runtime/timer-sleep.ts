/**
 * The wall-clock sleeper the txnClient plugin passes to TxnClient when none is injected. It lives
 * in wiring code, outside core/src/txn (STYLE.md habit 1: no timers there): TxnClient only calls
 * the `sleep` it was given, and tests inject a simulated one that moves a ManualClock instead.
 * An aborted `signal` clears the timer and resolves at once.
 */
export function timerSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
