import test, { type ExecutionContext } from 'ava';
import {
  CLOCK,
  codec,
  definePlugin,
  ENGINE,
  Kernel,
  localPlacement,
  PLACEMENT,
  compareBytes,
  CorruptedError,
  EventCatalogue,
  isKvError,
  LocalPlacement,
  ManualClock,
  WriteBatch,
  type KvErrorCode,
  type Region,
  type RegionChangedEvent,
  type StorageEngine,
} from '@flashkv/core';
import { bytes, latin1, ReferenceEngine, Rng, testSeed, wrapEngine } from '@flashkv/core/testing';
import { NEXT_ID_KEY, regionKey } from '../src/placement/keys.js';

const T0 = 1_700_000_000_000;
const EMPTY = new Uint8Array(0);

/** Region boundaries are encoded keys (memcomparable `Key::from_raw`). */
function enc(raw: string): Uint8Array {
  return codec.encodeBytes(bytes(raw));
}

async function open(engine: StorageEngine, events?: EventCatalogue): Promise<LocalPlacement> {
  return LocalPlacement.open({ engine, clock: new ManualClock(T0), ...(events ? { events } : {}) });
}

async function mustFail(t: ExecutionContext, p: Promise<unknown> | (() => unknown), code: KvErrorCode, message?: RegExp): Promise<void> {
  let err: unknown;
  if (typeof p === 'function') err = t.throws(p as () => unknown);
  else err = await t.throwsAsync(p);
  t.true(isKvError(err, code), `expected ${code}, got ${String(err)}`);
  if (message) t.regex((err as Error).message, message);
}

/** A plain description of a region for deepEqual across reopen. */
function describe(r: Region): unknown {
  return {
    id: r.id,
    start: latin1(r.startKey),
    end: latin1(r.endKey),
    epoch: { ...r.epoch },
    peers: r.peers.map((p) => ({ ...p })),
    flashback: { ...r.flashback },
  };
}

/** Regions tile the key space: first starts empty, each ends where the next starts, last unbounded. */
function mustTile(t: ExecutionContext, regions: readonly Region[]): void {
  t.true(regions.length > 0);
  t.is(regions[0]!.startKey.length, 0);
  for (let i = 1; i < regions.length; i++) t.is(compareBytes(regions[i - 1]!.endKey, regions[i]!.startKey), 0);
  t.is(regions[regions.length - 1]!.endKey.length, 0);
}

test('bootstrap: one region over the whole key space, announced on the event catalogue', async (t) => {
  const events = new EventCatalogue();
  const seen: RegionChangedEvent[] = [];
  events.observe('regionChanged', (e) => seen.push(e));
  const p = await open(new ReferenceEngine(), events);
  const all = p.regions();
  t.is(all.length, 1);
  t.deepEqual(describe(all[0]!), {
    id: 1,
    start: '',
    end: '',
    epoch: { version: 1, confVer: 1 },
    peers: [{ id: 2, storeId: 1, role: 'voter' }],
    flashback: { inFlashback: false, flashbackStartTs: 0n },
  });
  for (const k of [EMPTY, enc(''), enc('a'), Uint8Array.of(0xff, 0xff, 0xff)]) t.is(p.regionForKey(k).id, 1);
  t.deepEqual(
    seen.map((e) => [e.regionId, e.reason, e.epoch.version]),
    [[1, 'created', 1]],
  );
});

