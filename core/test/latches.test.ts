import test from 'ava';
import { Latches, latchHash, latchLockFor, type LatchLock } from '@flashkv/core';
import { bytes, Rng, testSeed } from '@flashkv/core/testing';

function lock(...keys: string[]): LatchLock {
  return latchLockFor(keys.map(bytes));
}

test('a command naming one key twice does not wait on itself', (t) => {
  const l = new Latches(16);
  const a = lock('k', 'k', 'j', 'k');
  t.is(a.hashes.length, 2);
  t.true(l.acquire(a, 1));
  t.deepEqual(l.release(a, 1), []);
  t.is(l.queued, 0);
});

test('two commands on one key: the second waits and is woken by the release of the first', (t) => {
  const l = new Latches(16);
  const a = lock('k');
  const b = lock('k');
  t.true(l.acquire(a, 1));
  t.false(l.acquire(b, 2));
  t.false(l.acquire(b, 2)); // asking again does not queue twice or jump ahead
  t.deepEqual(l.release(a, 1), [2]);
  t.true(l.acquire(b, 2));
  t.deepEqual(l.release(b, 2), []);
  t.is(l.queued, 0);
});

test('different keys sharing a slot do not block each other', (t) => {
  const l = new Latches(1); // every key in slot 0
  const a = lock('a', 'b');
  const b = lock('c');
  const c = lock('d', 'e', 'f');
  t.true(l.acquire(a, 1));
  t.true(l.acquire(b, 2));
  t.true(l.acquire(c, 3));
  t.deepEqual(l.release(b, 2), []);
  t.deepEqual(l.release(a, 1), []);
  t.deepEqual(l.release(c, 3), []);
  t.is(l.queued, 0);
});

test('arrival order holds across keys: a later command cannot overtake an earlier one on a key the earlier one has not reached', (t) => {
  const l = new Latches(64);
  const c = lock('x'); // holds x
  const a = lock('x', 'y'); // arrives second, waits for x
  const b = lock('y'); // arrives third; y is free, but a is ahead of it on y
  t.true(l.acquire(c, 1));
  t.false(l.acquire(a, 2));
  t.false(l.acquire(b, 3), 'b must wait for a, which arrived first and also wants y');
  t.deepEqual(l.release(c, 1), [2]);
  t.true(l.acquire(a, 2));
  t.false(l.acquire(b, 3));
  t.deepEqual(l.release(a, 2), [3]);
  t.true(l.acquire(b, 3));
  l.release(b, 3);
  t.is(l.queued, 0);
});

test('a waiter that leaves does not pass the key on to anyone', (t) => {
  const l = new Latches(64);
  const a = lock('k');
  const b = lock('k');
  const c = lock('k');
  t.true(l.acquire(a, 1));
  t.false(l.acquire(b, 2));
  t.false(l.acquire(c, 3));
  t.deepEqual(l.release(b, 2), [], 'b never held k');
  t.false(l.acquire(c, 3), 'a still holds k');
  t.deepEqual(l.release(a, 1), [3]);
  t.true(l.acquire(c, 3));
  l.release(c, 3);
  t.deepEqual(l.release(c, 3), [], 'a second release is harmless');
  t.is(l.queued, 0);
});

test('latch hashes: distinct over many keys, including keys that differ only by trailing zero bytes', (t) => {
  const seed = testSeed();
  const rng = new Rng(seed);
  const seen = new Map<number, string>();
  const keys: Uint8Array[] = [new Uint8Array(0), Uint8Array.of(0), Uint8Array.of(0, 0), bytes('a'), bytes('a\x00'), bytes('a\x00\x00')];
  for (let i = 0; i < 20000; i++) keys.push(rng.bytes(rng.between(1, 24)));
  for (const k of keys) {
    const h = latchHash(k);
    t.true(Number.isSafeInteger(h) && h >= 0);
    const text = Buffer.from(k).toString('hex');
    const prev = seen.get(h);
    if (prev !== undefined && prev !== text) t.fail(`SEED=${seed}: ${prev} and ${text} share hash ${h}`);
    seen.set(h, text);
  }
  t.is(latchHash(bytes('same')), latchHash(bytes('same')));
  t.throws(() => latchLockFor(['a' as never]), { instanceOf: TypeError });
  t.throws(() => latchLockFor('a' as never), { instanceOf: TypeError });
  t.throws(() => new Latches(0), { instanceOf: TypeError });
  t.is(new Latches(100).slotCount, 128);
});

test('matches a naive model: a command holds its latches exactly when no earlier unreleased command shares a key (seeded)', (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const l = new Latches(8); // few slots: plenty of unrelated keys share a slot
  const universe = Array.from({ length: 12 }, (_, i) => `key${i}`);
  interface Cmd {
    cid: number;
    keys: Set<string>;
    lock: LatchLock;
    holds: boolean;
  }
  const live: Cmd[] = []; // arrival order
  let next = 1;
  const shouldHold = (c: Cmd): boolean => live.every((o) => o.cid >= c.cid || ![...o.keys].some((k) => c.keys.has(k)));
  for (let step = 0; step < 3000; step++) {
    if (live.length === 0 || rng.chance(0.5)) {
      const keys = Array.from({ length: rng.between(0, 4) }, () => rng.pick(universe));
      const c: Cmd = { cid: next++, keys: new Set(keys), lock: latchLockFor(keys.map(bytes)), holds: false };
      live.push(c);
      c.holds = l.acquire(c.lock, c.cid);
      t.is(c.holds, shouldHold(c), `SEED=${seed} step ${step}: acquire of ${c.cid}`);
    } else {
      // Release a random live command: holders finish, waiters give up.
      const i = rng.int(live.length);
      const gone = live.splice(i, 1)[0]!;
      const woken = l.release(gone.lock, gone.cid);
      for (const cid of woken) {
        const c = live.find((x) => x.cid === cid);
        if (c === undefined) return t.fail(`SEED=${seed}: woke ${cid}, which is not live`);
        t.false(c.holds, `SEED=${seed}: woke ${cid}, which already held its latches`);
      }
      for (const c of live) {
        if (c.holds) continue;
        if (woken.includes(c.cid)) c.holds = l.acquire(c.lock, c.cid);
        // Every command that may now run was woken: no one is left waiting for nothing.
        t.is(c.holds, shouldHold(c), `SEED=${seed} step ${step}: ${c.cid} after release of ${gone.cid}`);
      }
    }
  }
  for (const c of live) l.release(c.lock, c.cid);
  t.is(l.queued, 0);
});
