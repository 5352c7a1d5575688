import test from 'ava';
import { codec, KvError, type KvErrorCode, LocalConsensus, LocalPlacement, ManualClock, EventCatalogue, type AppliedEvent, type BatchOp, type Region, type StorageEngine, type WriteBatch, type WriteOptions } from '@flashkv/core';
import { ReferenceEngine, wrapEngine } from '@flashkv/core/testing';

const enc = (s: string) => codec.encodeBytes(new TextEncoder().encode(s));
const writeKey = (s: string, ts: bigint) => codec.dataKey(codec.appendTs(enc(s), ts));
const put = (s: string, ts: bigint): BatchOp => ({ op: 'put', cf: 'write', key: writeKey(s, ts), value: Uint8Array.of(1) });
const ctxOf = (r: Region, extra: object = {}) => ({ regionId: r.id, epoch: r.epoch, ...extra });

async function setup(engine: StorageEngine = new ReferenceEngine()) {
  const events = new EventCatalogue();
  const placement = await LocalPlacement.open({ engine, clock: new ManualClock(1_700_000_000_000), events });
  const consensus = new LocalConsensus({ engine, placement, events });
  const applied: AppliedEvent[] = [];
  events.applied$.subscribe((e) => applied.push(e));
  return { engine, placement, consensus, applied, events };
}

async function mustRefuse(t: import('ava').ExecutionContext, p: Promise<unknown>, code: KvErrorCode): Promise<KvError> {
  const err = await t.throwsAsync(p, { instanceOf: KvError });
  t.is(err!.code, code, err!.message);
  return err as KvError;
}

test('writes apply atomically, are emitted on applied$ with a per-region index, and read back through a snapshot', async (t) => {
  const { consensus, applied } = await setup();
  const r = consensus.regionForKey(enc('a'));
  const res1 = await consensus.write(ctxOf(r), [put('a', 10n), put('b', 10n)]);
  const res2 = await consensus.write(ctxOf(r, { flags: new Set(['onePc']) }), [put('c', 11n)]);
  t.deepEqual([res1.index, res2.index], [1n, 2n]);
  t.is(applied.length, 2);
  t.is(applied[0]!.modifies.length, 2);
  t.true(applied[1]!.flags.has('onePc'));
  const snap = await consensus.snapshot(ctxOf(r, { readTs: 20n }));
  t.deepEqual(snap.get('write', writeKey('b', 10n)), Uint8Array.of(1));
  t.is(snap.region.id, r.id);
  snap.release();
});

test('after a split the old epoch is refused and keys must lie in the region', async (t) => {
  const { consensus, engine } = await setup();
  const whole = consensus.regionForKey(enc('a'));
  const split = await consensus.admin(ctxOf(whole), { type: 'split', splitKey: enc('m') });
  t.is(split.type, 'split');
  await mustRefuse(t, consensus.write(ctxOf(whole), [put('a', 5n)]), 'EPOCH_NOT_MATCH');
  const left = consensus.regionForKey(enc('a'));
  const right = consensus.regionForKey(enc('x'));
  t.not(left.id, right.id);
  const err = await mustRefuse(t, consensus.write(ctxOf(left), [put('a', 5n), put('x', 5n)]), 'KEY_NOT_IN_REGION');
  t.is(err.details['regionId'], left.id);
  t.is(engine.get('write', writeKey('a', 5n)), undefined, 'a refused batch writes nothing');
  await consensus.write(ctxOf(right), [put('x', 5n)]);
  t.deepEqual(engine.get('write', writeKey('x', 5n)), Uint8Array.of(1));
});

test('requests cannot write the raft CF or non-data keys', async (t) => {
  const { consensus } = await setup();
  const r = consensus.regionForKey(enc('a'));
  await t.throwsAsync(consensus.write(ctxOf(r), [{ op: 'put', cf: 'raft', key: Uint8Array.of(1), value: Uint8Array.of(1) }]), { instanceOf: TypeError });
  await mustRefuse(t, consensus.write(ctxOf(r), [{ op: 'put', cf: 'default', key: enc('a'), value: Uint8Array.of(1) }]), 'INVALID_ARGUMENT');
  await mustRefuse(t, consensus.snapshot({ regionId: 999, epoch: r.epoch }), 'REGION_NOT_FOUND');
});

