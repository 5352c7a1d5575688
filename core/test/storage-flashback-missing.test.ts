/**
 * Without the flashback plugin, Storage's flashback methods fail with PLUGIN_MISSING naming the
 * plugin, before anything is written (the region never enters flashback state).
 */
import test from 'ava';
import { KvError, LocalConsensus, LocalPlacement, ManualClock, Storage } from '@flashkv/core';
import { bytes, ReferenceEngine } from '@flashkv/core/testing';

async function setup() {
  const engine = new ReferenceEngine();
  const placement = await LocalPlacement.open({ engine, clock: new ManualClock(1_700_000_000_000) });
  const consensus = new LocalConsensus({ engine, placement });
  return { placement, storage: new Storage({ consensus, placement }) };
}

test('prepareFlashbackToVersion without the flashback plugin is PLUGIN_MISSING and leaves the region alone', async (t) => {
  const { placement, storage } = await setup();
  const err = await t.throwsAsync(storage.prepareFlashbackToVersion({ startKey: bytes('a'), version: 5n, startTs: 20n }), { instanceOf: KvError });
  t.is(err!.code, 'PLUGIN_MISSING');
  t.regex(err!.message, /flashback plugin \(@flashkv\/flashback, flashback\(\)\)/);
  t.is(err!.details['command'], 'prepareFlashbackToVersion');
  t.false(placement.getRegion(1).flashback.inFlashback);
});

test('flashbackToVersion without the flashback plugin is PLUGIN_MISSING', async (t) => {
  const { storage } = await setup();
  const err = await t.throwsAsync(storage.flashbackToVersion({ version: 5n, startTs: 20n, commitTs: 21n }), { instanceOf: KvError });
  t.is(err!.code, 'PLUGIN_MISSING');
  t.regex(err!.message, /@flashkv\/flashback/);
});

test('bad timestamps are refused before the plugin check', async (t) => {
  const { storage } = await setup();
  await t.throwsAsync(storage.flashbackToVersion({ version: 5n, startTs: 20 as unknown as bigint, commitTs: 21n }), { instanceOf: TypeError });
});
