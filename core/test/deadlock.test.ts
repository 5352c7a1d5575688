import test from 'ava';
import { DeadlockDetector } from '@flashkv/core';

test('deadlock detector: finds cycles of any length through the waiter, ignores stale and cleared waits', (t) => {
  const d = new DeadlockDetector(3000n);
  // 1 -> 2 -> 3, then 3 waiting for 1 closes the cycle.
  t.is(d.detect(1n, 2n, 1000n), undefined);
  t.is(d.detect(2n, 3n, 1000n), undefined);
  t.deepEqual(d.detect(3n, 1n, 1500n), [3n, 1n, 2n, 3n]);
  t.is(d.size, 2, 'the refused wait is not recorded');
  // A wait older than the TTL no longer counts: 2's entry is stale by 5000.
  t.is(d.detect(3n, 1n, 5000n), undefined, '1 -> 2 is stale');
  t.is(d.size, 3);
  // Refreshed entries count again; clearing one breaks the chain.
  t.is(d.detect(1n, 2n, 5000n), undefined);
  t.deepEqual(d.detect(2n, 3n, 5000n), [2n, 3n, 1n, 2n], 'with 3 -> 1 -> 2 fresh, 2 waiting for 3 closes a cycle');
  d.clear(2n);
  t.is(d.detect(4n, 1n, 5000n), undefined, '4 -> 1 -> 2 ends at 2');
  // A refused wait leaves nothing behind.
  const e = new DeadlockDetector();
  t.is(e.detect(10n, 11n, 0n), undefined);
  t.deepEqual(e.detect(11n, 10n, 0n), [11n, 10n, 11n]);
  t.is(e.detect(12n, 10n, 0n), undefined, '12 -> 10 -> 11, and 11 was refused, so no entry of 11 exists');
});
