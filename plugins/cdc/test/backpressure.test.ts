/**
 * Back-pressure end to end and the bounded incremental scan: a deliberately slow (or stuck) stream
 * behind the JSON-lines sink, a paused subscriber, a scheduler the test runs by hand, and seeded
 * writers racing a scan that yields between steps.
 */
import test from 'ava';
import { Writable } from 'node:stream';
import { isKvError, type KvError } from '@flashkv/core';
import { bytes, latin1, Rng, testSeed } from '@flashkv/core/testing';
import { FeedFlow, writeJsonLines, type CdcEvent } from '../src/index.js';
import { Collector, dup, mustHistory, mustPut, mustSettle, mustSplit, row, setup, type Env } from './cdc-must.js';

const HWM = 512;

/** A stream whose writes finish only when the test says so (`release(n)`): a disk or socket as slow as the test wants. */
function slowStream() {
  const callbacks: (() => void)[] = [];
  const chunks: Buffer[] = [];
  let peakLength = 0;
  const out = new Writable({
    highWaterMark: HWM,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      callbacks.push(() => cb());
    },
  });
  const observe = () => (peakLength = Math.max(peakLength, out.writableLength));
  return {
    out,
    observe,
    get peakLength() {
      return peakLength;
    },
    release(n: number): void {
      for (let i = 0; i < n && callbacks.length > 0; i++) {
        observe();
        callbacks.shift()!();
      }
    },
    lines: () => Buffer.concat(chunks).toString('utf8').trimEnd().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, string>),
  };
}

const rowOf = (l: Record<string, string>) => row(Buffer.from(l['key']!, 'hex'), BigInt(l['commitTs']!), l['op']!, l['value'] === undefined ? undefined : Buffer.from(l['value'], 'hex'));

test('a slow stream pauses the feed through the sink: every row arrives, the sink holds nothing and the feed queue stays under its bound', async (t) => {
  const env = await setup({ schedule: (run) => void setImmediate(run), maxPendingEvents: 400 });
  await mustPut(env, { pre: 'x' }); // for the scan
  const slow = slowStream();
  const flow = new FeedFlow();
  const sink = writeJsonLines(env.cdc.changefeed({ startTs: 0n, flow }), slow.out, { flow });
  let paused = 0;
  let peakPending = 0;
  for (let i = 0; i < 60; i++) {
    await mustPut(env, { [`k${i % 7}`]: `v${i}`, [`j${i % 5}`]: `w${i}` });
    if (i % 10 === 0) await env.cdc.tick();
    await mustSettle(env);
    slow.observe();
    for (const s of env.cdc.feedStats()) {
      peakPending = Math.max(peakPending, s.pending);
      if (s.paused) paused++;
    }
    slow.release(1); // one line per txn of two rows (plus resolved ts): the stream falls behind
  }
  t.true(paused > 10, `the feed was paused (${paused} observations)`);
  t.true(peakPending > 20 && peakPending <= 400, `events waited in the feed queue: ${peakPending}`);
  // The stream catches up: everything arrives, in order, once.
  for (let i = 0; i < 100 && env.cdc.feedStats().some((s) => s.pending > 0 || s.paused); i++) {
    slow.release(1000);
    await mustSettle(env);
  }
  env.cdc.stop();
  for (let i = 0; i < 10; i++) {
    slow.release(1000);
    await mustSettle(env);
  }
  await sink.done;
  t.is(sink.buffered().peak, 0, 'with the flow the sink itself holds no lines');
  t.true(slow.peakLength <= HWM + 200, `stream buffer ${slow.peakLength} bytes (high-water mark ${HWM})`);
  const rows = slow.lines().filter((l) => l['type'] === 'committed' || l['type'] === 'commit').map(rowOf).sort();
  t.deepEqual(dup(rows), []);
  t.deepEqual(rows, mustHistory(env));
  t.true(env.cdc.feedStats().length === 0);
});

test('a stuck stream: the feed fails with CDC_LAGGING at its bound, done rejects with it, and no buffer grows past its bound', async (t) => {
  const env = await setup({ schedule: (run) => void setImmediate(run), maxPendingEvents: 50 });
  const slow = slowStream();
  const flow = new FeedFlow();
  const sink = writeJsonLines(env.cdc.changefeed({ startTs: 0n, flow }), slow.out, { flow });
  const failed = sink.done.then(
    () => undefined,
    (e: unknown) => e,
  );
  let peakPending = 0;
  let writes = 0;
  while (env.cdc.feedStats().length > 0 && writes < 200) {
    await mustPut(env, { [`k${writes % 9}`]: `v${writes}`, [`j${writes % 4}`]: `w${writes}` });
    writes++;
    await mustSettle(env);
    for (const s of env.cdc.feedStats()) peakPending = Math.max(peakPending, s.peakPending);
    slow.observe();
  }
  const e = await failed;
  t.true(isKvError(e, 'CDC_LAGGING'), String(e));
  t.is((e as KvError).details?.['pending'], 50);
  t.true(writes < 60, `failed after ${writes} txns`);
  t.true(peakPending <= 50, `feed queue peak ${peakPending}`);
  t.is(sink.buffered().peak, 0);
  t.true(slow.peakLength <= HWM + 200, `stream buffer ${slow.peakLength} bytes`);
  t.deepEqual(env.cdc.feedStats(), [], 'the failed feed is unregistered');
});