test('split: parent keeps its id on the right, new region on the left, both epochs bumped, events per region', async (t) => {
  const events = new EventCatalogue();
  const seen: RegionChangedEvent[] = [];
  events.observe('regionChanged', (e) => seen.push(e));
  const p = await open(new ReferenceEngine(), events);
  seen.length = 0;
  const { left, right } = await p.split(1, enc('m'));
  t.deepEqual(describe(left), {
    id: 3,
    start: '',
    end: latin1(enc('m')),
    epoch: { version: 2, confVer: 1 },
    peers: [{ id: 4, storeId: 1, role: 'voter' }],
    flashback: { inFlashback: false, flashbackStartTs: 0n },
  });
  t.deepEqual(describe(right), {
    id: 1,
    start: latin1(enc('m')),
    end: '',
    epoch: { version: 2, confVer: 1 },
    peers: [{ id: 2, storeId: 1, role: 'voter' }],
    flashback: { inFlashback: false, flashbackStartTs: 0n },
  });
  t.is(p.regionForKey(enc('a')).id, 3);
  t.is(p.regionForKey(enc('l\xff\xff')).id, 3);
  t.is(p.regionForKey(enc('m')).id, 1);
  // Every version of 'm' (encoded ++ !ts) routes like 'm' itself.
  t.is(p.regionForKey(codec.encodeTsKey(bytes('m'), 5n)).id, 1);
  t.is(p.regionForKey(codec.encodeTsKey(bytes('l'), 5n)).id, 3);
  t.is(p.getRegion(3), left);
  t.deepEqual(
    seen.map((e) => [e.regionId, e.reason, latin1(e.startKey), latin1(e.endKey), e.epoch.version]),
    [
      [3, 'split', '', latin1(enc('m')), 2],
      [1, 'split', latin1(enc('m')), '', 2],
    ],
  );
  // A second split of the right half bumps only the regions it touches.
  const second = await p.split(1, enc('t'));
  t.is(second.left.id, 5);
  t.is(second.left.epoch.version, 3);
  t.is(second.right.epoch.version, 3);
  t.is(p.getRegion(3).epoch.version, 2);
  t.deepEqual(
    p.regions().map((r) => r.id),
    [3, 5, 1],
  );
  t.deepEqual(
    p.regionsInRange(enc('n'), enc('u')).map((r) => r.id),
    [5, 1],
  );
  t.deepEqual(
    p.regionsInRange(enc('m'), enc('t')).map((r) => r.id),
    [5],
  );
  t.deepEqual(
    p.regionsInRange(EMPTY, EMPTY).map((r) => r.id),
    [3, 5, 1],
  );
  t.deepEqual(p.regionsInRange(enc('q'), enc('q')), []);
  await mustFail(t, () => p.regionsInRange(enc('u'), enc('n')), 'INVALID_ARGUMENT');
});

test('split: keys outside or on the edge of the range, unknown regions, stale epochs and regions in flashback are refused and change nothing', async (t) => {
  const engine = new ReferenceEngine();
  const p = await open(engine);
  await p.split(1, enc('m')); // 3 = ['', m), 1 = [m, '')
  const before = p.regions().map(describe);
  const nextIdBefore = latin1(engine.get('raft', NEXT_ID_KEY)!);

  await mustFail(t, p.split(3, EMPTY), 'INVALID_ARGUMENT', /strictly inside region 3/);
  await mustFail(t, p.split(3, enc('m')), 'INVALID_ARGUMENT'); // == end
  await mustFail(t, p.split(3, enc('z')), 'INVALID_ARGUMENT'); // beyond end
  await mustFail(t, p.split(1, enc('m')), 'INVALID_ARGUMENT'); // == start
  await mustFail(t, p.split(1, enc('a')), 'INVALID_ARGUMENT'); // before start
  await mustFail(t, p.split(99, enc('q')), 'REGION_NOT_FOUND', /region 99/);
  await mustFail(t, p.split(1, enc('q'), { epoch: { version: 1, confVer: 1 } }), 'EPOCH_NOT_MATCH', /2\/1/);
  await t.throwsAsync(p.split(1, 'q' as never), { instanceOf: TypeError });

  await p.setFlashbackState(1, { inFlashback: true, flashbackStartTs: 42n });
  const fb = await t.throwsAsync(p.split(1, enc('q')));
  t.true(isKvError(fb, 'FLASHBACK_IN_PROGRESS'));
  t.is((fb as unknown as { details: { flashbackStartTs: bigint } }).details.flashbackStartTs, 42n);
  await p.setFlashbackState(1, { inFlashback: false });

  t.deepEqual(p.regions().map(describe), before);
  t.is(latin1(engine.get('raft', NEXT_ID_KEY)!), nextIdBefore);
  // The right epoch is accepted.
  const ok = await p.split(1, enc('q'), { epoch: { version: 2, confVer: 1 } });
  t.is(ok.right.epoch.version, 3);
});

