import 'reflect-metadata';
import test from 'ava';
import { HOTPATH, Kernel, KvError, batchItem, packBatch } from '@flashkv/core';
import { hotPath, HOTPATH_ENV, HOTPATH_PLUGIN_NAME } from '@flashkv/asm';

test('hotPath() provides HOTPATH, wasm by default and js when FLASHKV_HOTPATH=js', async (t) => {
  for (const [env, kind] of [[{}, 'wasm'], [{ [HOTPATH_ENV]: 'js' }, 'js']] as const) {
    const kernel = await Kernel.start({ plugins: [hotPath({ env })] });
    const hp = kernel.resolve(HOTPATH);
    t.is(hp.kind, kind);
    const out = hp.encodeKeys(packBatch([Uint8Array.of(0x7a)]), BigUint64Array.of(1000n));
    t.deepEqual([...batchItem(out, 0)], [0x7a, 0, 0, 0, 0, 0, 0, 0, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc, 0x17]);
    await kernel.stop();
  }
});

test('an explicit choice overrides the environment', async (t) => {
  const kernel = await Kernel.start({ plugins: [hotPath({ choice: 'wasm', env: { [HOTPATH_ENV]: 'js' } })] });
  t.is(kernel.resolve(HOTPATH).kind, 'wasm');
  await kernel.stop();
});

test('a bad FLASHKV_HOTPATH fails kernel start, naming the plugin and the value', async (t) => {
  const err = await t.throwsAsync(Kernel.start({ plugins: [hotPath({ env: { [HOTPATH_ENV]: 'turbo' } })] }), { instanceOf: KvError });
  t.is(err!.code, 'PLUGIN_START_FAILED');
  t.true(err!.message.includes(HOTPATH_PLUGIN_NAME), err!.message);
  t.true(err!.message.includes('"turbo"'), err!.message);
});