test('a region in flashback refuses ordinary traffic, admits flagged requests and old reads, and is released by finish', async (t) => {
  const { consensus, placement, engine, applied } = await setup();
  const r = consensus.regionForKey(enc('a'));
  const prepared = await consensus.admin(ctxOf(r), { type: 'prepareFlashback', startTs: 100n });
  t.true(prepared.type === 'prepareFlashback' && prepared.region.flashback.inFlashback);
  const err = await mustRefuse(t, consensus.write(ctxOf(r), [put('a', 120n)]), 'FLASHBACK_IN_PROGRESS');
  t.deepEqual(err.details, { regionId: r.id, flashbackStartTs: 100n });
  await mustRefuse(t, consensus.snapshot(ctxOf(r, { readTs: 100n })), 'FLASHBACK_IN_PROGRESS');
  await mustRefuse(t, consensus.snapshot(ctxOf(r)), 'FLASHBACK_IN_PROGRESS');
  (await consensus.snapshot(ctxOf(r, { readTs: 99n }))).release();
  await mustRefuse(t, consensus.admin(ctxOf(r), { type: 'split', splitKey: enc('m') }), 'FLASHBACK_IN_PROGRESS');
  await mustRefuse(t, consensus.admin(ctxOf(r), { type: 'transferLeader', toPeer: 3 }), 'FLASHBACK_IN_PROGRESS');
  await consensus.write(ctxOf(r, { flags: new Set(['flashback']) }), [put('a', 130n)]);
  t.true(applied.at(-1)!.flags.has('flashback'));

  // The state is persisted with the region: a restarted store is still in flashback.
  const reopened = await LocalPlacement.open({ engine, clock: new ManualClock(1_700_000_100_000) });
  t.deepEqual(reopened.getRegion(r.id).flashback, { inFlashback: true, flashbackStartTs: 100n });

  const finished = await consensus.admin(ctxOf(r), { type: 'finishFlashback' });
  t.false(finished.type === 'finishFlashback' && finished.region.flashback.inFlashback);
  await consensus.write(ctxOf(r), [put('a', 140n)]);
  await t.notThrowsAsync(consensus.admin(ctxOf(r), { type: 'finishFlashback' }), 'finish outside flashback is a no-op success');
  await mustRefuse(t, consensus.write(ctxOf(r, { flags: new Set(['flashback']) }), [put('a', 150n)]), 'FLASHBACK_NOT_PREPARED');
  t.is(placement.getRegion(r.id).flashback.inFlashback, false);
});

test('prepare with a bad start ts is refused and changes nothing', async (t) => {
  const { consensus } = await setup();
  const r = consensus.regionForKey(enc('a'));
  await mustRefuse(t, consensus.admin(ctxOf(r), { type: 'prepareFlashback', startTs: 0n }), 'INVALID_ARGUMENT');
  t.false(consensus.getRegion(r.id).flashback.inFlashback);
});

/** An engine whose writes wait until the test lets them through. */
function heldEngine() {
  const inner = new ReferenceEngine();
  const held: (() => void)[] = [];
  const engine: StorageEngine = {
    ...wrapEngine(inner),
    name: 'held',
    capabilities: inner.capabilities,
    get: (cf, key) => inner.get(cf, key),
    iterator: (cf, o) => inner.iterator(cf, o),
    snapshot: () => inner.snapshot(),
    close: () => inner.close(),
    async write(batch: WriteBatch, options?: WriteOptions) {
      if (batch.ops.some((op) => op.cf !== 'raft')) await new Promise<void>((r) => held.push(r));
      return inner.write(batch, options);
    },
  };
  return { engine, held };
}

test('an admin command waits for writes in flight, and a write queued behind prepare is gated at apply', async (t) => {
  const { engine, held } = heldEngine();
  const { consensus } = await setup(engine);
  const r = consensus.regionForKey(enc('a'));
  const log: string[] = [];
  const w1 = consensus.write(ctxOf(r), [put('a', 10n)]).then(() => log.push('w1 applied'));
  await new Promise((res) => setImmediate(res));
  const prep = consensus.admin(ctxOf(r), { type: 'prepareFlashback', startTs: 100n }).then(() => log.push('prepared'));
  // Proposed while the region is not yet in flashback: passes propose, waits behind the barrier.
  const w2 = consensus.write(ctxOf(r), [put('b', 20n)]);
  await new Promise((res) => setImmediate(res));
  t.deepEqual(log, [], 'prepare waits for the write in flight');
  t.is(held.length, 1);
  held.shift()!();
  await Promise.all([w1, prep]);
  t.deepEqual(log, ['w1 applied', 'prepared']);
  const err = await t.throwsAsync(w2, { instanceOf: KvError });
  t.is(err!.code, 'FLASHBACK_IN_PROGRESS');
  t.is(engine.get('write', writeKey('b', 20n)), undefined);
});
