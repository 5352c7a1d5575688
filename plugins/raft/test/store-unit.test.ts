// The store's on-disk layout and codecs, its durability discipline, lease reads and the ticker.
import test from 'ava';
import { CorruptedError, WriteBatch, freezeRegion, type BatchOp, type Region } from '@flashkv/core';
import { compareBytes } from '@flashkv/core';
import { ReferenceEngine, testSeed } from '@flashkv/core/testing';
import { StoreCluster } from '../testing/index.js';
import {
  ManualTickSource,
  StoreTicker,
  bootstrapStore,
  dumpStore,
  applyStateKey,
  decodeApplyState,
  decodeCommand,
  decodeEntry,
  decodeHardState,
  decodeRegionState,
  decodeSnapshotData,
  encodeApplyState,
  encodeCommand,
  encodeEntry,
  encodeHardState,
  encodeRegionState,
  encodeSnapshotData,
  hardStateKey,
  logKey,
  logRange,
  regionStateKey,
  type Command,
} from '../src/index.js';

const enc = new TextEncoder();
const region: Region = freezeRegion({
  id: 7,
  startKey: enc.encode('a'),
  endKey: enc.encode('m'),
  epoch: { version: 3, confVer: 2 },
  peers: [
    { id: 11, storeId: 1, role: 'voter' },
    { id: 12, storeId: 2, role: 'learner' },
  ],
  flashback: { inFlashback: true, flashbackStartTs: 99n },
});

test('state records round-trip and refuse an unknown format byte or a truncated value', (t) => {
  t.deepEqual(decodeHardState(encodeHardState({ term: 9, vote: 2, commit: 40 })), { term: 9, vote: 2, commit: 40 });
  t.deepEqual(decodeApplyState(encodeApplyState({ applied: 40, truncatedIndex: 30, truncatedTerm: 8 })), { applied: 40, truncatedIndex: 30, truncatedTerm: 8 });
  const rs = decodeRegionState(encodeRegionState({ peerId: 11, region }));
  t.is(rs.peerId, 11);
  t.deepEqual(rs.region, region);
  t.deepEqual(decodeEntry(5, encodeEntry({ index: 5, term: 3, type: 'confChange', data: enc.encode('x') })), { index: 5, term: 3, type: 'confChange', data: enc.encode('x') });
  const bad = encodeHardState({ term: 1, vote: 0, commit: 0 });
  bad[0] = 2;
  t.throws(() => decodeHardState(bad), { instanceOf: CorruptedError });
  t.throws(() => decodeApplyState(encodeApplyState({ applied: 1, truncatedIndex: 1, truncatedTerm: 1 }).subarray(0, 10)), { instanceOf: CorruptedError });
});

test('commands round-trip: writes with every op and flag, and each admin command', (t) => {
  const modifies: BatchOp[] = [
    { op: 'put', cf: 'default', key: enc.encode('zk'), value: enc.encode('v') },
    { op: 'delete', cf: 'lock', key: enc.encode('zl') },
    { op: 'deleteRange', cf: 'write', start: enc.encode('za'), end: enc.encode('zb') },
  ];
  const cmds: Command[] = [
    { kind: 'write', regionId: 7, version: 3, confVer: 2, flags: new Set(['flashback', 'onePc']), modifies },
    { kind: 'write', regionId: 7, version: 3, confVer: 2, flags: new Set(), modifies: [] },
    { kind: 'admin', regionId: 7, version: 3, confVer: 2, admin: { type: 'split', splitKey: enc.encode('g'), newRegionId: 1000, newPeerIds: [1001, 1002] } },
    { kind: 'admin', regionId: 7, version: 3, confVer: 2, admin: { type: 'prepareFlashback', startTs: 2n ** 63n + 5n } },
    { kind: 'admin', regionId: 7, version: 3, confVer: 2, admin: { type: 'finishFlashback' } },
  ];
  for (const c of cmds) t.deepEqual(decodeCommand(encodeCommand(c)), c);
  t.throws(() => encodeCommand({ kind: 'write', regionId: 1, version: 1, confVer: 1, flags: new Set(), modifies: [{ op: 'put', cf: 'raft', key: enc.encode('x'), value: enc.encode('y') }] }), { instanceOf: TypeError });
  const trailing = new Uint8Array([...encodeCommand(cmds[4]!), 0]);
  t.throws(() => decodeCommand(trailing), { instanceOf: CorruptedError });
});

test('snapshot data carries the region and every data CF', (t) => {
  const cfs: [Uint8Array, Uint8Array][][] = [[[enc.encode('zb'), enc.encode('1')]], [], [[enc.encode('zc'), enc.encode('2')], [enc.encode('zd'), enc.encode('3')]]];
  const back = decodeSnapshotData(encodeSnapshotData(region, cfs));
  t.deepEqual(back.region, region);
  t.deepEqual(back.cfs, cfs);
});

test('key layout: local keys (0x01), each region\'s log contiguous and in index order, regions apart', (t) => {
  const keys = [hardStateKey(7), applyStateKey(7), regionStateKey(7), logKey(7, 1), logKey(7, 2 ** 40)];
  t.true(keys.every((k) => k[0] === 0x01));
  const [lo, hi] = logRange(7);
  t.true(compareBytes(logKey(7, 1), logKey(7, 2)) < 0 && compareBytes(logKey(7, 255), logKey(7, 256)) < 0);
  for (const i of [0, 1, 2 ** 40]) t.true(compareBytes(lo, logKey(7, i)) <= 0 && compareBytes(logKey(7, i), hi) < 0);
  for (const other of [hardStateKey(8), logKey(8, 0), logKey(6, 2 ** 50), regionStateKey(7), applyStateKey(7)]) {
    t.false(compareBytes(lo, other) <= 0 && compareBytes(other, hi) < 0, 'other keys stay outside the log range');
  }
});

