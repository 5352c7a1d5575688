import test from 'ava';
import {
  composeTs,
  isKvError,
  LocalPlacement,
  LOGICAL_LIMIT,
  logicalOf,
  ManualClock,
  MAX_PHYSICAL_MS,
  physicalOf,
  timeOfTs,
  tsFromTime,
  WriteBatch,
  type StorageEngine,
} from '@flashkv/core';
import { ReferenceEngine, Rng, testSeed, wrapEngine } from '@flashkv/core/testing';
import { TSO_KEY } from '../src/placement/keys.js';

const T0 = 1_700_000_000_000;

function persistedMark(engine: StorageEngine): number | undefined {
  const raw = engine.get('raft', TSO_KEY);
  if (raw === undefined) return undefined;
  return Number(new DataView(raw.buffer, raw.byteOffset, 8).getBigUint64(0));
}

/** An engine whose writes can be made to fail and that logs every write that touches the TSO key. */
function faultyEngine(inner: StorageEngine): { engine: StorageEngine; failing: { on: boolean }; log: string[] } {
  const failing = { on: false };
  const log: string[] = [];
  const engine = wrapEngine(inner, {
    write(batch: WriteBatch, options) {
      const touchesTso = batch.ops.some((op) => op.op === 'put' && op.key.length === TSO_KEY.length && op.key.every((b, i) => b === TSO_KEY[i]));
      if (failing.on) {
        log.push('write failed');
        throw new Error('injected write failure');
      }
      if (touchesTso) log.push(`tso write sync=${options?.sync === true}`);
      return batch;
    },
  });
  return { engine, failing, log };
}

test('ts helpers: compose, split, wall time conversions and range checks', (t) => {
  const ts = composeTs(T0, 7);
  t.is(ts, (BigInt(T0) << 18n) | 7n);
  t.is(physicalOf(ts), T0);
  t.is(logicalOf(ts), 7);
  t.is(tsFromTime(new Date(T0)), composeTs(T0, 0));
  t.is(tsFromTime(T0 + 0.9), composeTs(T0, 0));
  t.is(timeOfTs(composeTs(T0, LOGICAL_LIMIT - 1)).getTime(), T0);
  // Every ts stamped during an earlier millisecond is below the ts of a later wall time.
  t.true(composeTs(T0 - 1, LOGICAL_LIMIT - 1) < tsFromTime(T0));
  t.is(physicalOf(composeTs(MAX_PHYSICAL_MS, LOGICAL_LIMIT - 1)), MAX_PHYSICAL_MS);
  t.is(composeTs(MAX_PHYSICAL_MS, LOGICAL_LIMIT - 1), (1n << 64n) - 1n);
  for (const bad of [() => composeTs(-1, 0), () => composeTs(T0, LOGICAL_LIMIT), () => composeTs(T0, -1), () => composeTs(MAX_PHYSICAL_MS + 1, 0), () => composeTs(1.5, 0)]) {
    t.is(t.throws(bad)!.constructor.name, 'InvalidArgumentError');
  }
  t.true(isKvError(t.throws(() => tsFromTime(new Date('not a date'))), 'INVALID_ARGUMENT'));
  t.true(isKvError(t.throws(() => physicalOf(-1n)), 'INVALID_ARGUMENT'));
  t.throws(() => physicalOf(5 as never), { instanceOf: TypeError });
});

test('TSO: strictly increasing and unique under concurrent callers, while the clock moves both ways', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const clock = new ManualClock(T0);
  const p = await LocalPlacement.open({ engine: new ReferenceEngine(), clock, tsoWindowMs: 50 });
  const calls: Promise<bigint[]>[] = [];
  for (let i = 0; i < 400; i++) {
    const r = rng.int(10);
    if (r === 0) clock.advance(rng.between(1, 120)); // often past the 50 ms window: forces mark writes mid-flight
    else if (r === 1) clock.advance(-rng.between(1, 200));
    calls.push(rng.chance(0.5) ? p.getTs().then((ts) => [ts]) : p.getTs(rng.between(1, 40)));
  }
  const results = await Promise.all(calls);
  let prev = -1n;
  let n = 0;
  for (const batch of results) {
    for (const ts of batch) {
      t.true(ts > prev, `SEED=${seed}: ts ${ts} after ${prev} in call order`);
      prev = ts;
      n++;
    }
  }
  t.true(n > 400);
  // Nothing handed out lies at or above the persisted mark.
  t.true(physicalOf(prev) < p.tsoHighWaterMark, `SEED=${seed}`);
});

