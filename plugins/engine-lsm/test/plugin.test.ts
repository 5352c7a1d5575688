import test from 'ava';
import { ENGINE, Kernel, WriteBatch } from '@flashkv/core';
import { lsmEngine } from '../src/index.js';
import { dec, enc, mustTempDir } from './helpers.js';

test('lsmEngine plugin provides ENGINE, and the data outlives a kernel restart', async (t) => {
  const { dir, cleanup } = mustTempDir('plugin');
  t.teardown(cleanup);
  const k1 = await Kernel.start({ plugins: [lsmEngine({ dir })] });
  const e1 = k1.resolve(ENGINE);
  t.is(e1.name, 'engine-lsm');
  await e1.write(new WriteBatch().put('default', enc('a'), enc('1')), { sync: true });
  await k1.stop();
  t.throws(() => e1.get('default', enc('a')), { message: /closed/ });
  const k2 = await Kernel.start({ plugins: [lsmEngine({ dir })] });
  t.is(dec(k2.resolve(ENGINE).get('default', enc('a'))), '1');
  await k2.stop();
});

test('lsmEngine rejects a missing dir as a programmer mistake', (t) => {
  t.throws(() => lsmEngine({} as never), { instanceOf: TypeError, message: /dir/ });
});
