// Driving an in-process RaftCluster on simulated time (ManualTickSource): one tick, then a few
// turns of the event loop so the deliveries and applies it started can run.
import type { ManualTickSource } from '../src/store/index.js';

/** Lets work queued by the last tick run: four turns of the event loop (setImmediate). */
export async function settleTick(): Promise<void> {
  for (let j = 0; j < 4; j++) await new Promise((r) => setImmediate(r));
}

/** Fires `n` ticks, settling after each. */
export async function fireTicks(ticks: ManualTickSource, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    ticks.fire();
    await settleTick();
  }
}

/** Fires ticks (settling after each) until `p` settles, at most `max`; then returns `p`. */
export async function driveTicks<T>(ticks: ManualTickSource, p: Promise<T>, max = 3000): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < max && !done; i++) {
    ticks.fire();
    await settleTick();
  }
  if (!done) throw new Error(`did not settle after ${max} ticks`);
  return p;
}