test('region lookup agrees with a linear scan after many seeded random splits', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const p = await open(new ReferenceEngine());
  const alphabet = 'abcdxyz\x00\xff';
  const randomKey = (): Uint8Array => {
    let s = '';
    for (let i = rng.between(0, 4); i > 0; i--) s += alphabet[rng.int(alphabet.length)];
    return enc(s);
  };
  let splits = 0;
  for (let i = 0; i < 150; i++) {
    const key = randomKey();
    const r = p.regionForKey(key);
    if (compareBytes(r.startKey, key) === 0) continue; // a boundary already
    const before = r.epoch.version;
    const { left, right } = await p.split(r.id, key);
    t.is(left.epoch.version, before + 1, `SEED=${seed}`);
    t.is(right.epoch.version, before + 1, `SEED=${seed}`);
    splits++;
  }
  const regions = p.regions();
  t.is(regions.length, splits + 1);
  mustTile(t, regions);
  t.is(new Set(regions.map((r) => r.id)).size, regions.length);
  for (let i = 0; i < 500; i++) {
    const key = rng.chance(0.2) ? rng.pick(regions).startKey : randomKey();
    const naive = regions.find((r) => compareBytes(r.startKey, key) <= 0 && (r.endKey.length === 0 || compareBytes(key, r.endKey) < 0));
    t.is(p.regionForKey(key).id, naive!.id, `SEED=${seed} key ${latin1(key)}`);
  }
});

test('regions, flashback state and the id counter survive a reopen', async (t) => {
  const engine = new ReferenceEngine();
  const events = new EventCatalogue();
  const seen: RegionChangedEvent[] = [];
  events.observe('regionChanged', (e) => seen.push(e));
  const p1 = await open(engine, events);
  await p1.split(1, enc('g'));
  await p1.split(1, enc('p'));
  const prepared = await p1.setFlashbackState(3, { inFlashback: true, flashbackStartTs: 1234567890123n });
  t.deepEqual(prepared.flashback, { inFlashback: true, flashbackStartTs: 1234567890123n });
  t.is(prepared.epoch.version, p1.getRegion(3).epoch.version);
  t.deepEqual(seen[seen.length - 1]!.reason, 'flashback');
  // Setting the same state again is a no-op: no write, no event.
  const n = seen.length;
  t.is(await p1.setFlashbackState(3, { inFlashback: true, flashbackStartTs: 1234567890123n }), prepared);
  t.is(seen.length, n);
  const before = p1.regions().map(describe);

  const p2 = await open(engine);
  t.deepEqual(p2.regions().map(describe), before);
  t.is(p2.regionForKey(enc('h')).id, p1.regionForKey(enc('h')).id);
  // Ids allocated after the reopen never repeat one from before it.
  const used = new Set(before.flatMap((r) => [(r as { id: number }).id, ...(r as { peers: { id: number }[] }).peers.map((x) => x.id)]));
  const s = await p2.split(1, enc('x'));
  t.false(used.has(s.left.id));
  t.false(used.has(s.left.peers[0]!.id));
  const id = await p2.allocId();
  t.false(used.has(id));
  t.true(id > s.left.peers[0]!.id);
  const cleared = await p2.setFlashbackState(3, { inFlashback: false, flashbackStartTs: 99n });
  t.deepEqual(cleared.flashback, { inFlashback: false, flashbackStartTs: 0n });
  t.deepEqual((await open(engine)).getRegion(3).flashback, { inFlashback: false, flashbackStartTs: 0n });
});

