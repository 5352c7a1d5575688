import test from 'ava';
import { join } from 'node:path';
import { isKvError, WriteBatch, type CorruptedError } from '@flashkv/core';
import { LsmEngine } from '../src/engine.js';
import { FaultFS } from '../src/fault-fs.js';
import { nodeFS, type FS, type WritableFile } from '../src/fs.js';
import { dec, enc, mustTempDir } from './helpers.js';

/** Counts appends and fsyncs of WAL files. */
function countingFS(inner: FS) {
  const counts = { appends: 0, syncs: 0 };
  const wrap = (f: WritableFile): WritableFile => ({
    path: f.path,
    append: (d) => {
      if (f.path.endsWith('.log')) counts.appends++;
      f.append(d);
    },
    sync: () => {
      if (f.path.endsWith('.log')) counts.syncs++;
      return f.sync();
    },
    size: () => f.size(),
    close: () => f.close(),
  });
  const fs: FS = { ...inner, create: (p) => wrap(inner.create(p)), openAppend: (p) => wrap(inner.openAppend(p)) } as FS;
  for (const k of ['mkdirp', 'open', 'readFile', 'rename', 'unlink', 'readdir', 'exists', 'truncate', 'syncDir'] as const) {
    (fs as unknown as Record<string, unknown>)[k] = (inner[k] as (...a: unknown[]) => unknown).bind(inner);
  }
  return { fs, counts };
}

function walFiles(dir: string): string[] {
  return nodeFS.readdir(dir).filter((n) => n.endsWith('.log')).sort();
}

test('group commit: 16 concurrent sync writers share 1 append and 1 fsync', async (t) => {
  const { dir, cleanup } = mustTempDir('wal');
  t.teardown(cleanup);
  const { fs, counts } = countingFS(nodeFS);
  const engine = await LsmEngine.open({ dir, fs });
  const writes = [];
  for (let i = 0; i < 16; i++) writes.push(engine.write(new WriteBatch().put('default', enc(`k${i}`), enc(`v${i}`)), { sync: true }));
  await Promise.all(writes);
  // A sync group is cut only after the writers ready in this turn of the event loop queued:
  // all 16 go as one group.
  t.is(counts.appends, 1);
  t.is(counts.syncs, 1);
  for (let i = 0; i < 16; i++) t.is(dec(engine.get('default', enc(`k${i}`))), `v${i}`);
  await engine.close();
});

test('unsynced writes do not fsync; a synced write in the same group makes the group durable', async (t) => {
  const { dir, cleanup } = mustTempDir('wal');
  t.teardown(cleanup);
  const { fs, counts } = countingFS(nodeFS);
  const engine = await LsmEngine.open({ dir, fs });
  for (let i = 0; i < 10; i++) await engine.write(new WriteBatch().put('default', enc(`k${i}`), enc('v')));
  t.is(counts.syncs, 0);
  t.is(counts.appends, 10);
  const a = engine.write(new WriteBatch().put('default', enc('s1'), enc('v')), { sync: true });
  const b = engine.write(new WriteBatch().put('default', enc('n1'), enc('v')));
  const c = engine.write(new WriteBatch().put('default', enc('s2'), enc('v')), { sync: true });
  await Promise.all([a, b, c]);
  // One group (the sync writes wait for the turn to end before the group is cut), one fsync.
  t.is(counts.appends, 11);
  t.is(counts.syncs, 1);
  await engine.close();
});

test('a torn WAL tail is cut on open: complete batches survive, the torn one vanishes whole', async (t) => {
  const { dir, cleanup } = mustTempDir('wal');
  t.teardown(cleanup);
  const engine = await LsmEngine.open({ dir });
  await engine.write(new WriteBatch().put('default', enc('a'), enc('1')));
  const big = new WriteBatch();
  for (let i = 0; i < 100; i++) big.put('default', enc(`b${i}`), new Uint8Array(500).fill(i)).put('write', enc(`b${i}`), enc('w'));
  await engine.write(big);
  await engine.close();
  const log = join(dir, walFiles(dir).at(-1)!);
  const full = nodeFS.readFile(log).length;
  nodeFS.truncate(log, full - 1000);
  const again = await LsmEngine.open({ dir });
  t.is(dec(again.get('default', enc('a'))), '1');
  t.is(again.get('default', enc('b0')), undefined);
  t.is(again.get('write', enc('b99')), undefined);
  await again.write(new WriteBatch().put('default', enc('c'), enc('3')), { sync: true });
  await again.close();
  const third = await LsmEngine.open({ dir });
  t.is(dec(third.get('default', enc('a'))), '1');
  t.is(dec(third.get('default', enc('c'))), '3');
  t.is(third.get('default', enc('b5')), undefined);
  await third.close();
});