test('a sink given a plain Observable holds at most maxBufferedEvents lines while the stream is full, then fails with CDC_LAGGING', async (t) => {
  const env = await setup({ schedule: (run) => void setImmediate(run) });
  const slow = slowStream();
  const sink = writeJsonLines(env.cdc.changefeed({ startTs: 0n }), slow.out, { maxBufferedEvents: 12 });
  const failed = sink.done.then(
    () => undefined,
    (e: unknown) => e,
  );
  for (let i = 0; i < 40 && env.cdc.feedStats().length > 0; i++) {
    await mustPut(env, { [`k${i}`]: 'v' });
    await mustSettle(env);
  }
  const e = await failed;
  for (let i = 0; i < 5; i++) {
    slow.release(10_000); // the stream drains: the held lines were handed to it before the error was reported
    await mustSettle(env);
  }
  t.true(isKvError(e, 'CDC_LAGGING'), String(e));
  t.is(sink.buffered().peak, 12);
  t.deepEqual(env.cdc.feedStats(), [], 'the sink unsubscribed the feed');
  const rows = slow.lines().map(rowOf);
  t.deepEqual(
    rows.map((r) => r.split('@')[0]),
    Array.from({ length: rows.length }, (_, i) => `k${i}`),
    'what was written is the history up to the failure, in commit order',
  );
  t.deepEqual([...rows].sort(), mustHistory(env).filter((r) => rows.includes(r)));
  t.true(rows.length > 12);
});

test('the incremental scan reads bounded steps, one per scheduler run, waits while the subscriber is paused, and live rows follow it', async (t) => {
  const runs: (() => void)[] = [];
  const env = await setup({ schedule: (run) => void runs.push(run), scanChunk: 16 });
  for (let i = 0; i < 10; i++) {
    const kvs: Record<string, string> = {};
    for (let j = 0; j < 30; j++) kvs[`k${String(i * 30 + j).padStart(3, '0')}`] = `v${i}`;
    await mustPut(env, kvs);
  }
  const flow = new FeedFlow();
  const got: CdcEvent[] = [];
  const sub = env.cdc.changefeed({ startTs: 0n, flow }).subscribe((e) => got.push(e));
  t.is(got.length, 0, 'subscribe only takes the snapshot');
  const step = () => {
    const before = got.length;
    for (const run of runs.splice(0)) run();
    return got.length - before;
  };
  // A step reads 16 records; the last key read waits for the next step (its older versions may follow).
  t.is(step(), 15, 'one step: 16 records read, 15 keys complete');
  t.is(step(), 16);
  // A write applied while the scan runs is held until the scan ends.
  await mustPut(env, { 'k000': 'live' });
  flow.pause();
  for (let i = 0; i < 5; i++) t.is(step(), 0, 'nothing is read or delivered while paused');
  t.true(env.cdc.feedStats()[0]!.scanning);
  t.true(env.cdc.feedStats()[0]!.pending <= 1, 'paused: the scan does not run ahead (one held live row)');
  flow.resume();
  let steps = 0;
  while (runs.length > 0) {
    t.true(step() <= 16 + 1);
    steps++;
  }
  t.true(steps >= 300 / 16 - 2, `${steps} more steps`);
  const rows = got.filter((e) => e.type === 'committed' || e.type === 'commit');
  t.is(rows.length, 301);
  t.deepEqual(rows.slice(0, 300).map((e) => latin1((e as { key: Uint8Array }).key)), Array.from({ length: 300 }, (_, i) => `k${String(i).padStart(3, '0')}`));
  t.is(latin1((rows[300] as { value: Uint8Array }).value), 'live', 'the live row comes after the scan');
  t.deepEqual(env.cdc.feedStats(), [{ pending: 0, peakPending: 17, scanning: false, paused: false }]);
  sub.unsubscribe();
});

