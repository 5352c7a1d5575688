import test from 'ava';
import { join } from 'node:path';
import { isKvError, WriteBatch, type EngineReader, type ColumnFamily } from '@flashkv/core';
import { LsmEngine } from '../src/engine.js';
import { nodeFS } from '../src/fs.js';
import { dec, enc, mustTempDir } from './helpers.js';

async function mustOpen(t: { teardown(fn: () => void): void }, tag = 'engine') {
  const { dir, cleanup } = mustTempDir(tag);
  t.teardown(cleanup);
  return { dir, engine: await LsmEngine.open({ dir }) };
}

async function mustPut(e: LsmEngine, cf: ColumnFamily, k: string, v: string, sync = false) {
  await e.write(new WriteBatch().put(cf, enc(k), enc(v)), { sync });
}

function mustGet(r: EngineReader, cf: ColumnFamily, k: string): string | undefined {
  return dec(r.get(cf, enc(k)));
}

function mustScan(r: EngineReader, cf: ColumnFamily, lower?: string, upper?: string, reverse = false): string[] {
  const it = r.iterator(cf, { ...(lower !== undefined ? { lower: enc(lower) } : {}), ...(upper !== undefined ? { upper: enc(upper) } : {}) });
  const out: string[] = [];
  for (let ok = reverse ? it.last() : it.first(); ok; ok = reverse ? it.prev() : it.next()) out.push(`${dec(it.key())}=${dec(it.value())}`);
  it.close();
  return out;
}

test('put, get, delete, overwrite across column families', async (t) => {
  const { engine } = await mustOpen(t);
  await mustPut(engine, 'default', 'a', '1');
  await mustPut(engine, 'write', 'a', 'w1');
  t.is(mustGet(engine, 'default', 'a'), '1');
  t.is(mustGet(engine, 'write', 'a'), 'w1');
  t.is(mustGet(engine, 'lock', 'a'), undefined);
  await mustPut(engine, 'default', 'a', '2');
  t.is(mustGet(engine, 'default', 'a'), '2');
  await engine.write(new WriteBatch().delete('default', enc('a')));
  t.is(mustGet(engine, 'default', 'a'), undefined);
  t.is(mustGet(engine, 'write', 'a'), 'w1');
  await engine.close();
});

test('iterators: bounds, both directions, seek, seekForPrev, direction changes, family isolation', async (t) => {
  const { engine } = await mustOpen(t);
  const b = new WriteBatch();
  for (const k of ['a', 'b', 'c', 'd', 'e']) b.put('default', enc(k), enc(k.toUpperCase()));
  b.put('lock', enc('c'), enc('L')).put('raft', enc(''), enc('R'));
  await engine.write(b);
  await engine.write(new WriteBatch().delete('default', enc('c')).put('default', enc('b'), enc('B2')));
  t.deepEqual(mustScan(engine, 'default'), ['a=A', 'b=B2', 'd=D', 'e=E']);
  t.deepEqual(mustScan(engine, 'default', undefined, undefined, true), ['e=E', 'd=D', 'b=B2', 'a=A']);
  t.deepEqual(mustScan(engine, 'default', 'b', 'e'), ['b=B2', 'd=D']);
  t.deepEqual(mustScan(engine, 'default', 'b', 'e', true), ['d=D', 'b=B2']);
  t.deepEqual(mustScan(engine, 'lock'), ['c=L']);
  t.deepEqual(mustScan(engine, 'raft'), ['=R']);
  const it = engine.iterator('default', { lower: enc('b'), upper: enc('e') });
  t.true(it.seek(enc('c')));
  t.is(dec(it.key()), 'd');
  t.true(it.prev());
  t.is(dec(it.key()), 'b');
  t.false(it.prev());
  t.true(it.seekForPrev(enc('c')));
  t.is(dec(it.key()), 'b');
  t.true(it.next());
  t.is(dec(it.key()), 'd');
  t.false(it.next());
  t.false(it.seek(enc('e')));
  t.true(it.seekForPrev(enc('zzz')));
  t.is(dec(it.key()), 'd');
  t.true(it.seek(enc('')));
  t.is(dec(it.key()), 'b');
  t.false(it.seekForPrev(enc('a')));
  it.close();
  t.throws(() => it.valid(), { instanceOf: TypeError });
  await engine.close();
});

test('snapshots and iterators are isolated from later writes', async (t) => {
  const { engine } = await mustOpen(t);
  await mustPut(engine, 'default', 'k', 'old');
  const snap = engine.snapshot();
  const it = engine.iterator('default');
  await mustPut(engine, 'default', 'k', 'new');
  await mustPut(engine, 'default', 'k2', 'x');
  await engine.write(new WriteBatch().deleteRange('default', enc(''), enc('zz')));
  t.is(mustGet(snap, 'default', 'k'), 'old');
  t.deepEqual(mustScan(snap, 'default'), ['k=old']);
  t.true(it.first());
  t.is(dec(it.value()), 'old');
  t.false(it.next());
  t.deepEqual(mustScan(engine, 'default'), []);
  snap.release();
  snap.release();
  t.throws(() => snap.get('default', enc('k')), { message: /released/ });
  it.close();
  await engine.close();
});

