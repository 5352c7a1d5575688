import type { ExecutionContext } from 'ava';
import {
  COLUMN_FAMILIES,
  EntryBatch,
  WriteBatch,
  readEntries,
  readEntriesGeneric,
  type BatchOp,
  type ColumnFamily,
  type EngineReader,
  type EngineSnapshot,
  type IterOptions,
  type StorageEngine,
} from '../engine/index.js';
import { KvError } from '../errors.js';
import { avaTest } from './ava.js';
import { bytes, bytesEqual, latin1, u32be } from './bytes.js';
import { compareEngines } from './engine-differential.js';
import { mustFill, mustGet, mustGetNone, mustKeys, mustPut, mustScan, mustWalk } from './must.js';
import { ReferenceEngine } from './reference-engine.js';
import { Rng } from './rng.js';

/**
 * The StorageEngine conformance suite (DESIGN.md section 3, STYLE.md habit 3). Every engine,
 * ours or third-party, runs it from a test file of a few lines; optional behaviour is switched
 * by the engine's declared capabilities. Each test gets a fresh engine from the factory and
 * closes it afterwards, so no state is shared between tests.
 */

export interface EngineConformanceOptions {
  /** Prefix of every test title. */
  readonly name: string;
  /** A fresh, empty engine for each test. */
  readonly factory: () => StorageEngine | Promise<StorageEngine>;
  /**
   * Close `engine` and open the same location again. Required exactly when the engine
   * declares `persistent`: the persistence tests need it, and a non-persistent engine has
   * nothing to reopen.
   */
  readonly reopen?: (engine: StorageEngine) => Promise<StorageEngine>;
}

interface Fixture {
  /** Replaced by a reopen; the test's teardown closes whatever is current. */
  engine: StorageEngine;
}

type Body = (t: ExecutionContext, fx: Fixture) => Promise<void> | void;

const b = bytes;

/** A batch from compact tuples: ['put', cf, key, value] | ['del', cf, key] | ['range', cf, start, end]. */
type OpTuple = readonly ['put', ColumnFamily, string, string] | readonly ['del', ColumnFamily, string] | readonly ['range', ColumnFamily, string, string];

function batchOf(ops: readonly OpTuple[]): WriteBatch {
  const batch = new WriteBatch();
  for (const op of ops) {
    if (op[0] === 'put') batch.put(op[1], b(op[2]), b(op[3]));
    else if (op[0] === 'del') batch.delete(op[1], b(op[2]));
    else batch.deleteRange(op[1], b(op[2]), b(op[3]));
  }
  return batch;
}

function hasRange(ops: readonly OpTuple[]): boolean {
  return ops.some((op) => op[0] === 'range');
}

/** Every column family's content, as comparable strings. */
function dumpAll(reader: EngineReader): Record<ColumnFamily, Array<[string, string]>> {
  return {
    default: mustScan(reader, 'default'),
    lock: mustScan(reader, 'lock'),
    write: mustScan(reader, 'write'),
    raft: mustScan(reader, 'raft'),
  };
}

/**
 * Writes a batch that may hold range deletes. An engine without the capability must reject
 * it and write nothing; the caller then stops, having checked that instead.
 */
async function writeMaybeRange(t: ExecutionContext, engine: StorageEngine, ops: readonly OpTuple[]): Promise<boolean> {
  if (engine.capabilities.deleteRange || !hasRange(ops)) {
    await engine.write(batchOf(ops));
    return true;
  }
  const before = dumpAll(engine);
  await t.throwsAsync(() => engine.write(batchOf(ops)), { instanceOf: Error }, 'an engine without deleteRange rejects a batch holding one');
  t.deepEqual(dumpAll(engine), before, 'a rejected batch writes nothing');
  return false;
}

const ITER_DATA: ReadonlyArray<readonly [string, string]> = [
  ['a', 'v:a'],
  ['a\x00', 'v:a0'],
  ['a\x01', 'v:a1'],
  ['b', 'v:b'],
  ['ba', 'v:ba'],
  ['c', 'v:c'],
  ['d\xff', 'v:dff'],
];
const ITER_KEYS = ITER_DATA.map(([k]) => k);

async function fillIterData(engine: StorageEngine): Promise<void> {
  await mustFill(engine, 'default', ITER_DATA);
  // Neighbours in another family, interleaved in key order, that no default iterator may show.
  await mustFill(engine, 'write', [
    ['a', 'w:a'],
    ['aa', 'w:aa'],
    ['bb', 'w:bb'],
    ['z', 'w:z'],
  ]);
}

function keyNumber(key: Uint8Array): number {
  return new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(0);
}

function closedError(t: ExecutionContext, fn: () => unknown, what: string): void {
  t.throws(fn, { instanceOf: KvError, code: 'ENGINE_CLOSED' }, `${what} after close throws ENGINE_CLOSED`);
}

