// recordSplit / recordRegion: a consensus that owns region metadata (raft) keeps PLACEMENT's
// directory in step with what it applied, persisted across a reopen, idempotent on repeats.
import test from 'ava';
import { codec, freezeRegion, LocalPlacement, ManualClock, KvError, type Region } from '@flashkv/core';
import { bytes, ReferenceEngine } from '@flashkv/core/testing';

const enc = (s: string) => codec.encodeBytes(bytes(s));

function halves(parent: Region, at: string, newId: number): { left: Region; right: Region } {
  const epoch = { version: parent.epoch.version + 1, confVer: parent.epoch.confVer };
  const peers = [1, 2, 3].map((s, i) => ({ id: newId + 1 + i, storeId: s, role: 'voter' as const }));
  const left = freezeRegion({ id: parent.id, startKey: parent.startKey, endKey: enc(at), epoch, peers: parent.peers, flashback: parent.flashback });
  const right = freezeRegion({ id: newId, startKey: enc(at), endKey: parent.endKey, epoch, peers, flashback: parent.flashback });
  return { left, right };
}

test('a split applied elsewhere is routable, persisted, idempotent; ids allocated later never collide with it', async (t) => {
  const engine = new ReferenceEngine();
  const p = await LocalPlacement.open({ engine, clock: new ManualClock(1_700_000_000_000) });
  const parent = p.regionForKey(enc('a'));
  const { left, right } = halves(parent, 'm', 40);
  await p.recordSplit(left, right);
  t.is(p.regionForKey(enc('a')).id, left.id);
  t.is(p.regionForKey(enc('x')).id, 40);
  t.is(p.regionForKey(enc('x')).epoch.version, parent.epoch.version + 1);
  await p.recordSplit(left, right);
  t.is(p.regions().length, 2, 'recording the same split again changes nothing');
  t.true((await p.allocId()) > 43, 'allocated ids pass every id the split used');
  const again = await LocalPlacement.open({ engine, clock: new ManualClock(1_700_000_000_000) });
  t.deepEqual(again.regions().map((r) => [r.id, r.epoch.version]), [[left.id, 2], [40, 2]]);
  // A split of a range the directory does not have as one region is refused, not guessed at.
  const stray = halves(freezeRegion({ ...parent, id: 77 }), 'c', 80);
  const err = await p.recordSplit(stray.left, stray.right).catch((e: unknown) => e);
  t.true(err instanceof KvError && err.code === 'INVALID_ARGUMENT', String(err));
});

test('recordRegion takes newer state (flashback) and ignores an older epoch', async (t) => {
  const p = await LocalPlacement.open({ engine: new ReferenceEngine(), clock: new ManualClock(1_700_000_000_000) });
  const r = p.regionForKey(enc('a'));
  await p.recordRegion({ ...r, flashback: { inFlashback: true, flashbackStartTs: 99n } });
  t.deepEqual(p.getRegion(r.id).flashback, { inFlashback: true, flashbackStartTs: 99n });
  await p.recordRegion({ ...r, epoch: { version: 0, confVer: 0 }, flashback: { inFlashback: false, flashbackStartTs: 0n } });
  t.true(p.getRegion(r.id).flashback.inFlashback, 'an older epoch does not overwrite');
  const missing = await p.recordRegion({ ...r, id: 12345 }).catch((e: unknown) => e);
  t.true(missing instanceof KvError && missing.code === 'REGION_NOT_FOUND');
});
