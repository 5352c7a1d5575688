import test from 'ava';
import { WriteBatch } from '@flashkv/core';
import { LsmEngine } from '../src/engine.js';
import { dec, enc, mustTempDir } from './helpers.js';

test('16 concurrent sync writers share fsyncs: about one per round of writes, not two', async (t) => {
  const { dir, cleanup } = mustTempDir('group');
  t.teardown(cleanup);
  const engine = await LsmEngine.open({ dir });
  const writers = 16;
  const rounds = 20;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < rounds; i++) await engine.write(new WriteBatch().put('default', enc(`w${w}-${i}`), enc(`v${i}`)), { sync: true });
    }),
  );
  const syncs = engine.stats.walSyncs;
  t.log(`${writers * rounds} sync writes, ${syncs} WAL fsyncs`);
  // Each writer waits for its own fsync before writing again, so at best one fsync per round;
  // a group cut before the released writers rejoin it would double that.
  t.true(syncs >= rounds, `fsyncs ${syncs}`);
  t.true(syncs <= rounds + rounds / 4, `fsyncs ${syncs} for ${rounds} rounds of ${writers} writers`);
  for (let w = 0; w < writers; w++) t.is(dec(engine.get('default', enc(`w${w}-${rounds - 1}`))), `v${rounds - 1}`);
  await engine.close();
});