/** Registers the conformance tests for one engine. */
export function runEngineConformance(options: EngineConformanceOptions): void {
  const test = avaTest();
  const { name, factory, reopen } = options;

  const define = (title: string, body: Body): void => {
    test(`${name}: ${title}`, async (t) => {
      const fx: Fixture = { engine: await factory() };
      // close() is idempotent by contract, so tests that close the engine themselves are fine.
      t.teardown(() => fx.engine.close());
      await body(t, fx);
    });
  };

  define('readBatch, where declared (capabilities.batchRead), reads what key()/value()/next() read', async (t, { engine }) => {
    await fillIterData(engine);
    const declared = engine.capabilities.batchRead === true;
    const probe = engine.iterator('default');
    t.is(typeof probe.readBatch === 'function', declared, 'iterators have readBatch exactly when batchRead is declared');
    probe.close();
    if (!declared) return;
    const ea = new EntryBatch(3, 4);
    const eb = new EntryBatch(3, 4);
    const dump = (x: EntryBatch) => Array.from({ length: x.count }, (_, i) => `${latin1(x.key(i))}=${latin1(x.value(i))}`);
    const bounds: IterOptions[] = [{}, { lower: b('aa') }, { upper: b('c') }, { lower: b('a'), upper: b('ba') }, { lower: b('c'), upper: b('c') }];
    for (const opts of bounds) {
      for (const max of [0, 1, 2, 3]) {
        const x = engine.iterator('default', opts);
        const y = engine.iterator('default', opts);
        t.is(x.seek(b('ab')), y.seek(b('ab')));
        for (let round = 0; round < 10; round++) {
          const n = readEntries(x, ea, max);
          t.is(readEntriesGeneric(y, eb, max), n);
          t.deepEqual(dump(ea), dump(eb), `bounds ${JSON.stringify(opts)}, max ${max}`);
          t.is(x.valid(), y.valid());
          if (!x.valid()) break;
          t.deepEqual(latin1(x.key()), latin1(y.key()));
        }
        x.close();
        y.close();
      }
    }
    const it = engine.iterator('default');
    it.first();
    await engine.close();
    closedError(t, () => readEntries(it, ea, 1), 'readBatch');
  });

  define('declares a name and boolean capabilities', (t, { engine }) => {
    t.is(typeof engine.name, 'string');
    t.true(engine.name.length > 0);
    t.is(typeof engine.capabilities.persistent, 'boolean');
    t.is(typeof engine.capabilities.deleteRange, 'boolean');
    if (reopen === undefined) t.false(engine.capabilities.persistent, 'a persistent engine must pass `reopen` so persistence is tested');
    else t.true(engine.capabilities.persistent, '`reopen` is given, so the engine must declare persistent');
  });

  // --- point operations ---------------------------------------------------------------

  define('put, get, overwrite and delete in every column family', async (t, { engine }) => {
    for (const cf of COLUMN_FAMILIES) {
      await mustPut(engine, cf, 'key', `one-${cf}`);
      t.is(mustGet(engine, cf, 'key'), `one-${cf}`);
      await mustPut(engine, cf, 'key', `two-${cf}`);
      t.is(mustGet(engine, cf, 'key'), `two-${cf}`, 'overwrite replaces the value');
      await engine.write(new WriteBatch().delete(cf, b('key')));
      t.is(engine.get(cf, b('key')), undefined, 'delete removes the key');
      await engine.write(new WriteBatch().delete(cf, b('key')));
      t.is(engine.get(cf, b('key')), undefined, 'deleting a missing key is a no-op');
      await mustPut(engine, cf, 'key', `three-${cf}`);
      t.is(mustGet(engine, cf, 'key'), `three-${cf}`, 'a deleted key can be written again');
    }
  });

  define('column families are isolated', async (t, { engine }) => {
    const batch = new WriteBatch();
    for (const cf of COLUMN_FAMILIES) batch.put(cf, b('k'), b(`v-${cf}`)).put(cf, b(`only-${cf}`), b('x'));
    await engine.write(batch);
    for (const cf of COLUMN_FAMILIES) {
      t.is(mustGet(engine, cf, 'k'), `v-${cf}`);
      t.deepEqual(mustKeys(engine, cf), ['k', `only-${cf}`], `${cf} iterates only its own keys`);
      for (const other of COLUMN_FAMILIES) if (other !== cf) mustGetNone(engine, other, `only-${cf}`);
    }
    await engine.write(new WriteBatch().delete('lock', b('k')));
    mustGetNone(engine, 'lock', 'k');
    for (const cf of ['default', 'write', 'raft'] as const) t.is(mustGet(engine, cf, 'k'), `v-${cf}`, `delete in lock leaves ${cf}`);
  });

  define('missing keys read as undefined', async (t, { engine }) => {
    for (const cf of COLUMN_FAMILIES) t.is(engine.get(cf, b('nothing')), undefined);
    t.is(engine.get('default', b('')), undefined, 'the empty key is missing until written');
    await mustPut(engine, 'default', 'ab', 'v');
    for (const key of ['', 'a', 'abc', 'ab\x00', 'aa\xff', 'b']) mustGetNone(engine, 'default', key);
    for (const cf of ['lock', 'write', 'raft'] as const) mustGetNone(engine, cf, 'ab');
    t.is(mustGet(engine, 'default', 'ab'), 'v');
  });

  define('empty key and empty value', async (t, { engine }) => {
    await mustFill(engine, 'default', [
      ['', 'empty-key'],
      ['e', ''],
      ['f', 'x'],
    ]);
    t.is(mustGet(engine, 'default', ''), 'empty-key');
    const e = engine.get('default', b('e'));
    t.true(e instanceof Uint8Array, 'an empty value is present, not missing');
    t.is(e?.length, 0);
    t.deepEqual(mustScan(engine, 'default'), [
      ['', 'empty-key'],
      ['e', ''],
      ['f', 'x'],
    ]);
    const it = engine.iterator('default');
    t.deepEqual(mustWalk(it, [['seek', ''], ['seekForPrev', ''], ['last'], ['seekForPrev', 'd']]), ['', '', 'f', '']);
    it.close();
    await mustPut(engine, 'default', 'f', '');
    t.is(mustGet(engine, 'default', 'f'), '', 'overwriting with an empty value keeps the key');
    await engine.write(new WriteBatch().delete('default', b('')));
    mustGetNone(engine, 'default', '');
    t.deepEqual(mustKeys(engine, 'default'), ['e', 'f']);
  });

  define('binary keys order byte-wise with prefixes first', async (t, { engine }) => {
    const sorted = ['', '\x00', '\x00\x00', '\x01', 'a', 'a\x00', 'a\x00\x00', 'a\x01', 'a\xff', 'b', '\x7f', '\x80', '\xfe', '\xff', '\xff\x00', '\xff\xff'];
    // Written out of order across several batches, so order comes from the engine, not the input.
    const order = [9, 3, 15, 0, 12, 6, 1, 14, 4, 11, 7, 2, 13, 5, 10, 8];
    for (let i = 0; i < order.length; i += 5) {
      await mustFill(
        engine,
        'default',
        order.slice(i, i + 5).map((j) => [sorted[j]!, `v${j}`] as const),
      );
    }
    t.deepEqual(mustKeys(engine, 'default'), sorted);
    sorted.forEach((key, j) => t.is(mustGet(engine, 'default', key), `v${j}`));
    const it = engine.iterator('default');
    t.deepEqual(
      mustWalk(it, [
        ['seek', 'a'],
        ['seek', 'a\x00\x01'],
        ['seekForPrev', 'a\x00\xff'],
        ['seekForPrev', '\xff\xff\xff'],
        ['seek', '\xff\xff\x00'],
        ['seek', '\x00\x00\x00'],
      ]),
      ['a', 'a\x01', 'a\x00\x00', '\xff\xff', null, '\x01'],
    );
    it.close();
  });

  define('1 MiB values round-trip', async (t, { engine }) => {
    const rng = new Rng(0x1b1b);
    const big = rng.bytes(1 << 20);
    const big2 = rng.bytes((1 << 20) + 1);
    await engine.write(new WriteBatch().put('default', b('big'), big).put('raft', b('big'), big2).put('default', b('small'), b('s')));
    t.true(bytesEqual(engine.get('default', b('big'))!, big));
    t.true(bytesEqual(engine.get('raft', b('big'))!, big2));
    const it = engine.iterator('default');
    t.true(it.first());
    t.true(bytesEqual(it.value(), big), 'iterator value is the whole value');
    t.true(it.next());
    t.is(latin1(it.value()), 's');
    it.close();
    await mustPut(engine, 'default', 'big', 'now small');
    t.is(mustGet(engine, 'default', 'big'), 'now small');
  });

  define('20,000 keys in order, read back one by one and in both directions', async (t, { engine }) => {
    const n = 20000;
    const val = (i: number): Uint8Array => b(`value-${i}`);
    // 7919 is prime to n, so i * 7919 mod n visits every key once, far out of order.
    for (let start = 0; start < n; start += 1000) {
      const batch = new WriteBatch();
      for (let i = start; i < start + 1000; i++) {
        const j = (i * 7919) % n;
        batch.put('write', u32be(j), val(j));
      }
      await engine.write(batch);
    }
    const it = engine.iterator('write');
    let count = 0;
    let ordered = true;
    for (let ok = it.first(); ok; ok = it.next()) {
      if (!bytesEqual(it.key(), u32be(count)) || !bytesEqual(it.value(), val(count))) ordered = false;
      count++;
    }
    t.is(count, n);
    t.true(ordered, 'forward walk yields keys 0..n-1 in order with their values');
    count = 0;
    for (let ok = it.last(); ok; ok = it.prev()) {
      if (!bytesEqual(it.key(), u32be(n - 1 - count))) ordered = false;
      count++;
    }
    t.is(count, n);
    t.true(ordered, 'backward walk yields keys n-1..0');
    t.true(it.seek(u32be(12345)));
    t.true(bytesEqual(it.key(), u32be(12345)));
    t.true(it.next());
    t.true(bytesEqual(it.key(), u32be(12346)));
    t.true(it.seekForPrev(new Uint8Array([0, 0, 0x30, 0x39, 0])));
    t.true(bytesEqual(it.key(), u32be(12345)));
    it.close();
    let found = 0;
    for (let i = 0; i < n; i++) if (bytesEqual(engine.get('write', u32be(i)) ?? new Uint8Array(0), val(i))) found++;
    t.is(found, n, 'every key reads back by get');
    const del = new WriteBatch();
    for (let i = 0; i < n; i += 3) del.delete('write', u32be(i));
    await engine.write(del);
    const it2 = engine.iterator('write');
    let left = 0;
    let noneDeleted = true;
    for (let ok = it2.first(); ok; ok = it2.next()) {
      if (keyNumber(it2.key()) % 3 === 0) noneDeleted = false;
      left++;
    }
    it2.close();
    t.is(left, n - Math.ceil(n / 3));
    t.true(noneDeleted, 'no deleted key is walked');
  });

  define('writes copy keys and values: reusing the arrays afterwards changes nothing', async (t, { engine }) => {
    const key = b('key');
    const value = b('value');
    const batch = new WriteBatch().put('default', key, value).put('lock', key, value);
    await engine.write(batch);
    key[0] = 0x7a;
    value.fill(0x21);
    t.is(mustGet(engine, 'default', 'key'), 'value');
    t.is(mustGet(engine, 'lock', 'key'), 'value');
    mustGetNone(engine, 'default', 'zey');
    t.deepEqual(mustKeys(engine, 'default'), ['key']);
  });

  // --- batches -----------------------------------------------------------------------

  define('inside a batch later operations on the same key win', async (t, { engine }) => {
    await mustFill(engine, 'default', [['c', 'old']]);
    await engine.write(
      batchOf([
        ['put', 'default', 'a', '1'],
        ['put', 'default', 'a', '2'],
        ['put', 'default', 'b', '1'],
        ['del', 'default', 'b'],
        ['del', 'default', 'c'],
        ['put', 'default', 'c', '3'],
        ['put', 'write', 'a', 'w'],
        ['del', 'write', 'a'],
        ['put', 'write', 'a', 'w2'],
      ]),
    );
    t.is(mustGet(engine, 'default', 'a'), '2', 'put after put');
    mustGetNone(engine, 'default', 'b');
    t.is(mustGet(engine, 'default', 'c'), '3', 'put after delete');
    t.is(mustGet(engine, 'write', 'a'), 'w2', 'put, delete, put');
    if (
      !(await writeMaybeRange(t, engine, [
        ['put', 'default', 'm1', 'x'],
        ['range', 'default', 'm', 'n'],
        ['range', 'default', 'p', 'q'],
        ['put', 'default', 'p1', 'y'],
      ]))
    ) {
      return;
    }
    mustGetNone(engine, 'default', 'm1');
    t.is(mustGet(engine, 'default', 'p1'), 'y', 'a put after a range delete in the same batch survives it');
  });

  define('a batch is atomic across column families, even to readers running while it is written', async (t, { engine }) => {
    const seed = new WriteBatch();
    for (const cf of COLUMN_FAMILIES) seed.put(cf, b('old'), b('old'));
    await engine.write(seed);
    const batch = new WriteBatch();
    for (const cf of COLUMN_FAMILIES) batch.put(cf, b('new'), b(`new-${cf}`)).delete(cf, b('old'));
    // Eight facts that are all false before the batch and all true after it.
    const applied = (r: EngineReader): boolean => {
      const facts: boolean[] = [];
      for (const cf of COLUMN_FAMILIES) {
        facts.push(r.get(cf, b('new')) !== undefined, r.get(cf, b('old')) === undefined);
        const it = r.iterator(cf);
        facts.push(it.first() && latin1(it.key()) === 'new');
        it.close();
      }
      if (facts.some((f) => f !== facts[0])) throw new Error(`a reader saw part of a batch: ${JSON.stringify(facts)}`);
      return facts[0]!;
    };
    t.false(applied(engine));
    let done = false;
    const writing = engine.write(batch).then(() => {
      done = true;
    });
    const held: Array<[EngineSnapshot, boolean]> = [];
    let seen = false;
    const look = (): void => {
      const now = applied(engine);
      t.true(now || !seen, 'once visible, a batch stays visible');
      seen ||= now;
      // A slow (fsync-bound) write can take thousands of looks; a hundred snapshots is plenty.
      if (held.length < 100) {
        const s = engine.snapshot();
        held.push([s, applied(s)]);
      }
    };
    look();
    // Yield to the event loop (I/O included) until the write resolves, looking each time.
    while (!done) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      look();
    }
    await writing;
    t.true(applied(engine), 'visible once the write resolved');
    for (const [s, before] of held) {
      t.is(applied(s), before, 'a snapshot taken mid-write keeps its all-or-nothing view');
      s.release();
    }
  });

  define('concurrent batches are each atomic', async (t, { engine }) => {
    const n = 16;
    const pending: Array<Promise<void>> = [];
    let settled = 0;
    for (let i = 0; i < n; i++) {
      const batch = new WriteBatch();
      for (const cf of COLUMN_FAMILIES) batch.put(cf, b(`c${i}`), b(`${i}`));
      pending.push(engine.write(batch).then(() => void settled++));
    }
    const consistent = (): boolean =>
      Array.from({ length: n }, (_, i) => COLUMN_FAMILIES.map((cf) => engine.get(cf, b(`c${i}`)) !== undefined)).every((row) =>
        row.every((x) => x === row[0]),
      );
    t.true(consistent());
    while (settled < n) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      t.true(consistent(), 'no batch is half visible while others are in flight');
    }
    await Promise.all(pending);
    for (let i = 0; i < n; i++) for (const cf of COLUMN_FAMILIES) t.is(mustGet(engine, cf, `c${i}`), `${i}`);
  });

  define('an empty batch is a no-op; sync writes resolve and are visible', async (t, { engine }) => {
    await mustPut(engine, 'default', 'a', '1');
    await engine.write(new WriteBatch());
    await engine.write(new WriteBatch(), { sync: true });
    t.deepEqual(dumpAll(engine), { default: [['a', '1']], lock: [], write: [], raft: [] });
    await engine.write(new WriteBatch().put('raft', b('r'), b('synced')), { sync: true });
    await engine.write(new WriteBatch().put('raft', b('s'), b('not synced')), { sync: false });
    t.is(mustGet(engine, 'raft', 'r'), 'synced');
    t.is(mustGet(engine, 'raft', 's'), 'not synced');
  });

  define('invalid arguments throw TypeError and write nothing', async (t, { engine }) => {
    await mustPut(engine, 'default', 'a', '1');
    const before = dumpAll(engine);
    const anyEngine = engine as unknown as {
      get(cf: unknown, key: unknown): unknown;
      iterator(cf: unknown, options?: unknown): { seek(k: unknown): boolean; seekForPrev(k: unknown): boolean; close(): void };
      write(batch: unknown): Promise<void>;
    };
    t.throws(() => anyEngine.get('nope', b('a')), { instanceOf: TypeError }, 'unknown column family');
    t.throws(() => anyEngine.get('default', 'a'), { instanceOf: TypeError }, 'string key');
    t.throws(() => anyEngine.get('default', null), { instanceOf: TypeError }, 'null key');
    t.throws(() => anyEngine.get('default', [0x61]), { instanceOf: TypeError }, 'array key');
    t.throws(() => anyEngine.iterator('nope'), { instanceOf: TypeError }, 'iterator on an unknown column family');
    t.throws(() => anyEngine.iterator('default', { lower: 'a' }), { instanceOf: TypeError }, 'string lower bound');
    t.throws(() => anyEngine.iterator('default', { upper: 5 }), { instanceOf: TypeError }, 'number upper bound');
    const it = anyEngine.iterator('default');
    t.throws(() => it.seek('a'), { instanceOf: TypeError }, 'seek to a string');
    t.throws(() => it.seekForPrev(undefined), { instanceOf: TypeError }, 'seekForPrev to undefined');
    it.close();
    const snap = engine.snapshot();
    t.throws(() => (snap as unknown as typeof anyEngine).get('nope', b('a')), { instanceOf: TypeError }, 'snapshot get on an unknown column family');
    snap.release();

    // WriteBatch checks its arguments, so a bad op can only arrive by going around it, as
    // untyped JS or a corrupted batch would. The valid put in front of it must not land.
    const bad: Array<[string, unknown]> = [
      ['unknown column family', { op: 'put', cf: 'nope', key: b('k'), value: b('v') }],
      ['string key', { op: 'put', cf: 'default', key: 'k', value: b('v') }],
      ['string value', { op: 'put', cf: 'default', key: b('k'), value: 'v' }],
      ['number key in a delete', { op: 'delete', cf: 'default', key: 7 }],
      ['unknown op kind', { op: 'rename', cf: 'default', key: b('k') }],
    ];
    const good = new WriteBatch().put('default', b('b'), b('2')).put('write', b('w'), b('3'));
    for (const [label, op] of bad) {
      const batch = { ops: [...good.ops, op as BatchOp], count: good.count + 1, byteSize: good.byteSize } as unknown as WriteBatch;
      await t.throwsAsync(() => engine.write(batch), { instanceOf: TypeError }, `a batch with a ${label}`);
    }
    await t.throwsAsync(() => anyEngine.write(null), { instanceOf: TypeError }, 'write(null)');
    t.deepEqual(dumpAll(engine), before, 'nothing written');
  });

  // --- deleteRange ---------------------------------------------------------------------

  define('deleteRange deletes start inclusive to end exclusive', async (t, { engine }) => {
    const keys = ['', 'a', 'a\x00', 'ab', 'b', 'b\x00', 'c'];
    for (const cf of ['default', 'lock'] as const) await mustFill(engine, cf, keys.map((k) => [k, `v${k}`] as const));
    if (!(await writeMaybeRange(t, engine, [['range', 'default', 'a\x00', 'b\x00']]))) return;
    t.deepEqual(mustKeys(engine, 'default'), ['', 'a', 'b\x00', 'c']);
    t.deepEqual(mustKeys(engine, 'lock'), keys, 'other column families untouched');
    for (const k of ['a\x00', 'ab', 'b']) mustGetNone(engine, 'default', k);
    await engine.write(batchOf([['range', 'default', '', 'a\x01']]));
    t.deepEqual(mustKeys(engine, 'default'), ['b\x00', 'c'], 'an empty start key covers the empty key');
    await engine.write(batchOf([['range', 'lock', 'b', '\xff']]));
    t.deepEqual(mustKeys(engine, 'lock'), ['', 'a', 'a\x00', 'ab']);
  });

  define('deleteRange over an empty, inverted or vacant range deletes nothing', async (t, { engine }) => {
    const keys = ['a', 'b', 'd'];
    await mustFill(engine, 'default', keys.map((k) => [k, k] as const));
    if (!(await writeMaybeRange(t, engine, [['range', 'default', 'b', 'b']]))) return;
    t.deepEqual(mustKeys(engine, 'default'), keys, 'start == end is empty');
    await engine.write(batchOf([['range', 'default', 'd', 'a']]));
    t.deepEqual(mustKeys(engine, 'default'), keys, 'start > end is empty');
    await engine.write(batchOf([['range', 'default', 'b\x00', 'c\xff']]));
    t.deepEqual(mustKeys(engine, 'default'), keys, 'a range between keys deletes nothing');
    await engine.write(batchOf([['range', 'default', 'e', 'z']]));
    t.deepEqual(mustKeys(engine, 'default'), keys, 'a range past the last key deletes nothing');
  });

  define('keys put inside a deleted range by a later batch are visible', async (t, { engine }) => {
    await mustFill(engine, 'write', [
      ['k1', '1'],
      ['k2', '2'],
      ['k3', '3'],
    ]);
    if (!(await writeMaybeRange(t, engine, [['range', 'write', 'k', 'l']]))) return;
    t.deepEqual(mustKeys(engine, 'write'), []);
    await mustPut(engine, 'write', 'k2', 'again');
    await mustPut(engine, 'write', 'k', 'start');
    t.deepEqual(mustScan(engine, 'write'), [
      ['k', 'start'],
      ['k2', 'again'],
    ]);
    mustGetNone(engine, 'write', 'k1');
    mustGetNone(engine, 'write', 'k3');
  });

  // --- iterators -----------------------------------------------------------------------

  define('iterator walks a column family in order both ways', async (t, { engine }) => {
    await fillIterData(engine);
    t.deepEqual(mustScan(engine, 'default'), ITER_DATA.map(([k, v]) => [k, v]));
    t.deepEqual(mustKeys(engine, 'write'), ['a', 'aa', 'bb', 'z']);
    t.deepEqual(mustKeys(engine, 'lock'), [], 'an empty column family has no entries');
  });

  define('iterator bounds: lower inclusive, upper exclusive, either missing', async (t, { engine }) => {
    await fillIterData(engine);
    const keys = (lower?: string, upper?: string): string[] =>
      mustKeys(engine, 'default', {
        ...(lower === undefined ? {} : { lower: b(lower) }),
        ...(upper === undefined ? {} : { upper: b(upper) }),
      });
    t.deepEqual(keys(), ITER_KEYS);
    t.deepEqual(keys('a\x00'), ['a\x00', 'a\x01', 'b', 'ba', 'c', 'd\xff']);
    t.deepEqual(keys(undefined, 'b'), ['a', 'a\x00', 'a\x01']);
    t.deepEqual(keys('a\x00', 'ba'), ['a\x00', 'a\x01', 'b']);
    t.deepEqual(keys('aa', 'bb'), ['b', 'ba'], 'bounds need not be keys');
    t.deepEqual(keys('', 'a\x00'), ['a']);
    t.deepEqual(keys('b', 'b'), [], 'lower == upper is empty');
    t.deepEqual(keys('c', 'b'), [], 'lower > upper is empty');
    t.deepEqual(keys(undefined, ''), [], 'upper = empty key is empty');
    t.deepEqual(keys('e'), [], 'lower past the last key');
    const it = engine.iterator('default', { lower: b('a\x00'), upper: b('ba') });
    t.deepEqual(mustWalk(it, [['first'], ['last'], ['next'], ['first'], ['prev']]), ['a\x00', 'b', null, 'a\x00', null]);
    it.close();
  });

  define('iterator seek and seekForPrev to existing, between, before-first and after-last keys', async (t, { engine }) => {
    await fillIterData(engine);
    const it = engine.iterator('default');
    t.deepEqual(
      mustWalk(it, [
        ['seek', 'b'],
        ['seek', 'a\x02'],
        ['seek', ''],
        ['seek', 'e'],
        ['seek', 'a\x00'],
        ['seek', 'd'],
        ['seek', 'd\xff\x00'],
      ]),
      ['b', 'b', 'a', null, 'a\x00', 'd\xff', null],
    );
    t.deepEqual(
      mustWalk(it, [
        ['seekForPrev', 'b'],
        ['seekForPrev', 'a\x02'],
        ['seekForPrev', ''],
        ['seekForPrev', 'e'],
        ['seekForPrev', 'a\x00\x00'],
        ['seekForPrev', 'a'],
        ['seekForPrev', '\x00'],
      ]),
      ['b', 'a\x01', null, 'd\xff', 'a\x00', 'a', null],
    );
    t.true(it.seek(b('ba')));
    t.is(latin1(it.value()), 'v:ba', 'value() follows the position');
    it.close();
  });

  define('iterator seek outside the bounds clamps to them', async (t, { engine }) => {
    await fillIterData(engine);
    const it = engine.iterator('default', { lower: b('a\x01'), upper: b('c') });
    t.deepEqual(
      mustWalk(it, [
        ['seek', ''],
        ['seek', 'a'],
        ['prev'],
        ['seek', 'c'],
        ['seek', 'z'],
        ['seekForPrev', 'z'],
        ['next'],
        ['seekForPrev', 'c'],
        ['seekForPrev', 'a\x00'],
        ['seekForPrev', 'a\x01'],
        ['next'],
      ]),
      ['a\x01', 'a\x01', null, null, null, 'ba', null, 'ba', null, 'a\x01', 'b'],
    );
    it.close();
  });

  define('iterator changes direction', async (t, { engine }) => {
    await fillIterData(engine);
    const it = engine.iterator('default');
    t.deepEqual(
      mustWalk(it, [['seek', 'b'], ['next'], ['prev'], ['prev'], ['next'], ['next'], ['next'], ['prev'], ['last'], ['prev'], ['next'], ['first'], ['next'], ['prev']]),
      ['b', 'ba', 'b', 'a\x01', 'b', 'ba', 'c', 'ba', 'd\xff', 'c', 'd\xff', 'a', 'a\x00', 'a'],
    );
    it.close();
    const bounded = engine.iterator('default', { lower: b('a\x00'), upper: b('c') });
    t.deepEqual(mustWalk(bounded, [['last'], ['prev'], ['next'], ['next']]), ['ba', 'b', 'ba', null]);
    t.deepEqual(mustWalk(bounded, [['seekForPrev', 'a\x00'], ['next'], ['prev'], ['prev']]), ['a\x00', 'a\x01', 'a\x00', null]);
    bounded.close();
  });

  define('iterator is invalid off both ends and before positioning; key() and value() then throw', async (t, { engine }) => {
    await fillIterData(engine);
    const it = engine.iterator('default');
    t.false(it.valid(), 'a new iterator is unpositioned');
    t.throws(() => it.key(), { instanceOf: TypeError });
    t.true(it.first());
    t.false(it.prev(), 'prev from the first entry');
    t.false(it.valid());
    t.throws(() => it.key(), { instanceOf: TypeError });
    t.throws(() => it.value(), { instanceOf: TypeError });
    t.true(it.last());
    t.false(it.next(), 'next from the last entry');
    t.false(it.valid());
    t.throws(() => it.key(), { instanceOf: TypeError });
    t.throws(() => it.value(), { instanceOf: TypeError });
    t.true(it.seekForPrev(b('b')), 'usable again after falling off');
    t.is(latin1(it.key()), 'b');
    it.close();
    const empty = engine.iterator('lock');
    t.deepEqual(mustWalk(empty, [['first'], ['last'], ['seek', ''], ['seekForPrev', '\xff']]), [null, null, null, null]);
    empty.close();
    const vacant = engine.iterator('default', { lower: b('bb'), upper: b('c') });
    t.deepEqual(mustWalk(vacant, [['first'], ['last'], ['seek', 'a'], ['seekForPrev', 'z']]), [null, null, null, null]);
    vacant.close();
  });

  define('iterator close is idempotent and later calls throw TypeError', async (t, { engine }) => {
    await fillIterData(engine);
    const it = engine.iterator('default');
    t.true(it.first());
    it.close();
    t.notThrows(() => it.close());
    t.throws(() => it.seek(b('a')), { instanceOf: TypeError });
    t.throws(() => it.next(), { instanceOf: TypeError });
    t.throws(() => it.key(), { instanceOf: TypeError });
    t.throws(() => it.valid(), { instanceOf: TypeError });
    t.deepEqual(mustKeys(engine, 'default'), ITER_KEYS, 'the engine is unaffected');
  });

  define('an engine iterator reads the view taken when it was created', async (t, { engine }) => {
    await fillIterData(engine);
    const unpositioned = engine.iterator('default');
    const positioned = engine.iterator('default');
    t.true(positioned.seek(b('a')));
    const ops: OpTuple[] = [
      ['put', 'default', 'aa', 'new'],
      ['del', 'default', 'b'],
      ['put', 'default', 'c', 'changed'],
      ['put', 'default', '0', 'before all'],
    ];
    if (engine.capabilities.deleteRange) ops.push(['range', 'default', 'd', 'e']);
    await engine.write(batchOf(ops));
    const old: Array<[string, string]> = [];
    for (let ok = unpositioned.first(); ok; ok = unpositioned.next()) old.push([latin1(unpositioned.key()), latin1(unpositioned.value())]);
    t.deepEqual(old, ITER_DATA.map(([k, v]) => [k, v]), 'a walk started after the write sees none of it');
    t.deepEqual(mustWalk(unpositioned, [['seek', 'aa'], ['seekForPrev', 'bz'], ['first']]), ['b', 'ba', 'a']);
    t.deepEqual(mustWalk(positioned, [['next'], ['next'], ['next'], ['next']]), ['a\x00', 'a\x01', 'b', 'ba']);
    t.true(positioned.seek(b('c')));
    t.is(latin1(positioned.value()), 'v:c');
    unpositioned.close();
    positioned.close();
    const fresh = ['0', 'a', 'a\x00', 'a\x01', 'aa', 'ba', 'c'];
    if (!engine.capabilities.deleteRange) fresh.push('d\xff');
    t.deepEqual(mustKeys(engine, 'default'), fresh, 'a new iterator sees the write');
  });

  // --- snapshots -----------------------------------------------------------------------

  define('a snapshot ignores later puts, deletes and range deletes', async (t, { engine }) => {
    await fillIterData(engine);
    await mustPut(engine, 'lock', 'l', 'lock');
    const before = dumpAll(engine);
    const snap = engine.snapshot();
    const early = snap.iterator('default');
    const ops: OpTuple[] = [
      ['put', 'default', 'a', 'overwritten'],
      ['put', 'default', 'new', 'n'],
      ['del', 'default', 'b'],
      ['del', 'lock', 'l'],
      ['put', 'raft', 'r', 'r'],
    ];
    if (engine.capabilities.deleteRange) ops.push(['range', 'default', 'c', 'z'], ['range', 'write', '', '\xff']);
    await engine.write(batchOf(ops));
    t.is(mustGet(snap, 'default', 'a'), 'v:a');
    t.is(mustGet(snap, 'default', 'b'), 'v:b');
    t.is(mustGet(snap, 'default', 'c'), 'v:c');
    t.is(mustGet(snap, 'lock', 'l'), 'lock');
    mustGetNone(snap, 'default', 'new');
    mustGetNone(snap, 'raft', 'r');
    t.deepEqual(dumpAll(snap), before, 'iterators opened on the snapshot after the write see the old state');
    t.deepEqual(mustWalk(early, [['first'], ['seek', 'c'], ['last']]), ['a', 'c', 'd\xff'], 'an iterator opened before the write too');
    early.close();
    t.is(mustGet(engine, 'default', 'a'), 'overwritten', 'the engine itself sees the write');
    mustGetNone(engine, 'default', 'b');
    snap.release();
  });

  define('many snapshots at different points each keep their view', async (t, { engine }) => {
    const model = new ReferenceEngine();
    const snaps: Array<[EngineSnapshot, EngineSnapshot]> = [];
    for (let i = 0; i < 10; i++) {
      const ops: OpTuple[] = [
        ['put', 'default', 'k', `v${i}`],
        ['put', 'write', `n${i}`, `${i}`],
        ['del', 'write', `n${i - 2}`],
        ['put', 'lock', `l${i % 3}`, `${i}`],
      ];
      if (engine.capabilities.deleteRange && i % 4 === 3) ops.push(['range', 'lock', 'l0', 'l2']);
      await engine.write(batchOf(ops));
      await model.write(batchOf(ops));
      snaps.push([engine.snapshot(), model.snapshot()]);
    }
    // Release in a scattered order and check the survivors after each release.
    const released = new Set<number>();
    for (const i of [3, 0, 9, 5, 1, 7, 2, 8, 6, 4]) {
      snaps[i]![0].release();
      snaps[i]![1].release();
      released.add(i);
      snaps.forEach(([s, m], j) => {
        if (!released.has(j)) compareEngines(s, m, { label: `snapshot ${j} after releasing ${[...released].join(',')}` });
      });
    }
    t.is(mustGet(engine, 'default', 'k'), 'v9');
    compareEngines(engine, model, { label: 'engine' });
    await model.close();
  });

  define('release is idempotent and leaves the engine and other snapshots working', async (t, { engine }) => {
    await mustPut(engine, 'default', 'a', '1');
    const s1 = engine.snapshot();
    const s2 = engine.snapshot();
    s1.release();
    t.notThrows(() => s1.release());
    await mustPut(engine, 'default', 'a', '2');
    t.is(mustGet(s2, 'default', 'a'), '1');
    t.is(mustGet(engine, 'default', 'a'), '2');
    const s3 = engine.snapshot();
    t.is(mustGet(s3, 'default', 'a'), '2');
    s2.release();
    s3.release();
    s3.release();
    t.deepEqual(mustKeys(engine, 'default'), ['a']);
  });

  // --- close -----------------------------------------------------------------------------

  define('close is idempotent; afterwards every call throws ENGINE_CLOSED', async (t, fx) => {
    const { engine } = fx;
    await fillIterData(engine);
    const snap = engine.snapshot();
    const it = engine.iterator('default');
    t.true(it.first());
    const snapIt = snap.iterator('default');
    t.true(snapIt.first());
    await engine.close();
    await t.notThrowsAsync(() => engine.close(), 'a second close resolves');
    closedError(t, () => engine.get('default', b('a')), 'get');
    closedError(t, () => engine.iterator('default'), 'iterator');
    closedError(t, () => engine.snapshot(), 'snapshot');
    await t.throwsAsync(() => engine.write(new WriteBatch().put('default', b('x'), b('y'))), { instanceOf: KvError, code: 'ENGINE_CLOSED' }, 'write after close rejects');
    closedError(t, () => snap.get('default', b('a')), 'snapshot get');
    closedError(t, () => snap.iterator('default'), 'snapshot iterator');
    for (const [label, i] of [
      ['engine iterator', it],
      ['snapshot iterator', snapIt],
    ] as const) {
      closedError(t, () => i.seek(b('a')), `${label} seek`);
      closedError(t, () => i.next(), `${label} next`);
      closedError(t, () => i.valid(), `${label} valid`);
      closedError(t, () => i.key(), `${label} key`);
      t.notThrows(() => i.close(), `${label} close stays harmless`);
    }
    t.notThrows(() => snap.release(), 'release stays harmless');
  });

  // --- persistence -----------------------------------------------------------------------

  if (reopen !== undefined) {
    define('reopen keeps puts, overwrites, deletes and range deletes', async (t, fx) => {
      t.true(fx.engine.capabilities.persistent, '`reopen` is given, so the engine must declare persistent');
      const model = new ReferenceEngine();
      const rng = new Rng(0x7e0);
      const both = async (ops: readonly OpTuple[], sync: boolean): Promise<void> => {
        const kept = fx.engine.capabilities.deleteRange ? ops : ops.filter((op) => op[0] !== 'range');
        await fx.engine.write(batchOf(kept), { sync });
        await model.write(batchOf(kept), { sync });
      };
      await both(
        [
          ['put', 'default', '', 'empty key'],
          ['put', 'default', 'e', ''],
          ['put', 'default', 'a\x00\xff', 'binary'],
          ['put', 'lock', 'l', 'lock'],
          ['put', 'write', 'w1', 'one'],
          ['put', 'write', 'w2', 'two'],
          ['put', 'write', 'w3', 'three'],
          ['put', 'raft', '\xff\xff', 'raft'],
        ],
        true,
      );
      await both(
        [
          ['put', 'write', 'w1', 'one again'],
          ['del', 'lock', 'l'],
          ['range', 'write', 'w2', 'w3'],
        ],
        false,
      );
      const big = rng.bytes(1 << 20);
      await fx.engine.write(new WriteBatch().put('raft', b('big'), big), { sync: true });
      await model.write(new WriteBatch().put('raft', b('big'), big));
      fx.engine = await reopen(fx.engine);
      compareEngines(fx.engine, model, { label: 'after the first reopen' });
      await both(
        [
          ['del', 'default', ''],
          ['put', 'lock', 'l', 'back'],
          ['range', 'write', '', '\xff'],
          ['put', 'write', 'w9', 'nine'],
        ],
        true,
      );
      fx.engine = await reopen(fx.engine);
      compareEngines(fx.engine, model, { label: 'after the second reopen' });
      await both([['put', 'default', 'after', 'reopen']], false);
      t.is(mustGet(fx.engine, 'default', 'after'), 'reopen', 'a reopened engine takes writes');
      await model.close();
    });

    define('reopen keeps deletes of keys written before an earlier reopen', async (t, fx) => {
      const n = 500;
      const batch = new WriteBatch();
      for (let i = 0; i < n; i++) batch.put('default', u32be(i), b(`v${i}`));
      await fx.engine.write(batch, { sync: true });
      fx.engine = await reopen(fx.engine);
      const del = new WriteBatch();
      for (let i = 0; i < n; i += 2) del.delete('default', u32be(i));
      if (fx.engine.capabilities.deleteRange) del.deleteRange('default', u32be(100), u32be(200));
      await fx.engine.write(del, { sync: true });
      fx.engine = await reopen(fx.engine);
      const expected: number[] = [];
      for (let i = 1; i < n; i += 2) if (!fx.engine.capabilities.deleteRange || i < 100 || i >= 200) expected.push(i);
      const got: number[] = [];
      const it = fx.engine.iterator('default');
      for (let ok = it.first(); ok; ok = it.next()) got.push(keyNumber(it.key()));
      it.close();
      t.deepEqual(got, expected);
      mustGetNone(fx.engine, 'default', latin1(u32be(0)));
      mustGetNone(fx.engine, 'default', latin1(u32be(151)));
    });
  }
}
