import test from 'ava';
import { readFileSync } from 'node:fs';
import { WriteBatch } from '@flashkv/core';
import { LsmEngine, type LsmOptions } from '../src/engine.js';
import { nodeFS } from '../src/fs.js';
import { fileName } from '../src/manifest.js';
import { fragment, tableRangeDels } from '../src/range-del.js';
import { check } from '../src/tools.js';
import { BlockCache } from '../src/sstable/block-cache.js';
import { TableReader } from '../src/sstable/table-reader.js';
import { dec, enc, mustTempDir } from './helpers.js';

const opts: Partial<LsmOptions> = { compactionThread: 'inline' };
const key = (i: number) => enc(`k${String(i).padStart(4, '0')}`);

function tables(engine: LsmEngine, dir: string): TableReader[] {
  return engine.levelMetas().flat().map((m) => TableReader.open(nodeFS.open(`${dir}/${fileName(m.number, 'sst')}`), m.number, new BlockCache(1 << 20)));
}

function keys(r: { iterator: LsmEngine['iterator'] }, reverse = false): string[] {
  const it = r.iterator('default');
  const out: string[] = [];
  for (let ok = reverse ? it.last() : it.first(); ok; ok = reverse ? it.prev() : it.next()) out.push(dec(it.key())!);
  it.close();
  return reverse ? out.reverse() : out;
}

async function fill(engine: LsmEngine, n: number): Promise<void> {
  const b = new WriteBatch();
  for (let i = 0; i < n; i++) b.put('default', key(i), enc(`v${i}`));
  await engine.write(b);
}

test('deleteRange is one range tombstone: no point deletes, one SST range-del entry, format version 2 only then', async (t) => {
  const { dir, cleanup } = mustTempDir('rd');
  t.teardown(cleanup);
  const e = await LsmEngine.open({ dir, ...opts });
  await fill(e, 1000);
  await e.flush();
  const [plain] = tables(e, dir);
  t.is(plain!.props.format, 1, 'a table without tombstones stays format version 1');
  plain!.close();
  const b = new WriteBatch();
  b.deleteRange('default', key(100), key(900));
  await e.write(b);
  t.deepEqual(keys(e).length, 200);
  t.is(e.get('default', key(500)), undefined);
  t.is(dec(e.get('default', key(900))), 'v900', 'the end is exclusive');
  await e.flush();
  const readers = tables(e, dir);
  const newest = readers.find((r) => r.props.format === 2)!;
  t.truthy(newest, 'the flushed tombstone makes a format version 2 table');
  t.is(newest.props.entries, 0, 'no point entries: the range did not expand into point deletes');
  t.is(tableRangeDels(newest).length, 1);
  const footer = readFileSync(newest.file.path).subarray(-16, -12);
  t.is(footer[0], 2, 'footer format version');
  for (const r of readers) r.close();
  t.deepEqual(keys(e, true).length, 200);
  await e.close();
});

test('a snapshot taken before deleteRange keeps seeing the range through flushes and compactions; after release compaction drops it all', async (t) => {
  const { dir, cleanup } = mustTempDir('rd');
  t.teardown(cleanup);
  const e = await LsmEngine.open({ dir, ...opts, memtableBytes: 8 * 1024, l0CompactionTrigger: 2, levelBaseBytes: 16 * 1024, targetFileSize: 4 * 1024 });
  await fill(e, 600);
  await e.flush();
  const snap = e.snapshot();
  const b = new WriteBatch();
  b.deleteRange('default', key(50), key(550));
  await e.write(b);
  await e.compactAll();
  t.is(keys(snap).length, 600);
  t.is(dec(snap.get('default', key(300))), 'v300');
  t.is(keys(e).length, 100);
  t.is(e.get('default', key(300)), undefined);
  const held = tables(e, dir);
  t.true(held.some((r) => tableRangeDels(r).length > 0), 'the tombstone stays while a snapshot needs the older versions');
  for (const r of held) r.close();
  const report = check(nodeFS, dir);
  t.true(report.ok, `flashkv-lsm check with tombstones in SSTs:\n${report.lines.join('\n')}`);
  snap.release();
  await e.compactAll();
  const after = tables(e, dir);
  t.is(after.reduce((n, r) => n + tableRangeDels(r).length, 0), 0, 'bottom level, no snapshot: the tombstone is dropped');
  t.is(after.reduce((n, r) => n + r.props.entries, 0), 100, 'and so are the versions it covered');
  for (const r of after) r.close();
  t.is(keys(e).length, 100);
  await e.close();
  const again = await LsmEngine.open({ dir, ...opts });
  t.deepEqual(keys(again), [...Array.from({ length: 50 }, (_, i) => `k${String(i).padStart(4, '0')}`), ...Array.from({ length: 50 }, (_, i) => `k${String(550 + i).padStart(4, '0')}`)]);
  await again.close();
});

test('one batch reads as its ops in order around a deleteRange; a memtable holding only a tombstone survives reopen', async (t) => {
  const { dir, cleanup } = mustTempDir('rd');
  t.teardown(cleanup);
  const e = await LsmEngine.open({ dir, ...opts });
  await fill(e, 10);
  await e.flush();
  const b = new WriteBatch();
  b.put('default', key(3), enc('before'));
  b.put('default', key(20), enc('outside'));
  b.deleteRange('default', key(2), key(8));
  b.put('default', key(5), enc('after'));
  await e.write(b);
  t.deepEqual(keys(e), ['k0000', 'k0001', 'k0005', 'k0008', 'k0009', 'k0020']);
  t.is(e.get('default', key(3)), undefined, 'written before the range in the batch: deleted');
  t.is(dec(e.get('default', key(5))), 'after', 'written after the range in the batch: kept');
  await e.close();
  const r = await LsmEngine.open({ dir, ...opts });
  t.deepEqual(keys(r), ['k0000', 'k0001', 'k0005', 'k0008', 'k0009', 'k0020']);
  const only = new WriteBatch();
  only.deleteRange('default', key(0), key(6));
  await r.write(only, { sync: true });
  await r.close();
  const r2 = await LsmEngine.open({ dir, ...opts });
  t.deepEqual(keys(r2), ['k0008', 'k0009', 'k0020']);
  await r2.flush();
  await r2.close();
  const r3 = await LsmEngine.open({ dir, ...opts });
  t.deepEqual(keys(r3, true), ['k0008', 'k0009', 'k0020']);
  await r3.close();
});

test('fragments: overlapping tombstones cut into disjoint pieces, each knowing its covering seqs', (t) => {
  const f = fragment([
    { start: enc('b'), end: enc('f'), seq: 5 },
    { start: enc('d'), end: enc('h'), seq: 9 },
    { start: enc('x'), end: enc('y'), seq: 2 },
  ])!;
  t.deepEqual(f.starts.map((s) => dec(s)), ['b', 'd', 'f', 'x']);
  t.deepEqual(f.ends.map((s) => dec(s)), ['d', 'f', 'h', 'y']);
  t.is(f.maxSeq(enc('a'), 100), 0);
  t.is(f.maxSeq(enc('c'), 100), 5);
  t.is(f.maxSeq(enc('e'), 100), 9);
  t.is(f.maxSeq(enc('e'), 8), 5, 'a reader below seq 9 sees only the older tombstone');
  t.is(f.maxSeq(enc('e'), 4), 0);
  t.is(f.maxSeq(enc('h'), 100), 0, 'end is exclusive');
  t.is(f.minSeqAbove(enc('e'), 5), 9);
  t.is(f.minSeqAbove(enc('e'), 1), 5);
  t.is(f.minSeqAbove(enc('x'), 2), 0);
});