test('a split whose write fails leaves memory and disk as they were', async (t) => {
  const inner = new ReferenceEngine();
  let fail = false;
  const engine = wrapEngine(inner, {
    write(batch) {
      if (fail) throw new Error('disk full');
      return batch;
    },
  });
  const p = await open(engine);
  await p.split(1, enc('m'));
  const before = p.regions().map(describe);
  fail = true;
  await t.throwsAsync(p.split(1, enc('q')), { message: 'disk full' });
  await t.throwsAsync(p.setFlashbackState(1, { inFlashback: true, flashbackStartTs: 5n }), { message: 'disk full' });
  fail = false;
  t.deepEqual(p.regions().map(describe), before);
  t.deepEqual((await open(inner)).regions().map(describe), before);
  // And the placement keeps working afterwards, with no id handed out twice.
  const s = await p.split(1, enc('q'));
  t.is(s.left.id, 5);
});

test('flashback state: bad input is refused', async (t) => {
  const p = await open(new ReferenceEngine());
  await mustFail(t, p.setFlashbackState(1, { inFlashback: true, flashbackStartTs: 0n }), 'INVALID_ARGUMENT');
  await mustFail(t, p.setFlashbackState(1, { inFlashback: true, flashbackStartTs: -1n }), 'INVALID_ARGUMENT');
  await t.throwsAsync(p.setFlashbackState(1, { inFlashback: true }), { instanceOf: TypeError });
  await t.throwsAsync(p.setFlashbackState(1, { inFlashback: 'yes' } as never), { instanceOf: TypeError });
  await mustFail(t, p.setFlashbackState(7, { inFlashback: true, flashbackStartTs: 3n }), 'REGION_NOT_FOUND');
  await mustFail(t, p.setFlashbackState(1, { inFlashback: true, flashbackStartTs: 3n }, { epoch: { version: 1, confVer: 2 } }), 'EPOCH_NOT_MATCH');
  await mustFail(t, () => p.getRegion(0), 'REGION_NOT_FOUND');
  t.throws(() => p.regionForKey('a' as never), { instanceOf: TypeError });
  t.false(p.getRegion(1).flashback.inFlashback);
});

test('GC safe point: only moves forward, is persisted, and holds still while GC is paused', async (t) => {
  const engine = new ReferenceEngine();
  const p = await open(engine);
  t.is(p.gcSafePoint(), 0n);
  t.is(await p.updateGcSafePoint(100n), 100n);
  t.is(await p.updateGcSafePoint(50n), 100n);
  t.is(await p.updateGcSafePoint(100n), 100n);
  t.is(p.gcSafePoint(), 100n);
  t.is(await p.updateGcSafePoint(200n), 200n);
  t.is((await open(engine)).gcSafePoint(), 200n);

  t.true(await p.pauseGc('flashback:job-1'));
  t.false(await p.pauseGc('flashback:job-1')); // same owner: still one pause
  t.true(await p.pauseGc('backup'));
  t.deepEqual(p.gcPausedBy(), ['backup', 'flashback:job-1']);
  t.is(await p.updateGcSafePoint(300n), 200n);
  t.true(await p.resumeGc('flashback:job-1'));
  t.false(await p.resumeGc('flashback:job-1')); // a resumed orchestrator may repeat it
  t.true(p.isGcPaused());
  t.is(await p.updateGcSafePoint(300n), 200n);

  // The pause survives a crash: a reopened placement still refuses to move the safe point.
  const p2 = await open(engine);
  t.true(p2.isGcPaused());
  t.deepEqual(p2.gcPausedBy(), ['backup']);
  t.is(await p2.updateGcSafePoint(300n), 200n);
  t.true(await p2.resumeGc('backup'));
  t.false(p2.isGcPaused());
  t.is(await p2.updateGcSafePoint(300n), 300n);
  t.is((await open(engine)).gcSafePoint(), 300n);
  t.false((await open(engine)).isGcPaused());

  await mustFail(t, p2.updateGcSafePoint(-1n), 'INVALID_ARGUMENT');
  await mustFail(t, p2.updateGcSafePoint(1n << 64n), 'INVALID_ARGUMENT');
  await t.throwsAsync(p2.updateGcSafePoint(5 as never), { instanceOf: TypeError });
  await mustFail(t, p2.pauseGc(''), 'INVALID_ARGUMENT');
  await mustFail(t, p2.pauseGc('x'.repeat(300)), 'INVALID_ARGUMENT');
  t.is(p2.gcSafePoint(), 300n);
});

