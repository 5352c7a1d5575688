import type { ExecutionContext } from 'ava';
import fc from 'fast-check';
import { CorruptedError } from '../src/errors.js';

// Shared by the codec test files. A fixed default seed keeps property runs reproducible;
// SEED=n replays another.

export const SEED = process.env.SEED === undefined ? 20261122 : Number(process.env.SEED);
if (!Number.isSafeInteger(SEED)) throw new TypeError(`SEED must be an integer, got ${JSON.stringify(process.env.SEED)}`);

export function mustHold(t: ExecutionContext, property: fc.IRawProperty<any>, numRuns = 300): void {
  try {
    fc.assert(property, { seed: SEED, numRuns });
  } catch (e) {
    t.log(`property failed; replay with SEED=${SEED}`);
    throw e;
  }
  t.pass();
}

/** Runs `fn` and requires either success or a CorruptedError that names an offset. */
export function mustDecodeOrCorrupt(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof CorruptedError) || e.code !== 'CORRUPTED' || !/offset \d+/.test(e.message)) {
      throw new Error(`decoder threw something other than a CorruptedError with an offset: ${String(e)}`, { cause: e });
    }
  }
}