test('deleteRange removes exactly [start, end) and sees earlier ops of its own batch', async (t) => {
  const { engine } = await mustOpen(t);
  const b = new WriteBatch();
  for (const k of ['a', 'b', 'bb', 'c', 'd']) b.put('default', enc(k), enc('v'));
  b.put('write', enc('b'), enc('other-cf'));
  await engine.write(b);
  await engine.write(new WriteBatch().put('default', enc('c2'), enc('v')).deleteRange('default', enc('b'), enc('d')).put('default', enc('bc'), enc('after')));
  t.deepEqual(mustScan(engine, 'default'), ['a=v', 'bc=after', 'd=v']);
  t.is(mustGet(engine, 'write', 'b'), 'other-cf');
  await engine.write(new WriteBatch().deleteRange('default', enc('z'), enc('a')));
  t.deepEqual(mustScan(engine, 'default'), ['a=v', 'bc=after', 'd=v']);
  await engine.close();
});

test('a cross-family batch is atomic for readers', async (t) => {
  const { engine } = await mustOpen(t);
  const b = new WriteBatch().put('default', enc('x'), enc('1')).put('lock', enc('x'), enc('2')).put('write', enc('x'), enc('3'));
  const p = engine.write(b, { sync: true });
  // The fsync is in flight: nothing of the batch is visible yet.
  t.is(mustGet(engine, 'default', 'x'), undefined);
  t.is(mustGet(engine, 'write', 'x'), undefined);
  await p;
  t.deepEqual(['default', 'lock', 'write'].map((cf) => mustGet(engine, cf as ColumnFamily, 'x')), ['1', '2', '3']);
  await engine.close();
});

test('reopen replays the WAL, including deleteRange and many batches', async (t) => {
  const { dir, engine } = await mustOpen(t);
  for (let i = 0; i < 300; i++) await mustPut(engine, 'default', `k${String(i).padStart(3, '0')}`, `v${i}`, i % 50 === 0);
  await engine.write(new WriteBatch().deleteRange('default', enc('k100'), enc('k200')).put('raft', enc('r'), enc('x')));
  const seq = engine.sequence;
  await engine.close();
  const again = await LsmEngine.open({ dir });
  t.is(again.sequence, seq);
  t.is(mustGet(again, 'default', 'k099'), 'v99');
  t.is(mustGet(again, 'default', 'k150'), undefined);
  t.is(mustGet(again, 'default', 'k250'), 'v250');
  t.is(mustGet(again, 'raft', 'r'), 'x');
  t.is(mustScan(again, 'default').length, 200);
  await mustPut(again, 'default', 'new', 'n');
  await again.close();
  const third = await LsmEngine.open({ dir });
  t.is(mustGet(third, 'default', 'new'), 'n');
  t.is(mustScan(third, 'default').length, 201);
  await third.close();
});

test('closed engine: reads, writes, snapshots and iterators fail with ENGINE_CLOSED', async (t) => {
  const { engine } = await mustOpen(t);
  await mustPut(engine, 'default', 'a', '1');
  const snap = engine.snapshot();
  const it = engine.iterator('default');
  await engine.close();
  await engine.close();
  t.true(isKvError(t.throws(() => engine.get('default', enc('a'))), 'ENGINE_CLOSED'));
  t.true(isKvError(await t.throwsAsync(() => engine.write(new WriteBatch().put('default', enc('a'), enc('2')))), 'ENGINE_CLOSED'));
  t.true(isKvError(t.throws(() => snap.get('default', enc('a'))), 'ENGINE_CLOSED'));
  t.true(isKvError(t.throws(() => it.first()), 'ENGINE_CLOSED'));
});

test('bad input: unknown family, non-bytes keys are TypeErrors and change nothing', async (t) => {
  const { engine } = await mustOpen(t);
  t.throws(() => engine.get('nope' as ColumnFamily, enc('a')), { instanceOf: TypeError });
  const fake = { ops: [{ op: 'put', cf: 'default', key: enc('a'), value: enc('1') }, { op: 'put', cf: 'default', key: 'b', value: enc('2') }] };
  await t.throwsAsync(() => engine.write(fake as unknown as WriteBatch), { instanceOf: TypeError });
  t.is(mustGet(engine, 'default', 'a'), undefined);
  await engine.close();
});

test('value returned by get is a copy the caller may change', async (t) => {
  const { engine } = await mustOpen(t);
  await mustPut(engine, 'default', 'a', 'xyz');
  const v = engine.get('default', enc('a'))!;
  v[0] = 0;
  t.is(mustGet(engine, 'default', 'a'), 'xyz');
  await engine.close();
});

test('WAL files exist under the directory and a second open keeps the data', async (t) => {
  const { dir, engine } = await mustOpen(t);
  await mustPut(engine, 'default', 'a', '1', true);
  t.true(nodeFS.readdir(dir).some((n) => n.endsWith('.log')));
  t.true(nodeFS.exists(join(dir, 'CURRENT')));
  await engine.close();
  const again = await LsmEngine.open({ dir });
  t.is(mustGet(again, 'default', 'a'), '1');
  await again.close();
});

test('writes issued while close() waits are refused, and everything acknowledged before survives', async (t) => {
  const { dir, engine } = await mustOpen(t);
  const first = engine.write(new WriteBatch().put('default', enc('a'), enc('1')), { sync: true });
  const closing = engine.close();
  const late = engine.write(new WriteBatch().put('default', enc('b'), enc('2')));
  await first;
  t.true(isKvError(await t.throwsAsync(() => late), 'ENGINE_CLOSED'));
  await closing;
  const again = await LsmEngine.open({ dir });
  t.is(mustGet(again, 'default', 'a'), '1');
  t.is(mustGet(again, 'default', 'b'), undefined);
  await again.close();
});