test('TSO: a restart with the clock set backwards still continues above every earlier ts', async (t) => {
  const engine = new ReferenceEngine();
  const clock = new ManualClock(T0);
  const p1 = await LocalPlacement.open({ engine, clock });
  let last = 0n;
  for (let i = 0; i < 50; i++) {
    clock.advance(7);
    last = await p1.getTs();
  }
  const mark = persistedMark(engine)!;
  t.true(physicalOf(last) < mark);

  // "Restart": the old object is dropped; the clock is now an hour behind.
  clock.set(T0 - 3_600_000);
  const p2 = await LocalPlacement.open({ engine, clock });
  const first = await p2.getTs();
  t.true(first > last, `${first} must exceed ${last}`);
  t.true(physicalOf(first) >= mark);
  const more = await p2.getTs(100);
  t.true(more[0]! > first);
  for (let i = 1; i < more.length; i++) t.true(more[i]! > more[i - 1]!);

  // And again, restarting twice in a row without the clock moving at all.
  const p3 = await LocalPlacement.open({ engine, clock });
  t.true((await p3.getTs()) > more[more.length - 1]!);
});

test('TSO: logical overflow moves the physical part forward without waiting for the clock', async (t) => {
  const clock = new ManualClock(T0);
  const p = await LocalPlacement.open({ engine: new ReferenceEngine(), clock });
  const a = await p.getTs(LOGICAL_LIMIT - 2);
  t.is(physicalOf(a[0]!), T0);
  t.is(logicalOf(a[0]!), 0);
  t.is(logicalOf(a[a.length - 1]!), LOGICAL_LIMIT - 3);
  const b = await p.getTs(5); // logicals 2^18-2, 2^18-1, then 0, 1, 2 of the next ms
  t.deepEqual(
    b.map((ts) => [physicalOf(ts) - T0, logicalOf(ts)]),
    [
      [0, LOGICAL_LIMIT - 2],
      [0, LOGICAL_LIMIT - 1],
      [1, 0],
      [1, 1],
      [1, 2],
    ],
  );
  t.true(b[0]! > a[a.length - 1]!);
  // The clock catching up to the borrowed millisecond does not repeat it.
  clock.set(T0 + 1);
  const c = await p.getTs();
  t.true(c > b[4]!);
  t.deepEqual([physicalOf(c) - T0, logicalOf(c)], [1, 3]);
});

test('TSO: the mark is written with sync before any ts above the old mark is handed out, once per window', async (t) => {
  const { engine, log } = faultyEngine(new ReferenceEngine());
  const clock = new ManualClock(T0);
  const p = await LocalPlacement.open({ engine, clock, tsoWindowMs: 1000 });
  t.is(persistedMark(engine), undefined);
  const got: bigint[] = [];
  const pending = p.getTs().then((ts) => {
    log.push('handed out');
    got.push(ts);
  });
  await pending;
  t.deepEqual(log, ['tso write sync=true', 'handed out']);
  t.is(persistedMark(engine), T0 + 1000);
  // Inside the window: no further writes, however many calls.
  for (let i = 0; i < 500; i++) {
    clock.advance(1);
    got.push(await p.getTs());
  }
  t.is(log.filter((l) => l.startsWith('tso write')).length, 1);
  // Crossing the window needs a new mark first.
  clock.set(T0 + 1000);
  await p.getTs();
  t.is(log.filter((l) => l.startsWith('tso write')).length, 2);
  t.is(persistedMark(engine), T0 + 2000);
});

test('TSO: when the mark cannot be written, getTs rejects and hands out nothing; a restart stays above what was handed out', async (t) => {
  const inner = new ReferenceEngine();
  const { engine, failing } = faultyEngine(inner);
  const clock = new ManualClock(T0);
  const p = await LocalPlacement.open({ engine, clock, tsoWindowMs: 100 });
  const handed: bigint[] = [await p.getTs()];
  const markBefore = persistedMark(engine)!;

  clock.advance(500); // beyond the mark
  failing.on = true;
  const attempts = await Promise.allSettled([p.getTs(), p.getTs(3), p.getTs()]);
  for (const a of attempts) {
    t.is(a.status, 'rejected');
    if (a.status === 'rejected') t.regex(String(a.reason.message), /injected write failure/);
  }
  t.is(persistedMark(engine), markBefore);

  failing.on = false;
  const after = await p.getTs();
  t.true(after > handed[0]!);
  handed.push(after);
  t.true(physicalOf(after) < persistedMark(engine)!);

  clock.set(T0 - 10_000);
  const p2 = await LocalPlacement.open({ engine: inner, clock });
  t.true((await p2.getTs()) > after);
});

test('TSO: bad counts are refused without consuming anything', async (t) => {
  const p = await LocalPlacement.open({ engine: new ReferenceEngine(), clock: new ManualClock(T0) });
  const a = await p.getTs();
  for (const bad of [0, -1, 1.5, LOGICAL_LIMIT + 1, Number.NaN]) {
    const e = await t.throwsAsync(p.getTs(bad));
    t.true(isKvError(e, 'INVALID_ARGUMENT'), String(bad));
  }
  await t.throwsAsync(p.getTs('3' as never), { instanceOf: TypeError });
  const b = await p.getTs();
  t.is(b, a + 1n);
});
