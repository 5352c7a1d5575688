/**
 * The wall-clock sleeper the client plugin uses when none is injected. It is wiring, not logic:
 * TxnClient itself only calls the `sleep` it was given (STYLE.md habit 1), and tests inject a
 * simulated one that moves a ManualClock instead.
 */
export function timerSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
