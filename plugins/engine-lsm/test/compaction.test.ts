import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WriteBatch } from '@flashkv/core';
import { LsmEngine, type LsmOptions } from '../src/engine.js';
import { FaultFS } from '../src/fault-fs.js';
import { nodeFS } from '../src/fs.js';
import { dec, enc, mustTempDir, rng, testSeed } from './helpers.js';

const small: Partial<LsmOptions> = {
  memtableBytes: 4 * 1024,
  l0CompactionTrigger: 2,
  levelBaseBytes: 16 * 1024,
  levelMultiplier: 4,
  targetFileSize: 8 * 1024,
  table: { blockSize: 512 },
};

const key = (i: number) => enc(`k${String(i).padStart(5, '0')}`);

async function mustChurn(engine: LsmEngine, seed: number, rounds: number): Promise<Map<number, string>> {
  const r = rng(seed);
  const live = new Map<number, string>();
  for (let i = 0; i < rounds; i++) {
    const b = new WriteBatch();
    for (let j = 0; j < 8; j++) {
      const k = Math.floor(r() * 600);
      if (r() < 0.2) {
        b.delete('default', key(k));
        live.delete(k);
      } else {
        const v = `v${i}-${j}-${'x'.repeat(Math.floor(r() * 40))}`;
        b.put('default', key(k), enc(v));
        live.set(k, v);
      }
    }
    await engine.write(b);
  }
  return live;
}

function mustMatch(t: import('ava').ExecutionContext, engine: LsmEngine, live: Map<number, string>, what: string) {
  for (let k = 0; k < 600; k++) t.is(dec(engine.get('default', key(k))), live.get(k), `${what} key ${k}`);
  const it = engine.iterator('default');
  let n = 0;
  for (let ok = it.first(); ok; ok = it.next()) n++;
  it.close();
  t.is(n, live.size, what);
}

for (const thread of ['inline', 'worker'] as const) {
  test(`leveled compaction (${thread}) moves data below level 0 and keeps every read right`, async (t) => {
    const { dir, cleanup } = mustTempDir('compact');
    t.teardown(cleanup);
    const seed = testSeed(31);
    const engine = await LsmEngine.open({ dir, ...small, compactionThread: thread });
    const live = await mustChurn(engine, seed, 1500);
    await engine.flush();
    mustMatch(t, engine, live, `seed ${seed} before close`);
    await engine.close();
    t.true(engine.stats.compactions > 0, `compactions ${engine.stats.compactions}`);
    t.true(engine.stats.compactionEntriesOut < engine.stats.compactionEntriesIn, 'obsolete versions were dropped');
    const again = await LsmEngine.open({ dir, ...small, compactionThread: thread });
    const levels = again.levelMetas();
    t.true(levels.slice(1).some((l) => l.length > 0), 'files below level 0');
    // Levels >= 1 hold disjoint, sorted files.
    for (const files of levels.slice(1)) {
      for (let i = 1; i < files.length; i++) t.true(Buffer.compare(files[i - 1]!.largest, files[i]!.smallest) < 0);
    }
    mustMatch(t, again, live, `seed ${seed} after reopen`);
    await again.close();
  });
}

test('compactAll drops obsolete versions and tombstones, but keeps what a snapshot can see', async (t) => {
  const { dir, cleanup } = mustTempDir('compact');
  t.teardown(cleanup);
  const engine = await LsmEngine.open({ dir, ...small, compactionThread: 'inline' });
  for (let round = 0; round < 4; round++) {
    const b = new WriteBatch();
    for (let k = 0; k < 200; k++) b.put('default', key(k), enc(`r${round}`));
    await engine.write(b);
  }
  await engine.write(new WriteBatch().deleteRange('default', key(0), key(100)));
  const snap = engine.snapshot();
  await engine.write(new WriteBatch().deleteRange('default', key(100), key(150)));
  await engine.compactAll();
  const entries = () => engine.levelMetas().flat().reduce((n, f) => n + f.entries, 0);
  // The snapshot still sees keys 100..199 at r3 (kept, under the second range tombstone);
  // keys 0..99 went under a tombstone older than the snapshot, so no reader needs them. Range
  // tombstones live in the tables' range-del blocks, not among the point entries counted here.
  t.is(dec(snap.get('default', key(120))), 'r3');
  t.is(engine.get('default', key(120)), undefined);
  t.is(entries(), 100);
  snap.release();
  await engine.compactAll();
  t.is(entries(), 50);
  t.is(engine.levelMetas()[0]!.length, 0);
  t.is(dec(engine.get('default', key(199))), 'r3');
  t.is(engine.get('default', key(10)), undefined);
  await engine.close();
  const names = nodeFS.readdir(dir).filter((n) => n.endsWith('.sst'));
  t.is(names.length, engine.levelMetas().flat().length);
});

test('an I/O error during compaction turns the engine read-only without losing data', async (t) => {
  const { dir, cleanup } = mustTempDir('compact');
  t.teardown(cleanup);
  const fs = new FaultFS(nodeFS);
  const engine = await LsmEngine.open({ dir, fs, ...small, l0CompactionTrigger: 100 });
  const live = await mustChurn(engine, 5, 300);
  await engine.flush();
  fs.plan = { spaceLeft: 100, match: (p) => p.endsWith('.sst') };
  await t.throwsAsync(() => engine.compactAll(), { message: /disk is full/ });
  fs.plan = {};
  mustMatch(t, engine, live, 'after the failed compaction');
  await t.throwsAsync(() => engine.write(new WriteBatch().put('default', key(1), enc('x'))), { message: /refuses writes/ });
  await engine.close();
  const again = await LsmEngine.open({ dir, ...small });
  mustMatch(t, again, live, 'after reopen');
  await again.close();
});

test('a process awaiting only a worker flush or compaction stays alive until it finishes', async (t) => {
  const { dir, cleanup } = mustTempDir('compact');
  t.teardown(cleanup);
  const child = fileURLToPath(new URL('./await-worker-child.js', import.meta.url));
  const run = spawnSync(process.execPath, [child, dir], { encoding: 'utf8' });
  t.is(run.status, 0, run.stderr);
  t.regex(run.stdout, /compacted [1-9]\d*\nclosed\n/);
});
