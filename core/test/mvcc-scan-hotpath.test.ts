import 'reflect-metadata';
import test from 'ava';
import {
  CLOCK,
  ENGINE,
  HOTPATH,
  Kernel,
  ManualClock,
  MvccReader,
  SCAN_NONE,
  WriteBatch,
  codec,
  createJsHotPath,
  defaultTxnPlugins,
  definePlugin,
  mvccScanBatch,
  packBatch,
  tsCfKey,
  type HotPath,
  type Plugin,
} from '@flashkv/core';
import { ReferenceEngine, bytes, latin1 } from '@flashkv/core/testing';

// How the scan reaches its HotPath: the scanner takes one (default the TS reference), and the
// storage() plugin resolves HOTPATH as an optional dependency. The WASM differential tests live
// in asm/test (core cannot import @flashkv/asm).

/** A HotPath that counts mvccScanBatch calls and forwards to the TS reference. */
function countingHotPath(): HotPath & { calls: number } {
  const inner = createJsHotPath();
  const hp = {
    kind: 'js' as const,
    calls: 0,
    encodeKeys: inner.encodeKeys.bind(inner),
    flashbackBatch: inner.flashbackBatch.bind(inner),
    mvccScanBatch(...args: Parameters<HotPath['mvccScanBatch']>) {
      hp.calls++;
      return inner.mvccScanBatch(...args);
    },
  };
  return hp;
}

/** 600 keys 'k000'.. with a Put at ts 10 and a Delete at ts 20: 1,200 write-CF entries. */
async function mustLoad(engine: ReferenceEngine): Promise<void> {
  const b = new WriteBatch();
  for (let i = 0; i < 600; i++) {
    const enc = codec.encodeBytes(bytes(`k${String(i).padStart(3, '0')}`));
    b.put('write', tsCfKey(enc, 20n), codec.encodeWrite(codec.newWrite('Delete', 19n)));
    b.put('write', tsCfKey(enc, 10n), codec.encodeWrite(codec.newWrite('Put', 9n, bytes(`v${i}`))));
  }
  await engine.write(b);
}

function basePlugins(engine: ReferenceEngine): Plugin[] {
  return [
    definePlugin({ name: 'test-engine', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, engine) }),
    definePlugin({ name: 'test-clock', version: '1.0.0', provides: [CLOCK], register: (ctx) => ctx.provide(CLOCK, new ManualClock(1_700_000_000_000)) }),
    ...defaultTxnPlugins({ client: { sleep: async () => {}, seed: 1 } }),
  ];
}

test('storage(): a HOTPATH provider, when present, runs every forward scan batch', async (t) => {
  const engine = new ReferenceEngine();
  await mustLoad(engine);
  const hp = countingHotPath();
  const provider = definePlugin({ name: 'test-hotpath', version: '1.0.0', provides: [HOTPATH], register: (ctx) => ctx.provide(HOTPATH, hp) });
  // Listed after storage(): the optional dependency still orders the provider first.
  const kernel = await Kernel.start({ plugins: [...basePlugins(engine), provider] });
  try {
    t.is(kernel.storage.hotPath, hp);
    const got = await kernel.storage.scan({ ts: 15n });
    t.is(got.length, 600);
    t.is(latin1(got[599]!.value), 'v599');
    t.is(hp.calls, 5); // 1,200 entries in batches of 256
    t.deepEqual(await kernel.storage.scan({ ts: 25n }), []);
    t.is(hp.calls, 10);
    // Reverse scans resolve key by key and do not use the batch step.
    t.is((await kernel.storage.scan({ ts: 15n, reverse: true, limit: 3 })).length, 3);
    t.is(hp.calls, 10);
  } finally {
    await kernel.stop();
  }
});

test('storage(): without a HOTPATH provider the kernel starts and scans with the TS reference', async (t) => {
  const engine = new ReferenceEngine();
  await mustLoad(engine);
  const kernel = await Kernel.start({ plugins: basePlugins(engine) });
  try {
    t.is(kernel.storage.hotPath, undefined);
    const got = await kernel.storage.scan({ ts: 15n, start: bytes('k100'), end: bytes('k110') });
    t.deepEqual(
      got.map((p) => latin1(p.key)),
      Array.from({ length: 10 }, (_, i) => `k${100 + i}`),
    );
  } finally {
    await kernel.stop();
  }
});

test('MvccReader.scan passes its HotPath to the scanner; a failing HotPath surfaces', async (t) => {
  const engine = new ReferenceEngine();
  const enc = codec.encodeBytes(bytes('a'));
  await engine.write(new WriteBatch().put('write', tsCfKey(enc, 5n), codec.encodeWrite(codec.newWrite('Put', 4n, bytes('x')))));
  const reader = new MvccReader(engine.snapshot());
  const hp = countingHotPath();
  t.deepEqual(
    reader.scan({ ts: 6n }, hp).map((p) => latin1(p.value)),
    ['x'],
  );
  t.is(hp.calls, 1);
  const broken: HotPath = { ...hp, mvccScanBatch: () => ({ groups: -1, groupStart: new Int32Array(0), visible: new Int32Array(0) }) };
  const err = t.throws(() => reader.scan({ ts: 6n }, broken));
  t.is((err as { code?: string }).code, 'CORRUPTED');
});

test('createJsHotPath().mvccScanBatch is the reference function behind the shared argument checks', (t) => {
  const hp = createJsHotPath();
  const k = (s: string, ts: bigint) => tsCfKey(codec.encodeBytes(bytes(s)), ts);
  const keys = packBatch([k('a', 9n), k('a', 3n), k('b', 2n), k('c', 1n)]);
  const values = packBatch([
    codec.encodeWrite(codec.newWrite('Put', 8n, bytes('new'))),
    codec.encodeWrite(codec.newWrite('Put', 2n, bytes('old'))),
    codec.encodeWrite(codec.newWrite('Delete', 1n)),
    codec.encodeWrite(codec.newWrite('Lock', 1n)),
  ]);
  const gs = new Int32Array(256);
  const vis = new Int32Array(256);
  const n = mvccScanBatch(keys, values, 5n, gs, vis);
  const r = hp.mvccScanBatch(keys, values, 5n);
  t.is(r.groups, n);
  t.deepEqual([...r.groupStart.subarray(0, n)], [...gs.subarray(0, n)]);
  t.deepEqual([...r.visible.subarray(0, n)], [1, SCAN_NONE, -2]);
  t.throws(() => hp.mvccScanBatch(keys, packBatch([]), 5n), { instanceOf: RangeError, message: /4 keys but 0 values/ });
  t.throws(() => hp.mvccScanBatch(keys, values, 5 as unknown as bigint), { instanceOf: TypeError });
});