test('corruption in the middle of the WAL fails open with CorruptedError naming the file and offset', async (t) => {
  const { dir, cleanup } = mustTempDir('wal');
  t.teardown(cleanup);
  const engine = await LsmEngine.open({ dir });
  for (let i = 0; i < 5; i++) await engine.write(new WriteBatch().put('default', enc(`k${i}`), new Uint8Array(100).fill(i)));
  await engine.close();
  const name = walFiles(dir).at(-1)!;
  const bytes = nodeFS.readFile(join(dir, name)).slice();
  bytes[200] ^= 1;
  const f = nodeFS.create(join(dir, name));
  f.append(bytes);
  f.close();
  const err = (await t.throwsAsync(() => LsmEngine.open({ dir }))) as CorruptedError;
  t.true(isKvError(err, 'CORRUPTED'));
  t.is(err.details.file, join(dir, name));
  t.is(typeof err.details.offset, 'number');
  t.regex(err.message, new RegExp(`${name}.*offset \\d+`));
});

for (const fault of ['enospc', 'short-write', 'fsync'] as const) {
  test(`fault ${fault}: the write rejects with IO_ERROR, the engine turns read-only, reopen finds no corruption`, async (t) => {
    const { dir, cleanup } = mustTempDir('wal');
    t.teardown(cleanup);
    const fs = new FaultFS(nodeFS);
    const engine = await LsmEngine.open({ dir, fs });
    for (let i = 0; i < 20; i++) await engine.write(new WriteBatch().put('default', enc(`k${i}`), enc(`v${i}`)), { sync: i % 5 === 0 });
    const acked = engine.sequence;
    fs.plan = { match: (p) => p.endsWith('.log') };
    if (fault === 'enospc') fs.plan.spaceLeft = 10;
    if (fault === 'short-write') fs.plan.shortWrite = { bytes: 9 };
    if (fault === 'fsync') fs.plan.failSync = true;
    const failed = new WriteBatch().put('default', enc('lost'), enc('x')).put('lock', enc('lost'), enc('y'));
    const err = await t.throwsAsync(() => engine.write(failed, { sync: true }));
    t.true(isKvError(err, 'IO_ERROR'), String(err));
    t.regex(err!.message, fault === 'enospc' ? /disk is full/ : /I\/O error/);
    // Read-only now: later writes fail the same way, reads still answer.
    fs.plan = {};
    t.true(isKvError(await t.throwsAsync(() => engine.write(new WriteBatch().put('default', enc('after'), enc('z')))), 'IO_ERROR'));
    t.is(dec(engine.get('default', enc('k3'))), 'v3');
    t.is(engine.get('default', enc('lost')), undefined);
    t.is(engine.sequence, acked);
    await engine.close();
    const again = await LsmEngine.open({ dir });
    for (let i = 0; i < 20; i++) t.is(dec(again.get('default', enc(`k${i}`))), `v${i}`);
    // The failed batch is all-or-nothing after reopen (an fsync failure may still have landed it).
    const lost = [again.get('default', enc('lost')), again.get('lock', enc('lost'))].map((v) => v !== undefined);
    t.is(lost[0], lost[1]);
    if (fault !== 'fsync') t.false(lost[0]);
    t.is(again.get('default', enc('after')), undefined);
    await again.close();
  });
}

test('a directory written in another format version fails to open with a clear message', async (t) => {
  const { dir, cleanup } = mustTempDir('wal');
  t.teardown(cleanup);
  const engine = await LsmEngine.open({ dir });
  await engine.close();
  const current = new TextDecoder().decode(nodeFS.readFile(join(dir, 'CURRENT'))).trim();
  // A manifest whose header says format 0 (as an older build would have written).
  const { LogWriter } = await import('../src/wal/log-writer.js');
  const w = new LogWriter(nodeFS.create(join(dir, current)));
  w.add(enc(JSON.stringify({ magic: 'flashkv-lsm', format: 0 })));
  w.flush();
  w.close();
  const err = await t.throwsAsync(() => LsmEngine.open({ dir }));
  t.true(isKvError(err, 'INVALID_ARGUMENT'));
  t.regex(err!.message, /format version 0; this build reads format version 1 only/);
});
