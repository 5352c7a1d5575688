// The meta group's state machine against core's LocalPlacement: the same seeded sequence of
// placement mutations gives the same results (or the same refusal codes) and the same bytes under
// the placement keys (the TSO mark aside, which each raises its own way).
import test from 'ava';
import { KvError, LocalPlacement, ManualClock, WriteBatch, encodeJobRecord, placementKeys as K, type StorageEngine } from '@flashkv/core';
import { ReferenceEngine, Rng, testSeed } from '@flashkv/core/testing';
import { MetaState, bootstrapMeta, decodeMetaCommand, encodeMetaCommand, type MetaCommand, type MetaRegionChange } from '../src/index.js';

const enc = new TextEncoder();

function namespace(e: StorageEngine): string[] {
  const out: string[] = [];
  const it = e.iterator('raft', { lower: K.NAMESPACE_LOWER, upper: K.NAMESPACE_UPPER });
  for (let ok = it.first(); ok; ok = it.next()) {
    const k = Buffer.from(it.key()).toString('hex');
    if (k === Buffer.from(K.TSO_KEY).toString('hex')) continue;
    out.push(`${k}=${Buffer.from(it.value()).toString('hex')}`);
  }
  it.close();
  return out;
}

function outcome(v: unknown): unknown {
  return v instanceof KvError ? `error ${v.code}` : v instanceof Error ? `error ${v.name}` : v;
}

test('seeded placement mutations: MetaState.apply matches LocalPlacement result for result and byte for byte', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const localEngine = new ReferenceEngine();
  const local = await LocalPlacement.open({ engine: localEngine, clock: new ManualClock(1000) });
  const metaEngine = new ReferenceEngine();
  await bootstrapMeta(metaEngine, [1], local.regions(), 3);
  const state = MetaState.load(metaEngine);
  const owners = ['a', 'b', 'c'];
  for (let step = 0; step < 300; step++) {
    const regions = local.regions();
    const r = regions[rng.int(regions.length)]!;
    const stale = rng.int(6) === 0;
    const epoch = stale ? { version: r.epoch.version + 1, confVer: r.epoch.confVer } : r.epoch;
    let cmd: MetaCommand;
    let expected: Promise<unknown>;
    switch (rng.int(8)) {
      case 0:
        cmd = { op: 'allocId' };
        expected = local.allocId();
        break;
      case 1: {
        const key = enc.encode(`k${String(rng.int(1000)).padStart(3, '0')}`);
        cmd = { op: 'split', regionId: r.id, splitKey: key, epoch };
        expected = local.split(r.id, key, { epoch });
        break;
      }
      case 2: {
        const on = rng.int(2) === 0;
        const startTs = BigInt(1 + rng.int(1000));
        cmd = { op: 'setFlashback', regionId: r.id, inFlashback: on, startTs: on ? startTs : 0n, epoch };
        expected = local.setFlashbackState(r.id, on ? { inFlashback: true, flashbackStartTs: startTs } : { inFlashback: false }, { epoch });
        break;
      }
      case 3: {
        const ts = BigInt(rng.int(5000));
        cmd = { op: 'safePoint', ts };
        expected = local.updateGcSafePoint(ts);
        break;
      }
      case 4:
      case 5: {
        const kind = rng.int(2) === 0 ? 'gc' : 'scheduling';
        const owner = owners[rng.int(owners.length)]!;
        const on = rng.int(2) === 0;
        cmd = { op: 'pause', kind, owner, on };
        expected = kind === 'gc' ? (on ? local.pauseGc(owner) : local.resumeGc(owner)) : on ? local.pauseScheduling(owner) : local.resumeScheduling(owner);
        break;
      }
      case 6: {
        const id = `job${rng.int(5)}`;
        const record = { n: rng.int(100), ts: BigInt(rng.int(1 << 30)) };
        cmd = { op: 'putJob', id, record: encodeJobRecord(record) };
        expected = local.putJob(id, record);
        break;
      }
      default: {
        const id = `job${rng.int(5)}`;
        cmd = { op: 'deleteJob', id };
        expected = local.deleteJob(id);
        break;
      }
    }
    // Through the wire encoding, as a log entry would carry it.
    const decoded = decodeMetaCommand(encodeMetaCommand(cmd));
    const batch = new WriteBatch();
    const changes: MetaRegionChange[] = [];
    let got: unknown;
    try {
      got = state.apply(metaEngine, decoded, batch, changes);
    } catch (e) {
      got = e;
    }
    if (batch.count > 0) await metaEngine.write(batch);
    state.stagedJobs.clear();
    let want: unknown;
    try {
      want = await expected;
    } catch (e) {
      want = e;
    }
    t.deepEqual(outcome(got), outcome(want), `step ${step} ${cmd.op} (SEED=${seed})`);
  }
  t.deepEqual(namespace(metaEngine), namespace(localEngine), `placement keys (SEED=${seed})`);
  t.deepEqual(state.map.all(), local.regions());
  t.true(local.regions().length > 1, 'some splits happened');
});
