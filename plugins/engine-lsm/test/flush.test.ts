import test from 'ava';
import { WriteBatch } from '@flashkv/core';
import { LsmEngine } from '../src/engine.js';
import { nodeFS } from '../src/fs.js';
import { dec, enc, mustTempDir } from './helpers.js';

const key = (i: number) => enc(`key${String(i).padStart(6, '0')}`);

test('full memtables flush to level-0 SSTs; old WALs are deleted; data survives reopen', async (t) => {
  const { dir, cleanup } = mustTempDir('flush');
  t.teardown(cleanup);
  // No compaction here: this test looks at the level-0 files flushes leave.
  const engine = await LsmEngine.open({ dir, memtableBytes: 16 * 1024, l0CompactionTrigger: 1000 });
  for (let i = 0; i < 2000; i++) await engine.write(new WriteBatch().put('default', key(i), new Uint8Array(50).fill(i & 0xff)));
  await engine.write(new WriteBatch().deleteRange('default', key(100), key(1900)));
  await engine.close();
  t.true(engine.stats.flushes >= 5, `flushes ${engine.stats.flushes}`);
  const names = nodeFS.readdir(dir);
  const ssts = names.filter((n) => n.endsWith('.sst'));
  const logs = names.filter((n) => n.endsWith('.log'));
  t.true(ssts.length >= 5);
  t.true(logs.length <= 2, `logs ${logs.join(',')}`);
  t.is(names.filter((n) => n.startsWith('MANIFEST-')).length, 1);
  const again = await LsmEngine.open({ dir, memtableBytes: 16 * 1024 });
  t.is(again.get('default', key(5))![0], 5);
  t.is(again.get('default', key(500)), undefined);
  t.is(again.get('default', key(1999))![0], 1999 & 0xff);
  const it = again.iterator('default');
  let n = 0;
  for (let ok = it.first(); ok; ok = it.next()) n++;
  it.close();
  t.is(n, 200);
  await again.close();
});

test('a snapshot taken before flushes keeps its view while memtables become SSTs', async (t) => {
  const { dir, cleanup } = mustTempDir('flush');
  t.teardown(cleanup);
  const engine = await LsmEngine.open({ dir, memtableBytes: 4 * 1024 });
  for (let i = 0; i < 100; i++) await engine.write(new WriteBatch().put('default', key(i), enc('old')));
  const snap = engine.snapshot();
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 100; i++) await engine.write(new WriteBatch().put('default', key(i), enc(`new${round}`)));
  }
  // Let the background flushes land before reading. Counted by flushes, not level-0 files: a
  // compaction may move level 0 down while we wait, and then its count never reaches 3.
  while (engine.stats.flushes < 3) await new Promise((r) => setImmediate(r));
  t.true(engine.levelFiles().flat().length > 0, 'data reached SSTs');
  for (let i = 0; i < 100; i += 7) t.is(dec(snap.get('default', key(i))), 'old');
  t.is(dec(engine.get('default', key(3))), 'new4');
  snap.release();
  await engine.close();
});

test('reopen with a replayed WAL flushes it in the background and removes the WAL', async (t) => {
  const { dir, cleanup } = mustTempDir('flush');
  t.teardown(cleanup);
  const engine = await LsmEngine.open({ dir });
  for (let i = 0; i < 50; i++) await engine.write(new WriteBatch().put('write', key(i), enc('v')));
  await engine.close();
  const again = await LsmEngine.open({ dir });
  t.is(dec(again.get('write', key(49))), 'v');
  await again.close();
  t.is(again.stats.flushes, 1);
  const names = nodeFS.readdir(dir);
  t.is(names.filter((n) => n.endsWith('.sst')).length, 1);
  t.is(names.filter((n) => n.endsWith('.log')).length, 1);
  const third = await LsmEngine.open({ dir });
  t.is(dec(third.get('write', key(0))), 'v');
  t.deepEqual(third.levelFiles()[0]!.length, 1);
  await third.close();
});

test('write stalls: queued writers wait for the flush instead of piling up memtables', async (t) => {
  const { dir, cleanup } = mustTempDir('flush');
  t.teardown(cleanup);
  const engine = await LsmEngine.open({
    dir,
    memtableBytes: 2048,
    maxImmutableMemtables: 1,
    l0CompactionTrigger: 2,
    l0StopWritesTrigger: 3,
    compactionThread: 'inline',
    // Small groups, so queued writers fill many memtables instead of one big group.
    maxGroupBytes: 256,
  });
  const writes = [];
  for (let i = 0; i < 400; i++) writes.push(engine.write(new WriteBatch().put('default', key(i), new Uint8Array(40).fill(i & 0xff))));
  await Promise.all(writes);
  t.log(`stalls behind flush ${engine.stats.stalls}, behind level-0 compaction ${engine.stats.l0Stalls}`);
  t.true(engine.stats.stalls > 0, `stalls ${engine.stats.stalls}`);
  t.true(engine.stats.flushes > 5);
  t.true(engine.stats.compactions > 0);
  for (let i = 0; i < 400; i += 13) t.is(engine.get('default', key(i))![0], i & 0xff);
  await engine.close();
});