test('durability: every batch carrying raft log entries or a received snapshot is synced; applies of admin commands too', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const c = await StoreCluster.create({ stores: 3, seed, raft: { electionTick: 10, heartbeatTick: 2 }, logGcThreshold: 4 });
  const leader = await c.mustLeader(1);
  const r = leader.consensus.getRegion(1);
  const lagger = c.live().find((m) => m !== leader)!;
  c.partition([[lagger.storeId], c.live().filter((m) => m !== lagger).map((m) => m.storeId)]);
  for (let i = 0; i < 8; i++) await c.settle(leader.consensus.write({ regionId: 1, epoch: r.epoch }, [{ op: 'put', cf: 'default', key: enc.encode(`zk${i}`), value: enc.encode('v') }]));
  await c.settle(leader.consensus.admin({ regionId: 1, epoch: r.epoch }, { type: 'prepareFlashback', startTs: 5n }));
  c.heal();
  await c.until(() => lagger.consensus.getRegion(1).flashback.inFlashback, 200, 'lagger catches up');
  t.true(lagger.store.snapshotsApplied > 0);
  const [lo, hi] = logRange(1);
  let logBatches = 0;
  let regionBatches = 0;
  for (const m of c.members.values()) {
    for (const w of m.disk.writes) {
      const putsLog = w.ops.some((o) => o.op === 'put' && o.cf === 'raft' && compareBytes(o.key, lo) >= 0 && compareBytes(o.key, hi) < 0);
      const putsRegion = w.ops.some((o) => o.op === 'put' && o.cf === 'raft' && compareBytes(o.key, regionStateKey(1)) === 0);
      if (putsLog) logBatches++;
      if (putsRegion) regionBatches++;
      if (putsLog || putsRegion) t.true(w.sync, `store ${m.storeId}: a batch writing log entries or region state must be synced`);
    }
  }
  t.true(logBatches > 10 && regionBatches >= 3, `saw ${logBatches} log batches and ${regionBatches} region-state batches`);
});

test('lease reads: with leaseBased the leader serves a read without a heartbeat round; safe mode needs one', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  for (const mode of ['leaseBased', 'safe'] as const) {
    const c = await StoreCluster.create({ stores: 3, seed, raft: { electionTick: 10, heartbeatTick: 2, readOnlyOption: mode, checkQuorum: true } });
    const leader = await c.mustLeader(1);
    const r = leader.consensus.getRegion(1);
    await c.settle(leader.consensus.write({ regionId: 1, epoch: r.epoch }, [{ op: 'put', cf: 'default', key: enc.encode('zk'), value: enc.encode('v') }]));
    await c.tick(2);
    const before = c.transport.sent;
    const pending = leader.consensus.snapshot({ regionId: 1, epoch: r.epoch });
    for (let i = 0; i < 5; i++) await new Promise((res) => setImmediate(res));
    if (mode === 'leaseBased') t.is(c.transport.sent, before, 'no messages for a lease read');
    else t.true(c.transport.sent > before, 'a heartbeat round for a safe read');
    const snap = await c.settle(pending);
    t.is(new TextDecoder().decode(snap.get('default', enc.encode('zk'))!), 'v');
    snap.release();
  }
});

test('the ticker ticks every store once per source tick and skips ticks while one is still running', async (t) => {
  const src = new ManualTickSource();
  const counts = [0, 0];
  let gate: (() => void) | undefined;
  const slow = { tick: () => new Promise<void>((r) => { counts[0]!++; gate = r; }) };
  const fast = { tick: async () => { counts[1]!++; } };
  const ticker = new StoreTicker([slow, fast], src);
  ticker.start();
  src.fire();
  src.fire();
  src.fire();
  t.is(ticker.skipped, 2);
  gate!();
  await new Promise((r) => setImmediate(r));
  t.deepEqual(counts, [1, 1]);
  src.fire();
  gate!();
  await ticker.stop();
  src.fire();
  t.deepEqual(counts, [2, 2], 'no ticks after stop');
});

test('dumpStore prints every record decoded, and a damaged one with its error instead of stopping', async (t) => {
  const engine = new ReferenceEngine();
  await bootstrapStore(engine, 2, [region]);
  await engine.write(new WriteBatch().put('raft', logKey(7, 6), encodeEntry({ index: 6, term: 6, type: 'normal', data: enc.encode('abc') })), { sync: true });
  const text = dumpStore(engine, { entries: true });
  t.is(
    text,
    [
      'store 2',
      'region 7 hard {"term":5,"vote":0,"commit":5}',
      'region 7 apply {"applied":5,"truncatedIndex":5,"truncatedTerm":5}',
      'region 7 state peer 12 [61, 6d) v3 c2 peers 11@1,12@2L flashback@99',
      'region 7 entry 6 term 6 normal 3B',
    ].join('\n'),
  );
  await engine.write(new WriteBatch().put('raft', hardStateKey(7), new Uint8Array([9, 9])), { sync: true });
  t.regex(dumpStore(engine), /region 7 hard <raft hard state has format 9, expected 1>/);
});