test('scheduling pause: held per owner, independent of the GC pause, persisted', async (t) => {
  const engine = new ReferenceEngine();
  const p = await open(engine);
  t.false(p.isSchedulingPaused());
  t.true(await p.pauseScheduling('flashback:7'));
  t.true(await p.pauseScheduling('operator'));
  t.false(p.isGcPaused());
  t.true(await p.resumeScheduling('operator'));
  t.deepEqual(p.schedulingPausedBy(), ['flashback:7']);
  const p2 = await open(engine);
  t.true(p2.isSchedulingPaused());
  t.deepEqual(p2.schedulingPausedBy(), ['flashback:7']);
  t.false(p2.isGcPaused());
  // Explicit splits are not scheduling: the orchestrator splits while scheduling is paused.
  t.is((await p2.split(1, enc('k'))).right.id, 1);
  t.true(await p2.resumeScheduling('flashback:7'));
  t.false((await open(engine)).isSchedulingPaused());
});

test('job records: bigints round-trip exactly, records survive a reopen, list is ordered, delete works', async (t) => {
  const engine = new ReferenceEngine();
  const p = await open(engine);
  const job = {
    kind: 'flashback',
    version: 449348112515743744n,
    startTs: (1n << 64n) - 1n,
    commitTs: null,
    phase: 'prepare',
    ranges: [{ start: '7a', end: '' }],
    regionsDone: 3,
    digits: '12345', // a string of digits stays a string
    nested: { ts: [0n, 1n, 2n], ok: true, neg: -5n },
  };
  await p.putJob('job-b', job);
  await p.putJob('job-a', { startTs: 7n });
  t.deepEqual(p.getJob('job-b'), job);
  t.is(typeof p.getJob('job-b')!['digits'], 'string');
  t.is(p.getJob('nope'), undefined);

  await p.putJob('job-a', { startTs: 7n, commitTs: 9n }); // overwrite
  const p2 = await open(engine);
  t.deepEqual(p2.getJob('job-b'), job);
  t.deepEqual(
    p2.listJobs().map((j) => j.id),
    ['job-a', 'job-b'],
  );
  t.deepEqual(p2.listJobs()[0]!.record, { startTs: 7n, commitTs: 9n });

  t.true(await p2.deleteJob('job-a'));
  t.false(await p2.deleteJob('job-a'));
  t.deepEqual(
    (await open(engine)).listJobs().map((j) => j.id),
    ['job-b'],
  );
});

test('job records: values JSON would drop or misread are refused and nothing is written', async (t) => {
  const engine = new ReferenceEngine();
  const p = await open(engine);
  const bad: unknown[] = [
    { a: undefined },
    { a: () => 1 },
    { a: Number.NaN },
    { a: Infinity },
    { a: new Date(0) },
    { a: new Map() },
    { a: { $bigint: '5' } },
    { a: [1, Symbol('s')] },
    [1, 2],
    null,
    'text',
  ];
  for (const record of bad) await mustFail(t, p.putJob('j', record as never), 'INVALID_ARGUMENT');
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  await mustFail(t, p.putJob('j', cyclic as never), 'INVALID_ARGUMENT');
  await mustFail(t, p.putJob('', { a: 1 }), 'INVALID_ARGUMENT');
  await mustFail(t, p.putJob('é'.repeat(200), { a: 1 }), 'INVALID_ARGUMENT'); // 400 UTF-8 bytes
  t.deepEqual(p.listJobs(), []);
  // A shared (non-cyclic) sub-object is fine.
  const shared = { ts: 1n };
  await p.putJob('j', { a: shared, b: shared });
  t.deepEqual(p.getJob('j'), { a: { ts: 1n }, b: { ts: 1n } });
});