test('seeded writers race chunked scans (feeds opened mid-run, one from a checkpoint, a split while scanning): no duplicates, no gaps, resolved-ts invariant on every event', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const env = await setup({ seed, schedule: (run) => void setImmediate(run), scanChunk: 7 });
  const keys = Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(2, '0')}`);
  let committed = 0;
  let committedWhileScanning = 0;
  const feeds: { c: Collector; startTs: bigint }[] = [];
  const worker = async (r: Rng, n: number, opens: boolean) => {
    for (let i = 0; i < n; i++) {
      const txn = await env.client.begin();
      try {
        for (let j = r.between(1, 4); j > 0; j--) {
          const k = bytes(keys[r.int(keys.length)]!);
          if (r.chance(0.15)) await txn.delete(k);
          else await txn.put(k, bytes(r.chance(0.1) ? 'L'.repeat(300) : `v${r.int(1000)}`));
        }
        if (r.chance(0.1)) await txn.rollback();
        else {
          await txn.commit();
          committed++;
          if (env.cdc.feedStats().some((s) => s.scanning)) committedWhileScanning++;
        }
      } catch (e) {
        if (!isKvError(e)) throw e;
        await txn.rollback().catch(() => undefined);
      }
      if (r.chance(0.25)) await env.cdc.tick();
      if (opens && i % 25 === 10) {
        // From the start, or from the last checkpoint of an open feed.
        const from = feeds.length > 0 && r.chance(0.5) ? feeds[r.int(feeds.length)]!.c.global : 0n;
        feeds.push({ c: new Collector(env, { startTs: from, withOldValue: r.chance(0.5) }), startTs: from });
        if (feeds.length === 2) await mustSplit(env, 'k20');
      }
    }
  };
  await Promise.all([worker(rng.fork(), 100, true), worker(rng.fork(), 100, false), worker(rng.fork(), 100, false)]);
  // The scans go on one step per event-loop turn after the writers stop.
  for (let i = 0; i < 10_000 && env.cdc.feedStats().some((s) => s.scanning || s.pending > 0); i++) await mustSettle(env);
  t.deepEqual(env.cdc.feedStats().filter((s) => s.scanning), []);
  await env.cdc.tick();
  await mustSettle(env);
  t.log(`committed ${committed}, ${committedWhileScanning} while a scan ran; ${feeds.length} feeds`);
  t.true(feeds.length >= 3);
  t.true(committedWhileScanning > 0, 'writes raced the scans');
  for (const [i, { c, startTs }] of feeds.entries()) {
    t.is(c.error, undefined);
    t.deepEqual(dup(c.rows()), [], `feed ${i}: no duplicates (SEED=${seed})`);
    t.deepEqual(c.rows(), mustHistory(env, startTs), `feed ${i} from ${startTs}: rows equal the committed history (SEED=${seed})`);
    t.deepEqual(c.violations, [], `feed ${i}: resolved-ts invariant (SEED=${seed})`);
    t.true(c.global > 0n);
  }
  t.is(env.cdc.invariantViolations, 0);
});

test('a long seeded run: the resolved-ts invariant holds on every event of every region, with ticks racing 2PC and 1PC writers', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const env: Env = await setup({ seed, schedule: (run) => void setImmediate(run) });
  await mustSplit(env, 'k3');
  await mustSplit(env, 'k6');
  const feed = new Collector(env, { startTs: 0n });
  while (env.cdc.feedStats().some((f) => f.scanning)) await mustSettle(env);
  let events = 0;
  const worker = async (r: Rng, n: number) => {
    for (let i = 0; i < n; i++) {
      const txn = await env.client.begin();
      try {
        for (let j = r.between(1, 3); j > 0; j--) await txn.put(bytes(`k${r.int(10)}${r.int(10)}`), bytes(`v${i}`));
        await txn.commit();
      } catch (e) {
        if (!isKvError(e)) throw e;
        await txn.rollback().catch(() => undefined);
      }
      if (r.chance(0.5)) await env.cdc.tick();
      // Now and then the writers let the event loop turn, as requests arriving over I/O do.
      if (r.chance(0.2)) await new Promise<void>((res) => setImmediate(res));
    }
  };
  await Promise.all(Array.from({ length: 4 }, () => worker(rng.fork(), 150)));
  await env.cdc.tick();
  await mustSettle(env);
  events = feed.events.length;
  const resolvedEvents = feed.events.filter((e) => e.type === 'resolvedTs').length;
  t.log(`${events} events, ${resolvedEvents} region resolved-ts events`);
  t.true(resolvedEvents > 100);
  t.deepEqual(feed.violations, [], `SEED=${seed}`);
  t.deepEqual(feed.rows(), mustHistory(env), `SEED=${seed}`);
  t.is(env.cdc.invariantViolations, 0);
});