test('a damaged placement store is reported as CORRUPTED, not patched up', async (t) => {
  const engine = new ReferenceEngine();
  const p = await open(engine);
  await p.split(1, enc('m'));
  // Remove the left region: the directory no longer covers the start of the key space.
  await engine.write(new WriteBatch().delete('raft', regionKey(3)));
  const e1 = await t.throwsAsync(open(engine));
  t.true(e1 instanceof CorruptedError, String(e1));
  t.regex(e1!.message, /tile/);

  const engine2 = new ReferenceEngine();
  await open(engine2);
  await engine2.write(new WriteBatch().put('raft', regionKey(1), Uint8Array.of(1, 0, 0)));
  const e2 = await t.throwsAsync(open(engine2));
  t.true(e2 instanceof CorruptedError, String(e2));
  t.regex(e2!.message, /truncated/);
});

test('as a plugin: provides PLACEMENT from ENGINE and CLOCK, emits on the kernel catalogue, drains at stop, and a kernel restart keeps the TSO increasing', async (t) => {
  const inner = new ReferenceEngine();
  // Writes can be held back, to catch the kernel stopping while a mark write is in flight.
  let gate: Promise<void> | undefined;
  const log: string[] = [];
  const engine: StorageEngine = {
    name: 'gated',
    capabilities: inner.capabilities,
    get: (cf, key) => inner.get(cf, key),
    iterator: (cf, o) => inner.iterator(cf, o),
    snapshot: () => inner.snapshot(),
    async write(batch, options) {
      if (gate) await gate;
      await inner.write(batch, options);
      log.push('write done');
    },
    close: async () => {},
  };
  const clock = new ManualClock(T0);
  const fixtures = definePlugin({
    name: 'test-fixtures',
    version: '1.0.0',
    provides: [ENGINE, CLOCK],
    register(ctx) {
      ctx.provide(ENGINE, engine);
      ctx.provide(CLOCK, clock);
    },
    stop() {
      log.push('engine stopped');
    },
  });
  const k1 = await Kernel.start({ plugins: [localPlacement({ tsoWindowMs: 10 }), fixtures] });
  t.deepEqual(k1.plugins, ['test-fixtures', '@flashkv/core:placement']);
  const seen: RegionChangedEvent[] = [];
  k1.events.observe('regionChanged', (e) => seen.push(e));
  const p1 = k1.resolve(PLACEMENT);
  const before = await p1.getTs(3);
  await p1.split(1, enc('m'));
  t.deepEqual(
    seen.map((e) => [e.regionId, e.reason]),
    [
      [3, 'split'],
      [1, 'split'],
    ],
  );

  let open!: () => void;
  gate = new Promise((r) => (open = r));
  clock.advance(100); // beyond the mark: this getTs needs a mark write
  const inFlight = p1.getTs();
  log.length = 0;
  let stopped = false;
  const stopping = k1.stop().then(() => (stopped = true));
  await new Promise((r) => setImmediate(r));
  t.false(stopped, 'stop waits for the in-flight mark write');
  t.deepEqual(log, []);
  gate = undefined;
  open();
  await stopping;
  t.deepEqual(log, ['write done', 'engine stopped']);
  const last = await inFlight;
  t.true(last > before[2]!);

  clock.set(T0 - 1000);
  const k2 = await Kernel.start({ plugins: [fixtures, localPlacement()] });
  const p2 = k2.resolve(PLACEMENT);
  t.true((await p2.getTs()) > last);
  t.deepEqual(
    p2.regions().map((r) => r.id),
    [3, 1],
  );
  await k2.stop();
});
